"""The exercise checkers accept the library's answer and reject typical wrong ones with the right hint."""

from __future__ import annotations

import cv2
import numpy as np

from mattinglib import exercises
from mattinglib.classical import triangulation_matting
from mattinglib.compositing import compose, premultiply
from mattinglib.exercises import ExerciseError
from mattinglib.metrics import sad
from mattinglib.trimap import trimap_from_alpha, trimap_to_onehot
from tests.exercise_helpers import not_implemented, rejects, reports_not_done, returns_ellipsis


def test_exercise_error_is_an_assertion_error():
    # nbval and plain `assert`-style cells treat it as a failed check.
    assert issubclass(ExerciseError, AssertionError)


class TestCompose:
    def test_accepts_library_and_a_handwritten_answer(self, capsys):
        exercises.check_compose(compose)
        exercises.check_compose(lambda f, b, a: a[..., None] * f + (1 - a[..., None]) * b)
        assert capsys.readouterr().out.count("Correct: compose") == 2

    def test_stub(self):
        reports_not_done(exercises.check_compose, not_implemented, "not implemented yet")

    def test_swapped(self):
        rejects(exercises.check_compose, lambda f, b, a: a[..., None] * b + (1 - a[..., None]) * f,
                "swapped F and B")

    def test_background_not_weighted(self):
        rejects(exercises.check_compose, lambda f, b, a: a[..., None] * f + b, "(1 - alpha)")

    def test_missing_channel_axis(self):
        rejects(exercises.check_compose, lambda f, b, a: a * f + (1 - a) * b, "alpha[..., None]")

    def test_in_place(self):
        def inplace(f, b, a):
            f *= a[..., None]
            return f + (1 - a[..., None]) * b

        rejects(exercises.check_compose, inplace, "in place")

    def test_forgot_return_counts_as_not_done_and_says_why(self):
        reports_not_done(exercises.check_compose, lambda f, b, a: None, "forget `return`")

    def test_ellipsis_placeholder_counts_as_not_done(self):
        reports_not_done(exercises.check_compose, returns_ellipsis, "Ellipsis")


class TestNotDoneMechanism:
    def test_every_public_checker_tolerates_a_stub(self):
        # "Run All" must pass every check cell of an unfinished chapter.
        import importlib

        for module in ("exercises", "exercises_data", "exercises_bgm", "exercises_losses",
                       "exercises_gan", "exercises_shm", "exercises_questions"):
            mod = importlib.import_module(f"mattinglib.{module}")
            checkers = [n for n in mod.__all__ if n.startswith("check_")]
            assert checkers, module
            for name in checkers:
                assert getattr(getattr(mod, name), "__wrapped__", None) is not None, \
                    f"{module}.{name} is not wrapped by exercise_check"

    def test_a_wrong_answer_still_raises(self):
        rejects(exercises.check_compose, lambda f, b, a: b, "case 'random'")

    def test_other_errors_of_the_checker_propagate(self):
        @exercises.exercise_check
        def broken(fn):
            raise ValueError("a bug in the checker itself")

        import pytest

        with pytest.raises(ValueError, match="a bug"):
            broken(lambda: 1)


class TestPremultiply:
    def test_accepts_library(self, capsys):
        exercises.check_premultiply(premultiply)
        assert "Correct: premultiply" in capsys.readouterr().out

    def test_unchanged(self):
        rejects(exercises.check_premultiply, lambda f, a: f.copy(), "unchanged", "black")

    def test_rgba(self):
        rejects(exercises.check_premultiply,
                lambda f, a: np.concatenate([f * a[..., None], a[..., None]], axis=2), "4 channels")

    def test_divides(self):
        def divides(f, a):
            with np.errstate(divide="ignore", invalid="ignore"):
                return f / a[..., None]

        rejects(exercises.check_premultiply, divides)

    def test_one_minus_alpha(self):
        rejects(exercises.check_premultiply, lambda f, a: f * (1 - a[..., None]), "not by (1 - alpha)")


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
        exercises.check_alpha_from_two_backgrounds(lambda *x: triangulation_matting(*x)[0])
        exercises.check_alpha_from_two_backgrounds(_triangulate)
        assert capsys.readouterr().out.count("Correct") == 2

    def test_accepts_float32_least_squares(self, capsys):
        exercises.check_alpha_from_two_backgrounds(
            lambda *x: _triangulate(*(np.float32(a) for a in x)).astype(np.float32))
        assert "Correct" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(exercises.check_alpha_from_two_backgrounds, not_implemented, "not implemented yet")

    def test_blue_channel_only(self):
        rejects(exercises.check_alpha_from_two_backgrounds, _one_channel(2), "blue channel only")

    def test_any_single_channel(self):
        rejects(exercises.check_alpha_from_two_backgrounds, _one_channel(0), "red channel only")

    def test_mean_of_per_channel_ratios(self):
        rejects(exercises.check_alpha_from_two_backgrounds, _mean_of_ratios,
                "mean of per-channel ratios", "(B1-B2)^2")

    def test_plain_per_channel_mean_is_caught_on_the_noisy_photos(self):
        rejects(exercises.check_alpha_from_two_backgrounds,
                lambda *x: _triangulate(*x, per_channel=True), "noisy photos", "mean of per-channel ratios")

    def test_per_channel_ratio_gives_nan(self):
        def ratio_where_backgrounds_agree(i1, i2, b1, b2):
            # least squares while every channel differs, a per-channel ratio once one agrees
            if np.all(b1 != b2):
                return _triangulate(i1, i2, b1, b2)
            return _triangulate(i1, i2, b1, b2, per_channel=True)

        rejects(exercises.check_alpha_from_two_backgrounds, ratio_where_backgrounds_agree,
                "NaN", "blue only", "sums over the three")

    def test_one_minus_alpha(self):
        rejects(exercises.check_alpha_from_two_backgrounds,
                lambda *x: _triangulate(*x, one_minus=True), "1 - alpha")

    def test_sign(self):
        rejects(exercises.check_alpha_from_two_backgrounds,
                lambda *x: _triangulate(*x, sign=-1.0), "sign")

    def test_per_channel_output(self):
        rejects(exercises.check_alpha_from_two_backgrounds,
                lambda i1, i2, b1, b2: np.repeat(_triangulate(i1, i2, b1, b2)[..., None], 3, axis=2),
                "one value per channel")


def _trimap(alpha, k, it, *, positional=False, shape=cv2.MORPH_ELLIPSE, values=(0, 128, 255),
            threshold=None):
    a = alpha.astype(np.float64) / (255.0 if alpha.dtype == np.uint8 else 1.0)
    kernel = cv2.getStructuringElement(shape, (k, k))
    fg_src = (a == 1) if threshold is None else (a > threshold)
    bg_src = (a > 0) if threshold is None else (a > threshold)
    if positional:
        grown = cv2.dilate(bg_src.astype(np.uint8), kernel, it)
        core = cv2.erode(fg_src.astype(np.uint8), kernel, it)
    else:
        grown = cv2.dilate(bg_src.astype(np.uint8), kernel, iterations=it)
        core = cv2.erode(fg_src.astype(np.uint8), kernel, iterations=it)
    out = np.full(a.shape, values[0], np.uint8)
    out[grown > 0] = values[1]
    out[core > 0] = values[2]
    return out


class TestTrimapFromAlpha:
    def test_accepts_library_and_opencv_answer(self, capsys):
        exercises.check_trimap_from_alpha(lambda a, k, it: trimap_from_alpha(a, kernel_size=k, iterations=it))
        exercises.check_trimap_from_alpha(_trimap)
        assert capsys.readouterr().out.count("Correct") == 2

    def test_positional_iterations_bug(self):
        message = rejects(exercises.check_trimap_from_alpha,
                          lambda a, k, it: _trimap(a, k, it, positional=True),
                          "your band is 2 px wide", "expected 10", "by keyword")
        assert "iterations=n" in message

    def test_rectangular_kernel(self):
        rejects(exercises.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, shape=cv2.MORPH_RECT), "MORPH_ELLIPSE")

    def test_wrong_values(self):
        rejects(exercises.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, values=(0, 127, 255)), "127 is not")
        rejects(exercises.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, values=(0, 1, 2)), "class indices")

    def test_threshold_at_half(self):
        rejects(exercises.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, threshold=0.5), "straddles the alpha = 0.5")

    def test_fractional_pixels_left_out(self):
        # Only the opaque core eroded, the fractional edge forgotten.
        def core_only(alpha, k, it):
            out = _trimap(alpha, k, it)
            a = alpha / (255.0 if alpha.dtype == np.uint8 else 1.0)
            out[(a > 0) & (a < 0.5)] = 0
            return out

        rejects(exercises.check_trimap_from_alpha, core_only, "0 < alpha < 1 are not marked unknown")

    def test_swapped_classes(self):
        rejects(exercises.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, values=(255, 128, 0)), "swapped")

    def test_uint8_alpha_not_converted(self):
        def no_convert(alpha, k, it):
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            out = np.zeros(alpha.shape, np.uint8)
            out[cv2.dilate((alpha > 0).astype(np.uint8), kernel, iterations=it) > 0] = 128
            out[cv2.erode((alpha == 1).astype(np.uint8), kernel, iterations=it) > 0] = 255
            return out

        rejects(exercises.check_trimap_from_alpha, no_convert, "uint8", "alpha / 255")

    def test_float_dtype(self):
        rejects(exercises.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it).astype(np.float32), "uint8")


class TestOnehot:
    def test_accepts_library(self, capsys):
        exercises.check_onehot(trimap_to_onehot)
        exercises.check_onehot(lambda t: np.stack([t == 0, t == 128, t == 255]).astype(np.float32))
        assert capsys.readouterr().out.count("Correct") == 2

    def test_swapped_order(self):
        rejects(exercises.check_onehot,
                lambda t: np.stack([t == 255, t == 128, t == 0]).astype(np.float32),
                "('foreground', 'unknown', 'background')", "CLASS_ORDER")

    def test_swapped_unknown_and_foreground(self):
        rejects(exercises.check_onehot,
                lambda t: np.stack([t == 0, t == 255, t == 128]).astype(np.float32),
                "('background', 'foreground', 'unknown')")

    def test_channels_last(self):
        rejects(exercises.check_onehot,
                lambda t: np.stack([t == 0, t == 128, t == 255], axis=-1).astype(np.float32),
                "channels first")

    def test_bool_dtype(self):
        rejects(exercises.check_onehot, lambda t: np.stack([t == 0, t == 128, t == 255]), "float32")

    def test_not_one_hot(self):
        rejects(exercises.check_onehot,
                lambda t: np.stack([t == 0, t >= 128, t == 255]).astype(np.float32), "exactly one channel")


class TestSad:
    def test_accepts_library(self, capsys):
        exercises.check_sad(sad)
        exercises.check_sad(lambda p, g, t: np.abs(p - g)[t == 128].sum() / 1000)
        assert capsys.readouterr().out.count("Correct") == 2

    def test_forgot_thousand(self):
        rejects(exercises.check_sad, lambda p, g, t: np.abs(p - g)[t == 128].sum(), "divide by 1000")

    def test_whole_image(self):
        rejects(exercises.check_sad, lambda p, g, t: np.abs(p - g).sum() / 1000, "whole image",
                "trimap == 128")

    def test_mean(self):
        rejects(exercises.check_sad, lambda p, g, t: np.abs(p - g)[t == 128].mean(), "mean")

    def test_no_abs(self):
        rejects(exercises.check_sad, lambda p, g, t: (p - g)[t == 128].sum() / 1000, "absolute value")

    def test_array_instead_of_number(self):
        rejects(exercises.check_sad, lambda p, g, t: np.abs(p - g) * (t == 128) / 1000, "one number")


# --------------------------------------------------------------------------- MSE and Grad


def _mse(p, g, t):
    u = t == 128
    return float(((p - g) ** 2)[u].sum() / u.sum())


def _grad(p, g, t, *, normalise=True, border="nearest", correlate=False):
    from scipy import ndimage

    from mattinglib.metrics import gaussian_gradient_kernel

    k = gaussian_gradient_kernel(1.4)
    filt = ndimage.correlate if correlate else ndimage.convolve

    def mag(x):
        if normalise:
            x = (x - x.min()) / (x.max() - x.min()) if x.max() > x.min() else x
        return np.hypot(filt(x, k, mode=border), filt(x, k.T, mode=border))

    u = t == 128
    return float(((mag(p) - mag(g)) ** 2)[u].sum() / 1000)


class TestMSE:
    def test_accepts_library_and_by_hand(self, capsys):
        from mattinglib.metrics import mse

        exercises.check_mse(mse)
        exercises.check_mse(_mse)
        assert capsys.readouterr().out.count("Correct: mse") == 2

    def test_stub(self):
        reports_not_done(exercises.check_mse, not_implemented, "not implemented yet")

    def test_scaled_by_1000(self):
        rejects(exercises.check_mse, lambda p, g, t: 1000 * _mse(p, g, t), "x 1000")

    def test_whole_image(self):
        rejects(exercises.check_mse, lambda p, g, t: float(((p - g) ** 2).mean()), "whole image")

    def test_wrong_denominator(self):
        rejects(exercises.check_mse, lambda p, g, t: float(((p - g) ** 2)[t == 128].sum() / p.size),
                "divide by |U|")

    def test_absolute_error(self):
        rejects(exercises.check_mse, lambda p, g, t: float(np.abs(p - g)[t == 128].mean()), "square")


class TestGrad:
    def test_accepts_library_and_by_hand_in_any_border_mode_or_orientation(self, capsys):
        from mattinglib.metrics import gradient_error

        exercises.check_grad(gradient_error)
        exercises.check_grad(_grad)
        exercises.check_grad(lambda p, g, t: _grad(p, g, t, border="reflect", correlate=True))
        assert capsys.readouterr().out.count("Correct: grad") == 3

    def test_stub(self):
        reports_not_done(exercises.check_grad, not_implemented, "not implemented yet")

    def test_without_min_max_normalisation(self):
        rejects(exercises.check_grad, lambda p, g, t: _grad(p, g, t, normalise=False), "mat2gray")

    def test_not_divided(self):
        rejects(exercises.check_grad, lambda p, g, t: 1000 * _grad(p, g, t), "divide by 1000")

    def test_whole_image(self):
        rejects(exercises.check_grad,
                lambda p, g, t: _grad(p, g, np.full_like(t, 128)), "whole image")


def test_grad_hint_for_a_constant_matte():
    def no_guard(p, g, t):
        from scipy import ndimage

        from mattinglib.metrics import gaussian_gradient_kernel

        k = gaussian_gradient_kernel(1.4)

        def mag(x):
            with np.errstate(invalid="ignore", divide="ignore"):
                x = (x - x.min()) / (x.max() - x.min())
            return np.hypot(ndimage.convolve(x, k, mode="nearest"), ndimage.convolve(x, k.T, mode="nearest"))

        return float(((mag(p) - mag(g)) ** 2)[t == 128].sum() / 1000)

    rejects(exercises.check_grad, no_guard, "constant matte")
