"""The trimap painter of chapter 8, driven from Python (controls set, buttons clicked)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pytest

from mattinglib.widgets import TrimapPainter, png_bytes, trimap_painter


def _disc(h=48, w=64, r=12.0):
    yy, xx = np.mgrid[:h, :w]
    d = np.hypot(yy - h / 2, xx - w / 2)
    return np.clip((r + 2 - d) / 4, 0, 1).astype(np.float32)    # a disc with a 4-px soft edge


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return rng.random((48, 64, 3)).astype(np.float32)


class TestTrimapPainter:
    def test_is_a_displayable_box_and_starts_from_the_mask(self, photo):
        mask = _disc() >= 0.5
        p = trimap_painter(photo, mask, band=2)
        assert isinstance(p, widgets.VBox)
        tri = p.trimap
        assert tri.dtype == np.uint8 and set(np.unique(tri)) == {0, 128, 255}
        assert tri[24, 32] == 255 and tri[0, 0] == 0
        assert p.picture.value[:4] == b"\x89PNG" and "band 2" in p.info.value

    def test_rectangle_actions_change_the_trimap_and_the_picture(self, photo):
        p = TrimapPainter(photo, None, band=1)
        assert not (p.trimap == 255).any()                        # an empty mask: all background
        before = p.picture.value
        p.x_range.value, p.y_range.value = (10, 30), (5, 40)      # moving the rectangle redraws it
        moved = p.picture.value
        assert moved != before
        p.action.value = "foreground"
        p.apply_button.click()
        assert p.mask[5:40, 10:30].all() and p.mask.sum() == 20 * 35
        assert p.trimap[20, 20] == 255 and p.picture.value != moved
        p.x_range.value, p.y_range.value = (10, 30), (5, 10)
        p.action.value = "background"
        p.apply_button.click()
        assert not p.mask[5:10, 10:30].any() and p.mask[10:40, 10:30].all()
        p.x_range.value, p.y_range.value = (40, 50), (0, 8)
        p.action.value = "unknown"
        p.apply_button.click()
        assert (p.trimap[0:8, 40:50] == 128).all()
        p.x_range.value, p.y_range.value = (40, 50), (0, 4)
        p.action.value = "background"
        p.apply_button.click()                                      # clears those unknown marks
        assert (p.trimap[0:4, 40:50] == 0).all() and (p.trimap[4:8, 40:50] == 128).all()

    def test_band_buttons(self, photo):
        p = TrimapPainter(photo, _disc() >= 0.5, band=3)
        unknown = lambda: int((p.trimap == 128).sum())  # noqa: E731
        n3 = unknown()
        p.grow_button.click()
        assert p.band == 4 and unknown() > n3 and "band 4" in p.info.value
        p.shrink_button.click()
        p.shrink_button.click()
        assert p.band == 2 and unknown() < n3
        for _ in range(5):
            p.shrink_button.click()
        assert p.band == 1                                         # never below one iteration
        p.reset_button.click()
        assert p.band == 3 and unknown() == n3

    def test_matte_button_runs_the_solver_and_reports_sad(self, photo):
        gt = _disc()
        seen = []

        def solver(image, trimap):
            seen.append(trimap.copy())
            return np.where(trimap == 255, 1.0,
                            np.where(trimap == 128, 0.5, 0.0)).astype(np.float32)

        p = TrimapPainter(photo, gt >= 0.5, band=2, solver=solver, gt=gt)
        assert "partly transparent pixels outside the unknown region" in p.info.value
        p.matte_button.click()
        assert len(seen) == 1 and np.array_equal(seen[0], p.trimap)
        assert p.alpha_image.value == png_bytes(p.alpha) and "SAD" in p._alpha_label.value
        placeholder = TrimapPainter(photo).alpha_image.value
        p.reset_button.click()
        assert p.alpha is None and p.alpha_image.value == placeholder != png_bytes(p.trimap / 255.0)

    def test_missed_soft_pixels_are_counted(self, photo):
        gt = _disc()
        soft = int(((gt > 0) & (gt < 1)).sum())
        narrow = TrimapPainter(photo, gt >= 0.5, band=1, gt=gt)
        wide = TrimapPainter(photo, gt >= 0.5, band=4, gt=gt)
        assert f"of {soft} " in narrow.info.value

        def missed(p):
            return int(p.info.value.split("transparent pixels outside the "
                                          "unknown region: ")[1].split()[0])

        assert missed(narrow) > 0 and missed(wide) == 0

    def test_masks_of_every_kind(self, photo):
        disc = _disc()
        ref = TrimapPainter(photo, disc >= 0.5).mask
        assert np.array_equal(TrimapPainter(photo, (disc >= 0.5).astype(np.uint8) * 255).mask, ref)
        assert np.array_equal(TrimapPainter(photo, (disc >= 0.5).astype(np.uint8)).mask, ref)
        assert np.array_equal(TrimapPainter(photo, disc).mask, ref)    # soft: >= 0.5

    @pytest.mark.parametrize("kwargs, error, message", [
        (dict(mask=np.zeros((4, 4), bool)), ValueError, "mask"),
        (dict(mask=[[0, 1]]), TypeError, "mask"),
        (dict(band=0), ValueError, "band"),
        (dict(band=True), TypeError, r"^band: expected an integer >= 1, got True$"),
        (dict(solver="closed-form"), TypeError, "solver"),
        (dict(gt=np.zeros((4, 4), np.float32)), ValueError, "gt"),
    ])
    def test_rejects(self, photo, kwargs, error, message):
        with pytest.raises(error, match=message):
            TrimapPainter(photo, **kwargs)

    def test_matte_without_solver_and_bad_action(self, photo):
        p = TrimapPainter(photo)
        assert p.matte_button.layout.display == "none"
        with pytest.raises(ValueError, match="solver"):
            p.matte()
        with pytest.raises(ValueError, match="action"):
            p.apply("hair")


def test_rejects_a_mask_of_other_integers(photo):
    with pytest.raises(ValueError, match="mask"):
        TrimapPainter(photo, np.full((48, 64), 7, np.uint8))
