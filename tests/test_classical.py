"""Classical baselines: closed-form and KNN matting (pymatting), the trimap baseline,
triangulation."""

from __future__ import annotations

import numpy as np
import pytest

from mattinglib.classical import (
    closed_form_matting,
    knn_matting,
    triangulation_matting,
    trimap_baseline,
)
from mattinglib.compositing import compose
from mattinglib.metrics import evaluate, sad
from mattinglib.trimap import trimap_from_alpha


def soft_scene(h=48, w=64, seed=0):
    """A soft-edged disc of one colour over a two-colour background, with its exact alpha."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(yy - h / 2, xx - w / 2)
    alpha = np.clip((14.0 - dist) / 6.0, 0.0, 1.0)
    fg = np.broadcast_to(np.array([0.9, 0.7, 0.2]), (h, w, 3)).copy()
    bg = np.where((xx // 8 % 2 == 0)[..., None], [0.1, 0.2, 0.6], [0.2, 0.5, 0.3])
    bg = bg + rng.normal(0, 0.01, (h, w, 3))
    image = compose(fg, np.clip(bg, 0, 1), alpha)
    return image, alpha


class TestClosedForm:
    def test_beats_trimap_baseline(self):
        image, alpha = soft_scene()
        tri = trimap_from_alpha(alpha, kernel_size=3, iterations=3)
        pred = closed_form_matting(image, tri)
        base = trimap_baseline(tri)
        assert pred.shape == alpha.shape and pred.dtype == np.float32
        assert pred.min() >= 0 and pred.max() <= 1
        s_cf, s_base = sad(pred, alpha, tri), sad(base, alpha, tri)
        assert s_cf < 0.25 * s_base, (s_cf, s_base)

    def test_known_regions_exact(self):
        image, alpha = soft_scene()
        tri = trimap_from_alpha(alpha, kernel_size=3, iterations=3)
        pred = closed_form_matting(image, tri)
        assert np.all(pred[tri == 255] == 1.0) and np.all(pred[tri == 0] == 0.0)

    def test_accepts_uint8_image(self):
        image, alpha = soft_scene()
        tri = trimap_from_alpha(alpha, kernel_size=3, iterations=3)
        a = closed_form_matting(image, tri)
        b = closed_form_matting(np.round(image * 255).astype(np.uint8), tri)
        assert np.abs(a - b).mean() < 0.01

    def test_max_side_downsamples_and_stays_close(self):
        image, alpha = soft_scene(96, 128)
        tri = trimap_from_alpha(alpha, kernel_size=3, iterations=4)
        full = closed_form_matting(image, tri)
        small = closed_form_matting(image, tri, max_side=64)
        assert small.shape == alpha.shape
        assert np.all(small[tri == 255] == 1.0) and np.all(small[tri == 0] == 0.0)
        # Half resolution loses detail but must stay a good matte.
        assert sad(small, alpha, tri) < 0.25 * sad(trimap_baseline(tri), alpha, tri)
        assert np.abs(small - full)[tri == 128].mean() < 0.05

    def test_no_unknown_region_returns_trimap(self):
        image, _ = soft_scene()
        tri = np.zeros(image.shape[:2], np.uint8)
        tri[:, 32:] = 255
        assert np.array_equal(closed_form_matting(image, tri), (tri == 255).astype(np.float32))

    def test_one_sided_constraints(self):
        image, _ = soft_scene()
        tri = np.full(image.shape[:2], 128, np.uint8)
        tri[:4] = 0
        assert np.all(closed_form_matting(image, tri) == 0.0)

    @pytest.mark.parametrize("bad, message", [
        (dict(trimap=np.full((48, 64), 127, np.uint8)), "trimap: expected only the values"),
        (dict(trimap=np.full((48, 64), 128, np.uint8)), "trimap: every pixel is unknown"),
        (dict(trimap=np.zeros((40, 64), np.uint8)), "trimap: expected height x width"),
        (dict(image=np.zeros((48, 64))), "image: expected shape (H,W,3)"),
        (dict(image=np.full((48, 64, 3), 2.0)), "image: expected values in"),
        (dict(max_side=4), "max_side"),
    ])
    def test_rejects_bad_input(self, bad, message):
        image, alpha = soft_scene()
        args = dict(image=image, trimap=trimap_from_alpha(alpha, kernel_size=3, iterations=3))
        args.update(bad)
        max_side = args.pop("max_side", None)
        with pytest.raises(ValueError) as info:
            closed_form_matting(args["image"], args["trimap"], max_side=max_side)
        assert message in str(info.value)


def test_knn_beats_trimap_baseline():
    image, alpha = soft_scene()
    tri = trimap_from_alpha(alpha, kernel_size=3, iterations=3)
    pred = knn_matting(image, tri)
    assert sad(pred, alpha, tri) < 0.5 * sad(trimap_baseline(tri), alpha, tri)


class TestTrimapBaseline:
    def test_values(self):
        tri = np.array([[0, 128, 255]], np.uint8)
        np.testing.assert_array_equal(trimap_baseline(tri, unknown_value=0.25), [[0.0, 0.25, 1.0]])

    def test_rejects_bad_value(self):
        with pytest.raises(ValueError, match="^unknown_value"):
            trimap_baseline(np.zeros((2, 2), np.uint8), unknown_value=1.5)

    @pytest.mark.parametrize("value, shown", [("0.5", "str '0.5'"), (True, "bool True")])
    def test_rejects_a_value_that_is_not_a_number(self, value, shown):
        with pytest.raises(TypeError, match=f"^unknown_value: expected a finite number in "
                                            f"\\[0, 1\\], got {shown}$"):
            trimap_baseline(np.zeros((2, 2), np.uint8), unknown_value=value)


class TestTriangulation:
    def test_exact_recovery(self):
        rng = np.random.default_rng(5)
        fg, alpha = rng.random((20, 30, 3)), rng.random((20, 30))
        alpha[:3], alpha[-3:] = 0.0, 1.0
        b1, b2 = rng.random((20, 30, 3)), rng.random((20, 30, 3))
        b2[:, :10] = b1[:, :10]
        b2[:, :10, 0] = 1 - b1[:, :10, 0]  # differ in red only on the left third
        a, f = triangulation_matting(compose(fg, b1, alpha), compose(fg, b2, alpha), b1, b2)
        np.testing.assert_allclose(a, alpha, atol=1e-5)
        visible = alpha > 0.05
        np.testing.assert_allclose(f[visible], fg[visible], atol=1e-4)
        assert np.all(f[alpha == 0] == 0)

    def test_equal_backgrounds_undetermined(self):
        img = np.full((4, 4, 3), 0.3)
        a, _ = triangulation_matting(img, img, img, img)
        assert np.all(a == 1.0)

    def test_rejects_mismatched_sizes(self):
        x = np.zeros((4, 4, 3))
        with pytest.raises(ValueError, match="^background2"):
            triangulation_matting(x, x, x, np.zeros((4, 5, 3)))


@pytest.mark.data
def test_closed_form_on_a_real_image(alphamatting_dir):
    from mattinglib.io import load_alphamatting

    sample = load_alphamatting(alphamatting_dir, names=["GT04"], max_side=200)[0]
    pred = closed_form_matting(sample.image, sample.trimap)
    ours = evaluate(pred, sample.alpha, sample.trimap)
    base = evaluate(trimap_baseline(sample.trimap), sample.alpha, sample.trimap)
    # FACTS.md section 6: closed-form is about 6x better than the trimap baseline on SAD.
    assert ours["sad"] < 0.4 * base["sad"], (ours, base)
    assert ours["mse"] < base["mse"]
