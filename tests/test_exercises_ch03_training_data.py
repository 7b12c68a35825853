"""Chapter 3's checkers accept correct answers and reject typical wrong ones with the right hint."""

from __future__ import annotations

import numpy as np

from mattinglib.exercises import ch03_training_data as ex
from mattinglib.compositing import compose
from mattinglib.data.composition import crop_box
from tests.exercise_helpers import not_implemented, rejects, reports_not_done


# --------------------------------------------------------------------------- crop box


def library_box(h, w, centre, side):
    rows, cols = crop_box(h, w, centre, side)
    return rows.start, cols.start, rows.stop, cols.stop


def box(h, w, centre, side, *, offset=lambda s: s // 2, clamp=True, shrink=True, swap=False):
    s = min(side, h, w) if shrink else side
    r, c = (centre[1], centre[0]) if swap else centre
    top, left = r - offset(s), c - offset(s)
    if clamp:
        top, left = min(max(top, 0), h - s), min(max(left, 0), w - s)
    return top, left, top + s, left + s


class TestCropBox:
    def test_accepts_library_and_both_middles(self, capsys):
        ex.check_crop_box(library_box)
        ex.check_crop_box(box)
        # For an even side either of the two middle pixels is a fair centre.
        ex.check_crop_box(lambda h, w, c, s: box(h, w, c, s, offset=lambda n: (n - 1) // 2))
        assert capsys.readouterr().out.count("Correct: crop_box") == 3

    def test_stub(self):
        reports_not_done(ex.check_crop_box, not_implemented, "not implemented yet")

    def test_not_clamped(self):
        rejects(ex.check_crop_box, lambda h, w, c, s: box(h, w, c, s, clamp=False), "leaves the image", "clamp")

    def test_not_shrunk(self):
        rejects(ex.check_crop_box, lambda h, w, c, s: box(h, w, c, s, shrink=False), "min(side, h, w)")

    def test_starts_at_centre(self):
        rejects(ex.check_crop_box, lambda h, w, c, s: box(h, w, c, s, offset=lambda n: 0),
                "not at the middle", "subtract half the side")

    def test_swapped_axes(self):
        rejects(ex.check_crop_box, lambda h, w, c, s: box(h, w, c, s, swap=True), "swapped")

    def test_always_clamped_to_the_corner(self):
        rejects(ex.check_crop_box, lambda h, w, c, s: (0, 0, min(s, h, w), min(s, h, w)), "not at the middle")

    def test_not_a_box(self):
        rejects(ex.check_crop_box, lambda h, w, c, s: (slice(0, s), slice(0, s)), "four ints")


# --------------------------------------------------------------------------- new background


class TestComposeNewBackground:
    def test_accepts_library_compose(self, capsys):
        ex.check_compose_new_background(lambda image, fg, alpha, bg: compose(fg, bg, alpha))
        assert "Correct: compose_new_background" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ex.check_compose_new_background, not_implemented, "not implemented yet")

    def test_uses_the_image(self):
        rejects(ex.check_compose_new_background, lambda image, fg, alpha, bg: compose(image, bg, alpha),
                "old background", "halo")

    def test_swapped(self):
        rejects(ex.check_compose_new_background, lambda image, fg, alpha, bg: compose(bg, fg, alpha), "swapped")

    def test_unweighted_foreground(self):
        rejects(ex.check_compose_new_background,
                lambda image, fg, alpha, bg: fg + (1 - alpha[..., None]) * bg, "weighted by alpha")

    def test_wrong_shape(self):
        rejects(ex.check_compose_new_background, lambda image, fg, alpha, bg: alpha, "shape")


# --------------------------------------------------------------------------- missed pixels


def count_missed(alpha, tri):
    a = alpha / 255.0 if alpha.dtype == np.uint8 else alpha
    return int((((a > 0) & (a < 1)) & (tri != 128)).sum())


class TestCountMissed:
    def test_accepts_a_correct_count(self, capsys):
        ex.check_count_missed(count_missed)
        assert "Correct: count_missed" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ex.check_count_missed, not_implemented, "not implemented yet")

    def test_background_side_only(self):
        rejects(ex.check_count_missed, lambda a, t: int((((a > 0) & (a < 1)) & (t == 0)).sum()), "!= 128")

    def test_every_fractional_pixel(self):
        rejects(ex.check_count_missed, lambda a, t: int(((a > 0) & (a < 1)).sum()), "outside the unknown band")

    def test_inclusive_bounds(self):
        rejects(ex.check_count_missed, lambda a, t: int(((a > 0) & (t != 128)).sum()), "strictly between")

    def test_forgets_uint8(self):
        rejects(ex.check_count_missed, lambda a, t: int((((a > 0) & (a < 1)) & (t != 128)).sum()), "uint8")

    def test_returns_a_mask(self):
        rejects(ex.check_count_missed, lambda a, t: ((a > 0) & (a < 1)) & (t != 128), "one number")


def _leak(image, fg, alpha, new_bg, *, where="frac", reduce="mean", signed=False, scale=1.0):
    a = alpha[..., None]
    diff = (a * image + (1 - a) * new_bg) - (a * fg + (1 - a) * new_bg)
    diff = diff if signed else np.abs(diff)
    if reduce == "max":
        diff = diff.max(axis=2)
    frac = (alpha > 0) & (alpha < 1)
    if where == "all":
        return float(diff.mean()) * scale
    return float(diff[frac].mean()) * scale if frac.any() else 0.0


class TestColourLeak:
    def test_accepts_right_answers(self, capsys):
        ex.check_colour_leak(_leak)
        ex.check_colour_leak(lambda i, f, a, b: _leak(*(np.float32(x) for x in (i, f, a, b))))
        assert capsys.readouterr().out.count("Correct: colour_leak") == 2

    def test_stub(self):
        reports_not_done(ex.check_colour_leak, not_implemented, "not implemented yet")

    def test_all_pixels(self):
        rejects(ex.check_colour_leak, lambda *x: _leak(*x, where="all"), "every pixel")

    def test_signed(self):
        rejects(ex.check_colour_leak, lambda *x: _leak(*x, signed=True), "absolute value")

    def test_grey_levels(self):
        rejects(ex.check_colour_leak, lambda *x: _leak(*x, scale=255.0), "grey levels")

    def test_largest_channel(self):
        rejects(ex.check_colour_leak, lambda *x: _leak(*x, reduce="max"), "largest channel")

    def test_nan_without_fractional_pixels(self):
        def empty_mean(i, f, a, b):
            frac = (a > 0) & (a < 1)
            d = np.abs(a[..., None] * (i - f))
            return float(d[frac].mean()) if frac.any() else float("nan")

        rejects(ex.check_colour_leak, empty_mean, "return 0.0")
