"""Property tests of the public numeric API against bad input.

Hypothesis draws arrays of wrong shapes, dtypes and sizes (empty ones too) and
values with NaN, infinity and out-of-range numbers. Every call must either
return a finite, well-formed answer, or raise ``ValueError`` / ``TypeError``
whose message starts with the name of one of its arguments; never another
exception from deep inside, never a silent NaN.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mattinglib import compositing, io, metrics, trimap
from mattinglib._checks import as_float01, check_range

FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

DTYPES = st.sampled_from([np.float32, np.float64, np.uint8, np.int32, np.bool_, np.complex64])
# Mostly valid [0, 1] values, with the bad ones the tests are after.
VALUES = st.one_of(st.floats(0, 1, width=32),
                   st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 1.5, 255.0]))


@st.composite
def arrays(draw, shape=None, dtype=None):
    """An array of a drawn (or given) shape and dtype; sides may be 0."""
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    dtype = dtype or draw(DTYPES)
    values = draw(hnp.arrays(np.float64, shape, elements=VALUES))
    with np.errstate(invalid="ignore", over="ignore"):
        if np.dtype(dtype).kind in "iub":
            values = np.nan_to_num(values, nan=0, posinf=300, neginf=-3)
            if dtype == np.uint8:
                values = np.clip(values * 255, 0, 255)
        return np.asarray(values).astype(dtype)


@st.composite
def hw_arrays(draw, channels):
    """Arrays of the right layout (H, W[, C]) but drawn dtype and values, sometimes empty."""
    h, w = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    shape = (h, w) if channels is None else (h, w, channels)
    return draw(arrays(shape=shape))


def any_array(channels):
    """Mostly the right layout; sometimes any shape at all, or not an array."""
    return st.one_of(hw_arrays(channels), hw_arrays(channels), arrays(),
                     st.sampled_from([None, 0.5, [[0.5]]]))


@st.composite
def trimaps(draw):
    h, w = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    kind = draw(st.sampled_from(["good", "good", "values", "dtype", "shape"]))
    if kind == "good":
        return draw(hnp.arrays(np.uint8, (h, w), elements=st.sampled_from([0, 128, 255])))
    if kind == "values":
        return draw(hnp.arrays(np.uint8, (h, w), elements=st.integers(0, 255)))
    if kind == "dtype":
        return draw(hnp.arrays(np.float32, (h, w), elements=st.sampled_from([0.0, 0.5, 1.0])))
    return draw(arrays())


def expect_named_error_or(fn, names):
    """Call ``fn``; a ValueError/TypeError must start with one of ``names``. Returns the
    result, or None after an accepted error."""
    try:
        return fn()
    except (ValueError, TypeError) as err:
        assert re.match(rf"^({'|'.join(map(re.escape, names))}): ", str(err)), repr(err)
        return None


def assert_finite_result(result):
    if isinstance(result, dict):
        for v in result.values():
            assert np.isfinite(v)
    elif result is not None:
        assert np.all(np.isfinite(np.asarray(result)))


class TestCompose:
    @FAST
    @given(any_array(3), any_array(3), any_array(None))
    def test_numpy(self, fg, bg, alpha):
        out = expect_named_error_or(lambda: compositing.compose(fg, bg, alpha),
                                    ["fg", "bg", "alpha"])
        if out is not None:
            assert out.shape == fg.shape
            assert np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1))

    @FAST
    @given(any_array(3), any_array(None))
    def test_torch(self, fg, alpha):
        def as_tensor(x):
            if not isinstance(x, np.ndarray) or x.dtype.kind == "c":
                return x
            t = torch.from_numpy(np.ascontiguousarray(x))
            return t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None] if t.ndim == 2 else t

        fg_t, alpha_t = as_tensor(fg), as_tensor(alpha)
        bg_t = fg_t.clone() if isinstance(fg_t, torch.Tensor) else fg_t
        out = expect_named_error_or(lambda: compositing.compose(fg_t, bg_t, alpha_t),
                                    ["fg", "bg", "alpha"])
        if out is not None:
            assert torch.isfinite(out).all()


class TestMetrics:
    @FAST
    @given(any_array(None), any_array(None), trimaps(),
           st.sampled_from(["sad", "mse", "gradient_error", "connectivity_error", "evaluate"]))
    def test_each_metric(self, pred, target, tri, which):
        fn = getattr(metrics, which)
        result = expect_named_error_or(lambda: fn(pred, target, tri), ["pred", "target", "trimap"])
        if result is None:
            return
        has_unknown = bool((tri == 128).any())
        if which == "mse" and not has_unknown:
            assert np.isnan(result)  # documented: the mean over an empty region
        elif which == "evaluate" and not has_unknown:
            assert np.isnan(result["mse"]) and all(np.isfinite(result[k])
                                                   for k in ("sad", "grad", "conn"))
        else:
            assert_finite_result(result)

    @FAST
    @given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 100),
                     st.sampled_from([None, "1.4", True])))
    def test_sigma(self, sigma):
        a = np.tile(np.linspace(0, 1, 8), (8, 1))
        tri = np.full((8, 8), 128, np.uint8)
        result = expect_named_error_or(lambda: metrics.gradient_error(a, a.T, tri, sigma=sigma),
                                       ["sigma"])
        assert_finite_result(result)

    @FAST
    @given(st.lists(st.one_of(st.integers(),
                              st.dictionaries(st.sampled_from(["sad", "mse"]),
                                              st.one_of(st.floats(0, 1), st.text(max_size=2)),
                                              min_size=1)),
                    max_size=3))
    def test_mean_metrics(self, rows):
        expect_named_error_or(lambda: metrics.mean_metrics(rows), ["results"])


class TestTrimapFunctions:
    @FAST
    @given(any_array(None), st.one_of(st.integers(-2, 7), st.floats(0, 5), st.none()),
           st.one_of(st.integers(-1, 3), st.just(1.5)))
    def test_trimap_from_alpha(self, alpha, kernel_size, iterations):
        out = expect_named_error_or(
            lambda: trimap.trimap_from_alpha(alpha, kernel_size=kernel_size, iterations=iterations),
            ["alpha", "kernel_size", "iterations"])
        if out is not None:
            assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 128, 255}

    @FAST
    @given(any_array(None))
    def test_trimap_from_mask(self, mask):
        expect_named_error_or(lambda: trimap.trimap_from_mask(mask), ["mask"])

    @FAST
    @given(trimaps())
    def test_classes_and_onehot(self, tri):
        classes = expect_named_error_or(lambda: trimap.trimap_to_classes(tri), ["trimap"])
        onehot = expect_named_error_or(lambda: trimap.trimap_to_onehot(tri), ["trimap"])
        assert (classes is None) == (onehot is None)


class TestRangeChecks:
    @FAST
    @given(arrays())
    def test_as_float01(self, x):
        out = expect_named_error_or(lambda: as_float01(x, name="image"), ["image"])
        if out is not None:
            assert out.dtype == np.float64 and np.all((out >= 0) & (out <= 1))

    @FAST
    @given(arrays())
    def test_check_range_torch_and_numpy_agree(self, x):
        if x.dtype.kind == "c":
            return
        a = expect_named_error_or(lambda: check_range(x, 0.0, 1.0, name="x"), ["x"])
        t = expect_named_error_or(lambda: check_range(torch.from_numpy(x), 0.0, 1.0, name="x"),
                                  ["x"])
        assert a is None and t is None

    @FAST
    @given(any_array(3))
    def test_to_uint8(self, x):
        out = expect_named_error_or(lambda: io.to_uint8(x, name="image"), ["image"])
        if out is not None:
            assert out.dtype == np.uint8


def test_a_list_is_a_type_error():
    with pytest.raises(TypeError, match="^image: expected a numpy array"):
        io.to_uint8([[0.5]], name="image")
