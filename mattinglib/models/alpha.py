"""How a trimap-based network is fed: its input kind and its alpha on a batch.

The trimap-based networks of the course take the trimap in one of two ways
(:data:`INPUT_KINDS`):

- ``"mnet"``: RGB and the one-hot trimap (``mattinglib.trimap.CLASS_ORDER``)
  concatenated, 6 channels, sizes multiples of 16: :class:`~mattinglib.models.mnet.MNet`,
  and :class:`~mattinglib.models.shm.SHM`, whose M-Net then reads the given
  trimap instead of T-Net's;
- ``"dim"``: image and trimap as separate tensors, the refined ``"alpha"``
  output, sizes multiples of 32: :class:`~mattinglib.models.dim.DIM`.

:func:`model_alpha` is the bare forward pass that the predictor
(:func:`mattinglib.inference.matting.predict_alpha`) and the validation of the
trainers (:func:`mattinglib.train.recipes.matting_val_fn`) share.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_shape
from ..trimap import CLASS_ORDER, trimap_to_onehot
from .dim import DIM, DIM_INPUT_MULTIPLE
from .mnet import MNET_INPUT_MULTIPLE, MNet
from .shm import SHM

__all__ = ["INPUT_KINDS", "input_kind_of", "model_alpha"]

#: Input kind -> the multiple that height and width must have.
INPUT_KINDS = {"mnet": MNET_INPUT_MULTIPLE, "dim": DIM_INPUT_MULTIPLE}


def input_kind_of(model: nn.Module, input_kind: str | None = None) -> str:
    """The input kind of ``model`` (``"mnet"`` or ``"dim"``), by type unless given.

    >>> input_kind_of(MNet(width=0.25)), input_kind_of(nn.Identity(), "dim")
    ('mnet', 'dim')
    """
    if input_kind is not None:
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind: expected one of {sorted(INPUT_KINDS)} or None, "
                             f"got {input_kind!r}")
        return input_kind
    if isinstance(model, (MNet, SHM)):
        return "mnet"
    if isinstance(model, DIM):
        return "dim"
    raise ValueError(f"model: cannot tell how to feed a {type(model).__name__}; pass "
                     f"input_kind='mnet' (RGB + one-hot trimap) or 'dim' (image, trimap)")


def model_alpha(model: nn.Module, image: torch.Tensor, trimap: torch.Tensor, *,
                input_kind: str | None = None) -> torch.Tensor:
    """Run a trimap-based network on a batch and keep the trimap's known regions.

    No padding, no mode switch, no ``no_grad``: this is the bare forward pass
    that :func:`predict_alpha` and the validation of the trainers share.

    Args:
        model: an ``MNet``, ``SHM`` (its M-Net is used), ``DIM``, or any module
            fed like one of them with ``input_kind``.
        image: ``(B, 3, H, W)`` float RGB in [0, 1], H and W multiples of
            ``INPUT_KINDS[input_kind]``.
        trimap: ``(B, 1, H, W)`` float in {0, 128/255, 1} or uint8 in {0, 128, 255}.
        input_kind: ``"mnet"`` or ``"dim"``; ``None`` tells it from the model's type.

    Returns:
        ``(B, 1, H, W)`` float32 alpha: the network's prediction in the unknown
        region, exactly 0 in the background and 1 in the foreground.

    >>> net = MNet(width=0.25).eval()
    >>> t = torch.full((1, 1, 16, 16), 128 / 255); t[..., :4] = 0
    >>> a = model_alpha(net, torch.rand(1, 3, 16, 16), t).detach()
    >>> tuple(a.shape), float(a[..., :4].abs().max())
    ((1, 1, 16, 16), 0.0)
    """
    kind = input_kind_of(model, input_kind)
    dims = check_shape(image, "B,3,H,W", name="image")
    check_shape(trimap, f"{dims['B']},1,{dims['H']},{dims['W']}", name="trimap")
    onehot = trimap_to_onehot(trimap).to(device=image.device, dtype=image.dtype)
    if kind == "mnet":
        net = model.mnet if isinstance(model, SHM) else model
        raw = net(torch.cat([image, onehot], dim=1))
    else:
        trimap01 = trimap.to(image.dtype)
        if trimap.dtype == torch.uint8:
            trimap01 = trimap01 / 255
        raw = model(image, trimap01)
        raw = raw["alpha"] if isinstance(raw, dict) else raw
    u, f = CLASS_ORDER.index("unknown"), CLASS_ORDER.index("foreground")
    unknown, foreground = onehot[:, u:u + 1], onehot[:, f:f + 1]
    # F + U * raw: SHM's fusion with a one-hot trimap, exact 0/1 in the known regions.
    return (foreground + unknown * raw.float()).float()
