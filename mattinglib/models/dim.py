"""Deep Image Matting (Xu et al., CVPR 2017): encoder-decoder plus refinement stage.

Stage 1, the encoder-decoder, sees the image and the trimap (4 channels) and
predicts a coarse alpha; stage 2, the refinement, sees the image and that
alpha and sharpens the edges. What follows the paper and what does not:

- Encoder: the 13 VGG16 convolutions with 5 max-pools, plus ``conv6``, the
  paper's converted ``fc6``, here a 1x1 convolution with 512 channels (as in
  common PyTorch re-implementations; the paper's 4096-wide layer would add
  100M parameters): "14 convolutional layers and 5 max-pooling layers".
  Inputs must be multiples of 32.
- First layer: 4 input channels; with ImageNet weights the RGB filters are
  copied and the trimap filters start at zero (the paper's recipe).
- Decoder: ``Deconv6`` 1x1 512, then five max-unpool + 5x5 conv stages
  (512, 256, 128, 64, 64 channels) and the 5x5 raw alpha prediction.
- Refinement: 4 convolutions, 3x3, 64 channels with ReLU for the first three
  and 1 for the last, on ``concat(image, alpha_coarse)``, at full resolution;
  the skip connection adds the refinement's output to the coarse prediction
  *before* the sigmoid (in logit space), so the refined alpha is in (0, 1)
  without a clamp that would block gradients. The paper adds in alpha space;
  this is a deliberate, documented departure.
- No BatchNorm by default (the paper has none); ``batch_norm=True`` adds it
  after every hidden encoder/decoder convolution, which trains faster from
  scratch (the course's quick profile).
- The RGB channels are normalised with the ImageNet mean and standard
  deviation inside the network; callers pass images and trimaps in [0, 1].

Stages (the paper trains them in this order):

- ``"encoder_decoder"``: only stage 1 runs; ``alpha`` is ``alpha_coarse``.
- ``"refinement"``: stage 1 runs frozen (no gradients, BatchNorm in eval
  mode), stage 2 is trained on its output.
- ``"joint"``: both run and are trained together (also the inference setting).

>>> import torch
>>> net = DIM(width=0.25)
>>> out = net(torch.rand(1, 3, 64, 64), torch.full((1, 1, 64, 64), 128 / 255))
>>> sorted(out), tuple(out["alpha"].shape)
(['alpha', 'alpha_coarse'], (1, 1, 64, 64))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..trimap import trimap_to_classes
from .vgg import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    UnpoolDecoder,
    VGG16Encoder,
    check_model_input,
    check_width,
    copy_vgg16_weights,
    kaiming_init_,
    load_weights_state_dict,
    preserve_global_rng,
    scaled_channels,
)

__all__ = ["DIM", "DIM_STAGES", "DIM_INPUT_MULTIPLE", "Refinement"]

#: Height and width of a DIM input must be multiples of this (5 max-pools).
DIM_INPUT_MULTIPLE = 32
DIM_STAGES = ("encoder_decoder", "refinement", "joint")


class Refinement(nn.Module):
    """DIM's refinement stage: 3 x (3x3 conv 64 + ReLU), then 3x3 conv to 1 channel.

    Shape:
        input ``(B, 4, H, W)`` = image (3) and coarse alpha (1); output
        ``(B, 1, H, W)``, a correction added to the coarse alpha's logits.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = scaled_channels(64, width)
        self.body = nn.Sequential(
            nn.Conv2d(4, c, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DIM(nn.Module):
    """Deep Image Matting: image + trimap -> coarse and refined alpha.

    Args:
        width: channel multiplier (1.0 = the paper's widths; 0.25 for the quick profile).
        stage: one of :data:`DIM_STAGES` (change later with :meth:`set_stage`).
        batch_norm: BatchNorm in the encoder-decoder (not in the paper; see the module notes).
        pretrained_vgg: ``None``, ``"imagenet"`` (torchvision's VGG16 weights from
            the torch hub cache), a state-dict file path or mapping; width 1.0 only.
            See :class:`~mattinglib.models.mnet.MNet`.
        seed: seed of the weight initialisation (the global random state is left untouched).

    Shape:
        - image: ``(B, 3, H, W)`` float RGB in [0, 1], H and W multiples of 32.
        - trimap: ``(B, 1, H, W)`` float in {0, 128/255, 1} (uint8 trimap / 255).
        - returns ``{"alpha_coarse": (B, 1, H, W), "alpha": (B, 1, H, W)}``,
          both in (0, 1); ``alpha`` is the refined matte (``alpha_coarse`` itself
          in the ``"encoder_decoder"`` stage).
    """

    def __init__(self, width: float = 1.0, *, stage: str = "joint", batch_norm: bool = False,
                 pretrained_vgg: Any = None, seed: int = 0) -> None:
        super().__init__()
        width = check_width(width)
        if pretrained_vgg is not None and width != 1.0:
            raise ValueError("pretrained_vgg: ImageNet VGG16 weights only fit width=1.0, "
                             f"got width={width}")
        self.width = width
        with preserve_global_rng():
            self.encoder = VGG16Encoder(4, width=width, num_pools=5, batch_norm=batch_norm)
            c = self.encoder.out_channels
            conv6: list[nn.Module] = [nn.Conv2d(c, c, 1)]
            if batch_norm:
                conv6.append(nn.BatchNorm2d(c))
            self.conv6 = nn.Sequential(*conv6, nn.ReLU(inplace=True))
            self.decoder = UnpoolDecoder(c, self.encoder.pooled_channels, width=width,
                                         batch_norm=batch_norm)
            self.refinement = Refinement(width)
        kaiming_init_(self, generator=torch.Generator().manual_seed(seed))
        if pretrained_vgg is not None:
            from torchvision.models import VGG16_Weights

            state = load_weights_state_dict(pretrained_vgg, VGG16_Weights.IMAGENET1K_V1,
                                            name="pretrained_vgg")
            copy_vgg16_weights(self.encoder, state)
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        self.stage = "joint"
        self.set_stage(stage)

    def _stage1_modules(self) -> list[nn.Module]:
        return [self.encoder, self.conv6, self.decoder]

    def set_stage(self, stage: str) -> "DIM":
        """Switch the training stage (see :data:`DIM_STAGES`); returns ``self``.

        Parameters of the parts that do not train in ``stage`` get
        ``requires_grad=False``, so ``torch.optim.Adam(p for p in net.parameters()
        if p.requires_grad)`` optimises the right ones.
        """
        if stage not in DIM_STAGES:
            raise ValueError(f"stage: expected one of {list(DIM_STAGES)}, got {stage!r}")
        self.stage = stage
        for module in self._stage1_modules():
            module.requires_grad_(stage != "refinement")
        self.refinement.requires_grad_(stage != "encoder_decoder")
        return self.train(self.training)

    def train(self, mode: bool = True) -> "DIM":
        super().train(mode)
        if self.stage == "refinement":
            # a frozen stage keeps its BatchNorm statistics
            for module in self._stage1_modules():
                module.eval()
        return self

    def coarse_logits(self, image: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
        """Stage 1 logits ``(B, 1, H, W)`` (inputs checked as in :meth:`forward`)."""
        check_model_input(image, channels=3, multiple=DIM_INPUT_MULTIPLE, name="image",
                          dtype=self.rgb_mean.dtype)
        check_model_input(trimap, channels=1, multiple=DIM_INPUT_MULTIPLE, name="trimap")
        if image.shape[0] != trimap.shape[0] or image.shape[-2:] != trimap.shape[-2:]:
            b, _, h, w = image.shape
            raise ValueError(f"trimap: expected shape ({b},1,{h},{w}) like image, "
                             f"got {tuple(trimap.shape)}")
        # rejects resized or blurred trimaps (values other than 0, 128/255, 1)
        trimap_to_classes(trimap.detach())
        rgb = (image - self.rgb_mean.to(image.dtype)) / self.rgb_std.to(image.dtype)
        features, indices = self.encoder(torch.cat([rgb, trimap.to(image.dtype)], dim=1))
        return self.decoder(self.conv6(features), indices)

    def forward(self, image: torch.Tensor, trimap: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.stage == "refinement":
            with torch.no_grad():
                logits = self.coarse_logits(image, trimap)
        else:
            logits = self.coarse_logits(image, trimap)
        alpha_coarse = torch.sigmoid(logits)
        if self.stage == "encoder_decoder":
            return {"alpha_coarse": alpha_coarse, "alpha": alpha_coarse}
        correction = self.refinement(torch.cat([image, alpha_coarse], dim=1))
        return {"alpha_coarse": alpha_coarse, "alpha": torch.sigmoid(logits + correction)}
