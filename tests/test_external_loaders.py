"""mattinglib.data.external: Distinctions-646, AIM-500 and P3M-10k on tiny fake trees."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from mattinglib.data.composition import CompositionDataset
from mattinglib.data.external import (
    ExternalMattingDataset,
    load_aim500,
    load_distinctions646,
    load_p3m10k,
)
from mattinglib.data.synthetic import SyntheticBackgrounds


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)


def _alpha(seed: int, h: int = 12, w: int = 10) -> np.ndarray:
    a = np.zeros((h, w), np.uint8)
    a[3:9, 2:8] = 255
    a[2, 2:8] = 60 + seed
    return a


def _trimap(a: np.ndarray) -> np.ndarray:
    return np.where(a == 255, 255, np.where(a == 0, 0, 128)).astype(np.uint8)


def make_pairs(root: Path, main: str, alpha: str, stems, *, main_ext=".jpg",
               trimap: str | None = None):
    for i, stem in enumerate(stems):
        a = _alpha(i)
        _write(root / main / f"{stem}{main_ext}", np.full((12, 10, 3), 30 * i + 20, np.uint8))
        _write(root / alpha / f"{stem}.png", a)
        if trimap:
            _write(root / trimap / f"{stem}.png", _trimap(a))


class TestDistinctions646:
    def test_train_and_test_splits(self, tmp_path):
        root = tmp_path / "Distinctions-646"
        make_pairs(root / "Train", "FG", "GT", ["a", "b", "c"], main_ext=".png")
        make_pairs(root / "Test", "FG", "GT", ["t"], main_ext=".png", trimap="Trimap")
        train = load_distinctions646(root, "train")
        assert len(train) == 3 and train.has_fg and train.missing == []
        s = train[1]
        assert sorted(s) == ["alpha", "fg", "name"] and s["name"] == "b"
        assert tuple(s["fg"].shape) == (3, 12, 10) and float(s["alpha"].max()) == 1.0
        assert abs(float(s["alpha"][0, 2, 2]) - 61 / 255) < 1e-6
        test = load_distinctions646(root, "test")
        levels = np.unique((test[0]["trimap"] * 255).round().numpy()).tolist()
        assert sorted(levels) == [0, 128, 255]

    def test_alternative_folder_names(self, tmp_path):
        make_pairs(tmp_path / "train", "fg", "alpha", ["x", "y"], main_ext=".png")
        assert load_distinctions646(tmp_path).names == ["x", "y"]

    def test_is_a_foreground_source_for_the_dim_recipe(self, tmp_path):
        make_pairs(tmp_path / "Train", "FG", "GT", ["a", "b"], main_ext=".png")
        fgs = load_distinctions646(tmp_path)
        fg, alpha, name = fgs.sample(0)
        assert fg.shape == (12, 10, 3) and alpha.shape == (12, 10) and name == "a"
        ds = CompositionDataset(fgs, SyntheticBackgrounds(16, seed=0), size=8, seed=0)
        assert tuple(ds[1]["image"].shape) == (3, 8, 8)


class TestAIM500:
    def test_photos_alpha_trimap(self, tmp_path):
        root = tmp_path / "AIM-500"
        make_pairs(root, "original", "mask", ["o_1", "o_2"], trimap="trimap")
        (root / "usr").mkdir()
        ds = load_aim500(root)
        assert len(ds) == 2 and not ds.has_fg
        assert sorted(ds[0]) == ["alpha", "image", "name", "trimap"]
        with pytest.raises(ValueError, match="^dataset: AIM-500 holds photos"):
            ds.sample(0)

    def test_missing_partners_are_named_and_counted(self, tmp_path):
        make_pairs(tmp_path, "original", "mask", ["p", "q", "r"])
        (tmp_path / "mask" / "q.png").unlink()
        _write(tmp_path / "mask" / "lonely.png", _alpha(0))
        with pytest.warns(RuntimeWarning, match="2 file"):
            ds = load_aim500(tmp_path)
        assert ds.names == ["p", "r"]
        assert ds.missing == ["mask/lonely.png", "original/q.jpg"]

    def test_sample_without_trimap_is_missing_when_the_set_has_trimaps(self, tmp_path):
        make_pairs(tmp_path, "original", "mask", ["p", "q"], trimap="trimap")
        (tmp_path / "trimap" / "p.png").unlink()
        with pytest.warns(RuntimeWarning, match="1 file"):
            ds = load_aim500(tmp_path)
        assert ds.names == ["q"] and "p" in ds.missing[0]


class TestP3M10k:
    def test_three_splits(self, tmp_path):
        root = tmp_path / "P3M-10k"
        make_pairs(root / "train", "blurred_image", "mask", ["p_1", "p_2", "p_3"])
        make_pairs(root / "validation" / "P3M-500-P", "blurred_image", "mask", ["v"],
                   trimap="trimap")
        make_pairs(root / "validation" / "P3M-500-NP", "original_image", "mask", ["n1", "n2"],
                   trimap="trimap")
        assert len(load_p3m10k(root)) == 3
        assert "trimap" not in load_p3m10k(root)[0]
        assert load_p3m10k(root, "p3m-500-p")[0]["name"] == "v"
        np_split = load_p3m10k(root, "p3m-500-np")
        assert len(np_split) == 2 and "trimap" in np_split[1]

    def test_unknown_split_and_absent_folder(self, tmp_path):
        with pytest.raises(ValueError, match="^split"):
            load_p3m10k(tmp_path, "val")
        with pytest.raises(ValueError, match="^root: no p3m-500-p split folder"):
            load_p3m10k(tmp_path, "p3m-500-p")
        with pytest.raises(ValueError, match="^root: no such folder"):
            load_p3m10k(tmp_path / "nope")


class TestBrokenFiles:
    def make(self, tmp_path, **kw) -> ExternalMattingDataset:
        make_pairs(tmp_path, "original", "mask", ["a", "b", "c"])
        (tmp_path / "original" / "b.jpg").write_bytes(b"\xff\xd8 truncated")
        _write(tmp_path / "mask" / "c.png", np.zeros((5, 5), np.uint8))  # wrong size
        return load_aim500(tmp_path, **kw)

    def test_skip_records_names_and_substitutes_the_next_sample(self, tmp_path):
        ds = self.make(tmp_path)
        with pytest.warns(RuntimeWarning, match="unreadable item"):
            assert ds[1]["name"] == "a"  # b unreadable, c wrong size, wraps to a
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bad = ds.scan()
        assert len(bad) == 4  # b's two files and c's two, by path
        assert any(p.endswith("b.jpg") for p in bad) and any(p.endswith("c.png") for p in bad)

    def test_raise_names_the_file(self, tmp_path):
        ds = self.make(tmp_path, on_error="raise")
        with pytest.raises(ValueError, match="b.jpg"):
            ds[1]
        with pytest.raises(ValueError, match="^alpha: size"):
            ds.arrays(2)
        with pytest.raises(ValueError, match="^on_error"):
            load_aim500(tmp_path, on_error="ignore")


def test_empty_set_is_an_error(tmp_path):
    (tmp_path / "original").mkdir()
    (tmp_path / "mask").mkdir()
    with pytest.raises(ValueError, match="^root: no AIM-500 samples"):
        load_aim500(tmp_path)
