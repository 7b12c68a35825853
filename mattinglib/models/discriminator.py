"""The multi-scale PatchGAN discriminator of Background Matting.

Background Matting's adversarial stage uses the pix2pixHD discriminator
(Wang et al., CVPR 2018): ``num_D`` copies of an ``n_layers`` PatchGAN, each
looking at the input at a different scale. The real-data stage builds it with
``num_D=1`` and InstanceNorm without affine parameters, i.e. a single PatchGAN
(70x70 receptive field for ``n_layers=3``). Parameter names match the
original (``layer{i}.{j}.weight``), so its checkpoints load.

One PatchGAN (``n_layers=3``, ``ndf=64``)::

    conv 4x4/2 (3 -> 64), LeakyReLU 0.2                       index 0, 1
    conv 4x4/2 (64 -> 128), norm, LeakyReLU                  index 2, 3, 4
    conv 4x4/2 (128 -> 256), norm, LeakyReLU                 index 5, 6, 7
    conv 4x4/1 (256 -> 512), norm, LeakyReLU                 index 8, 9, 10
    conv 4x4/1 (512 -> 1)                                    index 11

All convolutions have bias and padding 2; channels are capped at 512. There
is no sigmoid: the scores are trained with least squares (LSGAN).

**Scale order** (kept from the original): ``layer{num_D-1}`` sees the
full-resolution input, and each further copy, average-pooled by 2 (3x3,
stride 2, padding 1, ``count_include_pad=False``), goes to the next lower
index, so ``layer0`` sees the coarsest scale.

**Return value** (kept from the original): a list with one entry per scale,
finest first, each a one-element list holding the score map
``(B, 1, h, w)``. :func:`mattinglib.losses.bgm.lsgan_loss` accepts this, and
:meth:`MultiscaleDiscriminator.scores` gives the flat list of score maps.

>>> import torch
>>> d = MultiscaleDiscriminator(num_D=2, ndf=8)
>>> out = d(torch.zeros(1, 3, 64, 64))
>>> [tuple(o[0].shape) for o in out]
[(1, 1, 11, 11), (1, 1, 7, 7)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from .._checks import check_int, check_shape

__all__ = ["MultiscaleDiscriminator", "n_layer_discriminator"]

_KERNEL = 4
_PADDING = 2  # ceil((kernel - 1) / 2), as pix2pixHD
_MAX_CHANNELS = 512


def _norm_factory(norm: str) -> Callable[[int], nn.Module]:
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d
    raise ValueError(f"norm: expected 'instance' or 'batch', got {norm!r}")


def n_layer_discriminator(input_nc: int = 3, ndf: int = 64, n_layers: int = 3,
                          norm: str = "instance") -> nn.Sequential:
    """One PatchGAN as a flat ``nn.Sequential`` (indices as in the module docstring).

    Args:
        input_nc: input channels.
        ndf: channels of the first convolution (doubled per layer, capped at 512).
        n_layers: number of stride-2 convolutions.
        norm: ``"instance"`` (no affine) or ``"batch"``.

    Returns:
        ``(B, input_nc, H, W) -> (B, 1, h, w)`` score map, no activation.
    """
    input_nc = check_int(input_nc, "input_nc", minimum=1)
    ndf = check_int(ndf, "ndf", minimum=1)
    n_layers = check_int(n_layers, "n_layers", minimum=1)
    norm_layer = _norm_factory(norm)

    def conv(c_in: int, c_out: int, stride: int) -> nn.Conv2d:
        return nn.Conv2d(c_in, c_out, kernel_size=_KERNEL, stride=stride, padding=_PADDING)

    layers: list[nn.Module] = [conv(input_nc, ndf, 2), nn.LeakyReLU(0.2, True)]
    nf = ndf
    for stride in [2] * (n_layers - 1) + [1]:
        nf_prev, nf = nf, min(nf * 2, _MAX_CHANNELS)
        layers += [conv(nf_prev, nf, stride), norm_layer(nf), nn.LeakyReLU(0.2, True)]
    layers.append(conv(nf, 1, 1))
    return nn.Sequential(*layers)


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD multi-scale PatchGAN discriminator, as Background Matting uses it.

    Args:
        input_nc: channels of the image to judge (3: an RGB composite in ``[-1, 1]``).
        ndf: width of the first convolution.
        n_layers: stride-2 convolutions per PatchGAN.
        num_D: number of scales (1 in Background Matting's real-data stage).
        norm: ``"instance"`` (no affine, the real-data stage) or ``"batch"``.

    Shape:
        - input: ``(B, input_nc, H, W)``.
        - output: list of ``num_D`` one-element lists; entry ``i`` holds the
          ``(B, 1, h_i, w_i)`` scores of the input downsampled ``i`` times
          (computed by ``layer{num_D-1-i}``).
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, num_D: int = 1,
                 norm: str = "instance") -> None:
        super().__init__()
        num_D = check_int(num_D, "num_D", minimum=1)
        self.input_nc = input_nc
        self.num_D = num_D
        self.n_layers = n_layers
        for i in range(num_D):
            self.add_module(f"layer{i}", n_layer_discriminator(input_nc, ndf, n_layers, norm))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Score maps per scale, finest first (see the class docstring)."""
        check_shape(x, f"B,{self.input_nc},H,W", name="x")
        result = []
        for i in range(self.num_D):
            result.append([getattr(self, f"layer{self.num_D - 1 - i}")(x)])
            if i != self.num_D - 1:
                x = self.downsample(x)
        return result

    def scores(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The score maps as a flat list, finest scale first."""
        return [out[-1] for out in self(x)]
