"""The Deep Image Matting loss family, and SHM's loss built from it.

Deep Image Matting (Xu et al., CVPR 2017) trains with two terms, both the
Charbonnier penalty ``sqrt(d**2 + eps**2)`` with ``eps = 1e-6`` (a
differentiable absolute value) averaged over the unknown region of the
trimap:

- the *alpha prediction loss* on ``d = alpha_pred - alpha_gt``;
- the *compositional loss* on ``d = C_pred - I``, the image recomposed with
  the predicted alpha and the ground-truth foreground and background, minus
  the real composite, per RGB channel;

weighted 0.5 / 0.5. Semantic Human Matting (Chen et al., ACM MM 2018) adds
``0.01 *`` the cross-entropy of T-Net's trimap logits. A Sobel gradient loss
(L1 of the alpha gradients, as Background Matting uses) is here too.

Normalisation, written once: with a weight mask ``w`` of shape
``(B, 1, H, W)`` (1 in the unknown region, 0 elsewhere; soft weights are
allowed) every masked term is

    sum_{b, c, h, w} penalty * w  /  (C * sum_{b, h, w} w + tiny)

over the *whole batch* (not a mean of per-image means), with ``C`` the
number of channels of the penalty (1 for alpha, 3 for the composite) and
``tiny = torch.finfo(dtype).tiny``. A mask without any unknown pixel gives a
loss of exactly 0 (and zero gradients), never NaN. ``weight=None`` means all
pixels count (``w = 1``).

Every function returns a 0-dim tensor with the dtype of its inputs; the
totals return a dict of named terms for plotting, with ``"total"`` the one to
back-propagate.

>>> import torch
>>> pred = torch.full((1, 1, 4, 4), 0.5); target = torch.zeros(1, 1, 4, 4)
>>> round(float(alpha_prediction_loss(pred, target, None)), 6)
0.5
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._checks import InputTypeError, check_shape
from ..trimap import CLASS_ORDER
from .gradient import sobel

__all__ = [
    "CHARBONNIER_EPS",
    "charbonnier",
    "alpha_prediction_loss",
    "compositional_loss",
    "sobel_gradient_loss",
    "dim_loss",
    "shm_loss",
    "tnet_pretrain_loss",
    "mnet_pretrain_loss",
    "shm_end_to_end_loss",
]

#: DIM's epsilon of the Charbonnier penalty.
CHARBONNIER_EPS = 1e-6


def charbonnier(diff: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """Elementwise ``sqrt(diff**2 + eps**2)``.

    >>> charbonnier(torch.tensor([0.0, 3.0]), eps=4.0).tolist()
    [4.0, 5.0]
    """
    return torch.sqrt(diff * diff + eps * eps)


def _check_tensor(x: Any, spec: str, name: str) -> dict[str, int]:
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputTypeError(f"{name}: expected a floating point tensor, got dtype {x.dtype}")
    return check_shape(x, spec, name=name)


def _check_alpha_pair(pred: Any, target: Any, weight: Any, pred_name: str = "pred",
                      target_name: str = "target") -> str:
    dims = _check_tensor(pred, "B,1,H,W", pred_name)
    like = f"{dims['B']},1,{dims['H']},{dims['W']}"
    _check_tensor(target, like, target_name)
    if weight is not None:
        _check_tensor(weight, like, "weight")
    return f"{dims['B']},3,{dims['H']},{dims['W']}"


def _masked_mean(penalty: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    channels = penalty.shape[1]
    tiny = torch.finfo(penalty.dtype).tiny
    if weight is None:
        return penalty.sum() / (penalty.numel() + tiny)
    weight = weight.to(penalty.dtype)
    return (penalty * weight).sum() / (channels * weight.sum() + tiny)


def alpha_prediction_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, *,
                          eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """DIM's alpha prediction loss: Charbonnier of the alpha error, masked mean.

    Args:
        pred: ``(B, 1, H, W)`` predicted alpha.
        target: ``(B, 1, H, W)`` ground-truth alpha in [0, 1].
        weight: ``(B, 1, H, W)`` mask (the unknown region), or ``None`` for all pixels.
            Deliberately not optional: forgetting the mask silently averages
            over the easy known pixels.
        eps: the Charbonnier epsilon (DIM: 1e-6).

    Returns:
        0-dim tensor: ``sum(sqrt((pred-target)**2 + eps**2) * w) / (sum(w) + tiny)``;
        0 when ``w`` is all zero.
    """
    _check_alpha_pair(pred, target, weight)
    return _masked_mean(charbonnier(pred - target, eps), weight)


def compositional_loss(pred_alpha: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor,
                       image: torch.Tensor, weight: torch.Tensor | None, *,
                       eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """DIM's compositional loss: Charbonnier of ``alpha*F + (1-alpha)*B - I`` over 3 channels.

    Args:
        pred_alpha: ``(B, 1, H, W)`` predicted alpha.
        fg, bg: ``(B, 3, H, W)`` ground-truth foreground and background in [0, 1].
        image: ``(B, 3, H, W)`` the composite the network saw.
        weight: ``(B, 1, H, W)`` mask (shared by the 3 channels) or ``None``.
        eps: the Charbonnier epsilon.

    Returns:
        0-dim tensor: ``sum_{b,c,h,w} sqrt(d**2 + eps**2) * w / (3 * sum(w) + tiny)``.
    """
    dims = _check_tensor(pred_alpha, "B,1,H,W", "pred_alpha")
    rgb = f"{dims['B']},3,{dims['H']},{dims['W']}"
    for x, name in ((fg, "fg"), (bg, "bg"), (image, "image")):
        _check_tensor(x, rgb, name)
    if weight is not None:
        _check_tensor(weight, f"{dims['B']},1,{dims['H']},{dims['W']}", "weight")
    recomposed = pred_alpha * fg + (1 - pred_alpha) * bg
    return _masked_mean(charbonnier(recomposed - image, eps), weight)


def sobel_gradient_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, *,
                        kernels: torch.Tensor | None = None) -> torch.Tensor:
    """L1 distance of Sobel gradients: ``sum((|gx_p-gx_t| + |gy_p-gy_t|) * w) / (sum(w) + tiny)``.

    This is Background Matting's alpha gradient loss (the sum of the masked
    L1 means of the horizontal and vertical responses, which share one
    denominator), with the filters of :mod:`mattinglib.losses.gradient`
    (zero padding). A constant offset between ``pred`` and ``target`` costs
    nothing away from the border; blur and misplaced edges do.

    Args:
        pred, target: ``(B, 1, H, W)`` alphas.
        weight: ``(B, 1, H, W)`` mask or ``None``.
        kernels: optional filter buffer (``Sobel().kernels``), to avoid
            rebuilding the filters on every call.

    Returns:
        0-dim tensor.
    """
    _check_alpha_pair(pred, target, weight)
    gx_p, gy_p = sobel(pred, kernels)
    gx_t, gy_t = sobel(target, kernels)
    return _masked_mean((gx_p - gx_t).abs() + (gy_p - gy_t).abs(), weight)


def dim_loss(pred_alpha: torch.Tensor, target_alpha: torch.Tensor, fg: torch.Tensor,
             bg: torch.Tensor, image: torch.Tensor, weight: torch.Tensor | None, *,
             alpha_weight: float = 0.5, composition_weight: float = 0.5,
             eps: float = CHARBONNIER_EPS) -> dict[str, torch.Tensor]:
    """DIM's overall loss: ``0.5 * alpha + 0.5 * composition`` over the unknown region.

    Args:
        pred_alpha, target_alpha: ``(B, 1, H, W)``.
        fg, bg, image: ``(B, 3, H, W)`` ground-truth layers and the composite.
        weight: ``(B, 1, H, W)`` unknown-region mask, or ``None`` for all pixels.
        alpha_weight, composition_weight: the paper's 0.5 and 0.5.
        eps: the Charbonnier epsilon.

    Returns:
        ``{"alpha", "composition", "total"}``, 0-dim tensors.

    >>> a = torch.rand(1, 1, 8, 8); f, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    >>> terms = dim_loss(a, a, f, b, a * f + (1 - a) * b, None)
    >>> sorted(terms), float(terms["total"]) < 1e-5
    (['alpha', 'composition', 'total'], True)
    """
    _check_alpha_pair(pred_alpha, target_alpha, weight, "pred_alpha", "target_alpha")
    alpha = alpha_prediction_loss(pred_alpha, target_alpha, weight, eps=eps)
    composition = compositional_loss(pred_alpha, fg, bg, image, weight, eps=eps)
    return {"alpha": alpha, "composition": composition,
            "total": alpha_weight * alpha + composition_weight * composition}


def shm_loss(*, pred_alpha: torch.Tensor | None = None,
             target_alpha: torch.Tensor | None = None, fg: torch.Tensor | None = None,
             bg: torch.Tensor | None = None, image: torch.Tensor | None = None,
             trimap_logits: torch.Tensor | None = None,
             trimap_target: torch.Tensor | None = None, weight: torch.Tensor | None = None,
             alpha_weight: float = 0.5, composition_weight: float = 0.5, ce_weight: float = 0.01,
             eps: float = CHARBONNIER_EPS, check_values: bool = True) -> dict[str, torch.Tensor]:
    """SHM's loss: DIM-style ``0.5 * alpha + 0.5 * composition`` plus ``0.01 * trimap_ce``.

    SHM predicts the trimap itself, so by default the alpha terms count every
    pixel (``weight=None``); pass the unknown mask to restrict them as DIM does.
    The three training phases use the parts they have:

    - end to end: everything given; ``total = 0.5*alpha + 0.5*composition + 0.01*trimap_ce``;
    - M-Net pre-training (``trimap_logits=None``): ``total = 0.5*alpha + 0.5*composition``;
    - T-Net pre-training (``pred_alpha=None``): ``total = trimap_ce`` (unweighted;
      the alpha arguments may all be ``None``).

    Terms that are not computed are absent from the dict (not zeros, so a
    plot never shows a term that was not there). Every argument is a keyword;
    :func:`tnet_pretrain_loss`, :func:`mnet_pretrain_loss` and
    :func:`shm_end_to_end_loss` name the arguments each phase needs.

    Args:
        pred_alpha, target_alpha: ``(B, 1, H, W)`` fused and ground-truth alpha.
        fg, bg, image: ``(B, 3, H, W)``.
        trimap_logits: ``(B, 3, H, W)`` T-Net logits in ``CLASS_ORDER``.
        trimap_target: ``(B, H, W)`` long class indices in ``CLASS_ORDER``
            (``mattinglib.trimap.trimap_to_classes``).
        weight: ``(B, 1, H, W)`` mask of the alpha terms, ``None`` = all pixels.
        alpha_weight, composition_weight, ce_weight: 0.5, 0.5 and 0.01 in the paper.
        eps: the Charbonnier epsilon.
        check_values: check that ``trimap_target`` holds class indices in range (reads
            its minimum and maximum: a device sync, which a training loop whose targets
            come from :func:`~mattinglib.trimap.trimap_to_classes` may skip). Shapes and
            dtypes are always checked.

    Returns:
        a dict with ``"alpha"``, ``"composition"``, ``"trimap_ce"`` (those
        computed) and ``"total"``.
    """
    if pred_alpha is None and trimap_logits is None:
        raise ValueError("pred_alpha: pred_alpha and trimap_logits are both None; nothing to train")
    terms: dict[str, torch.Tensor] = {}
    if trimap_logits is not None:
        # Three classes (CLASS_ORDER): 2-class logits would train against targets that can
        # never be 2, or a C > 3 head against nothing; both are mistakes, not variants.
        dims = _check_tensor(trimap_logits, f"B,{len(CLASS_ORDER)},H,W", "trimap_logits")
        if not isinstance(trimap_target, torch.Tensor) or trimap_target.dtype != torch.int64:
            raise InputTypeError("trimap_target: expected a torch.long tensor of class indices, "
                                 "got "
                                 f"{getattr(trimap_target, 'dtype', type(trimap_target).__name__)}")
        check_shape(trimap_target, f"{dims['B']},{dims['H']},{dims['W']}", name="trimap_target")
        if check_values:
            lo, hi = int(trimap_target.min()), int(trimap_target.max())
            if lo < 0 or hi >= len(CLASS_ORDER):
                raise ValueError("trimap_target: expected class indices in [0, "
                                 f"{len(CLASS_ORDER) - 1}], got min {lo}, max {hi}")
        terms["trimap_ce"] = F.cross_entropy(trimap_logits, trimap_target)
    if pred_alpha is None:
        terms["total"] = terms["trimap_ce"]
        return terms
    alpha_terms = dim_loss(pred_alpha, target_alpha, fg, bg, image, weight,
                           alpha_weight=alpha_weight, composition_weight=composition_weight,
                           eps=eps)
    terms = {"alpha": alpha_terms["alpha"], "composition": alpha_terms["composition"], **terms}
    total = alpha_terms["total"]
    if "trimap_ce" in terms:
        total = total + ce_weight * terms["trimap_ce"]
    terms["total"] = total
    return terms


def tnet_pretrain_loss(*, trimap_logits: torch.Tensor, trimap_target: torch.Tensor,
                       check_values: bool = True) -> dict[str, torch.Tensor]:
    """SHM's T-Net pre-training: ``total = trimap_ce`` (see :func:`shm_loss`)."""
    return shm_loss(trimap_logits=trimap_logits, trimap_target=trimap_target,
                    check_values=check_values)


def mnet_pretrain_loss(*, pred_alpha: torch.Tensor, target_alpha: torch.Tensor,
                       fg: torch.Tensor, bg: torch.Tensor, image: torch.Tensor,
                       weight: torch.Tensor | None = None, alpha_weight: float = 0.5,
                       composition_weight: float = 0.5,
                       eps: float = CHARBONNIER_EPS) -> dict[str, torch.Tensor]:
    """SHM's M-Net pre-training: ``total = 0.5 alpha + 0.5 composition`` (see :func:`shm_loss`)."""
    return shm_loss(pred_alpha=pred_alpha, target_alpha=target_alpha, fg=fg, bg=bg, image=image,
                    weight=weight, alpha_weight=alpha_weight,
                    composition_weight=composition_weight, eps=eps)


def shm_end_to_end_loss(*, pred_alpha: torch.Tensor, target_alpha: torch.Tensor,
                        fg: torch.Tensor, bg: torch.Tensor, image: torch.Tensor,
                        trimap_logits: torch.Tensor, trimap_target: torch.Tensor,
                        weight: torch.Tensor | None = None, alpha_weight: float = 0.5,
                        composition_weight: float = 0.5, ce_weight: float = 0.01,
                        eps: float = CHARBONNIER_EPS,
                        check_values: bool = True) -> dict[str, torch.Tensor]:
    """SHM end to end: ``0.5 alpha + 0.5 composition + 0.01 trimap_ce`` (see :func:`shm_loss`)."""
    return shm_loss(pred_alpha=pred_alpha, target_alpha=target_alpha, fg=fg, bg=bg, image=image,
                    trimap_logits=trimap_logits, trimap_target=trimap_target, weight=weight,
                    alpha_weight=alpha_weight, composition_weight=composition_weight,
                    ce_weight=ce_weight, eps=eps, check_values=check_values)
