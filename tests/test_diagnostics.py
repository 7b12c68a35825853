"""mattinglib.diagnostics: why a matte fails on a real photo."""

from __future__ import annotations

import numpy as np
import pytest

from mattinglib import diagnostics as dg
from mattinglib.classical import closed_form_matting
from mattinglib.exercises import ch08_your_photo
from mattinglib.metrics import sad
from mattinglib.trimap import trimap_from_mask


@pytest.fixture(scope="module")
def case():
    return ch08_your_photo.band_case()


class TestRoughMask:
    def test_strands_go_and_the_body_stays(self):
        a = np.zeros((60, 60), np.float32)
        a[15:45, 15:45] = 1
        a[0:15, 30] = 0.9                      # a one-pixel strand
        m = dg.rough_mask_from_alpha(a, smooth=0.05)
        assert m[30, 30] and not m[5, 30] and m.dtype == np.bool_
        assert np.array_equal(dg.rough_mask_from_alpha(a, smooth=0), a >= 0.5)
        assert np.array_equal(dg.rough_mask_from_alpha(a, smooth=np.float32(0.05)), m)

    @pytest.mark.parametrize("smooth", [-0.1, 0.5, "a", True])
    def test_rejects_bad_smooth(self, smooth):
        with pytest.raises(ValueError, match="smooth"):
            dg.rough_mask_from_alpha(np.zeros((4, 4), np.float32), smooth=smooth)


class TestMissedAndCommon:
    def test_missed_soft_pixels(self):
        alpha = np.array([[0, 0.2, 0.8, 1, 0.5]], np.float32)
        tri = np.array([[0, 0, 255, 255, 128]], np.uint8)
        assert dg.missed_soft_pixels(tri, alpha).tolist() == [[False, True, True, False, False]]

    def test_missed_rejects_bad_trimap(self):
        with pytest.raises(ValueError, match="trimap"):
            dg.missed_soft_pixels(np.full((2, 2), 127, np.uint8), np.zeros((2, 2), np.float32))

    def test_common_region_holds_every_narrower_band_and_every_soft_pixel(self, case):
        _, alpha, mask = case
        common = dg.common_trimap(mask, alpha, 4)
        assert not dg.missed_soft_pixels(common, alpha).any()
        for band in (1, 2, 3, 4):
            assert ((trimap_from_mask(mask, iterations=band) == 128) <= (common == 128)).all()


class TestSadByBand:
    def test_matches_a_direct_computation(self, case):
        image, alpha, mask = case
        out = dg.sad_by_band(image, alpha, mask, [1, 4])
        common = dg.common_trimap(mask, alpha, 4)
        for i, band in enumerate((1, 4)):
            tri = trimap_from_mask(mask, kernel_size=3, iterations=band)
            pred = closed_form_matting(image, tri)
            assert out["sad"][i] == pytest.approx(sad(pred, alpha, common))
            assert out["sad_own"][i] == pytest.approx(sad(pred, alpha, tri))
            assert out["missed"][i] == int(dg.missed_soft_pixels(tri, alpha).sum())
        # The lesson of the chapter: too narrow a band misses soft pixels and costs SAD
        # on the common region, while its own-region SAD looks better.
        assert out["missed"][0] > out["missed"][1]
        assert out["sad"][0] > out["sad"][1] and out["sad_own"][0] < out["sad_own"][1]

    def test_solver_is_used(self, case):
        image, alpha, mask = case
        half = lambda img, tri: np.where(tri == 255, 1.0, np.where(tri == 128, 0.5, 0.0))  # noqa: E731
        out = dg.sad_by_band(image, alpha, mask, [2], solver=half)
        expected = sad(half(image, trimap_from_mask(mask, iterations=2)), alpha,
                       dg.common_trimap(mask, alpha, 2))
        assert out["sad"][0] == pytest.approx(expected)

    @pytest.mark.parametrize("bands", [[], [0], [1.5], 3, [True]])
    def test_rejects_bad_bands(self, case, bands):
        with pytest.raises(ValueError, match="bands"):
            dg.sad_by_band(*case, bands)


class TestMatteAtScale:
    def test_scale_one_is_the_solver(self, case):
        image, alpha, mask = case
        tri = trimap_from_mask(mask, iterations=4)
        assert np.allclose(dg.matte_at_scale(image, tri, 1.0), closed_form_matting(image, tri),
                           atol=1e-5)

    def test_smaller_subject_is_worse_and_known_pixels_stay(self, case):
        image, alpha, mask = case
        tri = dg.common_trimap(mask, alpha, 4)
        full, small = (dg.matte_at_scale(image, tri, s) for s in (1.0, 0.25))
        assert sad(small, alpha, tri) > sad(full, alpha, tri)
        assert (small[tri == 255] == 1).all() and (small[tri == 0] == 0).all()

    @pytest.mark.parametrize("scale", [0, 1.5, "half", True])
    def test_rejects_bad_scale(self, case, scale):
        image, alpha, mask = case
        with pytest.raises(ValueError, match="scale"):
            dg.matte_at_scale(image, trimap_from_mask(mask), scale)


class TestPlateDifference:
    def test_shifted_plate_differs_on_the_scene(self):
        rng = np.random.default_rng(0)
        scene = rng.random((32, 40, 3)).astype(np.float32)
        person = np.zeros((32, 40), bool)
        person[8:24, 15:25] = True
        photo = scene.copy()
        photo[person] = 0.5
        _, aligned = dg.plate_difference(photo, scene, person=person)
        diff, shifted = dg.plate_difference(photo, np.roll(scene, 3, axis=1), person=person)
        assert aligned == 0 and shifted > 50 and diff.shape == (32, 40)

    def test_valid_and_errors(self):
        a = np.zeros((4, 4, 3), np.float32)
        b = a.copy()
        b[:, :2] = 1
        valid = np.zeros((4, 4), bool)
        valid[:, 2:] = True
        assert dg.plate_difference(a, b, valid=valid)[1] == 0
        with pytest.raises(ValueError, match="plate"):
            dg.plate_difference(a, np.zeros((3, 4, 3), np.float32))
        with pytest.raises(ValueError, match="person"):
            dg.plate_difference(a, b, person=np.ones((4, 4), bool))
