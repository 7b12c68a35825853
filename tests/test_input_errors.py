"""Bad input fails early and clearly: the command line, the checks, readers, datasets, models.

Each test here is a case that used to crash with a traceback, name the wrong
argument, or return a silently wrong answer.
"""

from __future__ import annotations

import json
import os
import re

import cv2
import numpy as np
import pytest
import torch

from mattinglib import io, metrics
from mattinglib._checks import (
    InputIndexError,
    InputTypeError,
    as_float01,
    check_index,
    check_int,
    check_number,
    check_range,
    check_writable_dir,
)
from mattinglib.cli import is_input_error, main
from mattinglib.config import get_device

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def _read_only_dir():
    """A folder that cannot be written even by root (sysfs), or a skip."""
    folder = "/sys"
    try:
        check_writable_dir(folder, "probe")
    except ValueError:
        return folder
    pytest.skip("no read-only folder on this machine")


def _blocked(tmp_path):
    """A path whose parent is a file."""
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "sub"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


# --------------------------------------------------------------------------- command line


class TestCommandLineOutputs:
    """Every command checks where its results go before it starts the work."""

    def _inputs(self, tmp_path, alpha_shape=(8, 10)):
        rng = np.random.default_rng(0)
        io.write_image(tmp_path / "fg.png", rng.random((8, 10, 3)))
        io.write_image(tmp_path / "bg.png", rng.random((8, 10, 3)))
        io.write_alpha(tmp_path / "a.png", rng.random(alpha_shape))
        return ["--foreground", str(tmp_path / "fg.png"), "--alpha", str(tmp_path / "a.png"),
                "--background", str(tmp_path / "bg.png")]

    def test_compose_output_under_a_file(self, tmp_path, capsys):
        argv = ["compose", *self._inputs(tmp_path), "--output", str(_blocked(tmp_path) / "o.png")]
        assert main(argv) == 2
        assert "is a file, not a folder" in _one_error_line(capsys)

    def test_compose_unknown_extension_before_reading(self, tmp_path, capsys):
        # The inputs do not exist: the output is checked first, and OpenCV 5's
        # exception for an unknown extension never surfaces.
        argv = ["compose", "--foreground", "none.png", "--alpha", "none.png", "--background",
                "none.png", "--output", str(tmp_path / "out.xyz")]
        assert main(argv) == 2
        line = _one_error_line(capsys)
        assert "--output: no image writer for the extension '.xyz'" in line

    def test_compose_read_only_folder_is_not_an_extension_problem(self, tmp_path, capsys):
        folder = _read_only_dir()
        argv = ["compose", *self._inputs(tmp_path), "--output", f"{folder}/out.png"]
        assert main(argv) == 2
        line = _one_error_line(capsys)
        assert "cannot write to the folder" in line and "extension" not in line

    def test_compose_blames_the_alpha_for_its_size(self, tmp_path, capsys):
        argv = ["compose", *self._inputs(tmp_path, alpha_shape=(6, 10)),
                "--output", str(tmp_path / "o.png")]
        assert main(argv) == 2
        line = _one_error_line(capsys)
        assert line.startswith("error: --alpha:") and "10x6" in line and "10x8" in line

    def test_evaluate_json_checked_before_the_table(self, tmp_path, capsys):
        rng = np.random.default_rng(1)
        for sub in ("pred", "gt"):
            io.write_alpha(tmp_path / sub / "a.png", rng.random((8, 8)))
        io.write_trimap(tmp_path / "trimap" / "a.png", np.full((8, 8), 128, np.uint8))
        argv = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                "--trimap", str(tmp_path / "trimap"), "--json", str(_blocked(tmp_path) / "s.json")]
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert "SAD" not in captured.out
        assert captured.err.startswith("error: --json:")

    @pytest.mark.parametrize("command", ["train", "train-bgm"])
    def test_training_out_under_a_file(self, tmp_path, capsys, command):
        out = _blocked(tmp_path)
        assert main([command, "--profile", "quick", "--out", str(out), "--device", "cpu"]) == 2
        assert "is a file, not a folder" in _one_error_line(capsys)

    def test_train_student_out_checked_before_the_teacher(self, tmp_path, capsys):
        argv = ["train-student", "--teacher", str(tmp_path / "no_teacher"), "--generated", "4",
                "--out", str(_blocked(tmp_path)), "--device", "cpu"]
        assert main(argv) == 2
        assert _one_error_line(capsys).startswith("error: --out:")

    def test_predict_output_checked_before_the_checkpoint(self, tmp_path, capsys):
        argv = ["predict", "--checkpoint", str(tmp_path / "no_run"), "--image", "x.png",
                "--trimap", "t.png", "--out", str(tmp_path / "alpha.xyz")]
        assert main(argv) == 2
        assert "no image writer" in _one_error_line(capsys)

    def test_predict_bgm_out_dir_checked_first(self, tmp_path, capsys):
        argv = ["predict-bgm", "--photo", "p.png", "--plate", "b.png", "--allow-random-weights",
                "--out-dir", str(_blocked(tmp_path))]
        assert main(argv) == 2
        assert _one_error_line(capsys).startswith("error: out_dir:")


class TestRejectedTrainingWritesNothing:
    ARGS = ["--profile", "quick", "--batch-size", "2", "--num-train", "4", "--num-val", "2",
            "--device", "cpu"]

    def test_train(self, tmp_path, capsys):
        out = tmp_path / "run"
        argv = ["train", *self.ARGS, "--width", "0.25", "--image-size", "40", "--out", str(out)]
        assert main(argv) == 2
        assert "image_size" in _one_error_line(capsys)
        assert not (out / "run.json").exists()

    def test_train_bgm(self, tmp_path, capsys):
        out = tmp_path / "run"
        assert main(["train-bgm", *self.ARGS, "--image-size", "42", "--out", str(out)]) == 2
        _one_error_line(capsys)
        assert not (out / "run.json").exists()


class TestErrorsOrBugs:
    def test_named_value_errors_and_file_errors_are_input_errors(self):
        assert is_input_error(ValueError("--out: cannot write"))
        assert is_input_error(PermissionError(13, "Permission denied"))
        assert is_input_error(InputTypeError("weird"))

    def test_a_bug_keeps_its_traceback(self, monkeypatch):
        from mattinglib import cli

        def broken(args):
            raise ValueError("operands could not be broadcast together")

        parser = cli.build_parser()
        monkeypatch.setattr(cli, "build_parser", lambda: parser)
        parser._subparsers._group_actions[0].choices["compose"].set_defaults(func=broken)
        with pytest.raises(ValueError, match="broadcast"):
            cli.main(["compose", "--foreground", "a", "--alpha", "b", "--background", "c",
                      "--output", "d.png"])


# --------------------------------------------------------------------------- checks


class TestChecks:
    def test_float_rounding_is_accepted_and_clipped(self):
        image = np.ones((7, 7, 3), np.float32)
        small = cv2.resize(image, (3, 3), interpolation=cv2.INTER_AREA)
        small[0, 0, 0] = np.float32(1.0000001)
        out = as_float01(small, name="image")
        assert out.max() == 1.0

    def test_out_of_range_message_shows_the_digits(self):
        with pytest.raises(ValueError, match=re.escape("got min 0, max 1.00100005")):
            check_range(np.array([0, 1.001], np.float32), 0.0, 1.0, name="alpha")

    @pytest.mark.parametrize("x", [np.zeros((0, 3)), torch.zeros(0, 1, 4, 4)])
    def test_empty_passes_the_range_check(self, x):
        check_range(x, 0.0, 1.0, name="x")

    def test_int_accepts_numpy_and_refuses_other_types(self):
        assert check_int(np.int32(4), "n", minimum=1) == 4
        with pytest.raises(TypeError, match="^n: expected an integer >= 1, got 4.0"):
            check_int(4.0, "n", minimum=1)

    def test_number(self):
        assert check_number(np.float32(0.5), "w", minimum=0) == 0.5
        with pytest.raises(TypeError, match="^w:"):
            check_number("0.5", "w")
        with pytest.raises(ValueError, match="^w: expected a finite number >= 0, got -1"):
            check_number(-1, "w", minimum=0)

    def test_index_errors(self):
        with pytest.raises(IndexError):
            check_index(5, 5)
        assert issubclass(InputIndexError, ValueError)
        with pytest.raises(TypeError, match="^index:"):
            check_index(1.0, 5)


class TestDevices:
    @NO_CUDA
    @pytest.mark.parametrize("device", ["cuda", torch.device("cuda"), torch.device("cuda", 0)])
    def test_cuda_refused_as_string_or_device(self, device):
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device(device)

    @NO_CUDA
    def test_predict_alpha_checks_a_torch_device(self):
        from mattinglib.inference.matting import predict_alpha
        from mattinglib.models.mnet import MNet

        trimap = np.full((16, 16), 128, np.uint8)
        with pytest.raises(ValueError, match="^device: .*CUDA is not available"):
            predict_alpha(MNet(width=0.25), np.zeros((16, 16, 3), np.float32), trimap,
                          device=torch.device("cuda"))

    @NO_CUDA
    def test_compose_batch_checks_a_torch_device(self):
        from mattinglib.data.composition import compose_batch

        batch = {"fg": torch.ones(1, 3, 4, 4), "bg": torch.zeros(1, 3, 4, 4),
                 "alpha": torch.ones(1, 1, 4, 4)}
        with pytest.raises(ValueError, match="CUDA is not available"):
            compose_batch(batch, torch.device("cuda"))

    def test_wrong_type(self):
        with pytest.raises(TypeError, match="^device:"):
            get_device(0.5)

    @NO_CUDA
    def test_load_checkpoint_on_cuda_is_not_called_corrupt(self, tmp_path):
        from mattinglib.train.checkpoint import load_checkpoint, save_checkpoint

        path = save_checkpoint(tmp_path / "c.pt", {"w": torch.ones(2)})
        with pytest.raises(ValueError, match="^map_location: 'cuda' asked for, but CUDA") as info:
            load_checkpoint(path, map_location="cuda")
        assert "corrupt" not in str(info.value)


class TestRunFiles:
    def test_corrupt_run_json_names_the_file(self, tmp_path):
        from mattinglib.train.checkpoint import read_run_settings, save_checkpoint

        save_checkpoint(tmp_path / "step_00000001.pt", {"step": 1})
        (tmp_path / "run.json").write_text("{not json")
        with pytest.raises(ValueError, match=re.escape(str(tmp_path / "run.json"))):
            read_run_settings(tmp_path, records="the model")

    def test_corrupt_run_json_on_resume(self, tmp_path):
        from mattinglib.train.checkpoint import start_run_folder

        (tmp_path / "run.json").write_text("")
        with pytest.raises(ValueError, match="^resume: .*run.json is not a readable settings file"):
            start_run_folder(tmp_path, {"seed": 0}, resume=True, fixed=("seed",))


# --------------------------------------------------------------------------- files


class TestReadAlpha:
    def _write(self, path, arr):
        assert cv2.imwrite(str(path), arr)
        return path

    def test_rgba_with_the_matte_in_rgb(self, tmp_path):
        matte = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (4, 1))
        rgba = np.dstack([matte, matte, matte, np.full_like(matte, 255)])
        alpha = io.read_alpha(self._write(tmp_path / "a.png", rgba))
        np.testing.assert_array_equal(alpha, matte / np.float32(255))

    def test_rgba_uses_a_real_alpha_channel(self, tmp_path):
        matte = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (4, 1))
        rgba = np.dstack([np.full_like(matte, 7)] * 3 + [matte])
        np.testing.assert_array_equal(io.read_alpha(self._write(tmp_path / "a.png", rgba)),
                                      matte / np.float32(255))

    def test_colour_photo_is_refused(self, tmp_path):
        photo = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
        with pytest.raises(ValueError, match="is a colour image"):
            io.read_alpha(self._write(tmp_path / "p.png", photo))

    def test_opaque_rgba_photo_is_refused(self, tmp_path):
        photo = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
        rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
        with pytest.raises(ValueError, match="RGBA colour image with an opaque alpha"):
            io.read_alpha(self._write(tmp_path / "p.png", rgba))


class TestTruncatedJpeg:
    def _jpeg(self, tmp_path):
        image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        path = tmp_path / "a.jpg"
        assert cv2.imwrite(str(path), image)
        return path

    def test_truncated_is_reported(self, tmp_path):
        path = self._jpeg(tmp_path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(ValueError, match="truncated JPEG"):
            io.read_image(path)

    def test_bytes_after_the_end_marker_are_fine(self, tmp_path):
        path = self._jpeg(tmp_path)
        expected = io.read_image(path)
        path.write_bytes(path.read_bytes() + b"trailer written by some cameras")
        np.testing.assert_array_equal(io.read_image(path), expected)


class TestWriters:
    def test_unknown_extension(self, tmp_path):
        with pytest.raises(ValueError, match="^path: no image writer for the extension '.xyz'"):
            io.write_alpha(tmp_path / "a.xyz", np.zeros((2, 2), np.float32))

    def test_parent_is_a_file(self, tmp_path):
        with pytest.raises(ValueError, match="is a file, not a folder"):
            io.write_alpha(_blocked(tmp_path) / "a.png", np.zeros((2, 2), np.float32))


class TestLoadAlphamatting:
    @pytest.fixture
    def root(self, tmp_path):
        rng = np.random.default_rng(0)
        io.write_image(tmp_path / "input" / "GT01.png", rng.random((12, 16, 3)))
        io.write_alpha(tmp_path / "gt" / "GT01.png", rng.random((12, 16)))
        io.write_trimap(tmp_path / "trimap1" / "GT01.png", np.full((12, 16), 128, np.uint8))
        return tmp_path

    @pytest.mark.parametrize("max_side", [0, -5])
    def test_max_side_must_be_positive(self, root, max_side):
        with pytest.raises(ValueError, match="^max_side: expected an integer >= 1"):
            io.load_alphamatting(root, max_side=max_side)

    def test_a_single_name_is_not_a_list(self, root):
        with pytest.raises(TypeError, match=re.escape("names: expected a list of names, got the "
                                                      "single string 'GT01' (write ['GT01'])")):
            io.load_alphamatting(root, names="GT01")
        assert io.load_alphamatting(root, names=["GT01"])[0].name == "GT01"


# --------------------------------------------------------------------------- datasets


class TestForLoops:
    """``for x in source`` stops after ``len(source)`` items (IndexError at the end)."""

    def _folders(self, tmp_path, n=3):
        (tmp_path / "fg").mkdir()
        (tmp_path / "alpha").mkdir()
        for i in range(n):
            assert cv2.imwrite(str(tmp_path / "fg" / f"{i}.png"),
                               np.full((8, 8, 3), 9 * i, np.uint8))
            assert cv2.imwrite(str(tmp_path / "alpha" / f"{i}.png"), np.full((8, 8), 255, np.uint8))
        return tmp_path / "fg", tmp_path / "alpha"

    def test_folder_foregrounds(self, tmp_path):
        from mattinglib.data.folders import FolderForegrounds

        fg, alpha = self._folders(tmp_path)
        assert [name for _, _, name in FolderForegrounds(fg, alpha)] == ["0", "1", "2"]

    def test_folder_backgrounds(self, tmp_path):
        from mattinglib.data.folders import FolderBackgrounds

        fg, _ = self._folders(tmp_path)
        assert len(list(FolderBackgrounds(fg))) == 3

    def test_aim500(self, tmp_path):
        from mattinglib.data.external import load_aim500

        for folder in ("original", "mask"):
            (tmp_path / folder).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / "original" / f"p{i}.jpg"), np.full((8, 6, 3), 90, np.uint8))
            cv2.imwrite(str(tmp_path / "mask" / f"p{i}.png"), np.full((8, 6), 255, np.uint8))
        assert len(list(load_aim500(tmp_path))) == 2

    @pytest.mark.parametrize("kind", ["foregrounds", "backgrounds"])
    def test_synthetic_sources_end(self, kind):
        from mattinglib.data.synthetic import SyntheticBackgrounds, SyntheticForegrounds

        source = (SyntheticForegrounds(8, length=3) if kind == "foregrounds"
                  else SyntheticBackgrounds(8, length=3))
        assert len(list(source)) == 3
        assert source.sample(10) is not None  # sample() still takes any index

    def test_names_must_be_a_list(self, tmp_path):
        from mattinglib.data.folders import FolderForegrounds

        fg, alpha = self._folders(tmp_path)
        with pytest.raises(TypeError, match="^names:"):
            FolderForegrounds(fg, alpha, names="0")


# --------------------------------------------------------------------------- numbers


class TestMetricsArguments:
    TRI = np.full((16, 16), 128, np.uint8)
    A = np.tile(np.linspace(0, 1, 16), (16, 1))

    @pytest.mark.parametrize("sigma", [0.01, 0.0, 45.0, float("nan")])
    def test_sigma_out_of_its_working_range(self, sigma):
        with pytest.raises(ValueError,
                           match="^sigma: expected a finite number in \\[0.1, 39.89\\]"):
            metrics.gradient_error(self.A, self.A[::-1], self.TRI, sigma=sigma)

    def test_sigma_inside_the_range_is_finite(self):
        for sigma in (0.1, 39.89):
            assert np.isfinite(metrics.gradient_error(self.A, self.A[::-1], self.TRI, sigma=sigma))

    def test_mean_metrics_of_numbers(self):
        with pytest.raises(TypeError, match="^results: item 0 is int 1, expected a dict"):
            metrics.mean_metrics([1, 2])

    def test_mean_metrics_of_one_dict(self):
        with pytest.raises(TypeError, match="wrap it in a list"):
            metrics.mean_metrics({"sad": 1.0})

    def test_empty_matte(self):
        empty = np.zeros((0, 4))
        with pytest.raises(ValueError, match="^pred: expected a non-empty matte"):
            metrics.sad(empty, empty, np.zeros((0, 4), np.uint8))


class TestModelInputs:
    @pytest.fixture(scope="class")
    @classmethod
    def mnet(cls):
        from mattinglib.models.mnet import MNet

        return MNet(width=0.25).eval()

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
    def test_mnet_dtype(self, mnet, dtype):
        with pytest.raises(TypeError, match=f"^x: expected a torch.float32 tensor .*got {dtype}"):
            mnet(torch.zeros(1, 6, 16, 16, dtype=dtype))

    def test_mnet_integer_input(self, mnet):
        with pytest.raises(TypeError, match="^x: expected a floating point tensor .*torch.uint8"):
            mnet(torch.zeros(1, 6, 16, 16, dtype=torch.uint8))

    def test_dim_dtype(self):
        from mattinglib.models.dim import DIM

        with pytest.raises(TypeError, match="^image: expected a torch.float32 tensor"):
            DIM(width=0.25).eval()(torch.zeros(1, 3, 32, 32, dtype=torch.float64),
                                   torch.zeros(1, 1, 32, 32))

    def test_tnet_and_shm_dtype(self):
        from mattinglib.models.mnet import MNet
        from mattinglib.models.shm import SHM
        from mattinglib.models.tnet import TNet

        model = SHM(TNet(backbone="resnet18", width=0.25), MNet(width=0.25)).eval()
        with pytest.raises(TypeError, match="^image: expected a torch.float32 tensor"):
            model.tnet(torch.zeros(1, 3, 32, 32, dtype=torch.float64))
        with pytest.raises(TypeError, match="^image: expected a torch.float32 tensor"):
            model(torch.zeros(1, 3, 32, 32, dtype=torch.float64))

    def test_autocast_accepts_another_float(self, mnet):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert mnet(torch.zeros(1, 6, 16, 16, dtype=torch.bfloat16)).shape == (1, 1, 16, 16)


class TestBGMGeneratorInputs:
    @pytest.fixture(scope="class")
    @classmethod
    def generator(cls):
        from mattinglib.models.bgm import BackgroundMattingGenerator

        return BackgroundMattingGenerator(ngf=4, nf_part=4, n_blocks1=1, n_blocks2=1).eval()

    @staticmethod
    def inputs(fill=0.0, dtype=torch.float32):
        return [torch.full((1, c, 8, 8), fill, dtype=dtype) for c in (3, 3, 1, 4)]

    @pytest.mark.parametrize("fill", [float("nan"), 255.0])
    def test_range_checked_on_cpu(self, generator, fill):
        image, back, seg, multi = self.inputs()
        image = torch.full_like(image, fill)
        with pytest.raises(ValueError, match="^image: .*(NaN|expected values in \\[-1.0, 1.0\\])"):
            generator(image, back, seg, multi)

    def test_range_check_can_be_switched_off(self, generator):
        image, back, seg, multi = self.inputs()
        generator.check_values = False
        try:
            alpha, _ = generator(image * 255 + 1, back, seg, multi)
        finally:
            generator.check_values = None
        assert alpha.shape == (1, 1, 8, 8)

    def test_dtype(self, generator):
        with pytest.raises(TypeError, match="^image: expected a torch.float32 tensor"):
            generator(*self.inputs(dtype=torch.float16))

    def test_to_model_range_of_ints(self):
        from mattinglib.models.bgm import to_model_range

        with pytest.raises(TypeError, match="^x: expected a floating point tensor"):
            to_model_range(torch.tensor([0, 1]))


def test_shm_loss_needs_three_classes():
    from mattinglib.losses.dim import shm_loss

    with pytest.raises(ValueError, match=re.escape("trimap_logits: expected shape (B,3,H,W)")):
        shm_loss(trimap_logits=torch.zeros(1, 2, 4, 4),
                 trimap_target=torch.zeros(1, 4, 4, dtype=torch.long))


def test_compose_library_names_alpha(tmp_path):
    from mattinglib.compositing import compose

    with pytest.raises(ValueError, match="^alpha:"):
        compose(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), np.zeros((3, 4)))


def test_writable_check_creates_nothing(tmp_path):
    """Checking an output path before the work leaves no folder or probe file behind."""
    path = tmp_path / "sub" / "s.json"
    from mattinglib._checks import check_writable_file

    check_writable_file(path, "--json")
    assert not path.parent.exists()
    path.parent.mkdir()
    path.write_text(json.dumps({"a": 1}))
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path / "sub") == ["s.json"]
