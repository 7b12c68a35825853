"""Checkers for the exercises of chapter 3 (making training data).

Each ``check_*`` function runs the student's function on several cases,
compares with what the recipe requires, and prints a one-line success message
or raises :class:`~mattinglib.exercises.ExerciseError` with a hint for the
typical mistake it recognises.

>>> def count_missed(alpha, trimap):
...     a = alpha / 255 if alpha.dtype == np.uint8 else alpha
...     return int((((a > 0) & (a < 1)) & (trimap != 128)).sum())
>>> check_count_missed(count_missed)
Correct: count_missed matches the library on 5 cases (thin band, wide band, fractional inside the foreground, uint8 alpha, no fractional pixels).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._harness import (
    ExerciseError,
    all_close,
    as_number_array,
    call_student_numpy,
    exercise_check,
    report_success,
    worst_difference,
)

__all__ = ["check_crop_box", "check_compose_new_background", "check_colour_leak", "check_count_missed"]


# --------------------------------------------------------------------------- crop box


def _allowed_tops(centre: int, side: int, length: int) -> set[int]:
    """Box starts that put ``centre`` at the middle (either middle for even sides), clamped."""
    return {min(max(centre - off, 0), length - side) for off in {side // 2, (side - 1) // 2}}


@exercise_check
def check_crop_box(fn: Callable) -> None:
    """Check ``fn(h, w, centre, side) -> (top, left, bottom, right)``.

    The box is square with side ``min(side, h, w)``, lies inside the ``h x w``
    image (``0 <= top``, ``bottom <= h``; ``bottom`` and ``right`` exclusive),
    and has the pixel ``centre = (row, col)`` at its middle unless that would
    leave the image, in which case it is shifted just enough to fit.
    """
    task = "crop_box"
    cases = [
        ("centre well inside", 100, 140, (50, 70), 40),
        ("odd side", 100, 140, (50, 70), 33),
        ("near the top-left corner", 100, 140, (3, 5), 40),
        ("near the bottom-right corner", 100, 140, (98, 137), 40),
        ("non-square image, centre near the right", 60, 200, (30, 190), 50),
        ("side larger than the image", 60, 80, (10, 70), 96),
    ]
    names = []
    for case, h, w, centre, side in cases:
        out = call_student_numpy(fn, (h, w, centre, side), task=task, case=case)
        try:
            top, left, bottom, right = (int(v) for v in out)
        except (TypeError, ValueError):
            raise ExerciseError(f"{task}, case {case!r}: expected a tuple of four ints "
                                f"(top, left, bottom, right), got {out!r}") from None
        s = min(side, h, w)
        where = f"got (top, left, bottom, right) = {(top, left, bottom, right)} for a {h}x{w} image, " \
                f"centre {centre}, side {side}"
        if bottom - top != right - left:
            raise ExerciseError(f"{task}, case {case!r}: the box is not square: {where}")
        if bottom - top != s:
            hint = (f"a side of {side} does not fit a {h}x{w} image: shrink it to min(side, h, w) = {s}"
                    if side > min(h, w) else f"expected side {s}")
            raise ExerciseError(f"{task}, case {case!r}: {where}.\nHint: {hint}.")
        if top < 0 or left < 0 or bottom > h or right > w:
            swapped = bottom <= w and right <= h and (bottom > h or right > w)
            hint = ("rows go with the height h and columns with the width w: centre is (row, col)"
                    if swapped and h != w else
                    "clamp the start into [0, h - side] (rows) and [0, w - side] (columns): "
                    "top = min(max(row - side // 2, 0), h - side)")
            raise ExerciseError(f"{task}, case {case!r}: the box leaves the image: {where}.\nHint: {hint}.")
        if top not in _allowed_tops(centre[0], s, h) or left not in _allowed_tops(centre[1], s, w):
            if top in _allowed_tops(centre[1], s, h) and left in _allowed_tops(centre[0], s, w):
                hint = "row and column are swapped: centre is (row, col) and the box starts at (top, left)"
            elif top == centre[0] or left == centre[1]:
                hint = "the box starts at the centre pixel: subtract half the side, row - side // 2"
            else:
                hint = ("centre the box on the pixel (start = row - side // 2) and move it only as far "
                        "as needed to stay inside the image")
            raise ExerciseError(f"{task}, case {case!r}: the centre pixel is not at the middle of the box "
                                f"although it could be (or the box was moved further than needed): "
                                f"{where}.\nHint: {hint}.")
        names.append(case)
    report_success(task, names)


# --------------------------------------------------------------------------- new background


def _new_background_cases():
    rng = np.random.default_rng(3)
    h, w = 6, 5
    fg = rng.random((h, w, 3))
    old_bg = np.zeros((h, w, 3))
    old_bg[..., 0] = 1.0  # a saturated red backdrop, as a green screen would be green
    new_bg = rng.random((h, w, 3))
    alpha = rng.uniform(0.05, 0.95, (h, w))
    alpha[0, 0], alpha[0, 1] = 0.0, 1.0
    image = alpha[..., None] * fg + (1 - alpha[..., None]) * old_bg
    return [
        ("fractional alpha", image, fg, alpha, new_bg),
        ("alpha = 1", fg.copy(), fg, np.ones((h, w)), new_bg),
        ("alpha = 0", old_bg.copy(), fg, np.zeros((h, w)), new_bg),
        ("float32", image.astype(np.float32), fg.astype(np.float32), alpha.astype(np.float32),
         new_bg.astype(np.float32)),
    ]


@exercise_check
def check_compose_new_background(fn: Callable) -> None:
    """Check ``fn(image, fg, alpha, new_bg) -> composite``: ``alpha F + (1 - alpha) B_new``.

    ``image`` is the subject over its old background; the composite must use
    the foreground colour ``fg``, not the image (whose fractional pixels still
    hold the old background).
    """
    task = "compose_new_background"
    names = []
    for case, image, fg, alpha, new_bg in _new_background_cases():
        out = call_student_numpy(fn, (image, fg, alpha, new_bg), task=task, case=case)
        got = as_number_array(out, task=task, case=case, shape=image.shape)
        a = alpha[..., None]
        expected = a * fg + (1 - a) * new_bg
        if all_close(got, expected, 1e-5):
            names.append(case)
            continue
        leaked = a * image + (1 - a) * new_bg
        if all_close(got, leaked, 1e-5):
            hint = ("you composed the image, which already contains alpha * F plus the old background: "
                    "its fractional pixels carry the old colour (the halo). Use F")
        elif all_close(got, a * new_bg + (1 - a) * fg, 1e-5):
            hint = "foreground and background are swapped: alpha weighs F, (1 - alpha) the new background"
        elif (all_close(got, image + (1 - a) * new_bg, 1e-5)
              or all_close(got, fg + (1 - a) * new_bg, 1e-5)):
            hint = "the foreground term must be weighted by alpha: alpha * F + (1 - alpha) * B_new"
        else:
            hint = worst_difference(got, expected)
        raise ExerciseError(f"{task}, case {case!r}: wrong composite.\nHint: {hint}.")
    report_success(task, names)


# --------------------------------------------------------------------------- colour leak


@exercise_check
def check_colour_leak(fn: Callable) -> None:
    """Check ``fn(image, fg, alpha, new_bg) -> float``: the mean colour leak of the shortcut.

    The shortcut composes the image instead of ``F``: ``alpha I + (1 - alpha) B_new``.
    The answer is the mean of ``|shortcut - (alpha F + (1 - alpha) B_new)|`` over
    the pixels with ``0 < alpha < 1`` and the three channels, in [0, 1] units; 0.0
    when there is no such pixel.
    """
    task = "colour_leak"
    names = []
    for case, image, fg, alpha, new_bg in _new_background_cases():
        out = call_student_numpy(fn, (image, fg, alpha, new_bg), task=task, case=case)
        if np.ndim(out) != 0:
            raise ExerciseError(f"{task}, case {case!r}: expected one number, got an array of shape "
                                f"{np.shape(out)}: average the leak over the partly covered pixels")
        got = float(out)
        a = alpha[..., None].astype(np.float64)
        shortcut = a * image + (1 - a) * new_bg
        diff = shortcut - (a * fg + (1 - a) * new_bg)
        frac = (alpha > 0) & (alpha < 1)
        expected = float(np.abs(diff)[frac].mean()) if frac.any() else 0.0
        if np.isclose(got, expected, rtol=1e-5, atol=1e-7):
            names.append(case)
            continue
        if not np.isfinite(got):
            raise ExerciseError(f"{task}, case {case!r}: got {got}.\nHint: with no partly covered "
                                "pixel (alpha only 0 or 1) there is no leak: return 0.0 instead of the "
                                "mean of an empty selection.")
        candidates = [
            (expected * 255, "return the leak in [0, 1] units, not in grey levels (no * 255)"),
            (float(np.abs(diff).mean()), "you averaged over every pixel; average over 0 < alpha < 1 only"),
            (float(diff[frac].mean()) if frac.any() else 0.0,
             "take the absolute value before averaging: the leak can be positive or negative per channel"),
            (float(np.abs(diff).max(axis=2)[frac].mean()) if frac.any() else 0.0,
             "average over the three channels too, not the largest channel"),
            (float(np.abs(diff).sum(axis=2)[frac].mean()) if frac.any() else 0.0,
             "average over the three channels, do not sum them"),
        ]
        hint = next((text for value, text in candidates if np.isclose(got, value, rtol=1e-5, atol=1e-7)),
                    "leak = |alpha * image + (1 - alpha) * new_bg - (alpha * fg + (1 - alpha) * new_bg)|, "
                    "averaged over the pixels with 0 < alpha < 1 and the channels")
        raise ExerciseError(f"{task}, case {case!r}: got {got:.6g}, expected {expected:.6g}.\nHint: {hint}.")
    report_success(task, names)


# --------------------------------------------------------------------------- missed pixels


def _missed_cases():
    rng = np.random.default_rng(5)
    h, w = 20, 24
    alpha = np.zeros((h, w))
    alpha[:, 12:] = 1.0
    alpha[:, 9:12] = [0.25, 0.5, 0.75]  # a soft vertical edge, columns 9..11
    thin = np.zeros((h, w), np.uint8)
    thin[:, 12:] = 255
    thin[:, 11:13] = 128  # covers one fractional column only
    wide = np.zeros((h, w), np.uint8)
    wide[:, 14:] = 255
    wide[:, 6:14] = 128
    # fractional pixels deep inside the foreground label (a semi-transparent patch)
    patchy = alpha.copy()
    patchy[3:6, 18:22] = rng.uniform(0.1, 0.9, (3, 4))
    return [
        ("thin band", alpha, thin),
        ("wide band", alpha, wide),
        ("fractional inside the foreground", patchy, wide),
        ("uint8 alpha", np.round(patchy * 255).astype(np.uint8), thin),
        ("no fractional pixels", (alpha > 0.5).astype(np.float64), thin),
    ]


@exercise_check
def check_count_missed(fn: Callable) -> None:
    """Check ``fn(alpha, trimap) -> int``: pixels with ``0 < alpha < 1`` not labelled unknown (128).

    ``alpha`` is ``(H, W)`` float in [0, 1] or uint8 0..255 (convert first);
    ``trimap`` uint8 in {0, 128, 255}.
    """
    task = "count_missed"
    names = []
    for case, alpha, tri in _missed_cases():
        out = call_student_numpy(fn, (alpha, tri), task=task, case=case)
        got = np.asarray(out)
        if got.shape != () or not (np.issubdtype(got.dtype, np.integer) or np.issubdtype(got.dtype, np.floating)):
            raise ExerciseError(f"{task}, case {case!r}: expected one number (a count), got {out!r}")
        a = alpha / 255.0 if alpha.dtype == np.uint8 else alpha
        frac = (a > 0) & (a < 1)
        expected = int((frac & (tri != 128)).sum())
        if float(got) == expected:
            names.append(case)
            continue
        got_n = float(got)
        if got_n == int((frac & (tri == 0)).sum()):
            hint = ("you counted only the fractional pixels labelled background; those labelled "
                    "foreground (255) are missed too: use trimap != 128")
        elif got_n == int(frac.sum()):
            hint = "you counted every fractional pixel; count only those outside the unknown band"
        elif got_n == int(((a >= 0) & (a <= 1) & (tri != 128)).sum()) or got_n == int(((a > 0) & (tri != 128)).sum()):
            hint = "fractional means strictly between 0 and 1: (alpha > 0) & (alpha < 1)"
        elif got_n == int((~frac & (tri == 128)).sum()):
            hint = ("that is the number of unknown pixels with alpha exactly 0 or 1; the question is "
                    "the other way round: fractional pixels outside the band")
        elif alpha.dtype == np.uint8:
            hint = "a uint8 alpha runs from 0 to 255: fractional means 0 < alpha < 255 (or divide by 255 first)"
        else:
            hint = f"expected {expected}"
        raise ExerciseError(f"{task}, case {case!r}: got {out!r}.\nHint: {hint}.")
    report_success(task, names)
