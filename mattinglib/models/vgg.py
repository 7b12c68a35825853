"""The VGG16 encoder and unpooling decoder shared by Deep Image Matting and SHM's M-Net.

Deep Image Matting (Xu et al., CVPR 2017) and the M-Net of Semantic Human
Matting (Chen et al., ACM MM 2018) are the same kind of network: the 13
convolutions of VGG16 (Simonyan and Zisserman, 2015) as the encoder, whose
max-pooling layers remember *where* each maximum came from, and a light
decoder that puts features back at those places with max-unpooling before a
5x5 convolution. This module holds the pieces both models use:

- :class:`VGG16Encoder`: the 13 VGG16 convolutions in 5 blocks, with 4 (M-Net)
  or 5 (DIM) max-pools that return their indices;
- :class:`UnpoolDecoder`: a 1x1 convolution, then per pooling level one
  max-unpool and one 5x5 convolution, then a 5x5 alpha prediction layer;
- ImageNet initialisation: :func:`load_weights_state_dict` reads a torchvision
  state dict (safely, through :mod:`mattinglib.weights`),
  :func:`copy_vgg16_weights` copies its convolutions
  into an encoder whose first layer takes more than 3 channels (the extra
  input channels start at zero, as in DIM);
- :func:`kaiming_init_`: the seeded initialisation of every model here, and
  :func:`check_model_input`: the input check of the matting networks.

``width`` scales every channel count (0.25 turns 64/128/256/512 into
16/32/64/128), so the course's quick profile trains on a laptop CPU. ImageNet
weights only fit at ``width=1.0``.

>>> import torch
>>> enc = VGG16Encoder(4, width=0.25, num_pools=4)
>>> feats, indices = enc(torch.rand(1, 4, 32, 32))
>>> tuple(feats.shape), [tuple(i.shape) for i in indices]
((1, 128, 2, 2), [(1, 16, 16, 16), (1, 32, 8, 8), (1, 64, 4, 4), (1, 128, 2, 2)])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from .._checks import (
    InputTypeError,
    check_float_input,
    check_number,
    check_range,
    check_shape,
    value_checks_enabled,
)
from ..weights import load_state_dict, torchvision_hash_prefix, torchvision_state_dict

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16_BLOCKS",
    "TORCHVISION_VGG16_CONV_INDICES",
    "scaled_channels",
    "check_width",
    "check_model_input",
    "kaiming_init_",
    "preserve_global_rng",
    "VGG16Encoder",
    "UnpoolDecoder",
    "load_weights_state_dict",
    "copy_vgg16_weights",
]

#: Per-channel RGB mean and standard deviation of ImageNet (torchvision's weights expect them).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Output channels of the 13 VGG16 convolutions, grouped by block (a pool follows each block).
VGG16_BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

#: Positions of those 13 convolutions in torchvision's ``vgg16().features``.
TORCHVISION_VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def check_width(width: float) -> float:
    """Validate a channel multiplier: a finite number > 0.

    >>> check_width(0)
    Traceback (most recent call last):
    ...
    ValueError: width: expected a finite number > 0, got 0
    """
    return check_number(width, "width", minimum=0, min_open=True)


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1.

    >>> [scaled_channels(c, 0.25) for c in (64, 128, 256, 512)]
    [16, 32, 64, 128]
    """
    return max(1, int(round(channels * width)))


def check_model_input(x: Any, *, channels: int, multiple: int, name: str,
                      dtype: torch.dtype | None = None) -> None:
    """Check a network input: float ``(B, channels, H, W)`` in [0, 1], H and W multiples of
    ``multiple``.

    Args:
        dtype: the dtype of the network's weights; another dtype (a float64 or
            uint8 image into a float32 network) is refused, except under autocast.

    Raises:
        ValueError: naming ``name``, for a wrong shape, size, a NaN/infinite
            value or a value outside [0, 1].
        TypeError: naming ``name``, for a wrong type or dtype
            (:class:`~mattinglib._checks.InputTypeError`, also a ``ValueError``).

    >>> x = torch.zeros(1, 6, 30, 32)
    >>> check_model_input(x, channels=6, multiple=16, name="x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: x: expected height and width multiples of 16, got 30x32 (pad the input first...
    """
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    check_shape(x, f"B,{channels},H,W", name=name)
    if not x.is_floating_point():
        raise InputTypeError(f"{name}: expected a floating point tensor in [0, 1], got "
                             f"dtype {x.dtype}")
    if dtype is not None:
        check_float_input(x, name=name, dtype=dtype)
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(f"{name}: expected height and width multiples of {multiple}, got {h}x{w} "
                         "(pad the input first, e.g. with mattinglib's inference helpers)")
    if value_checks_enabled():  # a device read: off inside the trainers' steps
        check_range(x.detach(), 0.0, 1.0, name=name)


@contextlib.contextmanager
def preserve_global_rng() -> Iterator[None]:
    """Build modules without consuming the global CPU random state.

    PyTorch layers draw their default initialisation from the global
    generator; the models here re-initialise from their own ``seed``, so the
    default draws are thrown away and must not shift anyone else's random
    numbers.
    """
    with torch.random.fork_rng(devices=[]):
        yield


@torch.no_grad()
def kaiming_init_(module: nn.Module, *, generator: torch.Generator) -> nn.Module:
    """Initialise every conv/BatchNorm in ``module`` in place, drawing from ``generator``.

    Convolutions get He-normal weights (fan-out, ReLU gain, as torchvision
    initialises VGG and ResNet) and zero biases; BatchNorm layers start as the
    identity (scale 1, shift 0, fresh running statistics).

    Returns:
        ``module``.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            w = torch.empty(m.weight.shape, dtype=torch.float32)
            nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=generator)
            m.weight.copy_(w)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
            m.reset_running_stats()
    return module


def _conv_block(cin: int, cout: int, kernel_size: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class VGG16Encoder(nn.Module):
    """The 13 convolutions of VGG16 with index-returning max-pools after the first ``num_pools``
    blocks.

    Every convolution is 3x3 with padding 1, followed by BatchNorm when
    ``batch_norm`` and a ReLU. With ``num_pools=4`` (SHM's M-Net: "13
    convolutional layers and 4 max-pooling layers") the fifth block works at
    1/16 of the input; with ``num_pools=5`` (DIM) at 1/32.

    Args:
        in_channels: input channels (4 for DIM, 6 for M-Net).
        width: channel multiplier.
        num_pools: 4 or 5.
        batch_norm: BatchNorm after each convolution.

    Shape:
        - input: ``(B, in_channels, H, W)``, H and W multiples of ``2**num_pools``.
        - output: ``(features, indices)``: features ``(B, 512*width, H/2**num_pools,
          W/2**num_pools)`` and, per pool, the ``MaxPool2d`` indices (finest first).
    """

    def __init__(self, in_channels: int, *, width: float = 1.0, num_pools: int = 4,
                 batch_norm: bool = True) -> None:
        super().__init__()
        if num_pools not in (4, 5):
            raise ValueError(f"num_pools: expected 4 or 5, got {num_pools!r}")
        width = check_width(width)
        self.in_channels = in_channels
        self.num_pools = num_pools
        self.blocks = nn.ModuleList()
        cin = in_channels
        for block in VGG16_BLOCKS:
            layers = []
            for cout in block:
                cout = scaled_channels(cout, width)
                layers.append(_conv_block(cin, cout, 3, batch_norm))
                cin = cout
            self.blocks.append(nn.Sequential(*layers))
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        #: Channels of the pooled feature at each level (what each unpool receives).
        self.pooled_channels = tuple(scaled_channels(b[-1], width)
                                     for b in VGG16_BLOCKS[:num_pools])
        self.out_channels = cin

    def convs(self) -> list[nn.Conv2d]:
        """The 13 convolutions in forward order (the order of torchvision's VGG16)."""
        return [m for m in self.blocks.modules() if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        indices = []
        for level, block in enumerate(self.blocks):
            x = block(x)
            if level < self.num_pools:
                x, idx = self.pool(x)
                indices.append(idx)
        return x, indices


class UnpoolDecoder(nn.Module):
    """DIM's light decoder: 1x1 conv, then per level max-unpool + 5x5 conv, then a 5x5 alpha layer.

    The layer widths follow the DIM paper's decoder table (``Deconv6`` 1x1
    512, ``Deconv5`` .. ``Deconv1`` 5x5 with 512, 256, 128, 64, 64 channels,
    then the 5x5 "raw alpha prediction" to one channel). With 4 levels
    (M-Net) the ``Deconv5`` stage is dropped, which leaves SHM's "6
    convolutional layers and 4 unpooling layers" (counting the prediction
    layer). Each unpooling puts a value back at the position its encoder pool
    took it from, which is why the convolution before it must produce the
    pooled channel count of that level.

    Args:
        in_channels: channels of the encoder's bottleneck feature.
        pooled_channels: ``VGG16Encoder.pooled_channels`` (finest level first).
        width: channel multiplier (of the last 64-channel layer).
        batch_norm: BatchNorm after each hidden convolution (never after the prediction).

    Shape:
        input ``(features, indices)`` from :class:`VGG16Encoder`; output
        ``(B, 1, H, W)`` raw alpha *logits* at input resolution (no activation).
    """

    def __init__(self, in_channels: int, pooled_channels: tuple[int, ...], *, width: float = 1.0,
                 batch_norm: bool = True) -> None:
        super().__init__()
        width = check_width(width)
        self.bottleneck = _conv_block(in_channels, pooled_channels[-1], 1, batch_norm)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        stages = []
        # After unpooling at level k the conv must emit level k-1's pooled channels;
        # at the finest level it keeps the first block's width (DIM's Deconv1: 64).
        targets = (scaled_channels(VGG16_BLOCKS[0][0], width),) + pooled_channels[:-1]
        for level in reversed(range(len(pooled_channels))):
            stages.append(_conv_block(pooled_channels[level], targets[level], 5, batch_norm))
        self.stages = nn.ModuleList(stages)
        self.predict = nn.Conv2d(targets[0], 1, 5, padding=2)

    def forward(self, features: torch.Tensor, indices: list[torch.Tensor]) -> torch.Tensor:
        x = self.bottleneck(features)
        for stage, idx in zip(self.stages, reversed(indices)):
            x = stage(self.unpool(x, idx))
        return self.predict(x)


def load_weights_state_dict(source: Any, weights: Any, *, name: str) -> dict[str, torch.Tensor]:
    """A torchvision state dict from the torch hub cache, a file, or a mapping.

    Files are read by :func:`mattinglib.weights.load_weights`: weights-only
    (never running code from the file) and, for torchvision's own files,
    checked against the SHA-256 prefix in their name.

    Args:
        source: ``"imagenet"`` to use the torchvision ``weights`` (read from
            the torch hub cache; when missing there, downloaded with a line on
            stderr saying so); a path (``str`` or ``Path``) to a file saved with
            ``torch.save(state_dict)``; or a mapping name -> tensor.
        weights: a torchvision ``WeightsEnum`` member, e.g.
            ``torchvision.models.VGG16_Weights.IMAGENET1K_V1``.
        name: the argument name used in error messages.

    Returns:
        The state dict (a plain ``dict``).

    Raises:
        RuntimeError: the ImageNet weights are neither cached nor downloadable;
            the message names the file to put in the cache.
        ValueError: ``source`` of another type, a file that does not exist,
            cannot be read weights-only, holds no state dict, or whose name is
            torchvision's but whose SHA-256 is not.
    """
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, str) and source == "imagenet":
        return torchvision_state_dict(weights, name=name)
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ValueError(f"{name}: expected 'imagenet', a state-dict file or a mapping; "
                             f"the file {path} does not exist")
        # A file under torchvision's own name must be torchvision's file.
        published = os.path.basename(weights.url)
        known = torchvision_hash_prefix(path) if path.name == published else None
        return load_state_dict(path, name=name, sha256_prefix=known)
    raise ValueError(f"{name}: expected None, 'imagenet', a path or a state-dict mapping, "
                     f"got {type(source).__name__}")


@torch.no_grad()
def copy_vgg16_weights(encoder: VGG16Encoder, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy torchvision VGG16 ``features`` convolutions into ``encoder`` (width 1.0 only).

    The first convolution of the encoder may take more than 3 input channels:
    its RGB filters are copied and the filters of the extra channels (trimap,
    class probabilities) are set to zero, so that the network starts out
    computing exactly the ImageNet features of the image (DIM's recipe). The
    classifier weights of the state dict are ignored; BatchNorm layers of the
    encoder are left as they are (identity at initialisation).

    Raises:
        ValueError: a missing key or a tensor whose shape does not fit
            (e.g. an encoder built with ``width != 1``).
    """
    convs = encoder.convs()
    for i, (conv, index) in enumerate(zip(convs, TORCHVISION_VGG16_CONV_INDICES)):
        wkey, bkey = f"features.{index}.weight", f"features.{index}.bias"
        for key in (wkey, bkey):
            if key not in state_dict:
                raise ValueError(f"state_dict: missing {key!r}; expected "
                                 "torchvision's vgg16() keys")
        w, b = state_dict[wkey], state_dict[bkey]
        expected = tuple(conv.weight.shape)
        if i == 0:
            expected = (expected[0], 3) + expected[2:]
        if tuple(w.shape) != expected or tuple(b.shape) != tuple(conv.bias.shape):
            raise ValueError(f"state_dict: {wkey} has shape {tuple(w.shape)}, the encoder needs "
                             f"{expected} (ImageNet weights need width=1.0)")
        if i == 0:
            conv.weight.zero_()
            conv.weight[:, :3].copy_(w)
        else:
            conv.weight.copy_(w)
        conv.bias.copy_(b)
