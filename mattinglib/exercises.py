"""Checkers for the course's exercises: they say what is wrong, not only that it is.

Each ``check_*`` function calls the student's function on several cases
(ordinary ones and edge cases: alpha exactly 0 or 1, non-square images,
backgrounds that agree in some channels, an empty unknown region, ...),
compares with the library's implementation, and either prints a one-line
success message or raises :class:`ExerciseError` (an ``AssertionError``) whose
message names the case and gives a hint for the typical mistake it recognises.

>>> from mattinglib.compositing import compose
>>> check_compose(compose)
Correct: compose matches the library on 5 cases (random, alpha = 0, alpha = 1, float32, 1x1 image).
>>> check_compose(lambda fg, bg, alpha: bg)
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: compose, case 'random': ...

An exercise that is not done yet (the stub still raises ``NotImplementedError``,
or the function returns ``None`` or ``...``) is not an error: the checker says
so and returns, so that "Run All" goes on through the chapter, which uses the
library's implementation from there on. A finished but wrong answer still
raises.

>>> def my_compose(fg, bg, alpha):
...     raise NotImplementedError("Exercise 1: replace this line with your code")
>>> check_compose(my_compose)  # doctest: +ELLIPSIS
Not done yet: compose: ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from operator import methodcaller

import numpy as np

__all__ = [
    "ExerciseError",
    "ExerciseNotDone",
    "exercise_check",
    "is_unanswered",
    "check_compose",
    "check_premultiply",
    "check_alpha_from_two_backgrounds",
    "check_trimap_from_alpha",
    "check_onehot",
    "check_sad",
    "check_mse",
    "check_grad",
]


class ExerciseError(AssertionError):
    """An exercise's answer is wrong; the message says where and suggests why."""


class ExerciseNotDone(ExerciseError):
    """The answer is still the stub (it raises ``NotImplementedError``, or is ``None`` or ``...``).

    Raised inside a checker; :func:`exercise_check` turns it into a printed note.
    """


#: What the student copy's stubs leave behind: ``...`` for an answer variable,
#: ``None`` for a function body that was emptied or never returns.
_UNANSWERED = (None, Ellipsis)


def is_unanswered(value) -> bool:
    """Whether ``value`` is what a stub leaves: ``None`` or ``...`` (Ellipsis).

    >>> is_unanswered(...), is_unanswered(None), is_unanswered(0)
    (True, True, False)
    """
    return any(value is u for u in _UNANSWERED)


def exercise_check(check: Callable) -> Callable:
    """Decorator for a ``check_*`` function: an unfinished exercise prints a note instead of failing.

    Every public checker of the course is wrapped by it. When the checker finds
    the answer still a stub (:class:`ExerciseNotDone`) the wrapper prints
    ``Not done yet: ...`` and returns ``None``, so that running the whole chapter
    carries on (the chapter's later cells use the library, never the student's
    function). Any other :class:`ExerciseError` (a finished but wrong answer)
    propagates, and the cell fails with the checker's hint.
    """

    @wraps(check)
    def run(answer, *args, **kwargs):
        try:
            return check(answer, *args, **kwargs)
        except ExerciseNotDone as err:
            print(f"Not done yet: {err}\n(The chapter carries on with the library's implementation; "
                  "come back to this exercise whenever you like.)")
            return None

    return run


_BROADCAST_HINT = ("alpha is (H, W) while the images are (H, W, 3): give alpha a channel axis, "
                   "alpha[..., None], so that it multiplies all three colours of a pixel")


def call_student(fn: Callable, args: tuple, *, task: str, case: str, protect: str | None = None,
                 in_place_advice: str = "", crash_hint: Callable[[Exception], str] | None = None):
    """Call the student's ``fn(*args)``; turn a stub, a crash, an in-place change or no result into a hint.

    The tool every checker module shares (the ``check_*`` functions are the public API).

    Args:
        fn: the student's function.
        args: its arguments.
        task: the exercise's name and ``case`` the case's, both quoted in the messages.
        protect: ``"numpy"`` or ``"torch"``: ``fn`` gets copies of the numpy arrays (the
            torch tensors) among ``args``, and changing one of them in place is an error
            whose message ends with ``in_place_advice``; ``None`` passes ``args`` as they are.
        in_place_advice: what to do instead of changing an input in place.
        crash_hint: given the exception ``fn`` raised, text appended to the message.

    Returns:
        what ``fn`` returned, never ``None``.

    Raises:
        ExerciseNotDone: ``fn`` is still the stub: it raised ``NotImplementedError``
            or returned ``None`` or ``...``.
        ExerciseError: ``fn`` raised another exception or changed a protected input.
    """
    if protect == "numpy":
        kind, copy = np.ndarray, methodcaller("copy")
        same = partial(np.array_equal, equal_nan=True)
    elif protect == "torch":
        import torch

        kind, copy, same = torch.Tensor, methodcaller("clone"), torch.equal
    elif protect is None:
        kind, copy, same = (), None, None
    else:
        raise ValueError(f"protect: expected 'numpy', 'torch' or None, got {protect!r}")
    copies = tuple(copy(a) if isinstance(a, kind) else a for a in args)
    try:
        out = fn(*copies)
    except NotImplementedError:
        raise ExerciseNotDone(f"{task}: not implemented yet: replace the line "
                              "`raise NotImplementedError(...)` with your code") from None
    except Exception as err:  # any crash of the student's code becomes a hint
        hint = crash_hint(err) if crash_hint is not None else ""
        raise ExerciseError(f"{task}, case {case!r}: your function raised "
                            f"{type(err).__name__}: {err}{hint}") from err
    for a, c in zip(args, copies):
        if isinstance(a, kind) and not same(a, c):
            raise ExerciseError(f"{task}, case {case!r}: your function changed one of its inputs "
                                f"in place; {in_place_advice}")
    if is_unanswered(out):
        raise ExerciseNotDone(f"{task}: your function returned {out!r}, so it counts as not "
                              "written yet. If you did write it: did you forget `return`?")
    return out


def _broadcast_hint(err: Exception) -> str:
    return f"\nHint: {_BROADCAST_HINT}." if "broadcast" in str(err) else ""


def call_student_numpy(fn: Callable, args: tuple, *, task: str, case: str):
    """:func:`call_student` for a numpy exercise: inputs protected, a torch tensor refused as the result."""
    out = call_student(fn, args, task=task, case=case, protect="numpy",
                       in_place_advice="compute a new array instead (e.g. `x = x * a`, not `x *= a`)",
                       crash_hint=_broadcast_hint)
    if not isinstance(out, (np.ndarray, float, int, np.floating, np.integer)):
        try:
            import torch

            if isinstance(out, torch.Tensor):
                raise ExerciseError(f"{task}, case {case!r}: return a numpy array, not a torch tensor")
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    return out


def call_student_torch(fn: Callable, args: tuple, *, task: str, case: str, in_place_advice: str,
                       tensor_name: str = "torch tensor"):
    """:func:`call_student` for a torch exercise: inputs protected, the result must be a tensor.

    ``tensor_name`` is how the message calls the expected type (``"expected a {tensor_name}"``).
    """
    import torch

    out = call_student(fn, args, task=task, case=case, protect="torch", in_place_advice=in_place_advice)
    if not isinstance(out, torch.Tensor):
        raise ExerciseError(f"{task}, case {case!r}: expected a {tensor_name}, got {type(out).__name__}")
    return out


def as_number_array(out, *, task: str, case: str, shape: tuple[int, ...]) -> np.ndarray:
    """The student's result as a float64 array of ``shape``, or an :class:`ExerciseError`."""
    arr = np.asarray(out)
    if arr.shape != shape:
        raise ExerciseError(f"{task}, case {case!r}: expected an array of shape {shape}, got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ExerciseError(f"{task}, case {case!r}: expected numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def all_close(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> bool:
    """Same shape, ``a`` all finite, and no element more than ``tol`` from ``b``."""
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(np.abs(a - b).max() <= tol)


def worst_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """Where ``got`` (same shape) is furthest from ``expected`` (NaN counts as infinitely far)."""
    diff = np.abs(got - expected)
    diff = np.where(np.isfinite(diff), diff, np.inf)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return (f"largest difference {diff[idx]:.4g} at index {tuple(int(i) for i in idx)}: "
            f"got {got[idx]:.4g}, expected {expected[idx]:.4g}")


def report_success(task: str, cases: list[str]) -> None:
    """Print the one-line success message of a checker that passed ``cases``."""
    print(f"Correct: {task} matches the library on {len(cases)} cases ({', '.join(cases)}).")


# --------------------------------------------------------------------------- compositing


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
    from .compositing import compose

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
    from .compositing import premultiply

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
    from .compositing import compose

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
    from .classical import triangulation_matting

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


# --------------------------------------------------------------------------- trimaps


def _soft_disc(h: int = 48, w: int = 60, *, centre=(24, 27), radius: float = 12.0,
               edge: float = 3.0) -> np.ndarray:
    """A disc whose alpha falls from 1 to 0 over ``edge`` pixels (float64 in [0, 1])."""
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(yy - centre[0], xx - centre[1])
    return np.clip((radius + edge / 2 - dist) / edge, 0.0, 1.0)


def _band_reach(trimap: np.ndarray, alpha: np.ndarray, row: int, col: int) -> tuple[int, int]:
    """How far the unknown band reaches beyond the soft edge, going right from ``(row, col)``.

    Returns ``(into the foreground, into the background)`` in pixels, counted
    along the row: unknown pixels with alpha == 1 inside the edge, and unknown
    pixels with alpha == 0 outside it.
    """
    line_t, line_a = trimap[row, col:], alpha[row, col:]
    unknown = line_t == 128
    return int((unknown & (line_a >= 1)).sum()), int((unknown & (line_a <= 0)).sum())


@exercise_check
def check_trimap_from_alpha(fn: Callable) -> None:
    """Check ``fn(alpha, kernel_size, iterations) -> trimap`` against ``trimap_from_alpha``.

    ``alpha``: ``(H, W)`` float in [0, 1] (one case passes uint8 0..255);
    the answer: uint8 ``(H, W)`` with 0 background, 128 unknown, 255 foreground,
    unknown = dilate(alpha > 0) minus erode(alpha == 1), elliptical kernel.
    """
    import cv2

    from .trimap import band_width, trimap_from_alpha, trimap_from_mask

    task = "trimap_from_alpha"
    disc = _soft_disc()
    cases = [
        ("soft disc, kernel 3, 5 iterations", disc, 3, 5),
        ("soft disc, kernel 5, 3 iterations", disc, 5, 3),
        ("soft disc, kernel 3, 1 iteration", disc, 3, 1),
        ("alpha all 0", np.zeros_like(disc), 3, 5),
        ("uint8 alpha 0..255", np.round(disc * 255).astype(np.uint8), 3, 4),
    ]
    names = []
    for case, alpha, k, it in cases:
        out = call_student_numpy(fn, (alpha, k, it), task=task, case=case)
        got = np.asarray(out)
        if got.shape != alpha.shape:
            raise ExerciseError(f"{task}, case {case!r}: expected shape {alpha.shape}, got {got.shape}")
        values = sorted(np.unique(got).tolist())
        if got.dtype != np.uint8:
            raise ExerciseError(f"{task}, case {case!r}: expected dtype uint8, got {got.dtype} "
                                "(build the trimap with np.full(shape, 0, np.uint8))")
        if not set(values) <= {0, 128, 255}:
            hint = ("use 0 (background), 128 (unknown) and 255 (foreground)"
                    + (": 127 is not the unknown value" if 127 in values else "")
                    + (": class indices 0/1/2 are for the one-hot encoding, not the trimap"
                       if set(values) <= {0, 1, 2} else ""))
            raise ExerciseError(f"{task}, case {case!r}: your trimap has the values {values[:6]}; {hint}")
        expected = trimap_from_alpha(alpha, kernel_size=k, iterations=it)
        if np.array_equal(got, expected):
            names.append(case)
            continue

        a = alpha.astype(np.float64) / (255.0 if alpha.dtype == np.uint8 else 1.0)
        fractional = (a > 0) & (a < 1)
        if np.array_equal(got == 255, expected == 0) and fractional.any():
            hint = "foreground and background are swapped: 255 is foreground (alpha == 1), 0 background"
        elif alpha.dtype == np.uint8 and not (got == 255).any() and (expected == 255).any():
            hint = ("a uint8 alpha goes from 0 to 255, so `alpha == 1` finds almost nothing: "
                    "convert first (alpha / 255 for uint8 input)")
        elif fractional.any() and not (got[fractional] == 128).all():
            n = int((got[fractional] != 128).sum())
            hint = (f"{n} pixels with 0 < alpha < 1 are not marked unknown: start from alpha > 0 (to "
                    "dilate) and alpha == 1 (to erode), not from a threshold at 0.5")
        elif any(np.array_equal(got, trimap_from_mask(mask, kernel_size=k, iterations=it))
                 for mask in (a > 0.5, a >= 0.5)):
            hint = ("your band straddles the alpha = 0.5 contour: that is a trimap from a binary "
                    "mask. From an alpha, dilate alpha > 0 and erode alpha == 1, so that the band "
                    "starts where the soft edge starts, whatever its width")
        else:
            kernel_rect = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
            rect = np.zeros_like(expected)
            rect[cv2.dilate((a > 0).astype(np.uint8), kernel_rect, iterations=it) > 0] = 128
            rect[cv2.erode((a == 1).astype(np.uint8), kernel_rect, iterations=it) > 0] = 255
            if np.array_equal(got, rect):
                hint = ("the band is right along the axes but too wide on the diagonals: use an "
                        "elliptical kernel, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))")
            else:
                centre_row, centre_col = 24, 27
                fg_in, bg_out = _band_reach(got, a, centre_row, centre_col)
                want = band_width(k, it)
                hint = (f"your band is {fg_in + bg_out} px wide besides the soft edge ({fg_in} px "
                        f"into the foreground, {bg_out} px into the background), expected "
                        f"{2 * want} ({want} + {want})")
                one_step = band_width(k, 1)
                if it > 1 and one_step in (fg_in, bg_out):
                    hint += (": a side that grew by one step only means the iterations were not "
                             "applied. Are you passing iterations to cv2.dilate / cv2.erode by "
                             "keyword? cv2.dilate(mask, kernel, n) puts n into the `dst` argument; "
                             "write cv2.dilate(mask, kernel, iterations=n)")
        diff = int((got != expected).sum())
        raise ExerciseError(f"{task}, case {case!r}: {diff} pixels differ from the library's trimap."
                            f"\nHint: {hint}.")
    report_success(task, names)


@exercise_check
def check_onehot(fn: Callable) -> None:
    """Check ``fn(trimap) -> (3, H, W) float32``, channels in ``CLASS_ORDER``.

    Channel 0 is background (trimap 0), 1 unknown (128), 2 foreground (255), as
    :data:`mattinglib.trimap.CLASS_ORDER` says.
    """
    from .trimap import CLASS_ORDER, trimap_to_onehot

    task = "onehot"
    rng = np.random.default_rng(3)
    cases = [
        ("random 6x9 trimap", rng.choice(np.array([0, 128, 255], np.uint8), size=(6, 9))),
        ("all unknown", np.full((4, 5), 128, np.uint8)),
        ("1x3 trimap", np.array([[0, 128, 255]], np.uint8)),
    ]
    names = []
    for case, tri in cases:
        out = call_student_numpy(fn, (tri,), task=task, case=case)
        got = np.asarray(out)
        h, w = tri.shape
        if got.shape == (h, w, 3) and (h, w) != (3, 3):
            raise ExerciseError(f"{task}, case {case!r}: expected channels first, shape (3, {h}, {w}), "
                                f"got {got.shape}; networks read (C, H, W): use np.stack(..., axis=0)")
        if got.shape != (3, h, w):
            raise ExerciseError(f"{task}, case {case!r}: expected shape (3, {h}, {w}), got {got.shape}")
        if got.dtype != np.float32:
            raise ExerciseError(f"{task}, case {case!r}: expected dtype float32, got {got.dtype} "
                                "(a network's input is float: .astype(np.float32))")
        expected = trimap_to_onehot(tri)
        if np.array_equal(got, expected):
            names.append(case)
            continue
        if not np.array_equal(got.sum(axis=0), np.ones((h, w), np.float32)):
            hint = "every pixel must have exactly one channel equal to 1 and the others 0"
        else:
            order = [int(np.argmax([np.array_equal(got[c], expected[e]) for e in range(3)]))
                     for c in range(3)]
            if all(np.array_equal(got[c], expected[order[c]]) for c in range(3)):
                yours = tuple(CLASS_ORDER[o] for o in order)
                hint = (f"your channel order is {yours}, the library's CLASS_ORDER is {CLASS_ORDER}; "
                        "a swapped order is how public SHM re-implementations read the unknown "
                        "probability as foreground")
            else:
                hint = f"channel c must be 1 where the trimap holds the value of CLASS_ORDER[c] {CLASS_ORDER}"
        raise ExerciseError(f"{task}, case {case!r}: your one-hot encoding differs from the library's."
                            f"\nHint: {hint}.")
    report_success(task, names)


# --------------------------------------------------------------------------- metrics


@exercise_check
def check_sad(fn: Callable) -> None:
    """Check ``fn(pred, gt, trimap) -> float``: the official SAD.

    ``pred``, ``gt``: ``(H, W)`` float in [0, 1]; ``trimap``: uint8 {0, 128, 255}.
    SAD = sum over the unknown region (trimap == 128) of ``|pred - gt|``, divided by 1000.
    """
    from .metrics import sad

    task = "sad"
    rng = np.random.default_rng(4)
    h, w = 30, 40
    gt = _soft_disc(h, w, centre=(15, 20), radius=8.0, edge=4.0)
    tri = np.zeros((h, w), np.uint8)
    tri[gt > 0] = 128
    tri[gt >= 1] = 255
    tri[12:18, 17:23] = 255
    noisy = np.clip(gt + rng.normal(0, 0.2, (h, w)), 0, 1)
    cases = [
        # Errors everywhere: only those inside the unknown band may count.
        ("noise everywhere", noisy, gt, tri),
        ("perfect prediction", gt.copy(), gt, tri),
        ("prediction all 0", np.zeros((h, w)), gt, tri),
        ("no unknown pixels", noisy, gt, np.where(gt >= 0.5, 255, 0).astype(np.uint8)),
    ]
    names = []
    for case, pred, target, trimap in cases:
        out = call_student_numpy(fn, (pred, target, trimap), task=task, case=case)
        if np.ndim(out) != 0:
            raise ExerciseError(f"{task}, case {case!r}: expected one number, got an array of shape "
                                f"{np.shape(out)}: sum the errors (.sum())")
        got = float(out)
        expected = sad(pred, target, trimap)
        if np.isclose(got, expected, rtol=1e-6, atol=1e-9):
            names.append(case)
            continue
        diff = pred - target
        u = trimap == 128
        whole = np.abs(diff).sum()
        candidates = [
            (expected * 1000, "you forgot to divide by 1000: SAD is reported in thousands"),
            (whole / 1000, "you summed over the whole image: sum only where trimap == 128 (the unknown region)"),
            (whole, "you summed over the whole image and did not divide by 1000"),
            (np.abs(diff[u]).mean() if u.any() else 0.0, "that is a mean; SAD is a sum (divided by 1000)"),
            (diff[u].sum() / 1000, "take the absolute value of each difference before summing"),
            ((diff[u] ** 2).sum() / 1000, "that is a squared error; SAD sums absolute differences"),
        ]
        hint = next((text for value, text in candidates if np.isclose(got, value, rtol=1e-6, atol=1e-9)),
                    "SAD = sum over trimap == 128 of |pred - gt|, divided by 1000")
        raise ExerciseError(f"{task}, case {case!r}: got {got:.6g}, expected {expected:.6g}.\nHint: {hint}.")
    report_success(task, names)


def _metric_cases():
    """``(case, pred, gt, trimap)``: a soft disc, its unknown band at least 5 px from the border.

    Errors everywhere, so that only the unknown ones may count; one prediction
    spans [0.1, 0.7] only, so that the Gradient error's min-max normalisation matters.
    """
    rng = np.random.default_rng(4)
    h, w = 34, 44
    gt = _soft_disc(h, w, centre=(17, 22), radius=8.0, edge=4.0)
    tri = np.zeros((h, w), np.uint8)
    tri[gt > 0] = 128
    tri[gt >= 1] = 255
    tri[14:20, 19:25] = 255
    noisy = np.clip(gt + rng.normal(0, 0.2, (h, w)), 0, 1)
    blurred = _soft_disc(h, w, centre=(17, 22), radius=8.0, edge=8.0)
    return [
        ("noise everywhere", noisy, gt, tri),
        ("perfect prediction", gt.copy(), gt, tri),
        ("prediction all 0", np.zeros((h, w)), gt, tri),
        ("blurred, in [0.1, 0.7]", 0.1 + 0.6 * blurred, gt, tri),
    ]


def _scalar_answer(out, *, task: str, case: str) -> float:
    if np.ndim(out) != 0:
        raise ExerciseError(f"{task}, case {case!r}: expected one number, got an array of shape "
                            f"{np.shape(out)}: sum (or average) over the region")
    return float(out)


@exercise_check
def check_mse(fn: Callable) -> None:
    """Check ``fn(pred, gt, trimap) -> float``: the official MSE, raw (no scaling).

    MSE = sum over the unknown region U (trimap == 128) of ``(pred - gt)**2``,
    divided by the number of unknown pixels ``|U|``.
    """
    from .metrics import mse

    task = "mse"
    names = []
    for case, pred, target, trimap in _metric_cases():
        got = _scalar_answer(call_student_numpy(fn, (pred, target, trimap), task=task, case=case),
                             task=task, case=case)
        expected = mse(pred, target, trimap)
        if np.isclose(got, expected, rtol=1e-6, atol=1e-12):
            names.append(case)
            continue
        diff = pred - target
        u = trimap == 128
        candidates = [
            (expected * 1000, "that is MSE x 1000, the unit some papers print; the official MSE is raw"),
            (expected / 1000, "do not divide MSE by 1000: only SAD, Grad and Conn are in thousands"),
            ((diff ** 2).mean(), "you averaged over the whole image: average over trimap == 128 only"),
            ((diff[u] ** 2).sum() / diff.size, "you summed over U but divided by all pixels; divide by |U|"),
            ((diff[u] ** 2).sum(), "that is the sum; MSE divides it by the number of unknown pixels"),
            (np.abs(diff[u]).mean(), "square the differences: that is the mean absolute error"),
            (np.sqrt(expected), "do not take the square root: that is the RMSE"),
        ]
        hint = next((text for value, text in candidates if np.isclose(got, value, rtol=1e-6, atol=1e-12)),
                    "MSE = sum over trimap == 128 of (pred - gt)**2, divided by the number of those pixels")
        raise ExerciseError(f"{task}, case {case!r}: got {got:.6g}, expected {expected:.6g}.\nHint: {hint}.")
    report_success(task, names)


def _gradient_magnitude(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.hypot(ndimage.convolve(x, kernel, mode="nearest"), ndimage.convolve(x, kernel.T, mode="nearest"))


def _min_max(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.clip(x, 0.0, 1.0) if hi == lo else (x - lo) / (hi - lo)


@exercise_check
def check_grad(fn: Callable) -> None:
    """Check ``fn(pred, gt, trimap) -> float``: the official Gradient error.

    Both mattes min-max normalised to [0, 1], filtered with
    ``metrics.gaussian_gradient_kernel(1.4)`` and its transpose, gradient
    magnitudes ``hypot(gx, gy)``; then the sum over the unknown region of the
    squared difference of the magnitudes, divided by 1000. The unknown region of
    every case is at least 5 pixels from the border, so the border mode of the
    filter does not matter, nor does convolution against correlation (the
    kernel only changes sign).
    """
    from .metrics import gaussian_gradient_kernel, gradient_error

    task = "grad"
    kernel = gaussian_gradient_kernel(1.4)
    names = []
    for case, pred, target, trimap in _metric_cases():
        got = _scalar_answer(call_student_numpy(fn, (pred, target, trimap), task=task, case=case),
                             task=task, case=case)
        expected = gradient_error(pred, target, trimap)
        if np.isclose(got, expected, rtol=1e-5, atol=1e-12):
            names.append(case)
            continue
        if not np.isfinite(got):
            raise ExerciseError(f"{task}, case {case!r}: got {got}.\nHint: a constant matte (here all 0) "
                                "has max == min, so the min-max normalisation divides by 0; leave a "
                                "constant matte as it is, as the official mat2gray does.")
        u = trimap == 128
        gp, gt_ = (_gradient_magnitude(_min_max(x), kernel) for x in (pred, target))
        raw_p, raw_t = (_gradient_magnitude(x, kernel) for x in (pred, target))
        vec = np.hypot(*(_convolve(_min_max(pred), k) - _convolve(_min_max(target), k)
                         for k in (kernel, kernel.T)))
        candidates = [
            (expected * 1000, "you forgot to divide by 1000: Grad is reported in thousands"),
            (((gp - gt_) ** 2).sum() / 1000, "you summed over the whole image: sum only where trimap == 128"),
            (((raw_p - raw_t) ** 2)[u].sum() / 1000,
             "normalise each matte to [0, 1] first, (x - x.min()) / (x.max() - x.min()), as the "
             "official code's mat2gray does: a prediction that spans [0.1, 0.7] is stretched"),
            (np.abs(gp - gt_)[u].sum() / 1000, "square the difference of the magnitudes before summing"),
            ((vec ** 2)[u].sum() / 1000,
             "compare the gradient magnitudes, |G pred| - |G gt|, not the difference of the gradient "
             "vectors"),
        ]
        hint = next((text for value, text in candidates if np.isclose(got, value, rtol=1e-5, atol=1e-12)),
                    "Grad = sum over trimap == 128 of (|G pred| - |G gt|)**2 / 1000, with both mattes "
                    "min-max normalised and |G x| = hypot(x filtered with the kernel, with its transpose)")
        raise ExerciseError(f"{task}, case {case!r}: got {got:.6g}, expected {expected:.6g}.\nHint: {hint}.")
    report_success(task, names)


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.convolve(x, kernel, mode="nearest")
