"""Chapter 1's checkers (compose, premultiply, two backgrounds) accept the library's answer and
reject typical wrong ones with the right hint."""

from __future__ import annotations

import numpy as np

from mattinglib.classical import triangulation_matting
from mattinglib.compositing import compose, premultiply
from mattinglib.exercises import ch01_compositing
from tests.exercise_helpers import not_implemented, rejects, reports_not_done, returns_ellipsis


class TestCompose:
    def test_accepts_library_and_a_handwritten_answer(self, capsys):
        ch01_compositing.check_compose(compose)
        ch01_compositing.check_compose(lambda f, b, a: a[..., None] * f + (1 - a[..., None]) * b)
        assert capsys.readouterr().out.count("Correct: compose") == 2

    def test_stub(self):
        reports_not_done(ch01_compositing.check_compose, not_implemented, "not implemented yet")

    def test_swapped(self):
        rejects(ch01_compositing.check_compose, lambda f, b, a: a[..., None] * b + (1 - a[..., None]) * f,
                "swapped F and B")

    def test_background_not_weighted(self):
        rejects(ch01_compositing.check_compose, lambda f, b, a: a[..., None] * f + b, "(1 - alpha)")

    def test_missing_channel_axis(self):
        rejects(ch01_compositing.check_compose, lambda f, b, a: a * f + (1 - a) * b, "alpha[..., None]")

    def test_in_place(self):
        def inplace(f, b, a):
            f *= a[..., None]
            return f + (1 - a[..., None]) * b

        rejects(ch01_compositing.check_compose, inplace, "in place")

    def test_forgot_return_counts_as_not_done_and_says_why(self):
        reports_not_done(ch01_compositing.check_compose, lambda f, b, a: None, "forget `return`")

    def test_ellipsis_placeholder_counts_as_not_done(self):
        reports_not_done(ch01_compositing.check_compose, returns_ellipsis, "Ellipsis")


class TestPremultiply:
    def test_accepts_library(self, capsys):
        ch01_compositing.check_premultiply(premultiply)
        assert "Correct: premultiply" in capsys.readouterr().out

    def test_unchanged(self):
        rejects(ch01_compositing.check_premultiply, lambda f, a: f.copy(), "unchanged", "black")

    def test_rgba(self):
        rejects(ch01_compositing.check_premultiply,
                lambda f, a: np.concatenate([f * a[..., None], a[..., None]], axis=2), "4 channels")

    def test_divides(self):
        def divides(f, a):
            with np.errstate(divide="ignore", invalid="ignore"):
                return f / a[..., None]

        rejects(ch01_compositing.check_premultiply, divides)

    def test_one_minus_alpha(self):
        rejects(ch01_compositing.check_premultiply, lambda f, a: f * (1 - a[..., None]), "not by (1 - alpha)")


def _triangulate(i1, i2, b1, b2, *, sign=1.0, per_channel=False, one_minus=False):
    with np.errstate(divide="ignore", invalid="ignore"):
        if per_channel:
            ratio = ((i1 - i2) / (b1 - b2)).mean(axis=2)
        else:
            ratio = ((i1 - i2) * (b1 - b2)).sum(axis=2) / ((b1 - b2) ** 2).sum(axis=2)
    alpha = 1 - sign * ratio
    return 1 - alpha if one_minus else alpha


def _one_channel(c):
    def answer(i1, i2, b1, b2):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1 - (i1 - i2)[..., c] / (b1 - b2)[..., c]
    return answer


def _mean_of_ratios(i1, i2, b1, b2):
    # The per-channel ratio, averaged over the channels where the backgrounds differ
    # (so no NaN): exact on noise-free composites, not least squares.
    db = b1 - b2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.abs(db) > 0, (i1 - i2) / db, np.nan)
    return 1 - np.nanmean(ratios, axis=2)


class TestTwoBackgrounds:
    def test_accepts_library_and_least_squares(self, capsys):
        ch01_compositing.check_alpha_from_two_backgrounds(lambda *x: triangulation_matting(*x)[0])
        ch01_compositing.check_alpha_from_two_backgrounds(_triangulate)
        assert capsys.readouterr().out.count("Correct") == 2

    def test_accepts_float32_least_squares(self, capsys):
        ch01_compositing.check_alpha_from_two_backgrounds(
            lambda *x: _triangulate(*(np.float32(a) for a in x)).astype(np.float32))
        assert "Correct" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch01_compositing.check_alpha_from_two_backgrounds, not_implemented, "not implemented yet")

    def test_blue_channel_only(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds, _one_channel(2), "blue channel only")

    def test_any_single_channel(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds, _one_channel(0), "red channel only")

    def test_mean_of_per_channel_ratios(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds, _mean_of_ratios,
                "mean of per-channel ratios", "(B1-B2)^2")

    def test_plain_per_channel_mean_is_caught_on_the_noisy_photos(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds,
                lambda *x: _triangulate(*x, per_channel=True), "noisy photos", "mean of per-channel ratios")

    def test_per_channel_ratio_gives_nan(self):
        def ratio_where_backgrounds_agree(i1, i2, b1, b2):
            # least squares while every channel differs, a per-channel ratio once one agrees
            if np.all(b1 != b2):
                return _triangulate(i1, i2, b1, b2)
            return _triangulate(i1, i2, b1, b2, per_channel=True)

        rejects(ch01_compositing.check_alpha_from_two_backgrounds, ratio_where_backgrounds_agree,
                "NaN", "blue only", "sums over the three")

    def test_one_minus_alpha(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds,
                lambda *x: _triangulate(*x, one_minus=True), "1 - alpha")

    def test_sign(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds,
                lambda *x: _triangulate(*x, sign=-1.0), "sign")

    def test_per_channel_output(self):
        rejects(ch01_compositing.check_alpha_from_two_backgrounds,
                lambda i1, i2, b1, b2: np.repeat(_triangulate(i1, i2, b1, b2)[..., None], 3, axis=2),
                "one value per channel")
