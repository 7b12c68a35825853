"""Synthetic foregrounds and backgrounds: exact, in range, reproducible, hard where they should
be."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mattinglib.data.synthetic import (
    BACKGROUND_KINDS,
    KINDS,
    SyntheticBackgrounds,
    SyntheticForegrounds,
    match_background_colour,
    procedural_background,
)

SIZE = 96


@pytest.fixture(scope="module")
def samples():
    return {k: [SyntheticForegrounds(SIZE, seed=7, kinds=(k,)).sample(i)
                for i in range(3)] for k in KINDS}


class TestForegrounds:
    @pytest.mark.parametrize("kind", KINDS)
    def test_shapes_dtypes_ranges(self, samples, kind):
        for fg, alpha, got_kind in samples[kind]:
            assert got_kind == kind
            assert fg.shape == (SIZE, SIZE, 3) and fg.dtype == np.float32
            assert alpha.shape == (SIZE, SIZE) and alpha.dtype == np.float32
            assert np.isfinite(fg).all() and np.isfinite(alpha).all()
            assert 0 <= alpha.min() and alpha.max() <= 1
            assert 0 <= fg.min() and fg.max() <= 1
            assert (alpha > 0).mean() > 0.01, "the object must be visible"

    def test_rectangular_size(self):
        fg, alpha, _ = SyntheticForegrounds((40, 72), seed=0).sample(3)
        assert fg.shape == (40, 72, 3) and alpha.shape == (40, 72)

    def test_same_seed_same_sample(self):
        a = SyntheticForegrounds(SIZE, seed=3)
        b = SyntheticForegrounds(SIZE, seed=3)
        for i in (0, 5, 11):  # every kind appears among consecutive indices
            fa, aa, ka = a.sample(i)
            fb, ab, kb = b.sample(i)
            assert ka == kb and np.array_equal(fa, fb) and np.array_equal(aa, ab)

    def test_order_of_calls_does_not_matter(self):
        gen = SyntheticForegrounds(SIZE, seed=3)
        first = gen.sample(9)[1]
        gen.sample(2)
        gen.sample(100)
        assert np.array_equal(gen.sample(9)[1], first)

    def test_different_indices_and_seeds_differ(self):
        gen = SyntheticForegrounds(SIZE, seed=3, kinds=("hair",))
        assert not np.array_equal(gen.sample(0)[1], gen.sample(1)[1])
        other = SyntheticForegrounds(SIZE, seed=4, kinds=("hair",))
        assert not np.array_equal(gen.sample(0)[1], other.sample(0)[1])

    def test_kinds_cycle_evenly(self):
        gen = SyntheticForegrounds(16, seed=0)
        assert [gen.sample(i)[2] for i in range(len(KINDS))] == list(KINDS)

    def test_independent_of_opencv_simd_and_threads(self):
        """The integer OpenCV paths give the same bits with optimisations off (another CPU)."""
        gen = SyntheticForegrounds(SIZE, seed=11)
        ref = [gen.sample(i) for i in range(len(KINDS))]
        threads = cv2.getNumThreads()
        try:
            cv2.setUseOptimized(False)
            cv2.setNumThreads(1)
            again = [gen.sample(i) for i in range(len(KINDS))]
        finally:
            cv2.setUseOptimized(True)
            cv2.setNumThreads(threads)
        for (f1, a1, k), (f2, a2, _) in zip(ref, again):
            assert np.array_equal(a1, a2), k
            assert np.array_equal(f1, f2), k

    def test_hair_is_many_thin_semi_transparent_strands(self, samples):
        for fg, alpha, _ in samples["hair"]:
            fractional = (alpha > 0) & (alpha < 1)
            assert fractional.mean() > 0.05
            # thin: most fractional pixels have a zero-alpha pixel within 2 px
            # (open image structure rather than a blurred blob)
            near_clear = cv2.erode((alpha > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
            assert (near_clear & fractional).sum() > 0.3 * fractional.sum()
            # anti-aliased, overlapping strands of several opacities: many distinct levels
            assert len(np.unique(alpha[fractional])) > 50

    def test_transparent_has_large_partial_areas(self, samples):
        for _, alpha, _ in samples["transparent"]:
            partial = (alpha > 0.05) & (alpha < 0.95)
            assert partial.mean() > 0.03
            assert (alpha == 1).mean() < partial.mean()

    def test_solid_is_opaque_with_thin_edges(self, samples):
        for _, alpha, _ in samples["solid"]:
            assert (alpha == 1).sum() > 2 * ((alpha > 0) & (alpha < 1)).sum()

    def test_holes_have_background_inside_the_object(self, samples):
        for _, alpha, _ in samples["holes"]:
            filled = np.zeros((SIZE + 2, SIZE + 2), np.uint8)
            solid = (alpha > 0).astype(np.uint8)
            # pixels unreachable from the border that are clear = holes
            outside = solid.copy()
            cv2.floodFill(outside, filled, (0, 0), 2) if solid[0, 0] == 0 else None
            holes = (outside == 0)
            blurred_or_net = ((alpha > 0) & (alpha < 1)).mean() > 0.02
            assert holes.any() or blurred_or_net

    @pytest.mark.parametrize("kind", ["motion_blur", "defocus"])
    def test_blurred_edges_are_wide(self, samples, kind):
        for _, alpha, _ in samples[kind]:
            solid_fraction = ((alpha > 0) & (alpha < 1)).sum() / max((alpha > 0).sum(), 1)
            assert solid_fraction > 0.05

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="^kinds: unknown kinds"):
            SyntheticForegrounds(32, kinds=("hair", "feathers"))
        with pytest.raises(ValueError, match="^seed:"):
            SyntheticForegrounds(32, seed=-1)
        with pytest.raises(ValueError, match="^size:"):
            SyntheticForegrounds(4)
        with pytest.raises(ValueError, match="^index:"):
            SyntheticForegrounds(32).sample(-2)


class TestBackgrounds:
    @pytest.mark.parametrize("kind", BACKGROUND_KINDS)
    def test_each_kind(self, kind):
        bg = procedural_background((40, 56), np.random.default_rng(1), kinds=(kind,))
        assert bg.shape == (40, 56, 3) and bg.dtype == np.float32
        assert 0 <= bg.min() and bg.max() <= 1
        assert bg.std() > 0.005, "a texture, not a flat colour"

    def test_reproducible(self):
        a = procedural_background(48, np.random.default_rng(5))
        b = procedural_background(48, np.random.default_rng(5))
        assert np.array_equal(a, b)
        src = SyntheticBackgrounds(48, seed=2)
        assert np.array_equal(src.sample(3)[0], src.sample(3)[0])
        assert not np.array_equal(src.sample(3)[0], src.sample(4)[0])

    def test_rng_must_be_a_generator(self):
        with pytest.raises(ValueError, match="^rng: expected a numpy.random.Generator"):
            procedural_background(32, 0)

    def test_photos_from_a_folder(self, tmp_path):
        photo = (np.random.default_rng(0).random((50, 80, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "p.png"), photo)
        src = SyntheticBackgrounds(32, seed=0, photos=tmp_path, photo_fraction=1.0)
        bg, tag = src.sample(0)
        assert tag == "p" and bg.shape == (32, 32, 3) and 0 <= bg.min() and bg.max() <= 1

    def test_match_background_colour_brings_colours_close(self):
        fg, alpha, _ = SyntheticForegrounds(64, seed=0, kinds=("solid",)).sample(0)
        bg = np.zeros((64, 64, 3), np.float32) + np.array([0.9, 0.1, 0.5], np.float32)
        matched = match_background_colour(bg, fg, alpha, np.random.default_rng(0), max_offset=0.05)
        w = alpha[..., None] / alpha.sum()
        fg_mean = (fg * w).sum((0, 1))
        before = np.abs((bg * w).sum((0, 1)) - fg_mean).max()
        after = np.abs((matched * w).sum((0, 1)) - fg_mean).max()
        assert after <= 0.05 + 1e-5 < before
