"""data_scripts/prepare_adobe.py on a tiny fake Combined_Dataset built in tmp_path."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # data_scripts/ is not installed with the package
    sys.path.insert(0, str(ROOT))

from data_scripts import prepare_adobe as pa  # noqa: E402
from mattinglib.compositing import composition_residual  # noqa: E402
from mattinglib.data.composition import Composition1kDataset  # noqa: E402
from mattinglib.io import read_alpha, read_image, read_trimap  # noqa: E402

FG_SIZE = {"a.jpg": (20, 28), "b.png": (24, 18), "c.png": (16, 16), "t1.png": (22, 30),
           "t2.jpg": (18, 26)}


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Alphas and trimaps are stored losslessly even under a .jpg name (PIL writes by format).
    fmt = "JPEG" if path.suffix == ".jpg" and arr.ndim == 3 else "PNG"
    Image.fromarray(arr).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))


def _alpha(h: int, w: int, rng) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(yy - h / 2, xx - w / 2)
    a = np.clip((h / 3 - d) * 40 + 128, 0, 255)
    a[rng.random((h, w)) < 0.05] = 77  # scattered fractional pixels
    return a.astype(np.uint8)


@pytest.fixture
def fake(tmp_path):
    """3 training fgs (two Adobe-licensed, one Other) x 2 COCO bgs, 2 test fgs x 2 VOC bgs."""
    rng = np.random.default_rng(0)
    adobe = tmp_path / "Combined_Dataset"
    tr, te = adobe / "Training_set", adobe / "Test_set"
    for name, folder in (("a.jpg", tr / "Adobe-licensed images"),
                         ("b.png", tr / "Adobe-licensed images"),
                         ("c.png", tr / "Other"), ("t1.png", te / "Adobe-licensed images"),
                         ("t2.jpg", te / "Adobe-licensed images")):
        h, w = FG_SIZE[name]
        _save(folder / "fg" / name, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        a = _alpha(h, w, rng)
        _save(folder / "alpha" / name, a)
        if folder.parent == te:
            tri = np.where(a == 255, 255, np.where(a == 0, 0, 128)).astype(np.uint8)
            _save(folder / "trimaps" / name, tri)
    coco, voc = tmp_path / "coco" / "train2014", tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    # Small backgrounds (must be scaled up) and large ones (only cropped).
    coco_names = [f"COCO_train2014_{i:012d}.jpg" for i in range(6)]
    for i, n in enumerate(coco_names):
        shape = (10, 12, 3) if i % 2 else (40, 50, 3)
        _save(coco / n, rng.integers(0, 256, shape, dtype=np.uint8))
    voc_names = [f"2008_{i:06d}.jpg" for i in range(4)]
    for i, n in enumerate(voc_names):
        _save(voc / n, rng.integers(0, 256, (12, 40, 3) if i == 0 else (60, 45, 3), dtype=np.uint8))
    (tr / "training_fg_names.txt").write_text("a.jpg\nb.png\nc.png\n")
    (tr / "training_bg_names.txt").write_text("\n".join(coco_names) + "\n")
    (te / "test_fg_names.txt").write_text("t1.png\nt2.jpg\n")
    # The VOC list beside the split folders, as some copies have it.
    (adobe / "test_bg_names.txt").write_text("\n".join(voc_names) + "\n")
    return {"adobe": adobe, "coco": coco, "voc": tmp_path / "VOCdevkit", "out": tmp_path / "out",
            "coco_names": coco_names, "voc_names": voc_names}


def run(fake, *extra):
    return pa.main(["--adobe", str(fake["adobe"]), "--coco", str(fake["coco"]),
                    "--voc", str(fake["voc"]), "--out", str(fake["out"]), "--no-progress", *extra])


class TestCoverAndCrop:
    def test_small_background_is_scaled_up_to_cover_then_top_left_cropped(self):
        bg = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
        out = pa.cover_and_crop(bg, 25, 20)
        ratio = max(20 / 12, 25 / 10)
        full = np.asarray(Image.fromarray(bg).resize(
            (math.ceil(12 * ratio), math.ceil(10 * ratio)), Image.BICUBIC))
        assert out.shape == (25, 20, 3)
        np.testing.assert_array_equal(out, full[:25, :20])

    def test_large_background_is_never_scaled_down(self):
        bg = np.random.default_rng(2).integers(0, 256, (50, 60, 3), dtype=np.uint8)
        np.testing.assert_array_equal(pa.cover_and_crop(bg, 20, 30), bg[:20, :30])


class TestCompositeU8:
    def test_floor_truncates_and_nearest_rounds(self):
        fg = np.full((1, 2, 3), 200, np.uint8)
        bg = np.full((1, 2, 3), 11, np.uint8)
        alpha = np.array([[100, 255]], np.uint8)
        exact = 100 / 255 * 200 + (1 - 100 / 255) * 11  # 85.117...
        assert pa.composite_u8(fg, bg, alpha)[0, 0, 0] == math.floor(exact)
        assert pa.composite_u8(fg, bg, alpha, rounding="nearest")[0, 0, 0] == round(exact)
        assert pa.composite_u8(fg, bg, alpha)[0, 1, 0] == 200

    def test_bad_input(self):
        with pytest.raises(ValueError, match="^rounding"):
            pa.composite_u8(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1, 3), np.uint8),
                            np.zeros((1, 1), np.uint8), rounding="up")
        with pytest.raises(ValueError, match="^alpha"):
            pa.composite_u8(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1, 3), np.uint8),
                            np.zeros((1, 1), np.float32))


def test_png_size_rejects_truncated_files(tmp_path):
    path = tmp_path / "x.png"
    pa.write_png(path, np.zeros((5, 7, 3), np.uint8))
    assert pa.png_size(path) == (5, 7)
    path.write_bytes(path.read_bytes()[:-5])
    assert pa.png_size(path) is None
    assert pa.png_size(tmp_path / "absent.png") is None


class TestPrepare:
    def test_counts_layout_and_equation(self, fake):
        assert run(fake) == 0
        out = fake["out"]
        for split, n_fg, n_comp in (("train", 3, 6), ("test", 2, 4)):
            assert len(list((out / split / "merged").glob("*.png"))) == n_comp
            assert len(list((out / split / "bg").glob("*.png"))) == n_comp
            assert len(list((out / split / "alpha").glob("*.png"))) == n_fg
            assert len(list((out / split / "fg").glob("*.png"))) == n_fg
        trimaps = sorted(p.name for p in (out / "test" / "trimaps").glob("*.png"))
        assert trimaps == ["t1.png", "t2.png"]
        assert not (out / "train" / "trimaps").exists()
        for split in ("train", "test"):
            for merged in sorted((out / split / "merged").glob("*.png")):
                stem = merged.stem.rpartition("_")[0]
                image = np.asarray(Image.open(merged))
                fg = np.asarray(Image.open(out / split / "fg" / f"{stem}.png"))
                bg = np.asarray(Image.open(out / split / "bg" / f"{merged.stem}.png"))
                alpha = np.asarray(Image.open(out / split / "alpha" / f"{stem}.png"))
                # Truncation: the composite lies within one level below the exact value
                # (exactly one when float64 lands a hair under an integer, as in the original).
                assert composition_residual(image, fg, bg, alpha) <= 1 / 255 + 1e-9
                exact = alpha[..., None] / 255 * fg + (1 - alpha[..., None] / 255) * bg
                assert (image <= exact + 1e-9).all()

    def test_backgrounds_follow_the_name_lists(self, fake):
        assert run(fake, "--split", "test") == 0
        # t2 is the second foreground: its backgrounds are the 3rd and 4th names.
        src = pa.read_rgb_u8(fake["voc"] / "VOC2012" / "JPEGImages" / fake["voc_names"][3])
        bg = np.asarray(Image.open(fake["out"] / "test" / "bg" / "t2_1.png"))
        np.testing.assert_array_equal(bg, pa.cover_and_crop(src, *FG_SIZE["t2.jpg"]))
        # The first VOC image (12 x 40) is too short for t1 (22 x 30): scaled by 22/12.
        bg0 = np.asarray(Image.open(fake["out"] / "test" / "bg" / "t1_0.png"))
        assert bg0.shape == (22, 30, 3)

    def test_nearest_rounding_halves_the_residual(self, fake):
        assert run(fake, "--split", "train", "--rounding", "nearest") == 0
        out = fake["out"] / "train"
        image = np.asarray(Image.open(out / "merged" / "a_1.png"))
        fg = np.asarray(Image.open(out / "fg" / "a.png"))
        bg = np.asarray(Image.open(out / "bg" / "a_1.png"))
        alpha = np.asarray(Image.open(out / "alpha" / "a.png"))
        assert composition_residual(image, fg, bg, alpha) <= 0.5 / 255 + 1e-9

    def test_composition1k_dataset_reads_the_test_split(self, fake):
        assert run(fake, "--split", "test") == 0
        ds = Composition1kDataset(fake["out"] / "test")
        assert len(ds) == 4
        s = ds[ds.names.index("t1_1")]
        assert tuple(s["image"].shape) == (3, 22, 30) and "fg" in s and "bg" in s
        a = pa.read_alpha_u8(
            fake["adobe"] / "Test_set" / "Adobe-licensed images" / "alpha" / "t1.png")
        np.testing.assert_array_equal((s["alpha"][0].numpy() * 255).round().astype(np.uint8), a)
        assert sorted(np.unique((s["trimap"] * 255).round().numpy()).tolist()) == [0, 128, 255]

    def test_resume_skips_complete_outputs_and_redoes_damaged_ones(self, fake, capsys):
        assert run(fake) == 0
        out = fake["out"] / "train"
        damaged = out / "merged" / "b_0.png"
        damaged.write_bytes(damaged.read_bytes()[:40])
        (out / "bg" / "c_1.png").unlink()
        kept = out / "merged" / "a_0.png"
        mtime = kept.stat().st_mtime_ns
        capsys.readouterr()
        reports = pa.prepare_adobe(fake["adobe"], coco=fake["coco"], voc=fake["voc"],
                                   out=fake["out"], progress=False, log=lambda m: None)
        assert (reports["train"].written, reports["train"].skipped) == (2, 4)
        assert (reports["test"].written, reports["test"].skipped) == (0, 4)
        assert kept.stat().st_mtime_ns == mtime
        assert pa.png_size(damaged) == FG_SIZE["b.png"]
        read_image(damaged)  # decodes again

    def test_corrupt_files_are_reported_by_name_and_counted(self, fake, capsys):
        (fake["coco"] / fake["coco_names"][2]).write_bytes(b"\xff\xd8 not really a jpeg")
        alpha = fake["adobe"] / "Training_set" / "Other" / "alpha" / "c.png"
        alpha.write_bytes(alpha.read_bytes()[:30])  # truncated PNG
        assert run(fake, "--split", "train") == 2
        err = capsys.readouterr().err
        assert "3 composite(s) failed" in err
        assert fake["coco_names"][2] in err and "train/b_0" in err
        assert "train/c_0" in err and "train/c_1" in err and "c.png" in err
        out = fake["out"] / "train"
        assert sorted(p.stem for p in (out / "merged").glob("*.png")) == ["a_0", "a_1", "b_1"]

    def test_limit_and_bg_per_fg(self, fake):
        reports = pa.prepare_adobe(fake["adobe"], coco=fake["coco"], voc=fake["voc"],
                                   out=fake["out"], limit=1, bg_per_fg=1, progress=False,
                                   log=lambda m: None)
        assert [p.stem for p in (fake["out"] / "train" / "merged").glob("*.png")] == ["a_0"]
        assert reports["test"].written == 1
        # bg_per_fg=1 pairs foreground i with background i.
        bg = np.asarray(Image.open(fake["out"] / "test" / "bg" / "t1_0.png"))
        src = pa.read_rgb_u8(fake["voc"] / "VOC2012" / "JPEGImages" / fake["voc_names"][0])
        np.testing.assert_array_equal(bg, pa.cover_and_crop(src, *FG_SIZE["t1.png"]))

    def test_bad_trimap_values_are_a_failure(self, fake, capsys):
        tri = fake["adobe"] / "Test_set" / "Adobe-licensed images" / "trimaps" / "t2.jpg"
        arr = np.asarray(Image.open(tri)).copy()
        arr[0, 0] = 127
        Image.fromarray(arr).save(tri, format="PNG")
        assert run(fake, "--split", "test") == 2
        err = capsys.readouterr().err
        assert "1 composite(s) failed" not in err and "2 composite(s) failed" in err
        assert "test/t2_0" in err and "trimaps/t2.jpg" in err
        assert not (fake["out"] / "test" / "merged" / "t2_0.png").exists()
        assert read_trimap(fake["out"] / "test" / "trimaps" / "t1.png").shape == (22, 30)
        read_alpha(fake["out"] / "test" / "alpha" / "t1.png")

    def test_wrong_folders_are_clear_errors(self, fake, tmp_path, capsys):
        assert pa.main(["--adobe", str(tmp_path / "nowhere"), "--voc", str(fake["voc"]),
                        "--split", "test", "--out", str(fake["out"])]) == 1
        assert "Test_set" in capsys.readouterr().err
        assert pa.main(["--adobe", str(fake["adobe"]), "--voc", str(fake["coco"]),
                        "--split", "test", "--out", str(fake["out"])]) == 1
        assert "2008_000000.jpg" in capsys.readouterr().err
        assert pa.main(["--adobe", str(fake["adobe"]), "--split", "train"]) == 1
        assert "--coco" in capsys.readouterr().err

    def test_runs_as_a_script(self):
        done = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "prepare_adobe.py"),
                               "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Combined_Dataset" in done.stdout


# --------------------------------------------------------------------------- bgm_lists.py
# Background Matting's list reuses the Adobe folders and this composition rule.

from data_scripts import bgm_lists as bl  # noqa: E402


class TestBGMLists:
    def bgm(self, fake, *extra, names=("a.jpg", "c.png", "t1.png")):
        return bl.main(["--adobe", str(fake["adobe"]), "--names", *names, "--backgrounds",
                        str(fake["coco"]), "--out", str(fake["out"] / "bgm"), "--per-fg", "2",
                        "--no-progress", *extra])

    def test_csv_columns_pairing_and_composites(self, fake):
        assert self.bgm(fake) == 0
        rows = bl.read_bgm_csv(fake["out"] / "bgm" / "train_data_adobe.csv")
        assert len(rows) == 6
        text = (fake["out"] / "bgm" / "train_data_adobe.csv").read_text()
        assert text.count(";") == 6 * 3 and not text.startswith("fg")  # no header, as the original
        pairs = bl.pair_backgrounds(3, fake["coco_names"], 2, seed=0)
        used = [p for pair in pairs for p in pair]
        assert len(set(used)) == 6  # enough backgrounds: all different
        for j, (fg, alpha, merged, bg) in enumerate(rows):
            assert fg.is_absolute() and fg.is_file() and alpha.is_file()
            assert fg.parent.parent.name in ("Adobe-licensed images", "Other")
            src = pa.read_rgb_u8(fake["coco"] / pairs[j // 2][j % 2])
            a = pa.read_alpha_u8(alpha)
            np.testing.assert_array_equal(pa.read_rgb_u8(bg), pa.cover_and_crop(src, *a.shape))
            image = pa.read_rgb_u8(merged)
            residual = composition_residual(image, pa.read_rgb_u8(fg), pa.read_rgb_u8(bg), a)
            assert residual <= 1 / 255 + 1e-9

    def test_seed_changes_the_pairing_reproducibly(self):
        names = [f"{i}.jpg" for i in range(50)]
        reversed_names = bl.pair_backgrounds(3, names[::-1], 4, seed=1)
        assert bl.pair_backgrounds(3, names, 4, seed=1) == reversed_names
        assert bl.pair_backgrounds(3, names, 4, seed=1) != bl.pair_backgrounds(3, names, 4, seed=2)
        wrapped = bl.pair_backgrounds(3, names[:4], 2, seed=0)
        assert sorted(wrapped[0] + wrapped[1]) == sorted(names[:4]) and wrapped[2] == wrapped[0]

    def test_missing_names_are_reported_not_invented(self, fake, capsys, tmp_path):
        names_file = tmp_path / "names.txt"
        names_file.write_text("# human foregrounds\nb.png\nnobody.png  # not in the set\n\n")
        assert bl.main(["--adobe", str(fake["adobe"]), "--names-file", str(names_file),
                        "--backgrounds", str(fake["coco"]), "--out", str(fake["out"] / "bgm"),
                        "--per-fg", "1", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "1 missing name(s)" in err and "missing: nobody.png" in err
        rows = bl.read_bgm_csv(fake["out"] / "bgm" / "train_data_adobe.csv")
        assert [r[0].name for r in rows] == ["b.png"]

    def test_list_only_resume_and_fg_dir(self, fake):
        folder = fake["adobe"] / "Training_set" / "Adobe-licensed images"
        base = ["--fg-dir", str(folder / "fg"), "--alpha-dir", str(folder / "alpha"),
                "--names", "a.jpg", "b.png", "--backgrounds", str(fake["coco"]),
                "--out", str(fake["out"] / "b2"), "--per-fg", "2", "--no-progress"]
        assert bl.main([*base, "--list-only"]) == 0
        assert len(bl.read_bgm_csv(fake["out"] / "b2" / "train_data_adobe.csv")) == 4
        assert not (fake["out"] / "b2" / "merged").exists()
        report = bl.build_bgm_list(["a.jpg", "b.png"], fg_dir=folder / "fg",
                                   alpha_dir=folder / "alpha", backgrounds=fake["coco"],
                                   out=fake["out"] / "b2", per_fg=2, progress=False,
                                   log=lambda m: None)
        assert (report.written, report.skipped) == (4, 0)
        again = bl.build_bgm_list(["a.jpg", "b.png"], fg_dir=folder / "fg",
                                  alpha_dir=folder / "alpha", backgrounds=fake["coco"],
                                  out=fake["out"] / "b2", per_fg=2, progress=False,
                                  log=lambda m: None)
        assert (again.written, again.skipped) == (0, 4)

    def test_corrupt_background_is_counted(self, fake, capsys):
        pairs = bl.pair_backgrounds(1, fake["coco_names"], 2, seed=0)
        (fake["coco"] / pairs[0][1]).write_bytes(b"garbage")
        assert self.bgm(fake, names=("a.jpg",)) == 2
        err = capsys.readouterr().err
        assert "1 failed composite(s)" in err and "a_1" in err and pairs[0][1] in err

    def test_check_captured_matches_the_dataset_layout(self, tmp_path, capsys):
        video = tmp_path / "captured" / "video_a"
        for i in (1, 2, 3):
            pa.write_png(video / f"{i:04d}_img.png", np.full((8, 8, 3), 40 * i, np.uint8))
            pa.write_png(video / f"{i:04d}_masksDL.png", np.zeros((8, 8), np.uint8))
        pa.write_png(video / "video_a_back.png", np.zeros((8, 8, 3), np.uint8))
        photo = tmp_path / "captured" / "photo_b"
        pa.write_png(photo / "0001_img.png", np.zeros((8, 8, 3), np.uint8))
        pa.write_png(photo / "0001_masksDL.png", np.zeros((8, 8), np.uint8))
        pa.write_png(photo / "0001_back.png", np.zeros((8, 8, 3), np.uint8))
        assert bl.main(["--check-captured", str(tmp_path / "captured")]) == 0
        assert "2 video(s), 4 frame(s)" in capsys.readouterr().out
        (video / "0002_masksDL.png").unlink()
        assert bl.main(["--check-captured", str(tmp_path / "captured")]) == 1
        assert "0002_masksDL.png" in capsys.readouterr().err
