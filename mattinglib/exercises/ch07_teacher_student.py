"""Checkers for the exercises of chapter 7, teacher and student (adversarial).

Like :mod:`mattinglib.exercises`, each ``check_*`` runs the student's function
on several cases, compares with the library
(:func:`mattinglib.losses.bgm.lsgan_loss`,
:func:`mattinglib.train.adversarial.teacher_masks`,
:func:`mattinglib.train.adversarial.pseudo_weight`) and either prints a
one-line success message or raises :class:`~mattinglib.exercises.ExerciseError`
with a hint for the mistake it recognises.

>>> from mattinglib.train.adversarial import teacher_masks
>>> check_teacher_masks(teacher_masks)  # doctest: +ELLIPSIS
Correct: teacher_masks matches the library on 4 cases (...).
>>> check_pseudo_weight(lambda step, steps_per_epoch: 0.5 ** (step // steps_per_epoch))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: pseudo_weight, case 'third epoch' ...: got 0.25, expected 0.5 ...
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._harness import ExerciseError, call_student, exercise_check, report_success
from ..losses.bgm import lsgan_loss
from ..models.discriminator import n_layer_discriminator
from ..models.init import init_weights
from ..train.adversarial import SEG_THRESHOLD, TEACHER_FG_THRESHOLD, pseudo_weight, teacher_masks

__all__ = ["check_lsgan_losses", "check_teacher_masks", "check_pseudo_weight"]


def _scalar(value, *, task: str, case: str, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{task}, case {case!r}: {name} must be a torch tensor (so that "
                            f".backward() works), got {type(value).__name__}")
    if value.numel() != 1:
        raise ExerciseError(f"{task}, case {case!r}: {name} must be a scalar (the mean over "
                            f"every score of the map), got shape {tuple(value.shape)}")
    return value.reshape(())


def _near(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = float(a.detach()), float(b)
    return math.isfinite(a) and abs(a - b) <= 1e-5 * max(1.0, abs(b))


# --------------------------------------------------------------------------- LSGAN losses


def _gan_case(seed: int, batch: int, h: int, w: int):
    """A tiny seeded PatchGAN, a 'real' batch, and a 'fake' batch that hangs on a leaf ``z``."""
    discriminator = init_weights(n_layer_discriminator(3, ndf=4, n_layers=2), seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    real = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    z = (torch.randn(batch, 3, h, w, generator=g) * 0.8).requires_grad_(True)
    fake = torch.tanh(z)  # stands for the generator's output: gradients to z reach "the student"
    return discriminator, real, z, fake


@exercise_check
def check_lsgan_losses(fn: Callable) -> None:
    """Check ``fn(discriminator, real, fake) -> (loss_g, loss_d)``, the LSGAN losses.

    ``discriminator(x)`` returns a score map ``(B, 1, h, w)`` (no sigmoid);
    ``real`` and ``fake`` are ``(B, 3, H, W)`` in ``[-1, 1]``, ``fake`` still
    attached to the generator's graph. Expected::

        loss_g = MSE(D(fake), 1)                                   gradients reach the generator
        loss_d = 0.5 * (MSE(D(real), 1) + MSE(D(fake.detach()), 0))  gradients stop at the fake

    Checked on three cases (batch of 2 and of 1, a non-square image): the
    values against :func:`mattinglib.losses.bgm.lsgan_loss`, that ``loss_g``
    reaches the generator, and that ``loss_d`` does not.
    """
    task = "lsgan_losses"
    names = []
    for case, seed, batch, h, w in (("batch of 2", 0, 2, 32, 32), ("batch of 1", 1, 1, 32, 32),
                                    ("non-square", 2, 2, 24, 40)):
        discriminator, real, z, fake = _gan_case(seed, batch, h, w)
        out = call_student(fn, (discriminator, real, fake), task=task, case=case)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseError(f"{task}, case {case!r}: return the pair (loss_g, loss_d), "
                                f"got {type(out).__name__}")
        loss_g = _scalar(out[0], task=task, case=case, name="loss_g")
        loss_d = _scalar(out[1], task=task, case=case, name="loss_d")
        with torch.no_grad():
            s_fake, s_real = discriminator(fake), discriminator(real)
            ones, zeros = torch.ones_like(s_fake), torch.zeros_like(s_fake)
            want_g = lsgan_loss(s_fake, True)
            want_d = 0.5 * (lsgan_loss(s_real, True) + lsgan_loss(s_fake, False))
            bce_g = F.binary_cross_entropy_with_logits(s_fake, ones)
            bce_d = 0.5 * (F.binary_cross_entropy_with_logits(s_real, torch.ones_like(s_real))
                           + F.binary_cross_entropy_with_logits(s_fake, zeros))
            bce_prob_g = F.binary_cross_entropy(torch.sigmoid(s_fake), ones)

        # The generator's loss.
        if not _near(loss_g, want_g):
            if _near(loss_g, lsgan_loss(s_fake, False)):
                hint = ("you pushed the generator's scores to 0, the FAKE label: the generator "
                        "wants D to call its composites real, so its target is 1")
            elif _near(loss_g, bce_g) or _near(loss_g, bce_prob_g):
                hint = ("this is the binary cross-entropy (log loss) of the original GAN; LSGAN "
                        "uses the mean squared error to the label: ((D(fake) - 1) ** 2).mean()")
            elif _near(loss_g, ((s_fake - 1) ** 2).sum()):
                hint = "average the squared errors over the score map (mean), do not sum them"
            elif _near(loss_g, (s_fake - 1).abs().mean()):
                hint = "square the differences (least squares), not their absolute value"
            else:
                hint = "loss_g = mean over the score map of (D(fake) - 1) ** 2"
            raise ExerciseError(f"{task}, case {case!r}: loss_g = {float(loss_g.detach()):.6g}, expected "
                                f"{float(want_g):.6g}.\nHint: {hint}.")
        if not loss_g.requires_grad or torch.autograd.grad(loss_g, z, retain_graph=True,
                                                           allow_unused=True)[0] is None:
            raise ExerciseError(f"{task}, case {case!r}: loss_g does not reach the generator.\n"
                                "Hint: do not detach the fake (nor use no_grad) in the generator's "
                                "loss: its gradient is what trains the student.")

        # The discriminator's loss.
        if not _near(loss_d, want_d):
            swapped = 0.5 * (lsgan_loss(s_real, False) + lsgan_loss(s_fake, True))
            if _near(loss_d, swapped):
                hint = "the labels are swapped: D must score the real frame 1 and the fake 0"
            elif _near(loss_d, 2 * want_d):
                hint = ("the two halves are summed; the recipe averages them: "
                        "0.5 * (real term + fake term)")
            elif _near(loss_d, bce_d):
                hint = ("this is the binary cross-entropy (log loss); LSGAN uses the mean squared "
                        "error: D(real) towards 1, D(fake) towards 0")
            elif _near(loss_d, 0.5 * lsgan_loss(s_real, True)) or _near(
                    loss_d, 0.5 * lsgan_loss(s_fake, False)):
                hint = "loss_d has two terms: the real frame scored 1 AND the fake scored 0"
            else:
                hint = "loss_d = 0.5 * (mean((D(real) - 1) ** 2) + mean(D(fake) ** 2))"
            raise ExerciseError(f"{task}, case {case!r}: loss_d = {float(loss_d.detach()):.6g}, expected "
                                f"{float(want_d):.6g}.\nHint: {hint}.")
        if loss_d.requires_grad and torch.autograd.grad(loss_d, z, retain_graph=True,
                                                        allow_unused=True)[0] is not None:
            raise ExerciseError(f"{task}, case {case!r}: loss_d sends gradients into the generator.\n"
                                "Hint: call D on fake.detach() in the discriminator's loss; "
                                "otherwise D's update also pushes the student to look MORE fake "
                                "(and, in the trainer, back-propagates through the student twice).")
        params = list(discriminator.parameters())
        if not loss_d.requires_grad or all(
                g is None for g in torch.autograd.grad(loss_d, params, allow_unused=True)):
            raise ExerciseError(f"{task}, case {case!r}: loss_d does not reach D's weights.\n"
                                "Hint: compute it from the discriminator's scores, without no_grad.")
        names.append(case)
    report_success(task, names)


# --------------------------------------------------------------------------- masks


def _mask_cases():
    g = torch.Generator().manual_seed(7)
    random_alpha = torch.rand(2, 1, 6, 10, generator=g) * 2 - 1
    random_seg = torch.rand(2, 1, 6, 10, generator=g) * 2 - 1
    # Values either side of each threshold, and on it, in both ranges' vocabularies.
    probe = torch.tensor([-1.0, -0.99, -0.98, -0.97, -0.5, 0.0, 0.005, 0.02,
                          0.5, 0.89, 0.9, 0.91, 0.95, 0.96, 0.99, 1.0])
    row = probe.reshape(1, 1, 2, 8)
    return [
        ("random maps", random_alpha, random_seg),
        ("values around the thresholds", row.clone(), row.clone()),
        ("all background", -torch.ones(1, 1, 4, 4), -torch.ones(1, 1, 4, 4)),
        ("all foreground", torch.ones(1, 1, 3, 5), torch.ones(1, 1, 3, 5)),
    ]


@exercise_check
def check_teacher_masks(fn: Callable) -> None:
    """Check ``fn(alpha_teacher, seg_gt) -> (fg_mask, composition_mask)``.

    Both inputs are ``(B, 1, H, W)`` in ``[-1, 1]`` (the generator's range);
    both outputs float tensors of 0 and 1 of the same shape:
    ``alpha_teacher > -0.98`` and ``seg_gt > 0.95``, as
    :func:`mattinglib.train.adversarial.teacher_masks`.
    """
    task = "teacher_masks"
    names = []
    for case, alpha_t, seg in _mask_cases():
        copies = (alpha_t.clone(), seg.clone())
        out = call_student(fn, copies, task=task, case=case)
        if not (torch.equal(copies[0], alpha_t) and torch.equal(copies[1], seg)):
            raise ExerciseError(f"{task}, case {case!r}: your function changed an input in place; "
                                "build new tensors instead")
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ExerciseError(f"{task}, case {case!r}: return the pair (fg_mask, "
                                f"composition_mask), got {type(out).__name__}")
        want = teacher_masks(alpha_t, seg)
        for name, got, expected, x, threshold, other in (
                ("fg_mask", out[0], want[0], alpha_t, TEACHER_FG_THRESHOLD, want[1]),
                ("composition_mask", out[1], want[1], seg, SEG_THRESHOLD, want[0])):
            where = f"{task}, case {case!r}, {name}"
            if not isinstance(got, torch.Tensor):
                raise ExerciseError(f"{where}: expected a torch tensor, got {type(got).__name__}")
            if tuple(got.shape) != tuple(expected.shape):
                raise ExerciseError(f"{where}: expected shape {tuple(expected.shape)}, "
                                    f"got {tuple(got.shape)}")
            if not got.is_floating_point():
                raise ExerciseError(f"{where}: return a float tensor of 0 and 1 (the mask "
                                    f"multiplies a loss), got dtype {got.dtype}; use .float()")
            if torch.equal(got, expected):
                continue
            got_b = got > 0.5
            source = "alpha_teacher" if name == "fg_mask" else "seg_gt"
            if torch.equal(got_b, ~(expected > 0.5)):
                hint = (f"the mask is inverted: keep the pixels where {source} is ABOVE "
                        f"{threshold}")
            elif torch.equal(got_b, x >= threshold):
                hint = f"use a strict comparison, {source} > {threshold}"
            elif torch.equal(got_b, other > 0.5) and not torch.equal(other, expected):
                hint = "the two masks are swapped: fg_mask comes from the teacher's alpha, " \
                       "composition_mask from the segmentation seg_gt"
            elif name == "fg_mask" and (torch.equal(got_b, x > 0.01) or torch.equal(got_b, x > 0.02)
                                        or torch.equal(got_b, x > 0)):
                hint = ("the threshold is on the [0, 1] scale, but the teacher's alpha is in "
                        "[-1, 1]: 'more than about 1 %' is alpha_teacher > -0.98")
            elif name == "fg_mask" and torch.equal(got_b, (x + 1) / 2 > threshold):
                hint = ("you converted alpha to [0, 1] but kept the [-1, 1] threshold -0.98, so "
                        "every pixel passes; compare the raw alpha_teacher with -0.98")
            elif name == "composition_mask" and (torch.equal(got_b, (x + 1) / 2 > threshold)
                                                 or torch.equal(got_b, x > 0.9)):
                hint = ("the recipe's 0.95 applies to seg_gt as the generator's inputs are "
                        "scaled, in [-1, 1]: seg_gt > 0.95, no conversion")
            else:
                hint = f"{name} = ({source} > {threshold}).float()"
            raise ExerciseError(f"{where}: {int((got_b != (expected > 0.5)).sum())} of "
                                f"{expected.numel()} pixels differ from the library.\n"
                                f"Hint: {hint}.")
        names.append(case)
    report_success(task, names)


# --------------------------------------------------------------------------- weight schedule


_SCHEDULE_CASES = [  # (case, step, steps_per_epoch)
    ("first step", 0, 10),
    ("end of the first epoch", 9, 10),
    ("second epoch", 10, 10),
    ("end of the second epoch", 19, 10),
    ("third epoch", 20, 10),
    ("fifth epoch", 45, 10),
    ("one step per epoch", 7, 1),
    ("odd epoch length", 2 * 37 + 5, 37),
    ("long run", 1000, 25),
]


@exercise_check
def check_pseudo_weight(fn: Callable) -> None:
    """Check ``fn(step, steps_per_epoch) -> wt``: 1, halved after epochs 0, 2, 4, ...

    ``step`` counts from 0; epoch ``e = step // steps_per_epoch`` (from 0);
    ``wt = 0.5 ** ((e + 1) // 2)``, as :func:`mattinglib.train.adversarial.pseudo_weight`
    (the original halves at the end of every even-numbered epoch).
    The answer is compared on all cases at once, so that a wrong schedule is
    recognised by its whole shape (halving every epoch and an off-by-one agree
    in the second epoch, but not later).
    """
    task = "pseudo_weight"
    got = {}
    for case, step, per_epoch in _SCHEDULE_CASES:
        value = call_student(fn, (step, per_epoch), task=task, case=case)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExerciseError(f"{task}, case {case!r}: expected a number, got "
                                f"{type(value).__name__}")
        got[case] = float(value)

    def matches(rule: Callable[[int, int], float]) -> bool:
        return all(math.isclose(got[c], rule(s, n), rel_tol=1e-9) for c, s, n in _SCHEDULE_CASES)

    wrong = [c for c, s, n in _SCHEDULE_CASES
             if not math.isclose(got[c], pseudo_weight(s, n), rel_tol=1e-9)]
    if not wrong:
        report_success(task, [c for c, _, _ in _SCHEDULE_CASES])
        return
    known = [
        (lambda s, n: 0.5 ** (s // n),
         "you halve every epoch; the recipe halves every 2 epochs (after epochs 0, 2, 4, ...)"),
        (lambda s, n: 0.5 ** ((s // n) // 2),
         "off by one: the original halves wt at the END of epochs 0, 2, 4, ... (its check "
         "'epoch % 2 == 0' runs after each epoch), so only epoch 0 has wt = 1 and epochs 1 and 2 "
         "already have 0.5: 0.5 ** ((epoch + 1) // 2)"),
        (lambda s, n: 0.5 ** ((s // n + 1) // 2 + 1),
         "off by one: the weight starts at 1 in epoch 0, not 0.5"),
        (lambda s, n: 0.5 ** ((s // n) // 2 + 1),
         "off by one: the weight starts at 1 in epoch 0, not 0.5"),
        (lambda s, n: 0.5 ** ((s // n + 2) // 2),
         "off by one: epochs count from 0 (epoch = step // steps_per_epoch), and epoch 0 has "
         "wt = 1"),
        (lambda s, n: 0.5 ** ((s + 1) // 2),
         "count epochs, not steps: epoch = step // steps_per_epoch"),
        (lambda s, n: 0.5 ** ((s / n + 1) / 2),
         "the weight falls in steps, not smoothly: use integer division (//) for the epoch and "
         "for the halvings"),
        (lambda s, n: 0.5 ** ((s // n + 1) / 2),
         "the weight falls in steps, not smoothly: use integer division (//) for the halvings"),
        (lambda s, n: 2.0 ** ((s // n + 1) // 2),
         "the weight must shrink: 0.5 ** (...), not 2 ** (...)"),
    ]
    hint = next((h for rule, h in known if matches(rule)),
                "wt = 0.5 ** ((step // steps_per_epoch + 1) // 2)")
    case = wrong[0]
    _, step, per_epoch = next(c for c in _SCHEDULE_CASES if c[0] == case)
    raise ExerciseError(f"{task}, case {case!r} (step {step}, {per_epoch} steps per epoch, "
                        f"epoch {step // per_epoch}): got {got[case]!r}, expected "
                        f"{pseudo_weight(step, per_epoch)!r} ({len(wrong)} of "
                        f"{len(_SCHEDULE_CASES)} cases wrong).\nHint: {hint}.")
