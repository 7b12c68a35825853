"""Checkers for the exercises of chapter 1 (compositing): compose, premultiply, two backgrounds.

Each ``check_*`` function calls the student's function on several cases
(ordinary ones and edge cases: alpha exactly 0 or 1, non-square images,
backgrounds that agree in some channels, camera noise), compares with the
library's implementation, and either prints a one-line success message or
raises :class:`~mattinglib.exercises.ExerciseError` whose message names the
case and gives a hint for the typical mistake it recognises.

>>> from mattinglib.compositing import compose
>>> check_compose(compose)
Correct: compose matches the library on 5 cases (random, alpha = 0, alpha = 1, float32, 1x1 image).
>>> check_compose(lambda fg, bg, alpha: bg)
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: compose, case 'random': ...

An exercise that is not done yet (the stub still raises ``NotImplementedError``,
or the function returns ``None`` or ``...``) is not an error: the checker says
so and returns, so that "Run All" goes on through the chapter.

>>> def my_compose(fg, bg, alpha):
...     raise NotImplementedError("Exercise 1: replace this line with your code")
>>> check_compose(my_compose)  # doctest: +ELLIPSIS
Not done yet: compose: ...
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

__all__ = ["check_compose", "check_premultiply", "check_alpha_from_two_backgrounds"]


def _compose_cases():
    rng = np.random.default_rng(1)
    h, w = 5, 7  # non-square, and w != 3 so a missing channel axis cannot broadcast by luck
    fg, bg = rng.random((h, w, 3)), rng.random((h, w, 3))
    alpha = rng.random((h, w))
    alpha[0, 0], alpha[0, 1] = 0.0, 1.0
    return [
        ("random", fg, bg, alpha),
        ("alpha = 0", fg, bg, np.zeros((h, w))),
        ("alpha = 1", fg, bg, np.ones((h, w))),
        ("float32", fg.astype(np.float32), bg.astype(np.float32), alpha.astype(np.float32)),
        ("1x1 image", fg[:1, :1], bg[:1, :1], alpha[:1, :1]),
    ]


@exercise_check
def check_compose(fn: Callable) -> None:
    """Check ``fn(fg, bg, alpha) -> image``: ``I = alpha F + (1 - alpha) B``.

    ``fg``, ``bg``: ``(H, W, 3)`` float in [0, 1]; ``alpha``: ``(H, W)`` float in [0, 1].
    """
    from ..compositing import compose

    task = "compose"
    names = []
    for case, fg, bg, alpha in _compose_cases():
        out = call_student_numpy(fn, (fg, bg, alpha), task=task, case=case)
        got = as_number_array(out, task=task, case=case, shape=fg.shape)
        expected = compose(fg, bg, alpha).astype(np.float64)
        if not all_close(got, expected):
            a = alpha[..., None].astype(np.float64)
            if all_close(got, a * bg + (1 - a) * fg):
                hint = "you swapped F and B: alpha weights the foreground, (1 - alpha) the background"
            elif all_close(got, a * fg + bg):
                hint = "the background must be weighted by (1 - alpha), not added as it is"
            elif all_close(got, a * fg):
                hint = "the background term (1 - alpha) * B is missing"
            elif case == "alpha = 0":
                hint = "where alpha = 0 the pixel must be exactly the background"
            elif case == "alpha = 1":
                hint = "where alpha = 1 the pixel must be exactly the foreground"
            else:
                hint = "compare with I = alpha * F + (1 - alpha) * B, pixel by pixel"
            raise ExerciseError(f"{task}, case {case!r}: {worst_difference(got, expected)}.\n"
                                f"Hint: {hint}.")
        names.append(case)
    report_success(task, names)


@exercise_check
def check_premultiply(fn: Callable) -> None:
    """Check ``fn(fg, alpha) -> alpha * fg`` (the premultiplied colour, ``(H, W, 3)``)."""
    from ..compositing import premultiply

    task = "premultiply"
    names = []
    for case, fg, _bg, alpha in _compose_cases():
        out = call_student_numpy(fn, (fg, alpha), task=task, case=case)
        shape = np.shape(out)
        if shape == fg.shape[:2] + (4,):
            raise ExerciseError(f"{task}, case {case!r}: you returned 4 channels (RGBA?); return only "
                                "the three premultiplied colour channels alpha * F, shape (H, W, 3)")
        got = as_number_array(out, task=task, case=case, shape=fg.shape)
        expected = premultiply(fg, alpha).astype(np.float64)
        if not all_close(got, expected):
            a = alpha[..., None].astype(np.float64)
            if all_close(got, fg):
                hint = ("you returned F unchanged; premultiplied colour is alpha * F, "
                        "so a fully transparent pixel becomes black")
            elif all_close(got, (1 - a) * fg):
                hint = "multiply by alpha, not by (1 - alpha)"
            elif case == "alpha = 0" and not np.all(np.isfinite(got)):
                hint = "you divided by alpha: that is un-premultiplying; premultiplying multiplies"
            else:
                hint = "each colour channel is multiplied by the pixel's alpha"
            raise ExerciseError(f"{task}, case {case!r}: {worst_difference(got, expected)}.\n"
                                f"Hint: {hint}.")
        names.append(case)
    report_success(task, names)


def _two_background_cases():
    """``(case, image1, image2, background1, background2, alpha)`` for the triangulation checker.

    Noise-free composites give the exact alpha in every channel where the
    backgrounds differ, so a single channel or a mean of per-channel ratios would
    pass them; the noisy case (as from a real camera) tells least squares apart
    from those, and "red vs green" is a pair that agrees in the blue channel.
    """
    from ..compositing import compose

    rng = np.random.default_rng(2)
    h, w = 6, 8
    fg = rng.random((h, w, 3))
    alpha = rng.random((h, w))
    alpha[0, :3] = 0.0
    alpha[1, :3] = 1.0
    b1 = rng.random((h, w, 3))
    b2 = np.clip(b1 + rng.choice([-0.5, 0.5], size=(h, w, 3)), 0, 1)

    def plain(channels):
        b = np.zeros((h, w, 3))
        b[..., channels] = 1.0
        return b

    blue, black, green, red_green = plain([2]), plain([]), plain([1]), plain([0, 1])
    cases = []
    for case, x1, x2 in [("random backgrounds", b1, b2),
                         # Differ in the blue channel only: a per-channel ratio divides 0 by 0 in red and green.
                         ("blue vs black", blue, black),
                         ("green vs blue", green, blue),
                         # Agree in blue: an answer that reads the blue channel only divides 0 by 0.
                         ("red-green vs black", red_green, black)]:
        cases.append((case, compose(fg, x1, alpha), compose(fg, x2, alpha), x1, x2, alpha))
    # Camera noise: the three channels now disagree a little and only least squares
    # gives the library's answer. Alpha stays inside (0.2, 0.8) and the noise is
    # small, so the least-squares alpha needs no clipping to [0, 1].
    soft = 0.2 + 0.6 * rng.random((h, w))
    noise = rng.normal(0.0, 0.01, size=(2, h, w, 3))
    noisy = [np.clip(compose(fg, b, soft) + n, 0, 1) for b, n in ((b1, noise[0]), (b2, noise[1]))]
    cases.insert(1, ("noisy photos", *noisy,
                     b1, b2, soft))
    return cases


def _triangulation_hint(got, i1, i2, b1, b2, expected) -> str:
    """The hint for a wrong triangulation answer ``got`` (finite, right shape)."""
    di, db = i1 - i2, b1 - b2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = di / db
        for c, name in enumerate(("red", "green", "blue")):
            single = 1 - ratios[..., c]
            if np.all(np.isfinite(single)) and all_close(got, single):
                return (f"you used the {name} channel only. With noise-free composites that can look "
                        "right, but a real photo is noisy, and one channel fails wherever the two "
                        f"backgrounds agree in {name}. Use all three channels: "
                        "1 - alpha = sum_c (I1-I2)(B1-B2) / sum_c (B1-B2)^2")
        mean_of_ratios = 1 - np.nanmean(np.where(np.abs(db) > 0, ratios, np.nan), axis=2)
    if all_close(got, mean_of_ratios):
        return ("that is a mean of per-channel ratios (I1-I2)/(B1-B2). With noise, a channel where "
                "the backgrounds differ little divides the noise by a small number, and the mean "
                "gives it the same weight as the others. Least squares weights each channel by "
                "(B1-B2)^2: divide the sums, sum_c (I1-I2)(B1-B2) / sum_c (B1-B2)^2")
    if all_close(got, 1 - expected):
        return "you returned 1 - alpha: the ratio of the differences is (1 - alpha)"
    if all_close(got, 2 - expected) or all_close(got, expected - 1):
        return ("a sign is off: I1 - I2 = (1 - alpha)(B1 - B2); subtract the images and the "
                "backgrounds in the same order")
    return ("from I1 - I2 = (1 - alpha)(B1 - B2) in each channel, solve for alpha by least squares "
            "over all three channels")


@exercise_check
def check_alpha_from_two_backgrounds(fn: Callable) -> None:
    """Check ``fn(image1, image2, background1, background2) -> alpha`` (triangulation matting).

    The same foreground photographed over two known backgrounds (Smith & Blinn
    1996): ``I_k = alpha F + (1 - alpha) B_k``. Images and backgrounds are
    ``(H, W, 3)`` float; the answer is ``(H, W)`` alpha, the least-squares
    solution over the three channels (to 1e-5). One case adds camera noise, so
    that an answer from one channel, or a mean of per-channel ratios, which are
    exact on noise-free composites, is told apart from least squares.
    """
    from ..classical import triangulation_matting

    task = "alpha_from_two_backgrounds"
    names = []
    for case, i1, i2, b1, b2, alpha in _two_background_cases():
        out = call_student_numpy(fn, (i1, i2, b1, b2), task=task, case=case)
        shape = np.shape(out)
        if shape == alpha.shape + (3,):
            raise ExerciseError(f"{task}, case {case!r}: you returned one value per channel, shape "
                                f"{shape}; alpha is one number per pixel: combine the three channels "
                                "(least squares: sum over channels of (I1-I2)(B1-B2) divided by the "
                                "sum of (B1-B2)^2)")
        if shape == alpha.shape + (1,):
            raise ExerciseError(f"{task}, case {case!r}: return shape {alpha.shape}, not {shape} "
                                "(drop the channel axis, e.g. `[..., 0]`)")
        got = as_number_array(out, task=task, case=case, shape=alpha.shape)
        expected = triangulation_matting(i1, i2, b1, b2)[0].astype(np.float64)
        if not all_close(got, expected):
            if not np.all(np.isfinite(got)):
                hint = ("your alpha has NaN or infinite values where the two backgrounds have the "
                        "same value in a channel (in this case they differ in "
                        f"{_differing_channels(b1, b2)} only). Do not divide channel by channel: "
                        "divide the sums over the three channels, "
                        "sum_c (I1-I2)(B1-B2) / sum_c (B1-B2)^2, which is 1 - alpha")
            else:
                hint = _triangulation_hint(got, i1, i2, b1, b2, expected)
            raise ExerciseError(f"{task}, case {case!r}: {worst_difference(got, expected)}.\n"
                                f"Hint: {hint}.")
        names.append(case)
    report_success(task, names)


def _differing_channels(b1: np.ndarray, b2: np.ndarray) -> str:
    names = np.array(["red", "green", "blue"])
    differs = np.abs(b1 - b2).reshape(-1, 3).max(axis=0) > 0
    return " and ".join(names[differs]) or "no channel"
