"""The real-foreground training source, its fixed split, and the offline fallbacks.

Most tests build a tiny alphamatting-like folder (GT01-GT14, 40x48 px, generated
alphas) so that they run without the real data and can watch every file read.
"""

from __future__ import annotations

import re
import warnings

import cv2
import numpy as np
import pytest
import torch

import mattinglib.io as mio
from mattinglib.data import real
from mattinglib.data.real import (
    HELDOUT_NAMES,
    TRAIN_NAMES,
    AlphamattingForegrounds,
    MixedForegrounds,
    PhotoBackgrounds,
    RealMattingDataset,
    check_training_names,
    heldout_names_present,
    offline_backgrounds,
)
from mattinglib.data.synthetic import SyntheticForegrounds

HELDOUT_RE = re.compile(r"GT(1[1-9]|2[0-7])")


def _fake_alphamatting(root, names, h=40, w=48):
    rng = np.random.default_rng(0)
    for sub in ("input", "gt", "trimap1", "trimap2"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:h, :w]
    for k, name in enumerate(names):
        alpha = np.clip((xx - 14 - k % 5) / 12.0, 0, 1).astype(np.float32)
        image = rng.random((h, w, 3)).astype(np.float32)
        tri = np.full((h, w), 128, np.uint8)
        tri[alpha == 0] = 0
        tri[alpha == 1] = 255
        mio.write_image(root / "input" / f"{name}.png", image)
        cv2.imwrite(str(root / "gt" / f"{name}.png"),
                    np.repeat(np.rint(alpha * 255).astype(np.uint8)[..., None], 3, 2))
        for t in ("trimap1", "trimap2"):
            mio.write_trimap(root / t / f"{name}.png", tri)
    return root


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    root = _fake_alphamatting(tmp_path / "data" / "alphamatting_lowres",
                              [f"GT{i:02d}" for i in range(1, 15)])
    monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path / "data"))
    return root


class TestSplit:
    def test_names_partition_the_27_images(self):
        assert set(TRAIN_NAMES) | set(HELDOUT_NAMES) == set(mio.ALPHAMATTING_NAMES)
        assert not set(TRAIN_NAMES) & set(HELDOUT_NAMES)
        assert TRAIN_NAMES == tuple(f"GT{i:02d}" for i in range(1, 11))

    @pytest.mark.parametrize("name", HELDOUT_NAMES)
    def test_every_heldout_name_is_refused(self, name):
        with pytest.raises(ValueError, match="held-out"):
            check_training_names(["GT01", name])

    def test_bad_names(self):
        with pytest.raises(TypeError, match="^names:"):
            check_training_names("GT01")
        with pytest.raises(ValueError, match="^names:"):
            check_training_names(["GT99"])
        with pytest.raises(ValueError, match="^names:"):
            check_training_names([])

    def test_foreground_source_refuses_heldout(self, fake_root):
        with pytest.raises(ValueError, match="held-out"):
            AlphamattingForegrounds(fake_root, names=["GT12"])

    def test_no_heldout_file_is_ever_read_by_training(self, fake_root, monkeypatch):
        """Every image file opened while building and sampling a training set is recorded:
        none may be a held-out photo, alpha or trimap (this fails if the split leaks)."""
        opened = []
        original = mio.read_image_raw

        def spy(path, *args, **kwargs):
            opened.append(str(path))
            return original(path, *args, **kwargs)

        monkeypatch.setattr(mio, "read_image_raw", spy)
        real._FG_CACHE.clear()
        ds = RealMattingDataset(24, 16, seed=0, max_side=48, synthetic_fraction=0.3)
        for i in range(len(ds)):
            ds[i]
        assert opened, "the spy saw no file: the test would prove nothing"
        assert any("GT01" in p for p in opened)
        leaked = [p for p in opened if HELDOUT_RE.search(p)]
        assert leaked == []
        assert heldout_names_present(fake_root) == tuple(f"GT{i}" for i in range(11, 15))


class TestRealMattingDataset:
    def test_deterministic_per_seed(self, fake_root):
        a = RealMattingDataset(6, 16, seed=3, max_side=48)
        b = RealMattingDataset(6, 16, seed=3, max_side=48)
        c = RealMattingDataset(6, 16, seed=4, max_side=48)
        for i in range(6):
            for key in ("image", "alpha", "trimap", "fg", "bg"):
                assert torch.equal(a[i][key], b[i][key])
        assert any(not torch.equal(a[i]["image"], c[i]["image"]) for i in range(6))

    def test_sample_contract(self, fake_root):
        ds = RealMattingDataset(4, 16, seed=0, max_side=48)
        s = ds[0]
        assert s["image"].shape == (3, 16, 16) and s["trimap"].shape == (1, 16, 16)
        assert set(torch.unique(torch.round(s["trimap"] * 255)).tolist()) <= {0.0, 128.0, 255.0}
        recomposed = s["alpha"] * s["fg"] + (1 - s["alpha"]) * s["bg"]
        assert torch.allclose(recomposed, s["image"], atol=1e-6)
        assert "real foregrounds (GT01" in ds.source_description
        assert ds.crop_sizes == (12, 16, 20) and ds.trimap_iterations == (1, 3)

    def test_real_share_matches_the_fraction(self, fake_root):
        fg = AlphamattingForegrounds(fake_root, max_side=48)
        mixed = MixedForegrounds(fg, SyntheticForegrounds(32, 0), synthetic_fraction=0.25, seed=0,
                                 length=400)
        tags = [mixed.sample(i)[2] for i in range(400)]
        share = np.mean([not t.startswith("alphamatting:") for t in tags])
        assert 0.18 < share < 0.32

    def test_fallback_without_real_data(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path / "empty"))
        with pytest.warns(UserWarning, match="generated foregrounds only"):
            ds = RealMattingDataset(4, 16, seed=0)
        assert "generated foregrounds only" in ds.source_description
        assert "procedural textures only" in ds.source_description
        assert ds[0]["image"].shape == (3, 16, 16)

    def test_bad_arguments(self, fake_root):
        with pytest.raises(ValueError, match="^trimap_iterations:"):
            RealMattingDataset(4, 16, max_side=48, trimap_iterations=(0, 2))
        with pytest.raises(ValueError, match="^crop_scales:"):
            RealMattingDataset(4, 16, max_side=48, crop_scales=())


class TestBackgrounds:
    def test_photo_backgrounds_deterministic_and_mixed(self):
        photos = [(np.full((30, 40, 3), 200, np.uint8), "grey"),
                  (np.zeros((50, 20, 3), np.uint8), "black")]
        src = PhotoBackgrounds(photos, 16, seed=1, procedural_fraction=0.5)
        first = [src.sample(i) for i in range(40)]
        again = [src.sample(i) for i in range(40)]
        assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(first, again))
        tags = {t for _, t in first}
        assert {"procedural", "grey", "black"} <= tags
        assert all(b.shape == (16, 16, 3) and b.dtype == np.float32 for b, _ in first)

    def test_photo_backgrounds_bad_input(self):
        with pytest.raises(ValueError, match="^photos:"):
            PhotoBackgrounds([], 16)
        with pytest.raises(ValueError, match="^photos:"):
            PhotoBackgrounds([(np.zeros((4, 4)), "grey")], 16)

    def test_source_order(self, tmp_path, monkeypatch):
        monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path))
        _, text = offline_backgrounds(16, training_photos=[(np.zeros((8, 8, 3), np.uint8), "GT01")])
        assert text.startswith("1 offline real photos (GT01)")
        coco = tmp_path / "backgrounds" / "coco" / "train2014"
        coco.mkdir(parents=True)
        cv2.imwrite(str(coco / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            photo = (np.zeros((8, 8, 3), np.uint8), "GT01")
            src, text = offline_backgrounds(16, training_photos=[photo])
        assert str(coco) in text
        assert src.sample(1)[0].shape == (16, 16, 3)


def test_foreground_estimation_keeps_torchs_thread_count():
    # pymatting's numba start-up used to reset torch's OpenMP threads to the core count.
    import numpy as np
    import torch

    from mattinglib.compositing import estimate_foreground

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        estimate_foreground(rng.random((16, 16, 3)).astype(np.float32),
                            rng.random((16, 16)).astype(np.float32))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
