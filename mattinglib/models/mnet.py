"""M-Net, the matting network of Semantic Human Matting (Chen et al., ACM MM 2018).

M-Net is a Deep Image Matting style encoder-decoder whose input is the image
*and* the three trimap class probabilities predicted by T-Net (6 channels in
all), and whose output ``alpha_r`` is the alpha matte inside the unknown
region. SHM fuses it with T-Net's probabilities as
``alpha = Fs + Us * alpha_r`` (see :mod:`mattinglib.models.shm`).

What follows the papers, and what does not:

- Encoder: the 13 convolutions of VGG16 with 4 max-pools (SHM: "13
  convolutional layers and 4 max-pooling layers"); the fifth VGG block runs at
  1/16 of the input resolution.
- Decoder: DIM's light decoder with max-unpooling by the encoder's pooling
  indices (SHM: "6 convolutional layers and 4 unpooling layers"): a 1x1
  convolution, four unpool + 5x5 convolution stages (512->256->128->64->64
  channels at width 1) and a 5x5 prediction layer.
- BatchNorm after every hidden convolution, as SHM adds it to DIM's design
  to speed up convergence (``batch_norm=False`` gives DIM's plain layers).
- Output: ``alpha_r = sigmoid(logits)``. SHM writes the fusion with M-Net's
  "raw" output; a sigmoid keeps ``alpha_r`` in (0, 1), so the fused alpha
  stays in [0, 1] without a clamp that would stop gradients, and the DIM
  losses compare values in the same range as the ground truth. This is a
  choice of this library, not something the paper spells out.
- The RGB channels are normalised with the ImageNet mean and standard
  deviation inside the network (callers pass images in [0, 1]), so ImageNet
  VGG16 weights see the statistics they were trained on.

>>> import torch
>>> net = MNet(width=0.25)
>>> x = torch.rand(2, 6, 32, 32)
>>> tuple(net(x).shape)
(2, 1, 32, 32)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import check_int
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
)

__all__ = ["MNet", "MNET_INPUT_MULTIPLE"]

#: Height and width of an M-Net input must be multiples of this (4 max-pools).
MNET_INPUT_MULTIPLE = 16


def _vgg16_imagenet_weights():
    from torchvision.models import VGG16_Weights

    return VGG16_Weights.IMAGENET1K_V1


class MNet(nn.Module):
    """SHM's M-Net: RGB + 3 class probabilities -> alpha in (0, 1).

    Args:
        in_channels: input channels, 6 for SHM (RGB, then the background,
            unknown and foreground probabilities in ``mattinglib.trimap.CLASS_ORDER``).
            Must be at least 3: the first three are always RGB.
        width: channel multiplier (1.0 = VGG16's 64..512; the quick profile uses 0.25).
        pretrained_vgg: ``None`` (He initialisation from ``seed``), ``"imagenet"``
            (torchvision's ``VGG16_Weights.IMAGENET1K_V1``, from the torch hub
            cache: nothing is downloaded without network, and a missing file is
            a ``RuntimeError`` naming it), a path to a saved VGG16 state dict, or
            a state-dict mapping. The RGB filters of the first convolution are
            copied, the filters of the extra channels start at zero; only valid
            with ``width=1.0``. The decoder is always initialised from ``seed``.
        batch_norm: BatchNorm after each hidden convolution (SHM); ``False`` for DIM's plain layers.
        seed: seed of the weight initialisation (the global random state is left untouched).

    Shape:
        - input: ``(B, in_channels, H, W)`` float in [0, 1], H and W multiples of 16.
        - output: ``(B, 1, H, W)`` ``alpha_r`` in (0, 1).

    Raises:
        ValueError: bad arguments; at call time, an input of the wrong
            channel count, a size that is not a multiple of 16, NaN/inf
            values or values outside [0, 1].
    """

    def __init__(self, in_channels: int = 6, width: float = 1.0, pretrained_vgg: Any = None, *,
                 batch_norm: bool = True, seed: int = 0) -> None:
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", minimum=3)  # RGB first
        width = check_width(width)
        if pretrained_vgg is not None and width != 1.0:
            raise ValueError("pretrained_vgg: ImageNet VGG16 weights only fit width=1.0, "
                             f"got width={width}")
        self.in_channels = in_channels
        self.width = width
        with preserve_global_rng():
            self.encoder = VGG16Encoder(in_channels, width=width, num_pools=4,
                                        batch_norm=batch_norm)
            self.decoder = UnpoolDecoder(self.encoder.out_channels, self.encoder.pooled_channels,
                                         width=width, batch_norm=batch_norm)
        kaiming_init_(self, generator=torch.Generator().manual_seed(seed))
        if pretrained_vgg is not None:
            state = load_weights_state_dict(pretrained_vgg, _vgg16_imagenet_weights(),
                                            name="pretrained_vgg")
            copy_vgg16_weights(self.encoder, state)
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pre-sigmoid output ``(B, 1, H, W)`` (same input checks as :meth:`forward`)."""
        check_model_input(x, channels=self.in_channels, multiple=MNET_INPUT_MULTIPLE, name="x",
                          dtype=self.rgb_mean.dtype)
        rgb = (x[:, :3] - self.rgb_mean.to(x.dtype)) / self.rgb_std.to(x.dtype)
        features, indices = self.encoder(torch.cat([rgb, x[:, 3:]], dim=1))
        return self.decoder(features, indices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))
