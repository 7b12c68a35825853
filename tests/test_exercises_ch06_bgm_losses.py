"""Chapter 6's checkers (the losses) accept the library's functions and reject typical wrong answers."""

from __future__ import annotations

import pytest
import torch

from mattinglib.exercises import ExerciseError
from mattinglib.exercises.ch06_bgm_losses import check_normalized_l1, check_replace_opaque_foreground
from mattinglib.losses.bgm import normalized_l1, replace_opaque_foreground
from tests.exercise_helpers import reports_not_done


def test_normalized_l1_checker_accepts_the_library_and_a_loop(capsys):
    check_normalized_l1(normalized_l1)

    def loop(target, pred, mask):
        per = [((t - p).abs() * m).sum() / (m.sum() + 1e-6) for t, p, m in zip(target, pred, mask)]
        return torch.stack(per).mean()

    check_normalized_l1(loop)
    assert capsys.readouterr().out.count("Correct") == 2


@pytest.mark.parametrize("wrong, hint", [
    (lambda t, p, m: ((t - p).abs() * m).sum() / (m.sum() + 1e-6), "whole batch"),
    (lambda t, p, m: (((t - p).abs() * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))).mean(), "eps"),
    (lambda t, p, m: (((t - p).abs() * m).sum(dim=(1, 2, 3))
                      / (m.expand_as(t).sum(dim=(1, 2, 3)) + 1e-6)).mean(), "channels"),
    (lambda t, p, m: ((t - p).abs() * m).mean(), "plain mean"),
    (lambda t, p, m: (((t - p) * m).sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)) + 1e-6)).mean(), None),
])
def test_normalized_l1_checker_rejects_typical_mistakes(wrong, hint):
    with pytest.raises(ExerciseError) as err:
        check_normalized_l1(wrong)
    if hint is not None:
        assert hint in str(err.value)


def test_normalized_l1_checker_reports_a_stub_and_a_non_scalar():
    def stub(t, p, m):
        raise NotImplementedError
    reports_not_done(check_normalized_l1, stub, "not implemented yet")
    with pytest.raises(ExerciseError, match="expected a scalar"):
        check_normalized_l1(lambda t, p, m: ((t - p).abs() * m).sum(dim=(1, 2, 3)))


def test_replace_checker_accepts_the_library_and_a_blend(capsys):
    check_replace_opaque_foreground(replace_opaque_foreground)

    def blend(fg, image, alpha):
        m = (alpha > 0.95).float()
        return image * m + fg * (1 - m)   # the original's formulation

    check_replace_opaque_foreground(blend)
    assert capsys.readouterr().out.count("Correct") == 2


@pytest.mark.parametrize("wrong, hint", [
    (lambda f, i, a: torch.where((a + 1) / 2 > 0.95, i, f), "[0, 1] scale"),
    (lambda f, i, a: torch.where(a > 0.95, f, i), "inverted"),
    (lambda f, i, a: torch.where(a >= 0.95, i, f), "strict"),
    (lambda f, i, a: torch.where(a > 0.95, i, f).detach(), "gradient"),
    (lambda f, i, a: torch.where(a > 0.95, i, f)[:, :1], "shape"),
])
def test_replace_checker_rejects_typical_mistakes(wrong, hint):
    with pytest.raises(ExerciseError, match=None) as err:
        check_replace_opaque_foreground(wrong)
    assert hint in str(err.value)


def test_replace_checker_rejects_an_in_place_edit():
    def in_place(fg, image, alpha):
        fg[(alpha > 0.95).expand_as(fg)] = image[(alpha > 0.95).expand_as(fg)]
        return fg
    with pytest.raises(ExerciseError, match="in place"):
        check_replace_opaque_foreground(in_place)
