"""Losses of Background Matting (Sengupta et al., CVPR 2020).

Small pure functions, each returning a scalar tensor, and two totals that
return a dict of named terms (for plotting each term in a notebook).

**Value range.** These losses work on the generator's ``[-1, 1]`` tensors, as
the original training code does (alpha, foreground, image and background
all mapped by ``2 x - 1``): an alpha L1 here is twice the same L1 measured in
``[0, 1]``, and thresholds such as "predicted alpha > 0.95" are in ``[-1, 1]``
too. Convert with :func:`mattinglib.models.bgm.to_model_range`.

**Masked per-sample L1.** Every L1 is normalised per sample: the sum of
``|target - pred| * mask`` over the sample divided by ``sum(mask) + 1e-6``,
then averaged over the batch. A sample with an empty mask contributes 0 and
still counts in the batch average. The mask is summed as given: a one-channel
mask with a three-channel image divides a sum over three channels by the
number of pixels, exactly as the original does. ``mask=None`` stands for the
original's all-ones mask of shape ``(B, 1, H, W)`` without allocating it.

Supervised stage (``train_adobe.py``), weights 1, 2, 1, 1::

    alpha_l1    = L1(alpha, alpha_pred)
    fg_l1       = L1(fg, fg_pred, mask = alpha > -0.99)          (alpha > ~0 in [0, 1])
    composition = L1(image, compose(alpha_pred, fg_pred', bg))
                  with fg_pred' = image where alpha_pred > 0.95, else fg_pred
    gradient    = L1(sobel_x(alpha), sobel_x(alpha_pred)) + L1(sobel_y(alpha), sobel_y(alpha_pred))
    total       = alpha_l1 + 2 fg_l1 + composition + gradient

>>> import torch
>>> t = torch.zeros(2, 1, 4, 4); p = torch.ones(2, 1, 4, 4)
>>> m = torch.ones(2, 1, 4, 4); m[1] = 0       # the second sample has an empty mask
>>> round(float(normalized_l1(t, p, m)), 6)    # (1 + 0) / 2
0.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_shape
from . import gradient as _gradient

__all__ = [
    "EPS",
    "SUPERVISED_WEIGHTS",
    "FG_MASK_THRESHOLD",
    "OPAQUE_THRESHOLD",
    "normalized_l1",
    "gradient_loss",
    "GradientLoss",
    "composition_loss",
    "replace_opaque_foreground",
    "supervised_loss",
    "pseudo_supervised_loss",
    "lsgan_loss",
]

#: Added to the mask sum of every normalised L1 (the original's value).
EPS = 1e-6
#: Weights of the supervised terms (``train_adobe.py``: ``al + 2 fg + comp + grad``).
SUPERVISED_WEIGHTS: Mapping[str, float] = {"alpha_l1": 1.0, "fg_l1": 2.0, "composition": 1.0,
                                           "gradient": 1.0}
#: The foreground L1 covers pixels whose ground-truth alpha exceeds this (in [-1, 1]).
FG_MASK_THRESHOLD = -0.99
#: Where the predicted alpha exceeds this (in [-1, 1]) the image replaces the foreground.
OPAQUE_THRESHOLD = 0.95


# --------------------------------------------------------------------------- checks


def _check_pair(target: torch.Tensor, pred: torch.Tensor, *, target_name: str = "target",
                pred_name: str = "pred") -> tuple[int, int, int, int]:
    dims = check_shape(target, "B,C,H,W", name=target_name)
    shape = (dims["B"], dims["C"], dims["H"], dims["W"])
    got = tuple(pred.shape) if hasattr(pred, "shape") else type(pred).__name__
    if got != shape:
        raise ValueError(f"{pred_name}: expected shape {shape} like {target_name}, got {got}")
    return shape


def _check_alpha(alpha: torch.Tensor, shape: tuple[int, int, int, int], *, name: str) -> None:
    b, _, h, w = shape
    check_shape(alpha, f"{b},1,{h},{w}", name=name)


def _check_mask(mask: torch.Tensor | None, shape: tuple[int, int, int, int], *,
                name: str = "mask") -> None:
    if mask is None:
        return
    b, c, h, w = shape
    mdims = check_shape(mask, f"{b},M,{h},{w}", name=name)
    if mdims["M"] not in (1, c):
        raise ValueError(f"{name}: expected shape ({b},1,{h},{w}) or ({b},{c},{h},{w}), "
                         f"got {tuple(mask.shape)}")


# --------------------------------------------------------------------------- terms


def normalized_l1(target: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor | None = None, *,
                  eps: float = EPS) -> torch.Tensor:
    """Masked L1 normalised per sample, averaged over the batch.

    ``mean_b( sum(|target_b - pred_b| * mask_b) / (sum(mask_b) + eps) )``,
    vectorised over the batch. Equals the original's per-sample loop for any
    non-negative mask, including samples whose mask is empty (they add 0 and
    still count in the mean).

    Args:
        target: ``(B, C, H, W)``.
        pred: ``(B, C, H, W)``, same shape.
        mask: ``(B, 1, H, W)`` (broadcast over channels, summed once) or
            ``(B, C, H, W)``, non-negative; ``None`` means all ones of shape
            ``(B, 1, H, W)``.
        eps: added to each sample's mask sum.

    Returns:
        Scalar tensor.

    Raises:
        ValueError: shapes that do not match.
    """
    b, c, h, w = _check_pair(target, pred)
    _check_mask(mask, (b, c, h, w))
    diff = (target - pred).abs()
    if mask is None:
        per_sample = diff.sum(dim=(1, 2, 3)) / (h * w + eps)
    else:
        per_sample = (diff * mask).sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) + eps)
    return per_sample.mean()


# Sobel filter banks by (device, dtype), built once: the original allocated two
# new filters on the GPU at every loss evaluation.
_KERNELS: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def _sobel_kernels(like: torch.Tensor) -> torch.Tensor:
    key = (like.device, like.dtype)
    kernels = _KERNELS.get(key)
    if kernels is None:
        # A filter built under inference_mode could not be saved for backward later.
        with torch.inference_mode(False), torch.no_grad():
            kernels = _gradient._kernels(like.dtype, like.device)
        _KERNELS[key] = kernels
    return kernels


def gradient_loss(target: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor | None = None, *,
                  kernels: torch.Tensor | None = None) -> torch.Tensor:
    """Sobel-gradient L1: ``L1(gx(target), gx(pred)) + L1(gy(target), gy(pred))``.

    Both L1 are :func:`normalized_l1` with ``mask``; the Sobel filters
    (:mod:`mattinglib.losses.gradient`, zero padding) come from a cache per
    device and dtype, or from ``kernels`` (a :class:`GradientLoss` buffer).

    Args:
        target: ``(B, C, H, W)``, usually the alpha ``(B, 1, H, W)`` in ``[-1, 1]``.
        pred: same shape.
        mask: as in :func:`normalized_l1`.
        kernels: optional ``(2, 1, 3, 3)`` Sobel filter bank.

    Returns:
        Scalar tensor.

    >>> a = torch.zeros(1, 1, 6, 6); a[..., 3:] = 1
    >>> float(gradient_loss(a, a))
    0.0
    """
    shape = _check_pair(target, pred)
    _check_mask(mask, shape)
    if kernels is None:
        kernels = _sobel_kernels(target)
    gx, gy = _gradient.sobel(target, kernels)
    gx_pred, gy_pred = _gradient.sobel(pred, kernels)
    return normalized_l1(gx, gx_pred, mask) + normalized_l1(gy, gy_pred, mask)


class GradientLoss(nn.Module):
    """Module form of :func:`gradient_loss`; its Sobel buffer follows ``.to()``."""

    def __init__(self) -> None:
        super().__init__()
        self.sobel = _gradient.Sobel()

    def forward(self, target: torch.Tensor, pred: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return gradient_loss(target, pred, mask, kernels=self.sobel.kernels)


def composition_loss(image: torch.Tensor, alpha_pred: torch.Tensor, fg: torch.Tensor,
                     bg: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between the image and the composite of the predicted alpha, fg and bg.

    The alpha is mapped from ``[-1, 1]`` to ``[0, 1]`` before compositing
    ``fg * a + (1 - a) * bg``; image, fg and bg stay in ``[-1, 1]`` (the
    composition is linear, so the range of the colours does not matter).

    Args:
        image: ``(B, 3, H, W)`` in ``[-1, 1]``.
        alpha_pred: ``(B, 1, H, W)`` in ``[-1, 1]``.
        fg: ``(B, 3, H, W)`` predicted foreground (often after
            :func:`replace_opaque_foreground`).
        bg: ``(B, 3, H, W)`` background to composite on.
        mask: as in :func:`normalized_l1`.

    Returns:
        Scalar tensor.
    """
    shape = _check_pair(image, fg, target_name="image", pred_name="fg")
    _check_pair(image, bg, target_name="image", pred_name="bg")
    _check_alpha(alpha_pred, shape, name="alpha_pred")
    _check_mask(mask, shape)
    a = (alpha_pred + 1) / 2
    return normalized_l1(image, fg * a + (1 - a) * bg, mask)


def replace_opaque_foreground(fg_pred: torch.Tensor, image: torch.Tensor, alpha_pred: torch.Tensor,
                              *, threshold: float = OPAQUE_THRESHOLD) -> torch.Tensor:
    """The predicted foreground, with the input image where the alpha is opaque.

    Where ``alpha_pred > threshold`` the pixel is (almost) pure foreground, so
    the observed image *is* its foreground colour; the original uses this
    before the composition loss. No gradient flows through the choice, and
    none reaches ``fg_pred`` at replaced pixels.

    Args:
        fg_pred: ``(B, 3, H, W)``.
        image: ``(B, 3, H, W)``, same range as ``fg_pred``.
        alpha_pred: ``(B, 1, H, W)`` in ``[-1, 1]``.
        threshold: in the alpha's ``[-1, 1]`` range (0.95 there is 0.975 in ``[0, 1]``).

    Returns:
        ``(B, 3, H, W)``.

    >>> fg, img = torch.zeros(1, 3, 1, 2), torch.ones(1, 3, 1, 2)
    >>> replace_opaque_foreground(fg, img, torch.tensor([[[[0.99, 0.5]]]]))[0, 0].tolist()
    [[1.0, 0.0]]
    """
    shape = _check_pair(image, fg_pred, target_name="image", pred_name="fg_pred")
    _check_alpha(alpha_pred, shape, name="alpha_pred")
    return torch.where(alpha_pred > threshold, image, fg_pred)


# --------------------------------------------------------------------------- totals


def supervised_loss(alpha_pred: torch.Tensor, fg_pred: torch.Tensor, alpha: torch.Tensor,
                    fg: torch.Tensor, image: torch.Tensor, bg: torch.Tensor, *,
                    weights: Mapping[str, float] = SUPERVISED_WEIGHTS,
                    fg_threshold: float = FG_MASK_THRESHOLD,
                    opaque_threshold: float = OPAQUE_THRESHOLD,
                    kernels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The supervised (synthetic-composite) loss of Background Matting.

    Args:
        alpha_pred: ``(B, 1, H, W)`` predicted alpha in ``[-1, 1]``.
        fg_pred: ``(B, 3, H, W)`` predicted foreground in ``[-1, 1]``.
        alpha: ``(B, 1, H, W)`` ground-truth alpha in ``[-1, 1]``.
        fg: ``(B, 3, H, W)`` ground-truth foreground in ``[-1, 1]``.
        image: ``(B, 3, H, W)`` the composite the network saw, in ``[-1, 1]``.
        bg: ``(B, 3, H, W)`` the ground-truth background of the composite
            (not the perturbed "captured" background given to the network).
        weights: weights of ``alpha_l1``, ``fg_l1``, ``composition``, ``gradient``.
        fg_threshold: the foreground L1 covers ``alpha > fg_threshold``.
        opaque_threshold: see :func:`replace_opaque_foreground`.
        kernels: optional Sobel filter bank (see :func:`gradient_loss`).

    Returns:
        ``{"alpha_l1", "fg_l1", "composition", "gradient", "total"}``, scalar
        tensors; ``total`` is the weighted sum (1, 2, 1, 1 by default).
    """
    shape = _check_pair(image, fg_pred, target_name="image", pred_name="fg_pred")
    _check_pair(image, fg, target_name="image", pred_name="fg")
    _check_pair(alpha, alpha_pred, target_name="alpha", pred_name="alpha_pred")
    _check_alpha(alpha, shape, name="alpha")
    if set(weights) != set(SUPERVISED_WEIGHTS):
        raise ValueError(f"weights: expected the keys {sorted(SUPERVISED_WEIGHTS)}, "
                         f"got {sorted(weights)}")
    fg_mask = (alpha > fg_threshold).to(fg.dtype)
    terms = {
        "alpha_l1": normalized_l1(alpha, alpha_pred),
        "fg_l1": normalized_l1(fg, fg_pred, fg_mask),
        "composition": composition_loss(
            image, alpha_pred,
            replace_opaque_foreground(fg_pred, image, alpha_pred, threshold=opaque_threshold), bg),
        "gradient": gradient_loss(alpha, alpha_pred, kernels=kernels),
    }
    terms["total"] = sum(weights[k] * v for k, v in terms.items())
    return terms


def pseudo_supervised_loss(alpha_pred: torch.Tensor, fg_pred: torch.Tensor,
                           alpha_teacher: torch.Tensor, fg_teacher: torch.Tensor,
                           image: torch.Tensor, bg: torch.Tensor, seg_gt: torch.Tensor, *,
                           kernels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The teacher-student terms of the self-supervised adversarial stage.

    As in ``train_real_fixed.py``: the student's alpha follows the teacher's
    (L1 + 0.5 gradient loss, everywhere), its foreground follows the teacher's
    where the teacher's alpha > -0.98 (about 0.01 in ``[0, 1]``), and its
    composite over the captured background must reproduce the image where
    the segmentation network's mask ``seg_gt > 0.95`` (the original's ``seg-gt``:
    the mask itself, not the softened guide the generator is given). The GAN term
    and the stage's weighting (``gan + wt * 0.05 * total``) belong to the trainer.

    Args:
        alpha_pred, fg_pred: the student's ``(B, 1, H, W)`` and ``(B, 3, H, W)``.
        alpha_teacher, fg_teacher: the frozen teacher's outputs (detach them).
        image: ``(B, 3, H, W)`` the real frame; bg: its captured background.
        seg_gt: ``(B, 1, H, W)`` the segmentation network's mask, all in ``[-1, 1]``.
        kernels: optional Sobel filter bank.

    Returns:
        ``{"alpha", "fg_l1", "composition", "total"}`` with ``total`` their sum.
    """
    shape = _check_pair(image, fg_pred, target_name="image", pred_name="fg_pred")
    _check_pair(image, fg_teacher, target_name="image", pred_name="fg_teacher")
    _check_pair(alpha_teacher, alpha_pred, target_name="alpha_teacher", pred_name="alpha_pred")
    _check_alpha(alpha_teacher, shape, name="alpha_teacher")
    _check_alpha(seg_gt, shape, name="seg_gt")
    terms = {
        "alpha": normalized_l1(alpha_teacher, alpha_pred)
        + 0.5 * gradient_loss(alpha_teacher, alpha_pred, kernels=kernels),
        "fg_l1": normalized_l1(fg_teacher, fg_pred, (alpha_teacher > -0.98).to(fg_pred.dtype)),
        "composition": composition_loss(image, alpha_pred, fg_pred, bg,
                                        (seg_gt > 0.95).to(image.dtype)),
    }
    terms["total"] = terms["alpha"] + terms["fg_l1"] + terms["composition"]
    return terms


def lsgan_loss(outputs: torch.Tensor | Sequence[torch.Tensor | Sequence[torch.Tensor]],
               target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss, averaged over the discriminator's scales.

    ``mean_s MSE(D_s, 1)`` for real targets, ``mean_s MSE(D_s, 0)`` for fake.

    Args:
        outputs: what :class:`~mattinglib.models.discriminator.MultiscaleDiscriminator`
            returns (a list per scale of lists whose last entry is the score
            map), a flat list of score maps, or one score map tensor.
        target_is_real: ``True`` to push the scores to 1, ``False`` to 0.

    Returns:
        Scalar tensor.

    >>> float(lsgan_loss([[torch.ones(1, 1, 2, 2)], [torch.zeros(1, 1, 1, 1)]], True))
    0.5
    """
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    if not isinstance(outputs, Sequence) or len(outputs) == 0:
        raise ValueError(f"outputs: expected a tensor or a non-empty list of score maps, "
                         f"got {type(outputs).__name__}")
    total = None
    for i, scale in enumerate(outputs):
        pred = scale if isinstance(scale, torch.Tensor) else scale[-1]
        if not isinstance(pred, torch.Tensor):
            raise ValueError(f"outputs: entry {i} holds {type(pred).__name__}, expected a tensor")
        labels = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
        term = F.mse_loss(pred, labels)
        total = term if total is None else total + term
    return total / len(outputs)
