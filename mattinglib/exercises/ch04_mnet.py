"""Checkers for the exercises of chapter 4, Semantic Human Matting (M-Net, T-Net, fusion).

Like :mod:`mattinglib.exercises`, each ``check_*`` runs the student's function
on several cases (ordinary ones and edge cases), compares with the library,
and either prints a one-line success message or raises
:class:`~mattinglib.exercises.ExerciseError` with a hint for the typical
mistake it recognises:

- :func:`check_mnet_input`: RGB + the one-hot trimap in
  :data:`~mattinglib.trimap.CLASS_ORDER` (catches a permuted class order, the
  trimap channels before the image, and ``trimap == 0.5`` for the unknown value);
- :func:`check_fusion`: ``alpha = Fs + Us * alpha_r`` clamped to [0, 1]
  (catches the foreground/unknown swap and a missing clamp);
- :func:`check_alpha_loss`: DIM's Charbonnier alpha loss over the unknown
  region (catches a mean over all pixels, a missing epsilon and a mean of
  per-image means).

>>> from mattinglib.models.shm import fuse_alpha
>>> check_fusion(fuse_alpha)  # doctest: +ELLIPSIS
Correct: fusion matches the library on 4 cases (...).
>>> check_fusion(lambda probs, alpha_r: probs[:, 1:2] + probs[:, 2:3] * alpha_r)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: fusion, case 'softmax and sigmoid': ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from ._harness import ExerciseError, call_student_torch, exercise_check, report_success
from ..losses.dim import CHARBONNIER_EPS, alpha_prediction_loss
from ..models.shm import FOREGROUND_CHANNEL, UNKNOWN_CHANNEL, fuse_alpha
from ..trimap import CLASS_ORDER, CLASS_VALUES, trimap_to_onehot

__all__ = ["check_mnet_input", "check_fusion", "check_alpha_loss"]


# Inputs are cloned, and an in-place change is reported.
_run = partial(call_student_torch, in_place_advice="compute a new tensor instead",
               tensor_name="torch.Tensor")


def _shape(out: torch.Tensor, shape: tuple[int, ...], *, task: str, case: str) -> None:
    if tuple(out.shape) != shape:
        raise ExerciseError(f"{task}, case {case!r}: expected shape {shape}, got {tuple(out.shape)}")


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-6, rtol: float = 0.0) -> bool:
    a, b = a.detach().double(), b.detach().double()
    return (a.shape == b.shape and bool(torch.isfinite(a).all())
            and bool(((a - b).abs() <= tol + rtol * b.abs()).all()))


#: How far a correct alpha loss may be from the library's, relative to its value.
#: A small epsilon added to the denominator, ``sum(unknown) + eps`` (the hint's
#: own advice against 0 / 0), changes the loss by the factor
#: ``sum(unknown) / (sum(unknown) + eps)``, about ``eps / 14`` relative on the
#: checker's 14 unknown pixels: 7e-8 for ``eps = 1e-6``, 7e-6 for ``eps = 1e-4``.
#: float32 arithmetic adds about 1e-7. Every wrong answer the checker knows is
#: off by far more: leaving out the Charbonnier epsilon changes the case
#: "perfect in the unknown region" by 100 % (0 instead of 1e-6).
ALPHA_LOSS_RTOL = 1e-5


# --------------------------------------------------------------------------- M-Net input


def _trimap_batch(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    """A float trimap ``(b, 1, h, w)`` in {0, 128/255, 1} holding every class in each image."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, 3, (b, 1, h, w), generator=g)
    classes[:, 0, 0, :3] = torch.tensor([0, 1, 2])
    values = torch.tensor(CLASS_VALUES, dtype=torch.float32) / 255
    return values[classes]


@exercise_check
def check_mnet_input(fn: Callable) -> None:
    """Check ``fn(image, trimap) -> (B, 6, H, W)``: RGB, then the one-hot trimap in ``CLASS_ORDER``.

    ``image`` is ``(B, 3, H, W)`` float in [0, 1]; ``trimap`` is ``(B, 1, H, W)``
    float in {0, 128/255, 1} (a uint8 trimap divided by 255, as the datasets
    yield it). The expected answer is
    ``torch.cat([image, trimap_to_onehot(trimap)], dim=1)``.
    """
    task = "mnet_input"
    g = torch.Generator().manual_seed(11)
    cases = [
        ("batch of 2, 5x7", torch.rand(2, 3, 5, 7, generator=g), _trimap_batch(2, 5, 7, 1)),
        ("single 1x3 image", torch.rand(1, 3, 1, 3, generator=g), _trimap_batch(1, 1, 3, 2)),
        ("all unknown", torch.rand(1, 3, 4, 4, generator=g), torch.full((1, 1, 4, 4), 128 / 255)),
    ]
    names = []
    for case, image, trimap in cases:
        out = _run(fn, (image, trimap), task=task, case=case)
        b, _, h, w = image.shape
        _shape(out, (b, 6, h, w), task=task, case=case)
        if out.dtype != torch.float32:
            raise ExerciseError(f"{task}, case {case!r}: expected float32, got {out.dtype} "
                                "(a network's input is float: .float())")
        onehot = trimap_to_onehot(trimap)
        expected = torch.cat([image, onehot], dim=1)
        if torch.equal(out, expected):
            names.append(case)
            continue
        raise ExerciseError(f"{task}, case {case!r}: your input differs from the library's.\n"
                            f"Hint: {_mnet_input_hint(out, image, onehot)}.")
    report_success(task, names)


def _mnet_input_hint(out: torch.Tensor, image: torch.Tensor, onehot: torch.Tensor) -> str:
    if torch.equal(out[:, 3:], image) and torch.equal(out[:, :3], onehot):
        return ("the trimap channels come first; M-Net reads RGB in channels 0-2 "
                "(the only ones ImageNet filters are copied into) and the class "
                "probabilities in 3-5: torch.cat([image, probs], dim=1)")
    if not torch.equal(out[:, :3], image):
        return "channels 0-2 must be the image itself, unchanged"
    probs = out[:, 3:]
    unknown = CLASS_ORDER.index("unknown")
    if torch.equal(probs[:, unknown], torch.zeros_like(probs[:, unknown])) and onehot[:, unknown].any():
        return ("your unknown channel is empty: the unknown value of a float trimap is "
                "128/255 = 0.502, not 0.5; compare with a tolerance or go through the uint8 "
                "values (round(trimap * 255) == 128), or use trimap_to_onehot")
    order = []
    for c in range(3):
        match = [e for e in range(3) if torch.equal(probs[:, c], onehot[:, e])]
        order.append(match[0] if match else None)
    if None not in order and sorted(order) == [0, 1, 2]:
        yours = tuple(CLASS_ORDER[o] for o in order)
        return (f"your class order is {yours}, the library's CLASS_ORDER is {CLASS_ORDER}; "
                "with another order the fusion would read the wrong probability as "
                "foreground (the bug of public SHM re-implementations)")
    if not torch.equal(probs.sum(dim=1), torch.ones_like(probs[:, 0])):
        return "every pixel needs exactly one probability channel equal to 1 (a one-hot encoding)"
    return f"channel 3 + c must be 1 where the trimap holds CLASS_ORDER[c] of {CLASS_ORDER}"


# --------------------------------------------------------------------------- fusion


def _swapped(probs: torch.Tensor, alpha_r: torch.Tensor) -> torch.Tensor:
    us = probs[:, UNKNOWN_CHANNEL:UNKNOWN_CHANNEL + 1]
    fs = probs[:, FOREGROUND_CHANNEL:FOREGROUND_CHANNEL + 1]
    return (us + fs * alpha_r).clamp(0, 1)


def _unclamped(probs: torch.Tensor, alpha_r: torch.Tensor) -> torch.Tensor:
    fs = probs[:, FOREGROUND_CHANNEL:FOREGROUND_CHANNEL + 1]
    us = probs[:, UNKNOWN_CHANNEL:UNKNOWN_CHANNEL + 1]
    return fs + us * alpha_r


@exercise_check
def check_fusion(fn: Callable) -> None:
    """Check ``fn(trimap_probs, alpha_r) -> alpha``: ``clamp(Fs + Us * alpha_r, 0, 1)``.

    ``trimap_probs`` is ``(B, 3, H, W)`` in ``CLASS_ORDER`` (softmax or
    one-hot), ``alpha_r`` is ``(B, 1, H, W)``; the answer is ``(B, 1, H, W)``.
    One case feeds an ``alpha_r`` outside [0, 1] (a raw, un-squashed network
    output), where only the clamp keeps the matte valid.
    """
    task = "fusion"
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 3, 6, 5, generator=g) * 2
    softmax = torch.softmax(logits, dim=1)
    sigmoid = torch.sigmoid(torch.randn(2, 1, 6, 5, generator=g))
    classes = torch.arange(3).repeat(4)[:10].view(1, 1, 2, 5)
    onehot = trimap_to_onehot((torch.tensor(CLASS_VALUES, dtype=torch.float32) / 255)[classes])
    raw = torch.linspace(-0.5, 1.5, 10).view(1, 1, 2, 5)
    cases = [
        ("softmax and sigmoid", softmax, sigmoid),
        ("one-hot trimap", onehot, torch.full((1, 1, 2, 5), 0.3)),
        ("alpha_r outside [0, 1]", softmax[:1, :, :2], raw),
        ("one-hot, alpha_r outside [0, 1]", onehot, raw),
    ]
    names = []
    for case, probs, alpha_r in cases:
        out = _run(fn, (probs, alpha_r), task=task, case=case)
        _shape(out, tuple(alpha_r.shape), task=task, case=case)
        expected = fuse_alpha(probs, alpha_r)
        if _close(out, expected):
            names.append(case)
            continue
        if _close(out, _swapped(probs, alpha_r)):
            hint = (f"you used the unknown probability as the foreground and vice versa; in "
                    f"CLASS_ORDER {CLASS_ORDER} the foreground is channel {FOREGROUND_CHANNEL} and "
                    f"unknown is channel {UNKNOWN_CHANNEL}: read them by name "
                    "(CLASS_ORDER.index(...)), never by a remembered position")
        elif _close(out, _unclamped(probs, alpha_r)):
            hint = ("the formula is right but the result leaves [0, 1] when alpha_r does; "
                    "clamp it: (...).clamp(0, 1)")
        elif _close(out, probs[:, FOREGROUND_CHANNEL:FOREGROUND_CHANNEL + 1] * alpha_r
                    + probs[:, UNKNOWN_CHANNEL:UNKNOWN_CHANNEL + 1]):
            hint = "Fs is added as it is, and only the unknown probability Us multiplies alpha_r"
        else:
            hint = (f"alpha = Fs + Us * alpha_r, with Fs = probs[:, {FOREGROUND_CHANNEL}:"
                    f"{FOREGROUND_CHANNEL + 1}] and Us = probs[:, {UNKNOWN_CHANNEL}:{UNKNOWN_CHANNEL + 1}] "
                    "(keep the channel axis), clamped to [0, 1]")
        raise ExerciseError(f"{task}, case {case!r}: your fused alpha differs from the library's."
                            f"\nHint: {hint}.")
    report_success(task, names)


# --------------------------------------------------------------------------- alpha loss


@exercise_check
def check_alpha_loss(fn: Callable) -> None:
    """Check ``fn(pred, target, unknown) -> loss``: DIM's alpha prediction loss.

    ``pred``, ``target`` and ``unknown`` are ``(B, 1, H, W)`` (``unknown`` is
    1 in the unknown region, 0 elsewhere); the answer is a 0-dim tensor
    ``sum(sqrt((pred - target)**2 + eps**2) * unknown) / sum(unknown)`` with
    ``eps = 1e-6`` (:data:`~mattinglib.losses.dim.CHARBONNIER_EPS`), over the
    whole batch, and 0 (not NaN) when there is no unknown pixel. The check
    also back-propagates through the answer where ``pred == target``.
    Answers that divide by ``sum(unknown) + a small eps`` or compute in
    float32 are accepted (:data:`ALPHA_LOSS_RTOL`).
    """
    task = "alpha_loss"
    g = torch.Generator().manual_seed(7)
    target = torch.rand(2, 1, 6, 5, generator=g, dtype=torch.float64)
    pred = torch.rand(2, 1, 6, 5, generator=g, dtype=torch.float64)
    unknown = torch.zeros(2, 1, 6, 5, dtype=torch.float64)
    unknown[0, :, 1:5, 1:4] = 1  # 12 unknown pixels in the first image
    unknown[1, :, 2:4, 2] = 1  # 2 in the second: per-image means differ from the batch mean
    exact = pred.clone()
    exact[unknown.bool()] = target[unknown.bool()]  # perfect inside the band, wrong outside
    cases = [
        ("random", pred, target, unknown),
        ("perfect in the unknown region", exact, target, unknown),
        ("no unknown pixel", pred, target, torch.zeros_like(unknown)),
    ]
    names = []
    for case, p, t, u in cases:
        leaf = p.clone().requires_grad_(True)
        out = _run(fn, (leaf, t, u), task=task, case=case)
        if out.dim() != 0:
            raise ExerciseError(f"{task}, case {case!r}: expected a single number (0-dim tensor), "
                                f"got shape {tuple(out.shape)}; sum over every axis")
        expected = alpha_prediction_loss(p, t, u)
        if not torch.isfinite(out).all():
            hint = ("with no unknown pixel, sum(unknown) is 0: return 0 then, e.g. divide by "
                    "sum(unknown) + a tiny number" if not u.any() else
                    "the loss is not finite")
            raise ExerciseError(f"{task}, case {case!r}: your loss is {float(out.detach())}.\nHint: {hint}.")
        if not _close(out, expected, tol=1e-12, rtol=ALPHA_LOSS_RTOL):
            raise ExerciseError(f"{task}, case {case!r}: your loss is {float(out.detach()):.10g}, expected "
                                f"{float(expected):.10g}.\nHint: {_loss_hint(out, p, t, u)}.")
        if out.requires_grad:
            out.backward()
            if leaf.grad is not None and not torch.isfinite(leaf.grad).all():
                raise ExerciseError(
                    f"{task}, case {case!r}: the gradient of your loss is NaN where pred == target."
                    "\nHint: sqrt(d**2) has an infinite slope at d = 0; the Charbonnier penalty "
                    f"sqrt(d**2 + eps**2) with eps = {CHARBONNIER_EPS} is smooth there.")
        names.append(case)
    report_success(task, names)


def _loss_hint(out: torch.Tensor, p: torch.Tensor, t: torch.Tensor, u: torch.Tensor) -> str:
    penalty = torch.sqrt((p - t) ** 2 + CHARBONNIER_EPS ** 2)
    got = out.detach().double()
    if u.any():
        if _close(got, penalty.mean(), 1e-12, ALPHA_LOSS_RTOL):
            return ("you averaged over all pixels; the loss counts the unknown region only: "
                    "sum(penalty * unknown) / sum(unknown)")
        if _close(got, (penalty * u).mean(), 1e-12, ALPHA_LOSS_RTOL):
            return ("you masked the penalty but divided by the number of all pixels; divide by "
                    "sum(unknown), the number of unknown pixels")
        no_eps = (p - t).abs()
        if _close(got, (no_eps * u).sum() / u.sum(), 1e-12, ALPHA_LOSS_RTOL):
            return (f"you left out eps: the penalty is sqrt(d**2 + eps**2) with eps = {CHARBONNIER_EPS} "
                    "(a differentiable absolute value; it adds exactly eps where pred == target)")
        per_image = (penalty * u).sum(dim=(1, 2, 3)) / u.sum(dim=(1, 2, 3))
        if _close(got, per_image.mean(), 1e-12, ALPHA_LOSS_RTOL):
            return ("you averaged per image, then over the batch; average over all unknown pixels "
                    "of the batch at once, so an image with a wide band weighs more")
    elif _close(got, penalty.mean(), 1e-12, ALPHA_LOSS_RTOL):
        return "with no unknown pixel nothing counts: the loss is 0"
    return ("loss = sum(sqrt((pred - target)**2 + eps**2) * unknown) / sum(unknown), "
            f"eps = {CHARBONNIER_EPS}")
