"""Reading weight files (mattinglib/weights.py): weights-only, hash-checked, clear errors.

Every file here is made in a temporary folder: a real state dict, a pickle whose
payload would write a marker file, truncated and text files, and files under
torchvision's names whose SHA-256 is not the published one.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import urllib.error
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from mattinglib.__main__ import main
from mattinglib.inference.bgm import RandomWeightsWarning
from mattinglib.inference.segment import DEEPLAB_FILES, soft_segmentation
from mattinglib.io import write_image
from mattinglib.models.bgm import from_official
from mattinglib.models.dim import DIM
from mattinglib.models.mnet import MNet
from mattinglib.models.tnet import TNet
from mattinglib.train.checkpoint import load_checkpoint
from mattinglib.weights import (
    load_state_dict,
    load_weights,
    torchvision_hash_prefix,
    torchvision_state_dict,
)

ROOT = Path(__file__).resolve().parent.parent
VGG16 = torchvision.models.VGG16_Weights.IMAGENET1K_V1
RESNET18 = torchvision.models.ResNet18_Weights.IMAGENET1K_V1


class _Payload:
    """Unpickling this object runs code: it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('payload ran')",)


def write_malicious(path: Path, marker: Path, *, legacy: bool = False) -> Path:
    """A weights file whose unpickling would create ``marker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"features.0.weight": torch.zeros(1), "evil": _Payload(marker)}
    if legacy:
        with open(path, "wb") as f:
            pickle.dump(state, f, protocol=2)
    else:
        torch.save(state, path)
    return path


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache in tmp_path, and no network: a download attempt fails."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    return tmp_path / "hub" / "checkpoints"


def assert_clear(message: str, *names: str) -> None:
    """One line that names each of ``names`` and never advises an unsafe load."""
    assert "\n" not in message.strip()
    for name in names:
        assert name in message, (name, message)
    assert "weights_only=False" not in message and "weights_only" not in message


# --------------------------------------------------------------------------- load_weights


class TestLoadWeights:
    def test_a_real_state_dict(self, tmp_path):
        state = {"a.weight": torch.randn(3, 2), "a.bias": torch.arange(3.0)}
        torch.save(state, tmp_path / "s.pt")
        loaded = load_state_dict(tmp_path / "s.pt", name="weights")
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)

    @pytest.mark.parametrize("legacy", [False, True], ids=["torch.save", "plain-pickle"])
    def test_a_malicious_pickle_is_refused_unrun(self, tmp_path, legacy):
        marker = tmp_path / "marker.txt"
        path = write_malicious(tmp_path / "evil.pth", marker, legacy=legacy)
        with pytest.raises(ValueError) as info:
            load_state_dict(path, name="pretrained_vgg")
        assert not marker.exists()
        assert_clear(str(info.value), "pretrained_vgg:", str(path), "refused")

    def test_truncated_and_text_files(self, tmp_path):
        torch.save({"w": torch.randn(64, 64)}, tmp_path / "full.pt")
        data = (tmp_path / "full.pt").read_bytes()
        (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
        (tmp_path / "notes.pt").write_text("these are not weights\n")
        (tmp_path / "empty.pt").write_bytes(b"")
        for name in ("cut.pt", "notes.pt", "empty.pt"):
            with pytest.raises(ValueError) as info:
                load_weights(tmp_path / name, name="weights")
            assert_clear(str(info.value), "weights:", str(tmp_path / name), "torch.save")

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="^weights: no file at .*nothing.pth"):
            load_weights(tmp_path / "nothing.pth", name="weights")

    def test_hash_prefix(self, tmp_path):
        path = tmp_path / "w.pt"
        torch.save({"w": torch.ones(2)}, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        loaded = load_weights(path, name="w", sha256_prefix=digest[:8])
        assert torch.equal(loaded["w"], torch.ones(2))
        wrong = "0" * 8 if not digest.startswith("0" * 8) else "f" * 8
        pattern = f"^w: {re.escape(str(path))} is not the expected file.*{wrong}"
        with pytest.raises(ValueError, match=pattern):
            load_weights(path, name="w", sha256_prefix=wrong)

    def test_hash_is_checked_before_unpickling(self, tmp_path):
        marker = tmp_path / "marker.txt"
        path = write_malicious(tmp_path / "evil.pth", marker, legacy=True)
        with pytest.raises(ValueError, match="is not the expected file"):
            load_weights(path, name="w", sha256_prefix="00000000")
        assert not marker.exists()

    def test_hash_prefix_of_file_names(self):
        assert torchvision_hash_prefix(Path("/x") / "vgg16-397923af.pth") == "397923af"
        assert torchvision_hash_prefix(VGG16.url) == "397923af"
        assert torchvision_hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
        assert torchvision_hash_prefix("generator.pth") is None
        assert torchvision_hash_prefix("run-final.pt") is None

    def test_the_library_reads_weights_only_through_this_module(self):
        """No other module of the library calls torch.load or a torchvision weight loader."""
        offenders = []
        for path in (ROOT / "mattinglib").rglob("*.py"):
            if path.name == "weights.py":
                continue
            code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines()
                             if not line.lstrip().startswith(("``", ">>>")))
            for call in ("torch.load(", "get_state_dict(", "load_state_dict_from_url(",
                         "weights_only=False"):
                if call in code:
                    offenders.append(f"{path.relative_to(ROOT)}: {call}")
        assert offenders == []


# --------------------------------------------------------------------------- the hub cache


class TestHubCache:
    @pytest.mark.parametrize("build, file", [
        (lambda: MNet(pretrained_vgg="imagenet"), "vgg16-397923af.pth"),
        (lambda: DIM(pretrained_vgg="imagenet"), "vgg16-397923af.pth"),
        (lambda: TNet(backbone="resnet18", pretrained_backbone=True), "resnet18-f37072fd.pth"),
    ], ids=["MNet", "DIM", "TNet"])
    def test_a_pickle_in_the_cache_does_not_run(self, hub, tmp_path, build, file):
        marker = tmp_path / "marker.txt"
        write_malicious(hub / file, marker)
        with pytest.raises(ValueError) as info:
            build()
        assert not marker.exists()
        assert_clear(str(info.value), str(hub / file), "is not the expected file")

    def test_a_cached_file_with_the_wrong_hash_is_refused(self, hub):
        """A genuine-looking state dict under torchvision's name, but not torchvision's file."""
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        hub.mkdir(parents=True)
        torch.save({f"features.{k}": v for k, v in features.state_dict().items()},
                   hub / "vgg16-397923af.pth")
        with pytest.raises(ValueError, match="^pretrained_vgg: .*vgg16-397923af.pth is not the "
                                             "expected file.*starts with 397923af"):
            MNet(pretrained_vgg="imagenet")

    def test_a_path_under_torchvisions_name_is_hash_checked_too(self, tmp_path):
        path = tmp_path / "vgg16-397923af.pth"
        torch.save({"features.0.weight": torch.zeros(1)}, path)
        with pytest.raises(ValueError, match="is not the expected file"):
            MNet(pretrained_vgg=str(path))

    def test_offline_and_missing_names_where_to_put_the_file(self, hub, capsys):
        with pytest.raises(RuntimeError) as info:
            TNet(backbone="resnet18", pretrained_backbone=True)
        message = str(info.value)
        assert message.startswith("pretrained_backbone:")
        assert str(hub / "resnet18-f37072fd.pth") in message and RESNET18.url in message
        assert f"pretrained_backbone: downloading {RESNET18.url}" in capsys.readouterr().err

    def test_a_download_is_announced_and_checked(self, hub, tmp_path, monkeypatch, capsys):
        source = tmp_path / "published.pth"
        torch.save({"w": torch.arange(4.0)}, source)
        prefix = hashlib.sha256(source.read_bytes()).hexdigest()[:8]

        class Weights:
            url = f"https://example.invalid/tiny-{prefix}.pth"

        def fake_download(url, dst, hash_prefix=None, progress=True):
            assert url == Weights.url and hash_prefix == prefix
            Path(dst).write_bytes(source.read_bytes())

        monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
        state = torchvision_state_dict(Weights, name="pretrained_vgg")
        assert torch.equal(state["w"], torch.arange(4.0))
        assert (hub / f"tiny-{prefix}.pth").is_file()
        cached = hub / f"tiny-{prefix}.pth"
        assert f"downloading {Weights.url} to {cached}" in capsys.readouterr().err
        # from the cache now: no second download
        monkeypatch.setattr(torch.hub, "download_url_to_file", None)
        assert torch.equal(torchvision_state_dict(Weights, name="x")["w"], torch.arange(4.0))

    def test_no_download_when_not_allowed(self, hub, monkeypatch):
        monkeypatch.setattr(torch.hub, "download_url_to_file", None)
        with pytest.raises(RuntimeError, match="is not in the torch hub cache"):
            torchvision_state_dict(VGG16, name="pretrained_vgg", download=False)

    def test_deeplab_cache_file_with_the_wrong_hash(self, hub, tmp_path, monkeypatch):
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "unused"))  # _hub_dir wins
        marker = tmp_path / "marker.txt"
        write_malicious(hub / DEEPLAB_FILES["deeplabv3_resnet101"], marker)
        photo = np.zeros((40, 40, 3), np.float32)
        with pytest.raises(ValueError, match="^weights: .*is not the expected file"):
            soft_segmentation(photo, method="deeplab")
        assert not marker.exists()


# --------------------------------------------------------------------------- the other loaders


class TestOtherLoaders:
    def test_pretrained_vgg_path_with_a_pickle(self, tmp_path):
        marker = tmp_path / "marker.txt"
        path = write_malicious(tmp_path / "mine.pth", marker)
        with pytest.raises(ValueError) as info:
            MNet(pretrained_vgg=str(path))
        assert not marker.exists()
        assert_clear(str(info.value), "pretrained_vgg:", str(path))

    def test_bgm_generator_file(self, tmp_path):
        (tmp_path / "g.pth").write_text("not a checkpoint")
        with pytest.raises(ValueError) as info:
            from_official(tmp_path / "g.pth")
        assert_clear(str(info.value), "weights:", str(tmp_path / "g.pth"))

    def test_bgm_generator_file_of_another_size_names_the_file(self, tmp_path):
        from mattinglib.models.bgm import BackgroundMattingGenerator

        small = dict(ngf=4, nf_part=4, n_blocks1=1, n_blocks2=1)
        torch.save(BackgroundMattingGenerator(**small).state_dict(), tmp_path / "g.pth")
        with pytest.raises(ValueError, match=f"^weights: {re.escape(str(tmp_path / 'g.pth'))} "
                                             "does not match BackgroundMattingGenerator.*shape"):
            from_official(tmp_path / "g.pth", **{**small, "ngf": 8, "nf_part": 8})
        with pytest.raises(ValueError, match="^state_dict: does not match"):
            from_official(BackgroundMattingGenerator(**small).state_dict(), ngf=8, nf_part=8,
                          n_blocks1=1, n_blocks2=1)

    def test_training_checkpoint(self, tmp_path):
        marker = tmp_path / "marker.txt"
        path = write_malicious(tmp_path / "step_00000010.pt", marker)
        with pytest.raises(ValueError) as info:
            load_checkpoint(path)
        assert not marker.exists()
        assert_clear(str(info.value), "path:", str(path))


# --------------------------------------------------------------------------- the command line


def _scene_files(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    plate = rng.random((48, 64, 3)).astype(np.float32)
    photo = plate.copy()
    photo[10:40, 20:44] = 0.5
    write_image(folder / "photo.png", photo)
    write_image(folder / "plate.png", plate)
    return folder / "photo.png", folder / "plate.png"


@pytest.mark.parametrize("option, argument", [("--weights", "weights:"),
                                              ("--seg-weights", "seg_weights:")])
@pytest.mark.parametrize("content", ["truncated", "text", "pickle"])
def test_predict_bgm_with_a_bad_file(tmp_path, capsys, monkeypatch, option, argument, content):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    photo, plate = _scene_files(tmp_path)
    bad = tmp_path / "bad.pth"
    marker = tmp_path / "marker.txt"
    if content == "truncated":
        torch.save({"w": torch.randn(32, 32)}, bad)
        bad.write_bytes(bad.read_bytes()[:300])
    elif content == "text":
        bad.write_text("hello\n")
    else:
        write_malicious(bad, marker)
    argv = ["predict-bgm", "--photo", str(photo), "--plate", str(plate), "--out-dir",
            str(tmp_path / "out"), "--size", "16", "--device", "cpu", option, str(bad)]
    if option == "--seg-weights":
        argv.append("--allow-random-weights")
    with pytest.warns(RandomWeightsWarning) if option == "--seg-weights" else nullcontext():
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert_clear(err, argument, str(bad))
    assert not marker.exists()

