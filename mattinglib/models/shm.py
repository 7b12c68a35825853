"""Semantic Human Matting (Chen et al., ACM MM 2018): T-Net + M-Net + fusion.

T-Net predicts a 3-class trimap, M-Net the alpha inside the unknown band from
the image and T-Net's class probabilities, and the fusion trusts T-Net where
it is sure of foreground and M-Net where it says "unknown":

    alpha = Fs + Us * alpha_r

with ``Fs``, ``Us`` the foreground and unknown probabilities of the softmax
and ``alpha_r`` M-Net's output. The channels are read by name from
``mattinglib.trimap.CLASS_ORDER`` (background, unknown, foreground), never by
a hard-coded position: public re-implementations swapped foreground and
unknown by splitting the softmax in another order than the labels were
encoded, and the result still trains, into a wrong model.

Training follows the paper's three phases, chosen with ``mode``:

- ``"pretrain_tnet"``: only T-Net runs (cross-entropy on the trimap);
- ``"pretrain_mnet"``: M-Net is fed the *ground-truth* trimap as one-hot
  channels instead of T-Net's output, and the fusion uses the same one-hot;
- ``"end_to_end"``: the whole pipeline, gradients flowing from the alpha
  through the fusion and M-Net's input into T-Net.

>>> import torch
>>> from mattinglib.models.mnet import MNet
>>> from mattinglib.models.tnet import TNet
>>> shm = SHM(TNet(backbone="resnet18", width=0.25), MNet(width=0.25)).eval()
>>> out = shm(torch.rand(1, 3, 32, 32))
>>> sorted(out), tuple(out["alpha"].shape)
(['alpha', 'alpha_r', 'trimap_logits', 'trimap_probs'], (1, 1, 32, 32))
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_float_input, check_shape
from ..trimap import CLASS_ORDER, trimap_to_onehot
from .mnet import MNet
from .tnet import TNet

__all__ = ["SHM", "SHM_MODES", "fuse_alpha", "FOREGROUND_CHANNEL", "UNKNOWN_CHANNEL"]

#: Channel of the foreground probability in T-Net's output (from ``CLASS_ORDER``).
FOREGROUND_CHANNEL = CLASS_ORDER.index("foreground")
#: Channel of the unknown-region probability in T-Net's output (from ``CLASS_ORDER``).
UNKNOWN_CHANNEL = CLASS_ORDER.index("unknown")

SHM_MODES = ("pretrain_tnet", "pretrain_mnet", "end_to_end")


def fuse_alpha(trimap_probs: torch.Tensor, alpha_r: torch.Tensor) -> torch.Tensor:
    """SHM's fusion ``alpha = Fs + Us * alpha_r``, clamped to [0, 1].

    The clamp only matters when ``alpha_r`` or the probabilities leave
    [0, 1] (with softmax probabilities and M-Net's sigmoid output the sum is
    already in [0, 1], up to rounding); it guarantees that the public output is
    a valid matte.

    Args:
        trimap_probs: ``(B, 3, H, W)`` class probabilities in ``CLASS_ORDER``
            (softmax of T-Net, or a one-hot ground-truth trimap).
        alpha_r: ``(B, 1, H, W)`` M-Net output.

    Returns:
        ``(B, 1, H, W)`` alpha in [0, 1].

    >>> probs = torch.zeros(1, 3, 1, 3)
    >>> probs[0, CLASS_ORDER.index("background"), 0, 0] = 1
    >>> probs[0, CLASS_ORDER.index("unknown"), 0, 1] = 1
    >>> probs[0, CLASS_ORDER.index("foreground"), 0, 2] = 1
    >>> fuse_alpha(probs, torch.full((1, 1, 1, 3), 0.3)).flatten().tolist()
    [0.0, 0.30000001192092896, 1.0]
    """
    dims = check_shape(trimap_probs, "B,3,H,W", name="trimap_probs")
    check_shape(alpha_r, f"{dims['B']},1,{dims['H']},{dims['W']}", name="alpha_r")
    fs = trimap_probs[:, FOREGROUND_CHANNEL:FOREGROUND_CHANNEL + 1]
    us = trimap_probs[:, UNKNOWN_CHANNEL:UNKNOWN_CHANNEL + 1]
    return (fs + us * alpha_r).clamp(0.0, 1.0)


class SHM(nn.Module):
    """T-Net and M-Net joined by the fusion.

    Args:
        tnet: a :class:`~mattinglib.models.tnet.TNet` with 3 classes.
        mnet: a :class:`~mattinglib.models.mnet.MNet` with 6 input channels.
        mode: one of :data:`SHM_MODES` (can be changed later with :meth:`set_mode`).

    Call ``shm(image)`` (``shm(image, trimap)`` in ``"pretrain_mnet"`` mode).
    ``check_values=False`` skips the check of the trimap's values (a device
    synchronisation), as the training loss does for the library's datasets.

    Shape:
        - image: ``(B, 3, H, W)`` float RGB in [0, 1], H and W multiples of 16
          (any size in ``"pretrain_tnet"`` mode).
        - trimap (``"pretrain_mnet"`` only): ``(B, 1, H, W)`` ground truth,
          uint8 in {0, 128, 255} or float in {0, 128/255, 1}.
        - returns a dict:

          - ``trimap_logits`` ``(B, 3, H, W)``: T-Net's logits (absent in ``"pretrain_mnet"``);
          - ``trimap_probs`` ``(B, 3, H, W)``: softmax in ``CLASS_ORDER`` (the
            one-hot ground truth in ``"pretrain_mnet"``);
          - ``alpha_r`` ``(B, 1, H, W)``: M-Net's output in (0, 1) (absent in ``"pretrain_tnet"``);
          - ``alpha`` ``(B, 1, H, W)``: the fused matte in [0, 1] (absent in ``"pretrain_tnet"``).
    """

    def __init__(self, tnet: TNet, mnet: MNet, *, mode: str = "end_to_end") -> None:
        super().__init__()
        if (not isinstance(tnet, nn.Module)
                or getattr(tnet, "num_classes", None) != len(CLASS_ORDER)):
            raise ValueError(f"tnet: expected a TNet with {len(CLASS_ORDER)} classes, "
                             f"got {type(tnet).__name__} with {getattr(tnet, 'num_classes', None)}")
        mnet_channels = getattr(mnet, "in_channels", None)
        if not isinstance(mnet, nn.Module) or mnet_channels != 3 + len(CLASS_ORDER):
            raise ValueError(f"mnet: expected an MNet with {3 + len(CLASS_ORDER)} input channels, "
                             f"got {type(mnet).__name__} with {getattr(mnet, 'in_channels', None)}")
        self.tnet = tnet
        self.mnet = mnet
        self.mode = "end_to_end"
        self.set_mode(mode)

    def set_mode(self, mode: str) -> "SHM":
        """Switch the training phase (see :data:`SHM_MODES`); returns ``self``."""
        if mode not in SHM_MODES:
            raise ValueError(f"mode: expected one of {list(SHM_MODES)}, got {mode!r}")
        self.mode = mode
        return self

    def forward(self, image: torch.Tensor, trimap: torch.Tensor | None = None, *,
                check_values: bool = True) -> dict[str, torch.Tensor]:
        check_float_input(image, name="image", dtype=self.mnet.rgb_mean.dtype)
        if self.mode == "pretrain_mnet":
            if trimap is None:
                raise ValueError("trimap: required in mode 'pretrain_mnet' "
                                 "(M-Net is fed the ground-truth trimap)")
            check_shape(image, "B,3,H,W", name="image")
            if tuple(trimap.shape[-2:]) != tuple(image.shape[-2:]):
                raise ValueError(f"trimap: expected height x width {tuple(image.shape[-2:])} "
                                 f"like image, got {tuple(trimap.shape[-2:])}")
            probs = trimap_to_onehot(trimap, check_values=check_values).to(device=image.device,
                                                                           dtype=image.dtype)
            alpha_r = self.mnet(torch.cat([image, probs], dim=1))
            return {"trimap_probs": probs, "alpha_r": alpha_r, "alpha": fuse_alpha(probs, alpha_r)}
        if trimap is not None:
            raise ValueError(f"trimap: only used in mode 'pretrain_mnet'; mode is {self.mode!r}")
        logits = self.tnet(image)
        probs = torch.softmax(logits, dim=1)
        if self.mode == "pretrain_tnet":
            return {"trimap_logits": logits, "trimap_probs": probs}
        alpha_r = self.mnet(torch.cat([image, probs], dim=1))
        return {"trimap_logits": logits, "trimap_probs": probs, "alpha_r": alpha_r,
                "alpha": fuse_alpha(probs, alpha_r)}
