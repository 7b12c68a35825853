"""data_scripts/make_synthetic.py: files, determinism, resume, and reading back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # data_scripts/ is not installed with the package
    sys.path.insert(0, str(ROOT))

from data_scripts import make_synthetic as ms  # noqa: E402
from mattinglib.compositing import composition_residual  # noqa: E402
from mattinglib.data.composition import Composition1kDataset, CompositionDataset  # noqa: E402
from mattinglib.data.folders import FolderBackgrounds, FolderForegrounds  # noqa: E402
from mattinglib.data.synthetic import SyntheticForegrounds  # noqa: E402
from mattinglib.io import read_trimap  # noqa: E402

SIZE = 32
KINDS = ["hair", "solid", "transparent"]


def make(out, n=4, seed=0, **kw):
    return ms.make_synthetic(out, n, size=SIZE, seed=seed, kinds=kw.pop("kinds", KINDS),
                             progress=False, log=lambda m: None, **kw)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_writes_every_folder_and_the_manifest(tmp_path):
    report = make(tmp_path / "s", n=5, seed=3)
    assert (report.written, report.skipped) == (5, 0)
    for d in ms.FOLDERS:
        assert sorted(p.stem for p in (tmp_path / "s" / d).glob("*.png")) == [
            f"{i:07d}" for i in range(5)]
    manifest = json.loads((tmp_path / "s" / ms.MANIFEST).read_text())
    assert manifest["seed"] == 3 and manifest["size"] == SIZE and manifest["kinds"] == KINDS
    assert manifest["num_samples"] == 5 and manifest["trimap_iterations"] == [1, 20]


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    make(tmp_path / "a", seed=1)
    make(tmp_path / "b", seed=1)
    make(tmp_path / "c", seed=2)
    a, b, c = (files(tmp_path / x) for x in "abc")
    assert a == b
    assert a["alpha/0000000.png"] != c["alpha/0000000.png"]


def test_alpha_is_the_generator_alpha_in_8_bits(tmp_path):
    make(tmp_path / "s", n=2, seed=5)
    fgs = FolderForegrounds(tmp_path / "s" / "fg", tmp_path / "s" / "alpha")
    _, alpha, name = fgs.sample(1)
    _, expected, kind = SyntheticForegrounds(SIZE, 5, kinds=tuple(KINDS)).sample(1)
    assert name == "0000001" and kind == "solid"
    np.testing.assert_allclose(alpha, np.round(expected * 255) / 255, atol=1e-6)


def test_read_back_by_the_folder_sources_and_the_equation_holds(tmp_path):
    out = tmp_path / "s"
    make(out, n=4)
    fgs = FolderForegrounds(out / "fg", out / "alpha")
    bgs = FolderBackgrounds(out / "bg")
    assert len(fgs) == len(bgs) == 4 and fgs.scan() == [] and bgs.scan() == []
    ds = Composition1kDataset(out)
    assert len(ds) == 4
    for i in range(4):
        s = ds[i]
        residual = composition_residual(s["image"][None], s["fg"][None], s["bg"][None],
                                        s["alpha"][None])
        assert residual <= 0.5 / 255 + 1e-6
        tri = read_trimap(out / "trimaps" / f"{s['name']}.png")
        a = (s["alpha"][0].numpy() * 255).round()
        assert ((a > 0) & (a < 255) <= (tri == 128)).all()  # every fractional pixel is unknown
    # The DIM recipe runs on the written files.
    sample = CompositionDataset.from_folders(out / "fg", out / "alpha", out / "bg", size=16)[0]
    assert tuple(sample["image"].shape) == (3, 16, 16)


def test_resume_skips_complete_samples_and_redoes_damaged_ones(tmp_path):
    out = tmp_path / "s"
    make(out, n=3)
    before = files(out)
    broken = out / "merged" / "0000001.png"
    broken.write_bytes(broken.read_bytes()[:50])
    (out / "trimaps" / "0000002.png").unlink()
    report = make(out, n=4)
    assert (report.written, report.skipped) == (3, 1)
    after = files(out)
    assert {k: after[k] for k in before} == before  # repaired files are identical
    assert json.loads((out / ms.MANIFEST).read_text())["num_samples"] == 4


def test_other_settings_in_the_same_folder_are_refused(tmp_path, capsys):
    make(tmp_path / "s", n=1, seed=0)
    with pytest.raises(ValueError, match=r"^out: .*seed=0"):
        make(tmp_path / "s", n=1, seed=1)
    assert ms.main(["--num-samples", "1", "--size", str(SIZE), "--seed", "0",
                    "--out", str(tmp_path / "s"), "--no-progress"]) == 1
    assert "kinds" in capsys.readouterr().err


@pytest.mark.parametrize("kw, match", [({"n": 0}, "^num_samples"), ({"kinds": ["glass"]}, "^kinds"),
                                       ({"seed": -1}, "^seed")])
def test_bad_arguments(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        make(tmp_path / "s", **kw)


def test_cli(tmp_path):
    assert ms.main(["--num-samples", "2", "--size", "16", "--seed", "4", "--kinds", "solid",
                    "--out", str(tmp_path / "s"), "--no-progress"]) == 0
    assert len(list((tmp_path / "s" / "merged").glob("*.png"))) == 2
