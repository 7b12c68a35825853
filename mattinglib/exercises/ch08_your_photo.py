"""Checkers for chapter 8 (your own photo): a question about plates, and a band experiment.

>>> check_plate_question("b")
Correct: ...
>>> check_plate_question("c")
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: plate question: 'c' is not it. ...
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._harness import (
    ExerciseError,
    ExerciseNotDone,
    all_close,
    call_student_numpy,
    exercise_check,
    is_unanswered,
    report_success,
)

__all__ = ["PLATE_QUESTION", "PLATE_OPTIONS", "check_plate_question", "band_case", "BAND_CASE_BANDS",
           "check_band_experiment"]

PLATE_QUESTION = ("The background plate was shot a hand's width to the side of where the photo was "
                  "taken, and you run Background Matting without aligning it. Where does the matte go wrong?")

PLATE_OPTIONS = {
    "a": "inside the person only: holes where the person's colours match the scene behind them",
    "b": "also in the background: edges of the scene show up as semi-transparent foreground, "
         "because photo and plate disagree there although nobody stands there",
    "c": "nowhere: the soft segmentation tells the network where the person is, so the plate does not matter",
    "d": "only in the hair: the plate matters only where alpha is fractional",
}

_PLATE_HINTS = {
    "a": "holes where colours match happen with a perfect plate too (the camouflage case). A shifted plate "
         "breaks the one cue the network trusts most, photo minus plate, everywhere: look at the "
         "|photo - plate| map of the unaligned plate in section 5",
    "c": "the segmentation is a soft, blurred hint; where photo and plate differ the network reads "
         "'something is in front of the scene'. Section 5 shows |photo - plate| of an unaligned plate: "
         "it lights up all over the scene",
    "d": "the photo-plate difference is large wherever the scene has edges, not only where alpha is "
         "fractional; the network cannot tell that difference from a real foreground",
}


@exercise_check
def check_plate_question(answer: str) -> None:
    """Check the letter chosen for :data:`PLATE_QUESTION` among :data:`PLATE_OPTIONS`."""
    task = "plate question"
    if is_unanswered(answer):
        raise ExerciseNotDone(f"{task}: choose one of the letters {sorted(PLATE_OPTIONS)}")
    if not isinstance(answer, str) or answer.strip().lower() not in PLATE_OPTIONS:
        raise ExerciseError(f"{task}: answer with one of the letters {sorted(PLATE_OPTIONS)}, got {answer!r}")
    answer = answer.strip().lower()
    if answer != "b":
        raise ExerciseError(f"{task}: {answer!r} is not it. Hint: {_PLATE_HINTS[answer]}.")
    print("Correct: a misaligned plate differs from the photo along every edge of the scene, and Background "
          "Matting reads any photo-plate difference as foreground: ghost edges in the matte.")


# --------------------------------------------------------------------------- band experiment

#: The bands of the checker's fixed experiment: one iteration, then four.
BAND_CASE_BANDS = (1, 4)


def band_case(size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The checker's fixed case: ``(image, alpha, rough mask)`` of a soft-edged disc.

    The disc's edge ramps from 0 to 1 over 8 pixels (hair-like softness); the
    rough mask is the hard ``alpha >= 0.5``, as a segmentation would give.
    Foreground and background are smooth random colour gradients (``seed``).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) / size
    alpha = np.clip((0.3 - np.hypot(yy - 0.5, xx - 0.5)) * size / 8 + 0.5, 0, 1).astype(np.float32)

    def gradient():
        c0, cy, cx = rng.random(3), rng.random(3) - 0.5, rng.random(3) - 0.5
        return np.clip(c0 + yy[..., None] * cy + xx[..., None] * cx, 0, 1)

    fg, bg = gradient(), gradient()
    image = (alpha[..., None] * fg + (1 - alpha[..., None]) * bg).astype(np.float32)
    return image, alpha, alpha >= 0.5


@exercise_check
def check_band_experiment(fn: Callable, prediction: str) -> None:
    """Check ``fn(image, alpha, mask, bands) -> list of SAD`` and the ``prediction`` ("up" or "down").

    ``fn`` must matte with closed-form on ``trimap_from_mask(mask, kernel_size=3,
    iterations=band)`` for each band and score each matte with SAD over one
    common region, :func:`mattinglib.diagnostics.common_trimap` of the widest
    band. ``prediction`` says whether that SAD goes up or down from the first
    to the last of :data:`BAND_CASE_BANDS` on :func:`band_case`.
    """
    from ..diagnostics import sad_by_band

    task = "band experiment"
    if is_unanswered(prediction):
        raise ExerciseNotDone(f"{task}: write your prediction, 'up' or 'down', into PREDICTION")
    if prediction not in ("up", "down"):
        raise ExerciseError(f"{task}: PREDICTION must be 'up' or 'down', got {prediction!r}")
    names = []
    for case, bands in (("bands 1 and 4", BAND_CASE_BANDS), ("bands 2, 3, 5", (2, 3, 5))):
        image, alpha, mask = band_case()
        out = call_student_numpy(fn, (image, alpha, mask, bands), task=task, case=case)
        try:
            got = np.asarray(out, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ExerciseError(f"{task}, case {case!r}: expected a list of numbers, got {out!r}") from None
        ref = sad_by_band(image, alpha, mask, bands)
        if got.shape != (len(bands),):
            raise ExerciseError(f"{task}, case {case!r}: expected {len(bands)} numbers (one per band), got {out!r}")
        if all_close(got, np.asarray(ref["sad"]), tol=1e-4):
            names.append(case)
            continue
        if all_close(got, np.asarray(ref["sad_own"]), tol=1e-4):
            hint = ("you scored each matte over its own trimap's unknown region; a narrow band then does not "
                    "count the soft pixels it declared known. Score every band over common_trimap(mask, "
                    "alpha, max(bands))")
        elif all_close(got, 1000 * np.asarray(ref["sad"]), tol=1e-1):
            hint = "SAD is divided by 1000 (the official unit): use mattinglib.metrics.sad"
        else:
            hint = (f"expected {np.round(ref['sad'], 4).tolist()}; build each trimap with "
                    "trimap_from_mask(mask, kernel_size=3, iterations=band) and matte it with closed_form_matting")
        raise ExerciseError(f"{task}, case {case!r}: got {np.round(got, 4).tolist()}.\nHint: {hint}.")
    first, last = sad_by_band(*band_case(), BAND_CASE_BANDS)["sad"]
    measured = "up" if last > first else "down"
    if prediction != measured:
        raise ExerciseError(
            f"{task}: your function is right, and it measured SAD {first:.4f} at band {BAND_CASE_BANDS[0]} and "
            f"{last:.4f} at band {BAND_CASE_BANDS[-1]}: it went {measured}, not {prediction}.\nHint: the disc's edge "
            "is 8 px soft; a band of 1 iteration reaches 1 px on each side of the hard mask, so most soft "
            "pixels are declared 0 or 1 and no solver can fix them. Change PREDICTION after thinking about why.")
    report_success(task, names + [f"prediction '{prediction}' (SAD {first:.4f} -> {last:.4f})"])
