"""Profiles, device choice, data root; reading and writing images, alphas and trimaps."""

from __future__ import annotations

import numpy as np
import pytest

from mattinglib import config, io
from mattinglib._checks import as_float01, check_shape, check_trimap_values


class TestProfiles:
    def test_env_var_selects_profile(self, monkeypatch):
        monkeypatch.setenv("MATTINGLIB_PROFILE", "full")
        assert config.get_profile().name == "full"
        monkeypatch.setenv("MATTINGLIB_PROFILE", "quick")
        assert config.get_profile().name == "quick"

    def test_default_follows_hardware(self, monkeypatch):
        monkeypatch.delenv("MATTINGLIB_PROFILE", raising=False)
        monkeypatch.setattr(config, "_cuda_available", lambda: False)
        assert config.get_profile().name == "quick"
        monkeypatch.setattr(config, "_cuda_available", lambda: True)
        assert config.get_profile().name == "full"

    def test_unknown_profile_is_named(self, monkeypatch):
        monkeypatch.setenv("MATTINGLIB_PROFILE", "huge")
        with pytest.raises(ValueError,
                           match="profile: expected one of \\['full', 'quick'\\], got 'huge'"):
            config.get_profile()

    def test_quick_is_smaller_than_full(self):
        q, f = config.PROFILES["quick"], config.PROFILES["full"]
        assert q.image_size < f.image_size and q.train_steps < f.train_steps and q.width < f.width
        assert q.num_workers == 0, "notebooks default to num_workers=0 (works on every platform)"

    def test_profiles_are_frozen_and_with_checks_fields(self):
        q = config.get_profile("quick")
        with pytest.raises(AttributeError):
            q.train_steps = 1
        assert q.with_(train_steps=7).train_steps == 7 and q.train_steps != 7
        with pytest.raises(ValueError, match="unknown profile fields \\['steps'\\]"):
            q.with_(steps=7)


class TestDevice:
    def test_auto_is_cpu_without_cuda(self, monkeypatch):
        import torch
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        assert config.get_device("auto").type == "cpu"

    def test_cuda_without_cuda_is_a_clear_error(self, monkeypatch):
        import torch
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.raises(ValueError, match="device: 'cuda' asked for, but CUDA is not available"):
            config.get_device("cuda")

    def test_nonsense_device(self):
        with pytest.raises(ValueError, match="device: expected"):
            config.get_device("gpu please")


class TestDataRoot:
    def test_env_var_wins(self, monkeypatch, tmp_path):
        monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path))
        assert config.data_root() == tmp_path.resolve()
        assert config.find_dataset("x") is None
        (tmp_path / "x").mkdir()
        assert config.find_dataset("x") == tmp_path.resolve() / "x"

    def test_default_does_not_depend_on_cwd(self, monkeypatch, tmp_path):
        monkeypatch.delenv("MATTINGLIB_DATA", raising=False)
        before = config.data_root()
        monkeypatch.chdir(tmp_path)
        assert config.data_root() == before == config.REPO_ROOT / "data"


class TestChecks:
    def test_shape_spec_binds_letters(self):
        with pytest.raises(ValueError, match=r"mask: expected shape \(B,1,H,W\), got \(2, 1, 4\)"):
            check_shape(np.zeros((2, 1, 4)), "B,1,H,W", name="mask")
        with pytest.raises(ValueError, match="expected shape"):
            check_shape(np.zeros((2, 3, 4)), "H,H,3", name="x")

    def test_float_out_of_range_is_not_clipped(self):
        with pytest.raises(ValueError,
                           match=r"alpha: expected values in \[0.0, 1.0\], got min 0, max 1.5"):
            as_float01(np.array([0.0, 1.5]), name="alpha")
        with pytest.raises(ValueError, match="alpha: contains NaN"):
            as_float01(np.array([np.nan]), name="alpha")
        with pytest.raises(ValueError, match="alpha: expected uint8 in 0..255 or float in "
                                             "\\[0, 1\\], got dtype int32"):
            as_float01(np.array([1], dtype=np.int32), name="alpha")

    def test_trimap_values(self):
        ok = np.array([[0, 128, 255]], dtype=np.uint8)
        assert check_trimap_values(ok) is ok
        with pytest.raises(ValueError, match="expected dtype uint8"):
            check_trimap_values(ok.astype(np.float32))
        with pytest.raises(ValueError, match=r"got also \[1, 254\]"):
            check_trimap_values(np.array([[1, 254, 0]], dtype=np.uint8))


class TestIO:
    def test_roundtrip(self, tmp_path):
        rng = np.random.default_rng(0)
        img = rng.random((5, 7, 3)).astype(np.float32)
        io.write_image(tmp_path / "i.png", img)
        back = io.read_image(tmp_path / "i.png")
        assert back.shape == (5, 7, 3) and back.dtype == np.float32
        np.testing.assert_allclose(back, img, atol=0.5 / 255 + 1e-6)  # only 8-bit rounding
        tri = np.array([[0, 128], [255, 128]], dtype=np.uint8)
        io.write_trimap(tmp_path / "t.png", tri)
        np.testing.assert_array_equal(io.read_trimap(tmp_path / "t.png"), tri)

    def test_rgb_channel_order(self, tmp_path):
        img = np.zeros((2, 2, 3), dtype=np.float32)
        img[..., 0] = 1.0  # pure red
        io.write_image(tmp_path / "r.png", img)
        assert io.read_image(tmp_path / "r.png")[0, 0].tolist() == [1.0, 0.0, 0.0]

    def test_trimap_with_other_values_names_the_file(self, tmp_path):
        import cv2
        cv2.imwrite(str(tmp_path / "bad.png"), np.full((3, 3), 127, np.uint8))
        with pytest.raises(ValueError, match="127.*bad.png"):
            io.read_trimap(tmp_path / "bad.png")

    def test_trimap_refuses_jpeg(self, tmp_path):
        with pytest.raises(ValueError, match="losslessly"):
            io.write_trimap(tmp_path / "t.jpg", np.zeros((2, 2), np.uint8))

    def test_missing_and_corrupt_files(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="no such image file"):
            io.read_image(tmp_path / "nope.png")
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        with pytest.raises(ValueError, match="could not decode"):
            io.read_image(tmp_path / "broken.png")

    def test_missing_dataset_says_how_to_download(self, monkeypatch, tmp_path):
        monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path))
        with pytest.raises(FileNotFoundError, match="download_alphamatting.py"):
            io.load_alphamatting()

    def test_load_real_images(self, alphamatting_dir):
        full = io.load_alphamatting(alphamatting_dir, names=["GT01"])[0]
        assert full.image.shape[:2] == full.alpha.shape == full.trimap.shape
        assert set(np.unique(full.trimap)) <= {0, 128, 255}
        small = io.load_alphamatting(alphamatting_dir, names=["GT01"],
                                     trimap="trimap2", max_side=200)[0]
        assert max(small.alpha.shape) == 200
        frac = (small.alpha > 0) & (small.alpha < 1)
        assert (small.trimap[frac] == 128).all(), ("downscaling keeps every fractional alpha "
                                                   "in the unknown band")
        # Area resizing must not turn solid foreground into 0.99999994.
        assert ((small.alpha > 1 - 1e-5) & (small.alpha < 1)).sum() == 0
