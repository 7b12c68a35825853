"""mattinglib.metrics: equal to the official DIM evaluation; edge cases, bad input, properties."""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DATA, REFERENCE, require
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mattinglib import metrics as M
from mattinglib.metrics import (
    connectivity_error,
    evaluate,
    gaussian_gradient_kernel,
    gradient_error,
    mean_metrics,
    mse,
    sad,
)

METRIC_FUNCS = {"sad": sad, "mse": mse, "grad": gradient_error, "conn": connectivity_error}


def all_unknown(shape) -> np.ndarray:
    return np.full(shape, 128, np.uint8)


def conn_all_unknown(pred, target, **kwargs) -> float:
    """Connectivity error with every pixel in the unknown region."""
    return connectivity_error(pred, target, all_unknown(pred.shape), **kwargs)


# ---------------------------------------------------------------------------
# The 168 values computed by the official MATLAB code (under GNU Octave).
# ---------------------------------------------------------------------------

REF_DIR = REFERENCE / "metrics"
REF_CSV = REF_DIR / "official_values.csv"
ALPHAMATTING = DATA / "alphamatting_lowres"


def _reference_rows() -> list:
    if not REF_CSV.is_file():
        # One placeholder keeps the test visible as a skip with its reason.
        return [pytest.param(None, id="reference-missing")]
    with REF_CSV.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [pytest.param(row, id=f"{row['case']}-{row['prediction']}") for row in rows]


@lru_cache(maxsize=64)
def _read_u8(path: Path) -> np.ndarray:
    """uint8 HxW as the reference was read: grey as is, three identical channels -> channel 0."""
    arr = cv2.imread(str(require(path)), cv2.IMREAD_UNCHANGED)
    assert arr is not None and arr.dtype == np.uint8, path
    if arr.ndim == 3:
        arr = arr[:, :, 2]  # OpenCV stores BGR: index 2 is the file's channel 0 (R)
    arr.setflags(write=False)
    return arr


@pytest.mark.data
@pytest.mark.parametrize("row", _reference_rows())
def test_reproduces_official_value(row):
    require(REF_CSV)
    image, trimap_name = row["case"].split("_")  # e.g. GT01, Trimap1
    target = _read_u8(ALPHAMATTING / "gt" / f"{image}.png")
    trimap = _read_u8(ALPHAMATTING / trimap_name.lower() / f"{image}.png")
    pred = _read_u8(REF_DIR / f"pred_{row['prediction']}" / f"{row['case']}.png")
    got = evaluate(pred, target, trimap)
    for key in M.METRIC_KEYS:
        assert got[key] == pytest.approx(float(row[key]), rel=1e-4, abs=0), key


# ---------------------------------------------------------------------------
# Small hand-checked cases.
# ---------------------------------------------------------------------------


class TestSadMse:
    def test_values_and_units(self):
        trimap = np.array([[0, 128, 128, 255]], np.uint8)
        pred = np.array([[1.0, 0.5, 0.25, 0.0]])
        target = np.zeros((1, 4))
        assert sad(pred, target, trimap) == pytest.approx(0.75 / 1000)
        assert mse(pred, target, trimap) == pytest.approx((0.25 + 0.0625) / 2)

    def test_uint8_is_divided_by_255(self):
        trimap = all_unknown((1, 2))
        pred = np.array([[255, 51]], np.uint8)
        assert sad(pred, np.zeros((1, 2), np.uint8), trimap) == pytest.approx((1 + 0.2) / 1000)

    def test_no_unknown_pixel(self):
        a = np.linspace(0, 1, 12).reshape(3, 4)
        trimap = np.zeros((3, 4), np.uint8)
        assert math.isnan(mse(a, 1 - a, trimap))
        assert sad(a, 1 - a, trimap) == 0.0
        assert gradient_error(a, 1 - a, trimap) == 0.0
        assert connectivity_error(a, 1 - a, trimap) == 0.0


class TestGradient:
    def test_kernel(self):
        k = gaussian_gradient_kernel(1.4)
        assert k.shape == (9, 9)
        assert np.sum(k**2) == pytest.approx(1.0, abs=1e-12)
        # Derivative along columns (odd), smoothing along rows (even).
        np.testing.assert_allclose(k, -k[:, ::-1], atol=1e-15)
        np.testing.assert_allclose(k, k[::-1, :], atol=1e-15)
        assert np.all(k[:, 4] == 0)
        # Half size ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma 0.01))): 3 for sigma 1.
        assert gaussian_gradient_kernel(1.0).shape == (7, 7)
        # The derivative kernel of a Gaussian: gauss(row) * (-col / sigma^2) gauss(col).
        r, c = np.mgrid[-4:5, -4:5]
        g = -c * np.exp(-(r**2 + c**2) / (2 * 1.4**2))
        np.testing.assert_allclose(k, g / np.linalg.norm(g), atol=1e-15)

    def test_bad_sigma(self):
        a = np.zeros((4, 4))
        with pytest.raises(ValueError, match="^sigma:"):
            gradient_error(a, a, all_unknown((4, 4)), sigma=0.0)

    def test_equals_explicit_2d_convolution_with_replicated_border(self):
        rng = np.random.default_rng(0)
        pred, target = rng.random((13, 17)), rng.random((13, 17))
        trimap = rng.choice(np.array([0, 128, 255], np.uint8), size=(13, 17))
        hx = gaussian_gradient_kernel(1.4)

        def magnitude(a):
            a = (a - a.min()) / (a.max() - a.min())
            padded = np.pad(a, 4, mode="edge")
            windows = np.lib.stride_tricks.sliding_window_view(padded, (9, 9))
            # Convolution = correlation with the kernel flipped in both axes.
            gx = np.einsum("ijkl,kl->ij", windows, hx[::-1, ::-1])
            gy = np.einsum("ijkl,kl->ij", windows, hx.T[::-1, ::-1])
            return np.sqrt(gx**2 + gy**2)

        expected = np.sum(((magnitude(pred) - magnitude(target)) ** 2)[trimap == 128]) / 1000
        assert gradient_error(pred, target, trimap) == pytest.approx(expected, rel=1e-12)

    def test_min_max_normalisation_not_division(self):
        # mat2gray stretches each matte: a matte and its rescaled copy have the
        # same gradient, so the error between them is zero.
        a = np.tile(np.linspace(0.0, 1.0, 20), (12, 1)) ** 2
        rescaled = 0.2 + 0.5 * a
        assert gradient_error(rescaled, a, all_unknown(a.shape)) == pytest.approx(0.0, abs=1e-15)

    def test_constant_matte_has_no_gradient(self):
        a = np.tile(np.linspace(0.0, 1.0, 20), (12, 1))
        trimap = all_unknown(a.shape)
        flat = gradient_error(np.full(a.shape, 0.7), a, trimap)
        assert np.isfinite(flat) and flat > 0
        assert flat == pytest.approx(gradient_error(np.zeros(a.shape), a, trimap), rel=1e-15)


class TestConnectivity:
    def test_detached_blob(self):
        target = np.zeros((5, 5))
        target[1:4, 1:4] = 1.0
        pred = target.copy()
        pred[0, 0] = 1.0
        # (0, 0) leaves Omega at t = 0.1 (l = 0): phi_pred = 0, phi_target = 1.
        assert conn_all_unknown(pred, target) == pytest.approx(1e-3)

    def test_background_label_is_not_a_component(self):
        # The background (32 pixels) outnumbers the object (4 pixels); a port
        # that lets label 0 win finds no error at all here.
        target = np.zeros((6, 6))
        target[1:3, 1:3] = 1.0
        pred = target.copy()
        pred[4, 4] = 1.0
        assert conn_all_unknown(pred, target) == pytest.approx(1e-3)

    def test_no_common_pixel_at_a_threshold(self):
        # Up to t = 0.3 Omega is the whole image; at 0.4 the mattes share no
        # pixel (the official code crashes): everything gets l = 0.3.
        pred, target = np.full((4, 4), 0.5), np.full((4, 4), 0.3)
        assert conn_all_unknown(pred, target) == pytest.approx(16 * 0.2 / 1000, rel=1e-6)

    def test_disjoint_mattes(self):
        target = np.zeros((4, 4))
        target[:, :2] = 1.0
        pred = 1.0 - target
        # No component at any threshold: l = 0 everywhere, phi = 1 - alpha.
        assert conn_all_unknown(pred, target) == pytest.approx(16 / 1000)

    def test_single_precision_at_threshold_0_6(self):
        # single(153) / 255 >= 6 * 0.1 holds in the official code; in double
        # precision 153 / 255 < 6 * 0.1 and the level would drop to 0.5.
        pred = np.full((3, 3), 153, np.uint8)
        target = np.full((3, 3), 255, np.uint8)
        assert conn_all_unknown(pred, target) == pytest.approx(9 * 0.4 / 1000, rel=1e-6)

    def test_ties_go_to_the_first_component_in_column_major_order(self):
        # Two one-pixel components up to t = 0.6; (4, 0) comes first column by
        # column (MATLAB), (0, 4) first row by row. Only (0, 4) differs between
        # the mattes, and only when it leaves Omega at t = 0.1 does it count.
        pred = np.zeros((5, 5))
        target = np.zeros((5, 5))
        pred[0, 4], target[0, 4] = 0.74, 0.65
        pred[4, 0], target[4, 0] = 1.0, 1.0
        assert conn_all_unknown(pred, target) == pytest.approx(0.09 / 1000, rel=1e-5)

    def test_uint8_and_float_agree_exactly(self):
        # MATLAB's single(k) / 255 equals float32(k / 255.0) for every byte.
        k = np.arange(256)
        matlab = k.astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(matlab, (k / 255.0).astype(np.float32))

    def test_step(self):
        target = np.zeros((5, 5))
        target[1:4, 1:4] = 1.0
        pred = target.copy()
        pred[0, 0] = 1.0
        assert conn_all_unknown(pred, target, step=0.25) == pytest.approx(1e-3)
        for bad in (0.0, -0.1, 1.5, float("nan")):
            with pytest.raises(ValueError, match="^step:"):
                connectivity_error(pred, target, all_unknown((5, 5)), step=bad)


class TestEvaluate:
    def test_keys_and_agreement(self):
        rng = np.random.default_rng(1)
        pred, target = rng.random((16, 20)), rng.random((16, 20))
        trimap = rng.choice(np.array([0, 128, 255], np.uint8), size=(16, 20))
        result = evaluate(pred, target, trimap)
        assert list(result) == ["sad", "mse", "grad", "conn"]
        for key, func in METRIC_FUNCS.items():
            assert result[key] == func(pred, target, trimap)

    def test_mean_metrics(self):
        rows = [{"sad": 1.0, "mse": 0.5}, {"sad": 3.0, "mse": 0.25}, {"sad": 2.0, "mse": 0.0}]
        assert mean_metrics(rows) == {"sad": 2.0, "mse": pytest.approx(0.25)}
        assert math.isnan(mean_metrics([{"mse": math.nan}, {"mse": 1.0}])["mse"])
        with pytest.raises(ValueError, match="^results:"):
            mean_metrics([])
        with pytest.raises(ValueError, match="^results:"):
            mean_metrics([{"sad": 1.0}, {"mse": 1.0}])


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------

GOOD = np.full((4, 5), 0.5)
TRIMAP = all_unknown((4, 5))
BAD_INPUTS = {
    "pred-3d": ((np.zeros((4, 5, 1)), GOOD, TRIMAP), "pred"),
    "pred-list": (([[0.5] * 5] * 4, GOOD, TRIMAP), "pred"),
    "pred-above-1": ((np.full((4, 5), 1.5), GOOD, TRIMAP), "pred"),
    "pred-int64": ((np.zeros((4, 5), np.int64), GOOD, TRIMAP), "pred"),
    "pred-bool": ((np.zeros((4, 5), bool), GOOD, TRIMAP), "pred"),
    "target-nan": ((GOOD, np.full((4, 5), np.nan), TRIMAP), "target"),
    "target-uint16": ((GOOD, np.zeros((4, 5), np.uint16), TRIMAP), "target"),
    "target-shape": ((GOOD, np.zeros((4, 6)), TRIMAP), "target"),
    "trimap-shape": ((GOOD, GOOD, all_unknown((5, 5))), "trimap"),
    "trimap-value": ((GOOD, GOOD, np.full((4, 5), 127, np.uint8)), "trimap"),
    "trimap-float": ((GOOD, GOOD, np.full((4, 5), 0.5)), "trimap"),
    "trimap-3d": ((GOOD, GOOD, all_unknown((4, 5, 3))), "trimap"),
}


@pytest.mark.parametrize("func", [*METRIC_FUNCS.values(), evaluate],
                         ids=[*METRIC_FUNCS, "evaluate"])
@pytest.mark.parametrize("args,name", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_the_argument(func, args, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        func(*args)


# ---------------------------------------------------------------------------
# Properties.
# ---------------------------------------------------------------------------


@st.composite
def cases(draw, *, min_side=2, max_side=24):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    u8 = arrays(np.uint8, (h, w))
    pred, target = draw(u8), draw(u8)
    trimap = draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 128, 255])))
    trimap[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = 128  # U is never empty
    return pred, target, trimap


PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(cases())
def test_perfect_prediction_scores_zero(case):
    _, target, trimap = case
    zero = {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0}
    assert evaluate(target, target.copy(), trimap) == zero


@PROPERTY
@given(cases())
def test_sad_and_mse_are_symmetric(case):
    pred, target, trimap = case
    assert sad(pred, target, trimap) == sad(target, pred, trimap)
    assert mse(pred, target, trimap) == mse(target, pred, trimap)


@PROPERTY
@given(cases(), st.data())
def test_pixels_outside_unknown_are_ignored(case, data):
    pred, target, trimap = case
    changed = pred.copy()
    outside = trimap != 128
    changed[outside] = data.draw(arrays(np.uint8, int(outside.sum())))
    assert sad(changed, target, trimap) == sad(pred, target, trimap)
    assert mse(changed, target, trimap) == mse(pred, target, trimap)


@PROPERTY
@given(cases())
def test_uint8_and_float_inputs_score_the_same(case):
    pred, target, trimap = case
    as_u8 = evaluate(pred, target, trimap)
    as_float = evaluate(pred / 255.0, target / 255.0, trimap)
    assert as_float["conn"] == as_u8["conn"]
    for key in ("sad", "mse", "grad"):
        assert as_float[key] == pytest.approx(as_u8[key], rel=1e-12, abs=1e-15)


@PROPERTY
@given(cases())
def test_gradient_is_unchanged_by_transposition(case):
    pred, target, trimap = case
    assert gradient_error(pred.T, target.T, trimap.T) == pytest.approx(
        gradient_error(pred, target, trimap), rel=1e-9, abs=1e-15)


@PROPERTY
@given(cases())
def test_metrics_are_non_negative_and_bounded(case):
    pred, target, trimap = case
    n = int((trimap == 128).sum())
    result = evaluate(pred, target, trimap)
    assert 0.0 <= result["sad"] <= n / 1000 + 1e-12
    assert 0.0 <= result["mse"] <= 1.0
    assert 0.0 <= result["conn"] <= n / 1000 + 1e-9
    assert result["grad"] >= 0.0


def test_components_are_four_connected():
    # (2, 2) touches the block only at a corner: with 4-connectivity it leaves
    # Omega at t = 0.1 (l = 0) and its 0.09 difference counts; joined
    # diagonally it would stay until t = 0.6, where both d < 0.15.
    target = np.zeros((4, 4))
    target[:2, :2] = 1.0
    pred = target.copy()
    pred[2, 2], target[2, 2] = 0.74, 0.65
    assert conn_all_unknown(pred, target) == pytest.approx(0.09 / 1000, rel=1e-5)
