"""T-Net, the trimap network of Semantic Human Matting: a PSPNet.

SHM (Chen et al., ACM MM 2018) predicts the trimap as 3-class semantic
segmentation (background, unknown, foreground, in
``mattinglib.trimap.CLASS_ORDER``) with PSPNet-50 (Zhao et al., CVPR 2017).
This implementation:

- Backbone: a torchvision ResNet (``resnet18``, ``resnet34`` or ``resnet50``;
  the quick profile uses ``resnet18``). With ``dilated=True`` (default, as
  PSPNet) the strides of the last two stages become dilations 2 and 4, so the
  feature map is 1/8 of the input instead of 1/32. Torchvision only dilates
  bottleneck blocks, so the conversion is done here for every block type: a
  stride-2 convolution becomes stride 1 (with half the stage's dilation if it
  is a 3x3), every other 3x3 gets the stage's dilation and matching padding.
- Pyramid pooling: average pooling to 1x1, 2x2, 3x3 and 6x6 bins, each
  followed by 1x1 conv (to a quarter of the backbone channels) + BatchNorm +
  ReLU, upsampled bilinearly and concatenated with the feature; then 3x3
  conv + BatchNorm + ReLU, dropout 0.1 and a 1x1 classifier.
- The logits are upsampled bilinearly to the input size.
- PSPNet's auxiliary loss on the third stage is not included.
- ``width`` scales the pyramid-pooling head only; the backbone keeps
  torchvision's widths, so ImageNet weights always load (choose a smaller
  backbone to make T-Net lighter).
- The image is normalised with the ImageNet mean and standard deviation
  inside the network; callers pass images in [0, 1].

>>> import torch
>>> net = TNet(backbone="resnet18", width=0.25).eval()
>>> tuple(net(torch.rand(1, 3, 64, 48)).shape)
(1, 3, 64, 48)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_float_input, check_int, check_range, check_shape, value_checks_enabled
from .vgg import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_width,
    kaiming_init_,
    load_weights_state_dict,
    preserve_global_rng,
    scaled_channels,
)

__all__ = ["TNet", "PyramidPooling", "PSP_BINS", "BACKBONES"]

#: Output sizes of PSPNet's pyramid pooling.
PSP_BINS = (1, 2, 3, 6)
#: Supported torchvision backbones and their last-stage channel count.
BACKBONES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def _torchvision_resnet(name: str):
    import torchvision.models as tvm

    builders = {"resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
                "resnet34": (tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1),
                "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1)}
    return builders[name]


def _dilate_stage(stage: nn.Module, dilation: int) -> None:
    for m in stage.modules():
        if not isinstance(m, nn.Conv2d):
            continue
        if m.stride == (2, 2):
            m.stride = (1, 1)
            if m.kernel_size == (3, 3):
                # the stage's first conv still sees the previous stage's resolution
                m.dilation = (dilation // 2, dilation // 2)
                m.padding = (dilation // 2, dilation // 2)
        elif m.kernel_size == (3, 3):
            m.dilation = (dilation, dilation)
            m.padding = (dilation, dilation)


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling module.

    Shape:
        ``(B, C, h, w)`` -> ``(B, C + len(bins) * reduction, h, w)``.
    """

    def __init__(self, in_channels: int, reduction: int, bins: tuple[int, ...] = PSP_BINS) -> None:
        super().__init__()
        self.bins = tuple(bins)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(in_channels, reduction, 1, bias=False),
                          nn.BatchNorm2d(reduction), nn.ReLU(inplace=True))
            for b in self.bins)
        self.out_channels = in_channels + len(self.bins) * reduction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(branch(x), size=size, mode="bilinear", align_corners=False)
                  for branch in self.branches]
        return torch.cat([x, *pooled], dim=1)


class TNet(nn.Module):
    """PSPNet predicting 3-class trimap logits at input resolution.

    Args:
        num_classes: output classes (3 for SHM, in ``CLASS_ORDER``).
        backbone: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (SHM: PSPNet-50).
        pretrained_backbone: ``False``; ``True`` or ``"imagenet"`` for
            torchvision's ImageNet weights from the torch hub cache (a missing
            file offline is a ``RuntimeError`` naming it); a path to a saved
            torchvision ResNet state dict; or a state-dict mapping.
        width: channel multiplier of the pyramid-pooling head.
        dilated: dilate the last two stages (output stride 8, as PSPNet) or not (stride 32).
        dropout: dropout before the classifier (PSPNet: 0.1).
        seed: seed of the weight initialisation (the global random state is left untouched).

    Shape:
        - input: image ``(B, 3, H, W)`` float RGB in [0, 1] (any size).
        - output: logits ``(B, num_classes, H, W)``.

    In training mode the batch must hold at least 2 images: the 1x1
    pyramid bin has a single value per channel and image, and BatchNorm
    cannot normalise one value (call ``.eval()`` to predict single images).
    """

    def __init__(self, num_classes: int = 3, *, backbone: str = "resnet50",
                 pretrained_backbone: Any = False, width: float = 1.0, dilated: bool = True,
                 dropout: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", minimum=2)
        if backbone not in BACKBONES:
            raise ValueError(f"backbone: expected one of {sorted(BACKBONES)}, got {backbone!r}")
        width = check_width(width)
        self.num_classes = num_classes
        self.backbone_name = backbone
        self.dilated = dilated
        build, weights = _torchvision_resnet(backbone)
        with preserve_global_rng():
            net = build(weights=None)
            channels = BACKBONES[backbone]
            self.ppm = PyramidPooling(channels, scaled_channels(channels // 4, width))
            hidden = scaled_channels(512, width)
            self.head = nn.Sequential(
                nn.Conv2d(self.ppm.out_channels, hidden, 3, padding=1, bias=False),
                nn.BatchNorm2d(hidden), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
                nn.Conv2d(hidden, num_classes, 1))
        gen = torch.Generator().manual_seed(seed)
        if pretrained_backbone is False or pretrained_backbone is None:
            kaiming_init_(net, generator=gen)
        else:
            source = "imagenet" if pretrained_backbone is True else pretrained_backbone
            state = load_weights_state_dict(source, weights, name="pretrained_backbone")
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            missing, unexpected = net.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.startswith("fc.")]
            if missing or unexpected:
                raise ValueError(f"pretrained_backbone: not a torchvision {backbone} state dict "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        kaiming_init_(self.ppm, generator=gen)
        kaiming_init_(self.head, generator=gen)
        if dilated:
            _dilate_stage(net.layer3, 2)
            _dilate_stage(net.layer4, 4)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2 = net.layer1, net.layer2
        self.layer3, self.layer4 = net.layer3, net.layer4
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def output_stride(self) -> int:
        """Downsampling of the backbone feature (8 when dilated, else 32)."""
        return 8 if self.dilated else 32

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_float_input(image, name="image", dtype=self.rgb_mean.dtype)
        check_shape(image, "B,3,H,W", name="image")
        if value_checks_enabled():  # a device read: off inside the trainers' steps
            check_range(image.detach(), 0.0, 1.0, name="image")
        if self.training and image.shape[0] < 2:
            raise ValueError("image: a batch of at least 2 is needed in training mode (BatchNorm "
                             f"of the 1x1 pyramid bin), got {image.shape[0]}; call "
                             ".eval() to predict")
        x = (image - self.rgb_mean.to(image.dtype)) / self.rgb_std.to(image.dtype)
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        logits = self.head(self.ppm(x))
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
