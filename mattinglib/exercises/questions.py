"""Questions and experiments of the chapters: an answer or a prediction, checked with the reason.

Two kinds of exercise that ask for thought rather than code:

* a **question** (:func:`check_answer`): multiple choice (a letter) or a
  number. A wrong choice is answered with why it is wrong, a right one with why
  it is right;
* an **experiment** (:func:`check_prediction`): the chapter says "change X and
  predict what happens", the student records the prediction in a variable, the
  check cell runs the experiment and passes what it measured. The checker turns
  the measurement into one of the options and compares: a wrong prediction fails
  with what the run showed and why.

The answer key and the explanations live here, in :data:`QUESTIONS` and
:data:`EXPERIMENTS`, keyed by ``"chNN-name"``. An answer still ``...`` (the
student copy's stub) is "not done yet" (:func:`mattinglib.exercises.exercise_check`).

>>> check_answer("b", "ch02-mse-band")  # doctest: +ELLIPSIS
Correct: (b) ...
>>> check_answer("a", "ch02-mse-band")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: ch02-mse-band: you chose (a) ...
>>> check_prediction("c", "ch02-resolution", measured=4.0)  # doctest: +ELLIPSIS
Your prediction (c) matches the run (measured 4): ...
>>> check_answer(..., "ch02-mse-band")  # doctest: +ELLIPSIS
Not done yet: ch02-mse-band: ...
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ._harness import ExerciseError, ExerciseNotDone, exercise_check, is_unanswered

__all__ = ["Question", "Experiment", "QUESTIONS", "EXPERIMENTS", "check_answer", "check_prediction"]


@dataclass(frozen=True)
class Question:
    """A multiple-choice question (``options`` non-empty) or a number question.

    Attributes:
        options: letter -> the option's text; empty for a number question.
        answer: the right letter, or the right number.
        why: letter -> why that choice is right or wrong (every option has one);
            for a number question, ``"right"`` and ``"other"`` (the default reason).
        wrong_numbers: number question only: typical wrong numbers -> what they are.
        tolerance: number question only: accepted absolute difference.
    """

    options: Mapping[str, str]
    answer: str | float
    why: Mapping[str, str]
    wrong_numbers: Mapping[float, str] = field(default_factory=dict)
    tolerance: float = 0.0


@dataclass(frozen=True)
class Experiment:
    """A "predict, then run" experiment.

    Attributes:
        options: letter -> the possible outcome.
        measure: what the check cell passes as ``measured``, for the message.
        classify: measured value -> the option it shows.
        why: option shown by the run -> why the run comes out that way.
    """

    options: Mapping[str, str]
    measure: str
    classify: Callable[[float], str]
    why: Mapping[str, str]


def _bands(low: float, high: float, below: str, between: str, above: str) -> Callable[[float], str]:
    """``below`` for a value under ``low``, ``above`` over ``high``, else ``between``."""
    def classify(value: float) -> str:
        return below if value < low else above if value > high else between
    return classify


QUESTIONS: dict[str, Question] = {
    "ch01-unknowns": Question(
        options={}, answer=4, tolerance=0,
        why={"right": "alpha (1) and F (3) remain; B is known from the clean plate, and the photo "
                      "gives 3 equations, so the problem is nearly, but not quite, determined",
             "other": "count the unknowns of I = alpha F + (1 - alpha) B per pixel when B is known"},
        wrong_numbers={7: "7 is the count when B is unknown too (alpha, F and B); here B was "
                          "photographed separately, so its 3 values are known",
                       3: "3 is the number of equations (one per colour channel), not of unknowns",
                       1: "alpha alone is 1 unknown, but F (3 colour values) is unknown as well",
                       6: "F and B would be 6 values, but B is known; count alpha and F"}),
    "ch02-mse-band": Question(
        options={"a": "it rises", "b": "it falls", "c": "it stays the same"}, answer="b",
        why={"a": "the added pixels are exactly right (the prediction is exact outside its own band), "
                  "so the sum of squared errors does not grow",
             "b": "the sum of squared errors stays the same while the number of unknown pixels |U| "
                  "grows, so the mean falls: MSE over a wider band looks better without any change "
                  "near the edge; compare MSE only over one common region",
             "c": "the sum stays the same, but MSE divides it by |U|, which grows with the band"}),
    "ch03-implausible": Question(
        options={"a": "the network decides each unknown pixel from a local window around it",
                 "b": "the network learns which scenes are plausible and ignores the rest",
                 "c": "COCO backgrounds were chosen to match the foregrounds",
                 "d": "they do not teach anything; only the real photos do"},
        answer="a",
        why={"a": "whether a strand is 30 % or 60 % opaque over this patch of background is a local "
                  "question, and a composite answers it exactly, whatever the scene",
             "b": "the matting network is given a trimap and never judges plausibility; it sees local "
                  "colours and structure",
             "c": "DIM drew 100 COCO photos per foreground without matching them; the cat on the "
                  "motorway is typical",
             "d": "DIM's networks are trained on composites only and work on real photos; what "
                  "composites miss is real lighting interaction (spill, shadows)"}),
    "ch04-fusion": Question(
        options={}, answer=1, tolerance=1e-9,
        why={"right": "alpha = Fs + Us * alpha_r = 1 + 0 * alpha_r: where T-Net is sure of the "
                      "foreground, M-Net's output does not count",
             "other": "put Fs = 1 and Us = 0 into alpha = Fs + Us * alpha_r"},
        wrong_numbers={0: "0 is what the foreground/unknown swap of public re-implementations gives "
                          "when alpha_r is 0 there: Us + Fs * alpha_r; in the right order Fs counts "
                          "fully"}),
    "ch05-selector": Question(
        options={"a": "compare the photo's feature with the background's at the same location",
                 "b": "look at the neighbouring locations of the feature map",
                 "c": "weigh the background cue differently from one location to the next",
                 "d": "mix 512 input channels into 64"},
        answer="b",
        why={"a": "it can: concat(image feature, background feature) puts both in the same "
                  "location's 512 channels, and the 1x1 convolution mixes them",
             "b": "a 1x1 convolution sees one location only; the neighbourhood comes from the 3x3 "
                  "convolutions before (the encoders) and after it (the ResNet blocks)",
             "c": "it can: its output depends on the features at each location, so where photo and "
                  "background agree it can respond differently from where they do not",
             "d": "that is exactly what it does: 512 = 256 + 256 input channels, 64 output channels"}),
    "ch06-threshold": Question(
        options={}, answer=0.975, tolerance=1e-9,
        why={"right": "x in [-1, 1] is (x + 1) / 2 in [0, 1]: (0.95 + 1) / 2 = 0.975",
             "other": "map the threshold with (x + 1) / 2, the inverse of 2 a - 1"},
        wrong_numbers={0.95: "0.95 is the threshold on the generator's [-1, 1] scale; on the [0, 1] "
                             "scale it is (0.95 + 1) / 2",
                       0.9: "0.9 is 2 * 0.95 - 1: that maps a [0, 1] value to [-1, 1], the other way",
                       0.475: "0.475 is 0.95 / 2; the map is (x + 1) / 2, not x / 2"}),
    "ch07-collapse": Question(
        options={"a": "with alpha = 1 the recomposition is the real frame itself (shifted), which D "
                      "cannot call fake",
                 "b": "the discriminator learns too slowly to notice anything",
                 "c": "LSGAN stops giving the generator a gradient when D is confident",
                 "d": "the teacher predicts alpha = 1 everywhere, and the student copies it"},
        answer="a",
        why={"a": "where alpha > 0.95 the frame replaces the student's foreground, so alpha = 1 "
                  "recomposes the frame, only rolled sideways: a real image, the critic's trivial "
                  "answer (the authors confirm it in the reference repository's issue #18)",
             "b": "a slow D explains why the collapse is not punished quickly, not why 'all "
                  "foreground' fools it: even a perfect D must call a real frame real",
             "c": "the opposite: LSGAN's gradient grows with the distance from the 'real' label; the "
                  "saturating loss is the minimax log loss",
             "d": "the teacher's mean alpha is close to the truth's; the collapse comes from the GAN "
                  "term, and the run without it (pseudo-labels only) does not collapse"}),
}

EXPERIMENTS: dict[str, Experiment] = {
    "ch01-noise-gap": Experiment(
        options={"a": "about the same error", "b": "a larger error, several times larger",
                 "c": "a smaller error"},
        measure="error with backgrounds 0.1 apart / error with backgrounds 0.5 apart, at 8 grey levels of noise",
        classify=_bands(0.8, 1.5, "c", "a", "b"),
        why={"a": "the noise of I1 - I2 is divided by B1 - B2, so a smaller gap should amplify it; "
                  "if the two come out the same, look at the printed errors",
             "b": "1 - alpha = (I1 - I2) . (B1 - B2) / |B1 - B2|^2: the noise of the two photos is "
                  "divided by the gap between the backgrounds, so a 5x smaller gap amplifies it up to "
                  "5x (clipping alpha to [0, 1] takes a little off)",
             "c": "a smaller gap divides the same noise by a smaller number; a smaller error would "
                  "need less noise"}),
    "ch02-resolution": Experiment(
        options={"a": "SAD stays the same", "b": "SAD doubles", "c": "SAD grows 4 times"},
        measure="SAD at twice the resolution / SAD at the original resolution",
        classify=lambda r: "a" if r < 1.5 else "b" if r < 3.0 else "c",
        why={"a": "SAD is a sum over pixels, and every pixel became four",
             "b": "each side doubles, so the number of pixels (and the sum) grows by 2 x 2",
             "c": "SAD sums over pixels: every pixel became four identical ones, so SAD grew 4x while "
                  "MSE, a mean, did not change. SAD values are only comparable at the same image "
                  "size, one reason papers evaluate on a fixed test set"}),
    "ch03-grey-backdrop": Experiment(
        options={"a": "a smaller halo", "b": "about the same halo", "c": "a larger halo"},
        measure="mean halo over grey / mean halo over green (fractional pixels)",
        classify=_bands(0.8, 1.25, "a", "b", "c"),
        why={"a": "the halo is alpha (1 - alpha) (B_old - F): its size is the distance between the "
                  "backdrop and the subject's colour, and this hair is much closer to mid-grey than to "
                  "saturated green. A green screen is chosen to be far from the subject's colours, "
                  "which is good for keying and the worst case for this shortcut",
             "b": "the halo is alpha (1 - alpha) (B_old - F); a backdrop as far from the subject's "
                  "colour as the green one leaves it the same size",
             "c": "the halo is alpha (1 - alpha) (B_old - F); a backdrop further from the subject's "
                  "colour than the green one makes it larger"}),
    "ch05-seg-input": Experiment(
        options={"a": "alpha changes", "b": "alpha stays bit for bit the same"},
        measure="largest |change| of alpha when only the segmentation input changes",
        classify=lambda change: "b" if change == 0 else "a",
        why={"a": "the segmentation encoder feeds comb_seg, which the fusion reads: unlike the motion "
                  "input, the segmentation reaches the output (even with untrained weights)",
             "b": "only an input whose encoder output is never used (the motion cue in the released "
                  "wiring) leaves the output unchanged"}),
    "ch06-smaller-subject": Experiment(
        options={"a": "the per-sample loss stays the same", "b": "it falls", "c": "it rises"},
        measure="per-sample normalised L1 with a subject 1/8 the size / with a subject 1/4 the size",
        classify=_bands(0.98, 1.02, "b", "a", "c"),
        why={"a": "each sample is divided by its own mask sum: a subject of any size with the same "
                  "per-pixel error contributes the same mean error, so the loss does not depend on "
                  "how large the subject is (a batch-wise normalisation would fall instead)",
             "b": "a falling loss is what a normalisation over the whole batch does, where the small "
                  "subject's few pixels are outweighed",
             "c": "the per-pixel error did not change, and each sample is divided by its own mask sum"}),
    "ch07-beyond-real": Experiment(
        options={"a": "no gradient: the fake already fools D", "b": "it pushes the score further up",
                 "c": "it pushes the score back down towards 1"},
        measure="d loss_G / d score at score 3 (gradient descent moves the score against its sign)",
        classify=lambda g: "a" if g == 0 else "c" if g > 0 else "b",
        why={"a": "the minimax log loss nearly does that; LSGAN's (s - 1)^2 has slope 2 (s - 1) = 4 "
                  "at s = 3",
             "b": "minimising (s - 1)^2 moves s towards 1 from either side",
             "c": "the slope of (s - 1)^2 at s = 3 is +4, so gradient descent lowers the score "
                  "towards the 'real' label 1: LSGAN also pulls back fakes that overshoot, which "
                  "keeps the scores and the gradients bounded"}),
}


def _letter(value, *, key: str, options: Mapping[str, str]) -> str:
    if not isinstance(value, str):
        raise ExerciseError(f"{key}: answer with one of the letters {', '.join(map(repr, options))} "
                            f"(a string), not {value!r}")
    letter = value.strip().lower().strip("()")
    if letter not in options:
        raise ExerciseError(f"{key}: {value!r} is not one of the options "
                            f"{', '.join(f'({k}) {v}' for k, v in options.items())}")
    return letter


def _lookup(table: Mapping, key: str, kind: str):
    try:
        return table[key]
    except KeyError:
        raise ValueError(f"key: no {kind} called {key!r}; known: {', '.join(table)}") from None


@exercise_check
def check_answer(answer, key: str) -> None:
    """Check the answer to the question ``key`` of :data:`QUESTIONS`.

    Args:
        answer: a letter (``"b"``) for a multiple-choice question, a number otherwise;
            ``...`` while not answered.
        key: the question, e.g. ``"ch02-mse-band"``.

    Raises:
        ExerciseError: a wrong answer, with why it is wrong.
        ValueError: an unknown ``key``.
    """
    q = _lookup(QUESTIONS, key, "question")
    if is_unanswered(answer):
        raise ExerciseNotDone(f"{key}: replace the ... with your answer")
    if q.options:
        letter = _letter(answer, key=key, options=q.options)
        if letter != q.answer:
            raise ExerciseError(f"{key}: you chose ({letter}) {q.options[letter]}.\n"
                                f"Not quite: {q.why[letter]}.")
        print(f"Correct: ({letter}) {q.options[letter]}: {q.why[letter]}.")
        return
    if not isinstance(answer, numbers.Real) or isinstance(answer, bool) or not math.isfinite(answer):
        raise ExerciseError(f"{key}: answer with a number, not {answer!r}")
    if abs(answer - q.answer) <= q.tolerance:
        print(f"Correct: {answer:g}: {q.why['right']}.")
        return
    reason = next((text for value, text in q.wrong_numbers.items()
                   if abs(answer - value) <= max(q.tolerance, 1e-9)), q.why["other"])
    raise ExerciseError(f"{key}: {answer:g} is not right.\nHint: {reason}.")


@exercise_check
def check_prediction(prediction, key: str, *, measured: float) -> None:
    """Compare a recorded prediction with what the experiment ``key`` measured.

    Args:
        prediction: the letter of the predicted outcome; ``...`` while not made.
        key: the experiment, e.g. ``"ch02-resolution"`` (:data:`EXPERIMENTS`).
        measured: the number the check cell's run measured (``Experiment.measure``).

    Raises:
        ExerciseError: the prediction differs from the run, with what the run showed and why.
        ValueError: an unknown ``key`` or a measurement that is not a finite number.
    """
    e = _lookup(EXPERIMENTS, key, "experiment")
    if not isinstance(measured, numbers.Real) or not math.isfinite(measured):
        raise ValueError(f"measured: expected a finite number, got {measured!r}")
    if is_unanswered(prediction):
        raise ExerciseNotDone(f"{key}: write your prediction (a letter) before running the experiment")
    letter = _letter(prediction, key=key, options=e.options)
    shown = e.classify(float(measured))
    if letter != shown:
        raise ExerciseError(f"{key}: you predicted ({letter}) {e.options[letter]}; the run shows "
                            f"({shown}) {e.options[shown]} ({e.measure}: {measured:.4g}).\n"
                            f"Why: {e.why[shown]}.")
    print(f"Your prediction ({letter}) matches the run (measured {measured:.4g}): {e.why[shown]}.")
