"""Tests for mattinglib.trimap: values, band width, class order."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mattinglib.trimap import (
    BACKGROUND,
    CLASS_ORDER,
    CLASS_VALUES,
    FOREGROUND,
    UNKNOWN,
    band_width,
    onehot_to_trimap,
    random_trimap,
    sample_trimap_params,
    trimap_from_alpha,
    trimap_from_mask,
    trimap_to_classes,
    trimap_to_onehot,
    unknown_mask,
    validate_trimap,
)

FAST = settings(max_examples=40, deadline=None)

# Alphas with plenty of exact 0s and 1s, as real mattes have.
alpha_values = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0, width=32))
random_alphas = arrays(np.float32, st.tuples(st.integers(1, 24), st.integers(1, 24)),
                       elements=alpha_values)
random_trimaps = arrays(np.uint8, st.tuples(st.integers(1, 16), st.integers(1, 16)),
                        elements=st.sampled_from([0, 128, 255]))


def ramp_alpha(left: int, ramp: int, right: int, rows: int = 3) -> np.ndarray:
    """Rows of: ``left`` zeros, ``ramp`` values strictly in (0, 1), ``right`` ones."""
    inner = np.linspace(0, 1, ramp + 2)[1:-1]
    row = np.concatenate([np.zeros(left), inner, np.ones(right)]).astype(np.float32)
    return np.repeat(row[None], rows, axis=0)


def disc_alpha(radius: int, margin: int) -> tuple[np.ndarray, int]:
    """A hard-edged disc (alpha exactly 0 or 1) and its centre coordinate."""
    c = radius + margin
    yy, xx = np.mgrid[: 2 * c + 1, : 2 * c + 1]
    return ((yy - c) ** 2 + (xx - c) ** 2 <= radius**2).astype(np.float32), c


def run_lengths(row: np.ndarray) -> list[tuple[int, int]]:
    """(value, length) runs of a 1-D array."""
    cuts = np.flatnonzero(np.diff(row.astype(np.int64))) + 1
    return [(int(seg[0]), len(seg)) for seg in np.split(row, cuts)]


class TestConstants:
    def test_values(self):
        assert (BACKGROUND, UNKNOWN, FOREGROUND) == (0, 128, 255)

    def test_class_order_is_background_unknown_foreground(self):
        assert CLASS_ORDER == ("background", "unknown", "foreground")
        assert CLASS_VALUES == (BACKGROUND, UNKNOWN, FOREGROUND)


class TestValidateTrimap:
    def test_valid_passes_unchanged(self):
        t = np.array([[0, 128, 255]], dtype=np.uint8)
        assert validate_trimap(t) is t

    def test_value_127(self):
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected only the values {0, 128, 255}, got also [127]")):
            validate_trimap(np.array([[0, 127, 128]], dtype=np.uint8))

    def test_custom_name(self):
        with pytest.raises(ValueError, match=r"^coarse: "):
            validate_trimap(np.array([[1]], dtype=np.uint8), name="coarse")

    def test_dtype(self):
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected dtype uint8 with values {0, 128, 255}, got float32")):
            validate_trimap(np.zeros((2, 2), dtype=np.float32))

    def test_shape(self):
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected shape (H,W), got (2, 2, 3)")):
            validate_trimap(np.zeros((2, 2, 3), dtype=np.uint8))


class TestUnknownMask:
    def test_marks_128_only(self):
        t = np.array([[0, 128], [255, 128]], dtype=np.uint8)
        np.testing.assert_array_equal(unknown_mask(t), [[False, True], [False, True]])

    def test_rejects_bad_values(self):
        with pytest.raises(ValueError, match=r"^trimap: expected only the values"):
            unknown_mask(np.array([[64]], dtype=np.uint8))


class TestBandWidth:
    @pytest.mark.parametrize("k, n, expected",
                             [(1, 7, 0), (3, 1, 1), (3, 5, 5), (5, 4, 8), (7, 20, 60)])
    def test_values(self, k, n, expected):
        assert band_width(k, n) == expected

    @pytest.mark.parametrize("k, error, expected", [
        (0, ValueError, "an integer >= 1, got 0"),
        (4, ValueError, "an odd integer >= 1, got 4"),
        (-3, ValueError, "an integer >= 1, got -3"),
        (3.0, TypeError, "an integer >= 1, got 3.0"),
        (True, TypeError, "an integer >= 1, got True"),
    ])
    def test_bad_kernel(self, k, error, expected):
        with pytest.raises(error, match=f"^{re.escape(f'kernel_size: expected {expected}')}$"):
            band_width(k, 1)

    @pytest.mark.parametrize("n, error", [(-1, ValueError), (2.5, TypeError), (False, TypeError)])
    def test_bad_iterations(self, n, error):
        with pytest.raises(error, match=re.escape(
                f"iterations: expected an integer >= 0, got {n!r}")):
            band_width(3, n)

    def test_numpy_integers(self):
        assert band_width(np.int64(5), np.int32(4)) == 8


class TestTrimapFromAlpha:
    def test_dtype_shape_values(self):
        alpha, _ = disc_alpha(10, 8)
        t = trimap_from_alpha(alpha)
        assert t.dtype == np.uint8 and t.shape == alpha.shape
        assert set(np.unique(t).tolist()) == {0, 128, 255}

    @pytest.mark.parametrize("kernel_size", [3, 5, 7])
    @pytest.mark.parametrize("iterations", [2, 5, 12])
    def test_straight_edge_band_is_exact(self, kernel_size, iterations):
        # Across a straight hard edge the band must reach exactly band_width pixels
        # into each side. Running one iteration only (iterations passed
        # positionally into OpenCV's dst) would give kernel_size // 2 instead.
        bw = band_width(kernel_size, iterations)
        alpha = ramp_alpha(left=bw + 4, ramp=0, right=bw + 6)
        t = trimap_from_alpha(alpha, kernel_size=kernel_size, iterations=iterations)
        for row in t:
            assert run_lengths(row) == [(0, 4), (128, 2 * bw), (255, 6)]
        # The same along columns.
        t_cols = trimap_from_alpha(np.ascontiguousarray(alpha.T), kernel_size=kernel_size,
                                   iterations=iterations)
        np.testing.assert_array_equal(t_cols, t.T)

    @FAST
    @given(kernel_size=st.sampled_from([1, 3, 5, 7, 9]), iterations=st.integers(0, 20),
           ramp=st.integers(0, 6))
    def test_band_reaches_band_width_past_fractional_region(self, kernel_size, iterations, ramp):
        bw = band_width(kernel_size, iterations)
        alpha = ramp_alpha(left=bw + 3, ramp=ramp, right=bw + 2)
        t = trimap_from_alpha(alpha, kernel_size=kernel_size, iterations=iterations)
        expected = [(0, 3), (128, ramp + 2 * bw), (255, 2)]
        for row in t:
            assert run_lengths(row) == [r for r in expected if r[1] > 0]

    @pytest.mark.parametrize("iterations", [2, 5, 10])
    def test_disc_band_width_on_each_side(self, iterations):
        # With the 3x3 ellipse (a cross) n iterations reach n pixels along the axes,
        # both outwards and inwards on a disc.
        radius = 20
        bw = band_width(3, iterations)
        alpha, c = disc_alpha(radius, margin=bw + 3)
        t = trimap_from_alpha(alpha, kernel_size=3, iterations=iterations)
        for line in (t[c], t[:, c]):
            x = np.arange(line.size) - c
            unknown = line == UNKNOWN
            outside = unknown & (np.abs(x) > radius)
            inside = unknown & (np.abs(x) <= radius)
            assert outside[x < 0].sum() == bw and outside[x > 0].sum() == bw
            assert inside[x < 0].sum() == bw and inside[x > 0].sum() == bw
            # ... and the band is one contiguous run on each side.
            assert run_lengths(line) == [(0, 3), (128, 2 * bw),
                                         (255, 2 * (radius - bw) + 1), (128, 2 * bw), (0, 3)]

    @pytest.mark.parametrize("kernel_size", [5, 7])
    def test_disc_grows_outwards_by_band_width(self, kernel_size):
        iterations = 4
        bw = band_width(kernel_size, iterations)
        alpha, c = disc_alpha(25, margin=bw + 3)
        t = trimap_from_alpha(alpha, kernel_size=kernel_size, iterations=iterations)
        assert run_lengths(t[c])[0] == (0, 3)
        assert run_lengths(t[:, c])[-1] == (0, 3)

    def test_opencv_positional_iterations_pitfall(self):
        # Why iterations go by keyword: in cv2.dilate(src, kernel, 5) the 5 binds to
        # ``dst`` and one iteration runs, silently.
        mask = np.zeros((1, 21), np.uint8)
        mask[0, 10] = 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        assert cv2.dilate(mask, kernel, 5).sum() == 3
        assert cv2.dilate(mask, kernel, iterations=5).sum() == 11
        half = np.zeros((1, 21), bool)
        half[0, 10:] = True
        t = trimap_from_mask(half, kernel_size=3, iterations=5)
        assert (t == UNKNOWN).sum() == 10

    @FAST
    @given(alpha=random_alphas, kernel_size=st.sampled_from([1, 3, 5]),
           iterations=st.integers(0, 6))
    def test_unknown_covers_every_fractional_pixel(self, alpha, kernel_size, iterations):
        t = trimap_from_alpha(alpha, kernel_size=kernel_size, iterations=iterations)
        assert set(np.unique(t).tolist()) <= {0, 128, 255}
        assert (t[(alpha > 0) & (alpha < 1)] == UNKNOWN).all()
        # Known regions are certain: foreground only where alpha is 1, background where 0.
        assert (alpha[t == FOREGROUND] == 1).all()
        assert (alpha[t == BACKGROUND] == 0).all()

    def test_zero_iterations_unknown_is_fractional_region(self):
        alpha = ramp_alpha(3, 4, 3)
        t = trimap_from_alpha(alpha, iterations=0)
        np.testing.assert_array_equal(t == UNKNOWN, (alpha > 0) & (alpha < 1))

    def test_border_is_not_eroded(self):
        assert (trimap_from_alpha(np.ones((9, 9), np.float32), iterations=3) == FOREGROUND).all()
        assert (trimap_from_alpha(np.zeros((9, 9), np.float32), iterations=3) == BACKGROUND).all()

    def test_uint8_equals_float(self):
        rng = np.random.default_rng(0)
        a8 = rng.choice(np.array([0, 0, 0, 17, 200, 255, 255, 255], np.uint8), size=(20, 20))
        np.testing.assert_array_equal(trimap_from_alpha(a8), trimap_from_alpha(a8 / 255.0))

    def test_bad_shape(self):
        with pytest.raises(ValueError, match=re.escape(
                "alpha: expected shape (H,W), got (4, 4, 3)")):
            trimap_from_alpha(np.zeros((4, 4, 3), np.float32))

    def test_bad_range(self):
        alpha = np.zeros((4, 4), np.float32)
        alpha[0, 0] = 1.5
        with pytest.raises(ValueError, match=re.escape(
                "alpha: expected values in [0.0, 1.0], got min 0, max 1.5")):
            trimap_from_alpha(alpha)

    def test_nan(self):
        alpha = np.zeros((4, 4), np.float32)
        alpha[1, 1] = np.nan
        with pytest.raises(ValueError, match=re.escape("alpha: contains NaN or infinite values")):
            trimap_from_alpha(alpha)

    def test_bad_dtype(self):
        with pytest.raises(ValueError, match=re.escape(
                "alpha: expected uint8 in 0..255 or float in [0, 1], got dtype int32")):
            trimap_from_alpha(np.zeros((4, 4), np.int32))

    def test_bad_kernel(self):
        with pytest.raises(ValueError, match=re.escape(
                "kernel_size: expected an odd integer >= 1, got 4")):
            trimap_from_alpha(np.zeros((4, 4), np.float32), kernel_size=4)


class TestTrimapFromMask:
    @pytest.mark.parametrize("kernel_size, iterations", [(3, 4), (5, 3), (7, 2)])
    def test_band_straddles_border(self, kernel_size, iterations):
        bw = band_width(kernel_size, iterations)
        mask = np.zeros((5, 4 * bw + 10), bool)
        mask[:, 2 * bw + 5:] = True
        t = trimap_from_mask(mask, kernel_size=kernel_size, iterations=iterations)
        for row in t:
            assert run_lengths(row) == [(0, bw + 5), (128, 2 * bw), (255, bw + 5)]

    def test_encodings_agree(self):
        rng = np.random.default_rng(1)
        mask = rng.random((16, 16)) > 0.5
        expected = trimap_from_mask(mask, iterations=2)
        for encoded in (mask.astype(np.uint8), mask.astype(np.uint8) * 255, mask.astype(np.int64),
                        mask.astype(np.float32)):
            np.testing.assert_array_equal(trimap_from_mask(encoded, iterations=2), expected)

    def test_equals_trimap_from_hard_alpha(self):
        alpha, _ = disc_alpha(9, 6)
        np.testing.assert_array_equal(trimap_from_mask(alpha > 0.5, kernel_size=5, iterations=2),
                                      trimap_from_alpha(alpha, kernel_size=5, iterations=2))

    def test_non_binary(self):
        with pytest.raises(ValueError, match=re.escape(
                "mask: expected a binary mask (bool, {0, 1} or {0, 255}), got values [0, 1, 255]")):
            trimap_from_mask(np.array([[0, 1, 255]], np.uint8))

    def test_bad_shape(self):
        with pytest.raises(ValueError, match=re.escape(
                "mask: expected shape (H,W), got (2, 2, 1)")):
            trimap_from_mask(np.zeros((2, 2, 1), bool))

    def test_not_an_array(self):
        with pytest.raises(ValueError, match=re.escape("mask: expected a numpy array, got list")):
            trimap_from_mask([[0, 1]])


class TestRandomTrimap:
    alpha = ramp_alpha(left=70, ramp=3, right=70, rows=2)

    def half_band(self, t: np.ndarray) -> int:
        return (int((t[0] == UNKNOWN).sum()) - 3) // 2

    def test_same_seed_same_trimap(self):
        a = random_trimap(self.alpha, rng=np.random.default_rng(5))
        b = random_trimap(self.alpha, rng=np.random.default_rng(5))
        np.testing.assert_array_equal(a, b)

    def test_uses_the_drawn_params(self):
        for seed in range(5):
            k, n = sample_trimap_params(np.random.default_rng(seed))
            t = random_trimap(self.alpha, rng=np.random.default_rng(seed))
            expected = trimap_from_alpha(self.alpha, kernel_size=k, iterations=n)
            np.testing.assert_array_equal(t, expected)
            assert self.half_band(t) == band_width(k, n)

    def test_fresh_draw_per_call_inclusive_range(self):
        rng = np.random.default_rng(0)
        widths = {self.half_band(random_trimap(self.alpha, rng=rng, kernel_sizes=(3,),
                                               iterations_range=(2, 4))) for _ in range(30)}
        assert widths == {2, 3, 4}

    def test_kernel_sizes_are_drawn(self):
        rng = np.random.default_rng(0)
        widths = {self.half_band(random_trimap(self.alpha, rng=rng, kernel_sizes=(3, 5, 7),
                                               iterations_range=(1, 1))) for _ in range(30)}
        assert widths == {1, 2, 3}

    def test_rng_must_be_a_generator(self):
        with pytest.raises(ValueError, match=re.escape(
                "rng: expected a numpy.random.Generator (np.random.default_rng(seed)), got int")):
            random_trimap(self.alpha, rng=0)

    def test_bad_kernel_sizes(self):
        with pytest.raises(ValueError, match=re.escape(
                "kernel_sizes[1]: expected an odd integer >= 1, got 4")):
            random_trimap(self.alpha, rng=np.random.default_rng(0), kernel_sizes=(3, 4))
        with pytest.raises(ValueError, match=r"^kernel_sizes: expected a non-empty tuple"):
            random_trimap(self.alpha, rng=np.random.default_rng(0), kernel_sizes=())

    def test_bad_iterations_range(self):
        with pytest.raises(ValueError, match=re.escape(
                "iterations_range: expected (low, high) with 0 <= low <= high, got (5, 2)")):
            random_trimap(self.alpha, rng=np.random.default_rng(0), iterations_range=(5, 2))


def three_region_trimap() -> np.ndarray:
    t = np.zeros((4, 6), np.uint8)
    t[:, 2:4] = 128
    t[:, 4:] = 255
    return t


class TestTrimapToClasses:
    def test_numpy(self):
        c = trimap_to_classes(three_region_trimap())
        assert c.dtype == np.int64 and c.shape == (4, 6)
        np.testing.assert_array_equal(c[0], [0, 0, 1, 1, 2, 2])

    def test_torch_uint8_and_float(self):
        t8 = torch.from_numpy(three_region_trimap())[None, None].repeat(2, 1, 1, 1)
        for t in (t8, t8.float() / 255, t8.double() / 255,
                  torch.from_numpy(three_region_trimap() / 255.0).float()[None, None]):
            c = trimap_to_classes(t)
            assert c.dtype == torch.long and c.shape == (t.shape[0], 4, 6)
            assert c[0, 0].tolist() == [0, 0, 1, 1, 2, 2]

    def test_numpy_bad_value(self):
        t = three_region_trimap()
        t[0, 0] = 127
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected only the values {0, 128, 255}, got also [127]")):
            trimap_to_classes(t)

    def test_torch_uint8_bad_value(self):
        t = torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 1, 1, 3)
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected only the values {0, 128, 255}, got also [127]")):
            trimap_to_classes(t)

    def test_torch_float_bad_level(self):
        t = torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 1, 1, 3).float() / 255
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected only the values {0, 128/255, 1} (a uint8 trimap / 255), "
                "got also ['127/255']")):
            trimap_to_classes(t)

    def test_torch_float_half_is_not_unknown(self):
        # 0.5 is not 128/255: an interpolated trimap must fail, not be rounded.
        t = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected only the values {0, 128/255, 1} (a uint8 trimap / 255), "
                "got also [0.5]")):
            trimap_to_classes(t)

    def test_torch_shape(self):
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected shape (B,1,H,W), got (1, 4, 6)")):
            trimap_to_classes(torch.zeros(1, 4, 6))

    def test_torch_dtype(self):
        with pytest.raises(ValueError, match=re.escape(
                "trimap: expected dtype uint8, float32 or float64, got torch.int32")):
            trimap_to_classes(torch.zeros(1, 1, 4, 6, dtype=torch.int32))

    def test_torch_nan(self):
        t = torch.zeros(1, 1, 2, 2)
        t[0, 0, 0, 0] = float("nan")
        with pytest.raises(ValueError, match=re.escape("trimap: contains NaN or infinite values")):
            trimap_to_classes(t)


class TestTrimapToOnehot:
    def test_numpy_channels_follow_class_order(self):
        onehot = trimap_to_onehot(three_region_trimap())
        assert onehot.dtype == np.float32 and onehot.shape == (3, 4, 6)
        background, unknown, foreground = (onehot[CLASS_ORDER.index(n)] for n in
                                           ("background", "unknown", "foreground"))
        assert (background[:, :2] == 1).all() and background[:, 2:].sum() == 0
        assert (unknown[:, 2:4] == 1).all() and unknown.sum() == 8
        assert (foreground[:, 4:] == 1).all() and foreground.sum() == 8
        np.testing.assert_array_equal(onehot[0], background)

    def test_torch_channels_follow_class_order(self):
        t = torch.from_numpy(three_region_trimap())[None, None].float() / 255
        onehot = trimap_to_onehot(t)
        assert onehot.dtype == torch.float32 and onehot.shape == (1, 3, 4, 6)
        np.testing.assert_array_equal(onehot[0].numpy(), trimap_to_onehot(three_region_trimap()))

    def test_shm_fusion_reads_the_right_channels(self):
        # SHM: alpha = Fs + Us * alpha_r. With a one-hot trimap and alpha_r = 0.5
        # the fused alpha must be 0 / 0.5 / 1 in background / unknown / foreground.
        onehot = trimap_to_onehot(three_region_trimap())
        fs = onehot[CLASS_ORDER.index("foreground")]
        us = onehot[CLASS_ORDER.index("unknown")]
        fused = fs + us * 0.5
        np.testing.assert_array_equal(fused[0], [0, 0, 0.5, 0.5, 1, 1])

    @FAST
    @given(t=random_trimaps)
    def test_round_trip_numpy(self, t):
        onehot = trimap_to_onehot(t)
        np.testing.assert_array_equal(onehot.sum(axis=0), 1)
        np.testing.assert_array_equal(onehot_to_trimap(onehot), t)

    @FAST
    @given(t=random_trimaps, batch=st.integers(1, 3))
    def test_round_trip_torch(self, t, batch):
        tt = torch.from_numpy(t)[None, None].repeat(batch, 1, 1, 1).float() / 255
        back = onehot_to_trimap(trimap_to_onehot(tt))
        assert back.dtype == torch.float32 and back.shape == tt.shape
        assert torch.equal(back, tt)


class TestOnehotToTrimap:
    def test_argmax_of_logits(self):
        logits = np.array([[[2.0]], [[5.0]], [[-1.0]]])  # unknown wins
        np.testing.assert_array_equal(onehot_to_trimap(logits), [[128]])

    def test_torch_output_accepted_by_trimap_to_classes(self):
        logits = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
        probs = torch.softmax(logits, 1)
        t = onehot_to_trimap(probs)
        np.testing.assert_array_equal(trimap_to_classes(t).numpy(), probs.argmax(1).numpy())

    def test_numpy_shape(self):
        with pytest.raises(ValueError, match=re.escape(
                "probs: expected shape (3,H,W), got (4, 2, 2)")):
            onehot_to_trimap(np.zeros((4, 2, 2)))

    def test_torch_shape(self):
        with pytest.raises(ValueError, match=re.escape(
                "probs: expected shape (B,3,H,W), got (3, 2, 2)")):
            onehot_to_trimap(torch.zeros(3, 2, 2))

    def test_nan(self):
        p = np.zeros((3, 2, 2))
        p[0, 0, 0] = np.nan
        with pytest.raises(ValueError, match=re.escape("probs: contains NaN or infinite values")):
            onehot_to_trimap(p)
