"""Loading a trained run: run.json that does not describe the weights gives one clear error.

Run folders are made by hand here (a checkpoint with a ``"model"`` entry and a
``run.json``), so nothing is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mattinglib.cli import main
from mattinglib.io import write_image
from mattinglib.models.bgm import BackgroundMattingGenerator
from mattinglib.models.mnet import MNet
from mattinglib.train.checkpoint import RUN_FILE, checkpoint_path, save_checkpoint
from mattinglib.train.runs import load_bgm_generator, load_trained_model
from mattinglib.train.trainer import Trainer

BGM = dict(ngf=4, nf_part=4, n_blocks1=1, n_blocks2=1, use_motion_features=False)


def run_folder(folder: Path, model: torch.nn.Module, settings: dict) -> Path:
    """A run folder holding ``model``'s weights at step 1 and ``settings`` as run.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_FILE).write_text(json.dumps(settings))
    return save_checkpoint(checkpoint_path(folder, 1), {"model": model.state_dict(), "step": 1})


class TestMNetRun:
    def test_matching_run_loads(self, tmp_path):
        model = MNet(width=0.25, seed=3)
        run_folder(tmp_path, model, {"model": "mnet", "width": 0.25})
        loaded = load_trained_model(tmp_path, device="cpu")
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                     model.state_dict().values()))

    def test_width_that_does_not_match_the_weights(self, tmp_path):
        ckpt = run_folder(tmp_path, MNet(width=0.25), {"model": "mnet", "width": 0.5})
        with pytest.raises(ValueError) as info:
            load_trained_model(tmp_path, device="cpu")
        message = str(info.value)
        assert message.startswith(f"checkpoint: {ckpt} does not fit MNet(width=0.5) as "
                                  f"{tmp_path / RUN_FILE} describes it")
        assert "shape mismatch" in message and "file (16, 6, 3, 3), model (32, 6, 3, 3)" in message

    @pytest.mark.parametrize("settings, pattern", [
        ({"model": "mnet"}, "records width: expected a finite number, got NoneType None$"),
        ({"model": "mnet", "width": "wide"},
         "records width: expected a finite number, got str 'wide'$"),
        ({"model": "mnet", "width": True},
         "records width: expected a finite number, got bool True$"),
    ])
    def test_bad_width_in_run_json(self, tmp_path, settings, pattern):
        run_folder(tmp_path, MNet(width=0.25), settings)
        with pytest.raises(ValueError, match=f"^checkpoint: .*{RUN_FILE} {pattern}"):
            load_trained_model(tmp_path, device="cpu")

    def test_run_json_that_is_not_json(self, tmp_path):
        run_folder(tmp_path, MNet(width=0.25), {})
        (tmp_path / RUN_FILE).write_text("{width: 0.25")
        with pytest.raises(ValueError,
                           match=f"^checkpoint: .*{RUN_FILE} is not a readable settings file"):
            load_trained_model(tmp_path, device="cpu")

    def test_checkpoint_without_a_model(self, tmp_path):
        run_folder(tmp_path, MNet(width=0.25), {"model": "mnet", "width": 0.25})
        save_checkpoint(checkpoint_path(tmp_path, 2), {"step": 2})
        with pytest.raises(ValueError,
                           match="^checkpoint: .*step_00000002.pt holds no 'model' entry"):
            load_trained_model(tmp_path, device="cpu")

    def test_predict_command_gives_one_line(self, tmp_path, capsys):
        run_folder(tmp_path / "run", MNet(width=0.25), {"model": "mnet", "width": 0.5})
        write_image(tmp_path / "img.png", np.zeros((32, 32, 3), np.float32))
        trimap = np.full((32, 32), 128, np.uint8)
        import cv2

        cv2.imwrite(str(tmp_path / "tri.png"), trimap)
        code = main(["predict", "--checkpoint", str(tmp_path / "run"), "--image",
                     str(tmp_path / "img.png"), "--trimap", str(tmp_path / "tri.png"),
                     "--out", str(tmp_path / "a.png"), "--device", "cpu"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1
        assert err.startswith("error: checkpoint: ") and "does not fit MNet(width=0.5)" in err


class TestBGMRun:
    def test_matching_run_loads(self, tmp_path):
        model = BackgroundMattingGenerator(**BGM)
        run_folder(tmp_path, model, {"model": "bgm", "generator": BGM})
        loaded = load_bgm_generator(tmp_path, device="cpu")
        assert loaded.config["ngf"] == 4

    def test_generator_size_that_does_not_match_the_weights(self, tmp_path):
        ckpt = run_folder(tmp_path, BackgroundMattingGenerator(**BGM),
                          {"model": "bgm", "generator": {**BGM, "ngf": 8, "nf_part": 8}})
        with pytest.raises(ValueError) as info:
            load_bgm_generator(tmp_path, device="cpu")
        message = str(info.value)
        assert message.startswith(f"checkpoint: {ckpt} does not fit BackgroundMattingGenerator("
                                  "ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, "
                                  "use_motion_features=False) as")
        assert "shape mismatch" in message

    def test_generator_settings_missing(self, tmp_path):
        run_folder(tmp_path, BackgroundMattingGenerator(**BGM), {"model": "bgm", "generator": {}})
        with pytest.raises(ValueError, match=f"^checkpoint: .*{RUN_FILE} records generator {{}}"):
            load_bgm_generator(tmp_path, device="cpu")


def test_trainer_resume_with_another_model_names_the_mismatch(tmp_path):
    """A sibling: Trainer.resume into a model of another size."""
    data = torch.utils.data.TensorDataset(torch.zeros(4, 2))

    def loss_fn(model, batch):
        return {"total": model(batch[0]).sum()}

    def trainer(width):
        model = torch.nn.Linear(2, width)
        return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, data,
                       batch_size=2, max_steps=1, checkpoint_dir=tmp_path, device="cpu",
                       progress=False)

    trainer(3).fit()
    with pytest.raises(ValueError, match=r"^state: the checkpoint does not fit this trainer's "
                                         r"Linear: 2 shape mismatch\(es\): weight: file \(3, 2\)"):
        trainer(5).fit(resume=True)
