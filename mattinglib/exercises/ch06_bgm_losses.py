"""Checkers for the exercises of chapter 6, the Background Matting losses.

Like :mod:`mattinglib.exercises`, each ``check_*`` runs the student's function
on several cases, compares with :mod:`mattinglib.losses.bgm`, and either
prints a one-line success message or raises
:class:`~mattinglib.exercises.ExerciseError` with a hint for the mistake it
recognises. All tensors are in the generator's ``[-1, 1]`` range, as in the library.

>>> from mattinglib.losses.bgm import normalized_l1
>>> check_normalized_l1(normalized_l1)  # doctest: +ELLIPSIS
Correct: normalized_l1 matches the library on 5 cases (...).
>>> batch_wise = lambda t, p, m: ((t - p).abs() * m).sum() / (m.sum() + 1e-6)
>>> check_normalized_l1(batch_wise)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: normalized_l1, case 'a small and a large subject': ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from ._harness import ExerciseError, call_student_torch, exercise_check, report_success
from ..losses.bgm import EPS, OPAQUE_THRESHOLD, normalized_l1, replace_opaque_foreground

__all__ = ["check_normalized_l1", "check_replace_opaque_foreground"]


# Inputs are cloned, and an in-place change is reported.
_run = partial(call_student_torch, in_place_advice="build a new tensor instead")


# --------------------------------------------------------------------------- normalised L1


def _l1_cases():
    g = torch.Generator().manual_seed(7)
    b, h, w = 3, 6, 5  # non-square; three samples so that batch and per-sample means differ
    target = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    pred = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    big = torch.ones(b, 1, h, w)
    small = torch.zeros(b, 1, h, w)
    small[0] = 1
    small[1, :, :2, :2] = 1     # a small subject: 4 pixels
    small[2, :, 3:, 1:] = 1
    empty = small.clone()
    empty[1] = 0
    soft = torch.rand(b, 1, h, w, generator=g)  # a soft (non-binary) mask
    alpha_t, alpha_p = target[:, :1], pred[:, :1]
    return [
        ("a small and a large subject", target, pred, small),
        ("one-channel alpha, one-channel mask", alpha_t, alpha_p, small),
        ("an empty mask in sample 1", target, pred, empty),
        ("a soft mask", target, pred, soft),
        ("an all-ones mask", target, pred, big),
    ]


@exercise_check
def check_normalized_l1(fn: Callable) -> None:
    """Check ``fn(target, pred, mask) -> scalar tensor``, the masked per-sample normalised L1.

    ``mean over b of sum(|target_b - pred_b| * mask_b) / (sum(mask_b) + 1e-6)``,
    with ``mask`` ``(B, 1, H, W)`` summed once even when ``target`` has 3
    channels (as :func:`mattinglib.losses.bgm.normalized_l1`). Recognises
    normalising over the whole batch, a missing ``eps`` (NaN on an empty mask),
    a mask expanded to the channels before summing, and a plain mean.
    """
    task = "normalized_l1"
    names = []
    for case, target, pred, mask in _l1_cases():
        got = _run(fn, (target, pred, mask), task=task, case=case)
        if got.numel() != 1:
            raise ExerciseError(f"{task}, case {case!r}: expected a scalar (one number for the "
                                f"batch), got shape {tuple(got.shape)}")
        got = got.detach().double().reshape(())
        expected = normalized_l1(target, pred, mask).double()
        if not torch.isfinite(got):
            raise ExerciseError(
                f"{task}, case {case!r}: got {float(got)}. Hint: a sample whose mask is empty divides "
                f"0 by 0; add eps = {EPS} to each sample's mask sum (it then contributes 0)")
        if abs(float(got - expected)) <= 1e-5 * max(1.0, abs(float(expected))):
            names.append(case)
            continue
        diff = (target - pred).abs().double()
        m = mask.double()
        batch_wise = (diff * m).sum() / (m.sum() + EPS)
        expanded = ((diff * m).sum(dim=(1, 2, 3)) / (m.expand_as(diff).sum(dim=(1, 2, 3)) + EPS)).mean()
        plain = (diff * m).mean()
        hint = ""
        if abs(float(got - batch_wise)) < 1e-6:
            hint = ("you normalised over the whole batch (one sum of the mask for all samples): a "
                    "sample with a small subject then counts by its pixel count and is drowned by "
                    "the large ones; divide each sample's sum by its own mask sum, then average")
        elif abs(float(got - expanded)) < 1e-6 and target.shape[1] != mask.shape[1]:
            hint = ("the mask was expanded to the image's channels before summing; the library "
                    "(like the original) sums the one-channel mask as given")
        elif abs(float(got - plain)) < 1e-6:
            hint = "a plain mean counts the pixels outside the mask; divide by the mask's sum instead"
        raise ExerciseError(f"{task}, case {case!r}: got {float(got):.6g}, expected "
                            f"{float(expected):.6g}" + (f". Hint: {hint}" if hint else ""))
    report_success(task, names)


# --------------------------------------------------------------------------- opaque replacement


@exercise_check
def check_replace_opaque_foreground(fn: Callable) -> None:
    """Check ``fn(fg_pred, image, alpha_pred) -> fg``: the image where ``alpha_pred > 0.95``.

    ``alpha_pred`` is in the generator's ``[-1, 1]`` range, so the threshold
    0.95 is 0.975 in ``[0, 1]``. Recognises the threshold applied on the
    ``[0, 1]`` scale (replacing pixels between 0.9 and 0.95), the inverted
    mask, ``>=`` instead of ``>``, and a mask that does not broadcast over
    the three colours. Also checks that no gradient reaches ``fg_pred`` at
    replaced pixels and that it does elsewhere.
    """
    task = "replace_opaque_foreground"
    g = torch.Generator().manual_seed(3)
    b, h, w = 2, 3, 5
    fg = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    image = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    values = torch.tensor([-1.0, -0.5, 0.0, 0.5, 0.9, 0.92, 0.94, 0.95, 0.951, 0.97, 0.99, 1.0,
                           0.93, 0.96, -0.97])
    alpha = values.reshape(1, 1, h, w).repeat(b, 1, 1, 1)
    alpha[1] = alpha[1].flip(-1)
    names = []
    cases = [("alpha across the threshold", fg, image, alpha),
             ("all transparent", fg, image, -torch.ones(b, 1, h, w)),
             ("all opaque", fg, image, torch.full((b, 1, h, w), 0.99))]
    for case, f, im, a in cases:
        got = _run(fn, (f, im, a), task=task, case=case)
        expected = replace_opaque_foreground(f, im, a)
        if tuple(got.shape) != tuple(expected.shape):
            raise ExerciseError(f"{task}, case {case!r}: expected shape {tuple(expected.shape)}, "
                                f"got {tuple(got.shape)}")
        if torch.allclose(got, expected, atol=1e-6):
            names.append(case)
            continue
        hint = ""
        for label, mask in (
                ("the threshold was applied on the [0, 1] scale ((alpha + 1) / 2 > 0.95, i.e. "
                 "alpha > 0.9 in [-1, 1]); alpha_pred is the generator's [-1, 1] output and the "
                 "threshold 0.95 is on that scale", (a + 1) / 2 > OPAQUE_THRESHOLD),
                ("the mask is inverted: the image replaces the foreground where alpha is HIGH "
                 "(opaque), and the prediction stays elsewhere", a <= OPAQUE_THRESHOLD),
                ("use a strict alpha_pred > 0.95, as the original", a >= OPAQUE_THRESHOLD)):
            if torch.allclose(got, torch.where(mask, im, f), atol=1e-6):
                hint = label
                break
        raise ExerciseError(f"{task}, case {case!r}: {int((~torch.isclose(got, expected, atol=1e-6)).sum())}"
                            f" values differ from the library" + (f". Hint: {hint}" if hint else ""))
    # Gradients: none to fg_pred where the image was used, full elsewhere.
    f = fg.clone().requires_grad_(True)
    out = _run(fn, (f, image, alpha), task=task, case="gradient")
    if not out.requires_grad:
        raise ExerciseError(f"{task}, case 'gradient': the output does not depend on fg_pred "
                            "differentiably (did you detach it or go through numpy?)")
    out.sum().backward()
    opaque = (alpha > OPAQUE_THRESHOLD).expand_as(fg)
    if f.grad is None or not torch.equal(f.grad, (~opaque).to(f.grad.dtype)):
        raise ExerciseError(f"{task}, case 'gradient': fg_pred should receive gradient 1 where it "
                            "is kept and 0 where the image replaced it")
    names.append("gradient")
    report_success(task, names)
