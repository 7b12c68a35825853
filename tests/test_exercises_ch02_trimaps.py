"""Chapter 2's checkers (trimap, one-hot, SAD, MSE, Grad) accept the library's answer and reject
typical wrong ones with the right hint."""

from __future__ import annotations

import cv2
import numpy as np

from mattinglib.exercises import ch02_trimaps
from mattinglib.metrics import sad
from mattinglib.trimap import trimap_from_alpha, trimap_to_onehot
from tests.exercise_helpers import not_implemented, rejects, reports_not_done


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
        ch02_trimaps.check_trimap_from_alpha(lambda a, k, it: trimap_from_alpha(a, kernel_size=k, iterations=it))
        ch02_trimaps.check_trimap_from_alpha(_trimap)
        assert capsys.readouterr().out.count("Correct") == 2

    def test_positional_iterations_bug(self):
        message = rejects(ch02_trimaps.check_trimap_from_alpha,
                          lambda a, k, it: _trimap(a, k, it, positional=True),
                          "your band is 2 px wide", "expected 10", "by keyword")
        assert "iterations=n" in message

    def test_rectangular_kernel(self):
        rejects(ch02_trimaps.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, shape=cv2.MORPH_RECT), "MORPH_ELLIPSE")

    def test_wrong_values(self):
        rejects(ch02_trimaps.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, values=(0, 127, 255)), "127 is not")
        rejects(ch02_trimaps.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, values=(0, 1, 2)), "class indices")

    def test_threshold_at_half(self):
        rejects(ch02_trimaps.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, threshold=0.5), "straddles the alpha = 0.5")

    def test_fractional_pixels_left_out(self):
        # Only the opaque core eroded, the fractional edge forgotten.
        def core_only(alpha, k, it):
            out = _trimap(alpha, k, it)
            a = alpha / (255.0 if alpha.dtype == np.uint8 else 1.0)
            out[(a > 0) & (a < 0.5)] = 0
            return out

        rejects(ch02_trimaps.check_trimap_from_alpha, core_only, "0 < alpha < 1 are not marked unknown")

    def test_swapped_classes(self):
        rejects(ch02_trimaps.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it, values=(255, 128, 0)), "swapped")

    def test_uint8_alpha_not_converted(self):
        def no_convert(alpha, k, it):
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            out = np.zeros(alpha.shape, np.uint8)
            out[cv2.dilate((alpha > 0).astype(np.uint8), kernel, iterations=it) > 0] = 128
            out[cv2.erode((alpha == 1).astype(np.uint8), kernel, iterations=it) > 0] = 255
            return out

        rejects(ch02_trimaps.check_trimap_from_alpha, no_convert, "uint8", "alpha / 255")

    def test_float_dtype(self):
        rejects(ch02_trimaps.check_trimap_from_alpha,
                lambda a, k, it: _trimap(a, k, it).astype(np.float32), "uint8")


class TestOnehot:
    def test_accepts_library(self, capsys):
        ch02_trimaps.check_onehot(trimap_to_onehot)
        ch02_trimaps.check_onehot(lambda t: np.stack([t == 0, t == 128, t == 255]).astype(np.float32))
        assert capsys.readouterr().out.count("Correct") == 2

    def test_swapped_order(self):
        rejects(ch02_trimaps.check_onehot,
                lambda t: np.stack([t == 255, t == 128, t == 0]).astype(np.float32),
                "('foreground', 'unknown', 'background')", "CLASS_ORDER")

    def test_swapped_unknown_and_foreground(self):
        rejects(ch02_trimaps.check_onehot,
                lambda t: np.stack([t == 0, t == 255, t == 128]).astype(np.float32),
                "('background', 'foreground', 'unknown')")

    def test_channels_last(self):
        rejects(ch02_trimaps.check_onehot,
                lambda t: np.stack([t == 0, t == 128, t == 255], axis=-1).astype(np.float32),
                "channels first")

    def test_bool_dtype(self):
        rejects(ch02_trimaps.check_onehot, lambda t: np.stack([t == 0, t == 128, t == 255]), "float32")

    def test_not_one_hot(self):
        rejects(ch02_trimaps.check_onehot,
                lambda t: np.stack([t == 0, t >= 128, t == 255]).astype(np.float32), "exactly one channel")


class TestSad:
    def test_accepts_library(self, capsys):
        ch02_trimaps.check_sad(sad)
        ch02_trimaps.check_sad(lambda p, g, t: np.abs(p - g)[t == 128].sum() / 1000)
        assert capsys.readouterr().out.count("Correct") == 2

    def test_forgot_thousand(self):
        rejects(ch02_trimaps.check_sad, lambda p, g, t: np.abs(p - g)[t == 128].sum(), "divide by 1000")

    def test_whole_image(self):
        rejects(ch02_trimaps.check_sad, lambda p, g, t: np.abs(p - g).sum() / 1000, "whole image",
                "trimap == 128")

    def test_mean(self):
        rejects(ch02_trimaps.check_sad, lambda p, g, t: np.abs(p - g)[t == 128].mean(), "mean")

    def test_no_abs(self):
        rejects(ch02_trimaps.check_sad, lambda p, g, t: (p - g)[t == 128].sum() / 1000, "absolute value")

    def test_array_instead_of_number(self):
        rejects(ch02_trimaps.check_sad, lambda p, g, t: np.abs(p - g) * (t == 128) / 1000, "one number")


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

        ch02_trimaps.check_mse(mse)
        ch02_trimaps.check_mse(_mse)
        assert capsys.readouterr().out.count("Correct: mse") == 2

    def test_stub(self):
        reports_not_done(ch02_trimaps.check_mse, not_implemented, "not implemented yet")

    def test_scaled_by_1000(self):
        rejects(ch02_trimaps.check_mse, lambda p, g, t: 1000 * _mse(p, g, t), "x 1000")

    def test_whole_image(self):
        rejects(ch02_trimaps.check_mse, lambda p, g, t: float(((p - g) ** 2).mean()), "whole image")

    def test_wrong_denominator(self):
        rejects(ch02_trimaps.check_mse, lambda p, g, t: float(((p - g) ** 2)[t == 128].sum() / p.size),
                "divide by |U|")

    def test_absolute_error(self):
        rejects(ch02_trimaps.check_mse, lambda p, g, t: float(np.abs(p - g)[t == 128].mean()), "square")


class TestGrad:
    def test_accepts_library_and_by_hand_in_any_border_mode_or_orientation(self, capsys):
        from mattinglib.metrics import gradient_error

        ch02_trimaps.check_grad(gradient_error)
        ch02_trimaps.check_grad(_grad)
        ch02_trimaps.check_grad(lambda p, g, t: _grad(p, g, t, border="reflect", correlate=True))
        assert capsys.readouterr().out.count("Correct: grad") == 3

    def test_stub(self):
        reports_not_done(ch02_trimaps.check_grad, not_implemented, "not implemented yet")

    def test_without_min_max_normalisation(self):
        rejects(ch02_trimaps.check_grad, lambda p, g, t: _grad(p, g, t, normalise=False), "mat2gray")

    def test_not_divided(self):
        rejects(ch02_trimaps.check_grad, lambda p, g, t: 1000 * _grad(p, g, t), "divide by 1000")

    def test_whole_image(self):
        rejects(ch02_trimaps.check_grad,
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

    rejects(ch02_trimaps.check_grad, no_guard, "constant matte")
