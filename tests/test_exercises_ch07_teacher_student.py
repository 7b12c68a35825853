"""Chapter 7's (teacher-student) checkers accept right answers and reject typical wrong ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mattinglib.exercises import ch07_teacher_student
from mattinglib.losses.bgm import lsgan_loss
from mattinglib.train.adversarial import pseudo_weight, teacher_masks
from tests.exercise_helpers import not_implemented, rejects, reports_not_done


# --------------------------------------------------------------------------- LSGAN


def mse(x, label):
    return ((x - label) ** 2).mean()


def lsgan(d, real, fake):
    return mse(d(fake), 1.0), 0.5 * (mse(d(real), 1.0) + mse(d(fake.detach()), 0.0))


class TestLsganLosses:
    def test_accepts_a_right_answer(self, capsys):
        ch07_teacher_student.check_lsgan_losses(lsgan)
        assert "Correct: lsgan_losses" in capsys.readouterr().out

    def test_accepts_the_library_loss(self, capsys):
        def library(d, real, fake):
            return lsgan_loss(d(fake), True), 0.5 * (lsgan_loss(d(real), True)
                                                     + lsgan_loss(d(fake.detach()), False))

        ch07_teacher_student.check_lsgan_losses(library)
        assert "Correct" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch07_teacher_student.check_lsgan_losses, not_implemented, "not implemented yet")

    def test_fake_label_for_the_generator(self):
        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (mse(d(f), 0.0), lsgan(d, r, f)[1]), "FAKE label", "target is 1")

    def test_forgot_detach(self):
        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (lsgan(d, r, f)[0], 0.5 * (mse(d(r), 1.0) + mse(d(f), 0.0))),
                "loss_d sends gradients into the generator", "detach")

    def test_detached_generator_loss(self):
        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (mse(d(f.detach()), 1.0), lsgan(d, r, f)[1]),
                "does not reach the generator")

    def test_bce_instead_of_mse(self):
        def bce(d, r, f):
            s = d(f)
            return F.binary_cross_entropy_with_logits(s, torch.ones_like(s)), lsgan(d, r, f)[1]

        rejects(ch07_teacher_student.check_lsgan_losses, bce, "binary cross-entropy", "mean squared")

    def test_bce_for_the_discriminator(self):
        def bce(x, label):
            return F.binary_cross_entropy_with_logits(x, torch.full_like(x, label))

        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (lsgan(d, r, f)[0],
                                 0.5 * (bce(d(r), 1.0) + bce(d(f.detach()), 0.0))),
                "loss_d", "binary cross-entropy")

    def test_swapped_discriminator_labels(self):
        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (lsgan(d, r, f)[0],
                                 0.5 * (mse(d(r), 0.0) + mse(d(f.detach()), 1.0))),
                "labels are swapped")

    def test_missing_half(self):
        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (lsgan(d, r, f)[0], 2 * lsgan(d, r, f)[1]), "averages them")

    def test_summed_instead_of_mean(self):
        rejects(ch07_teacher_student.check_lsgan_losses,
                lambda d, r, f: (((d(f) - 1) ** 2).sum(), lsgan(d, r, f)[1]), "mean")

    def test_not_a_pair(self):
        rejects(ch07_teacher_student.check_lsgan_losses, lambda d, r, f: lsgan(d, r, f)[0], "pair")


# --------------------------------------------------------------------------- masks


class TestTeacherMasks:
    def test_accepts_the_library(self, capsys):
        ch07_teacher_student.check_teacher_masks(teacher_masks)
        assert "Correct: teacher_masks" in capsys.readouterr().out

    def test_accepts_a_right_answer(self, capsys):
        ch07_teacher_student.check_teacher_masks(lambda a, s: ((a > -0.98).float(), (s > 0.95).float()))
        assert "Correct" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch07_teacher_student.check_teacher_masks, not_implemented, "not implemented yet")

    def test_alpha_threshold_on_the_wrong_scale(self):
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: ((a > 0.01).float(), (s > 0.95).float()), "fg_mask", "[0, 1] scale")

    def test_alpha_converted_but_threshold_kept(self):
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: (((a + 1) / 2 > -0.98).float(), (s > 0.95).float()),
                "every pixel passes")

    def test_seg_converted_to_01(self):
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: ((a > -0.98).float(), ((s + 1) / 2 > 0.95).float()),
                "composition_mask", "no conversion")

    def test_inverted(self):
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: ((a < -0.98).float(), (s > 0.95).float()), "inverted")
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: ((a > -0.98).float(), (s <= 0.95).float()), "composition_mask",
                "inverted")

    def test_not_strict(self):
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: ((a >= -0.98).float(), (s > 0.95).float()), "strict")

    def test_swapped(self):
        rejects(ch07_teacher_student.check_teacher_masks,
                lambda a, s: ((s > 0.95).float(), (a > -0.98).float()), "swapped")

    def test_boolean_masks(self):
        rejects(ch07_teacher_student.check_teacher_masks, lambda a, s: (a > -0.98, s > 0.95), "float")

    def test_in_place(self):
        def clamps(a, s):
            a.clamp_(min=-0.5)
            return (a > -0.98).float(), (s > 0.95).float()

        rejects(ch07_teacher_student.check_teacher_masks, clamps, "in place")


# --------------------------------------------------------------------------- schedule


class TestPseudoWeight:
    def test_accepts_the_library(self, capsys):
        ch07_teacher_student.check_pseudo_weight(pseudo_weight)
        assert "Correct: pseudo_weight" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch07_teacher_student.check_pseudo_weight, not_implemented, "not implemented yet")

    def test_halving_every_epoch(self):
        rejects(ch07_teacher_student.check_pseudo_weight, lambda s, n: 0.5 ** (s // n), "every epoch")

    def test_off_by_one(self):
        # "every 2 epochs" read as epochs 0-1 at 1: the original already halves after epoch 0
        rejects(ch07_teacher_student.check_pseudo_weight, lambda s, n: 0.5 ** ((s // n) // 2),
                "END of epochs 0, 2, 4")
        rejects(ch07_teacher_student.check_pseudo_weight, lambda s, n: 0.5 ** ((s // n + 1) // 2 + 1),
                "starts at 1")
        rejects(ch07_teacher_student.check_pseudo_weight, lambda s, n: 0.5 ** ((s // n + 2) // 2),
                "off by one")

    def test_steps_not_epochs(self):
        rejects(ch07_teacher_student.check_pseudo_weight, lambda s, n: 0.5 ** ((s + 1) // 2),
                "count epochs")

    def test_smooth_decay(self):
        rejects(ch07_teacher_student.check_pseudo_weight, lambda s, n: 0.5 ** ((s / n + 1) / 2),
                "integer division")

    def test_tensor_result_is_accepted(self, capsys):
        ch07_teacher_student.check_pseudo_weight(lambda s, n: torch.tensor(0.5) ** ((s // n + 1) // 2))
        assert "Correct" in capsys.readouterr().out
