"""The `train-student` command: Background Matting's adversarial stage from the command line."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from mattinglib.cli import main
from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.models.bgm import bgm_generator
from mattinglib.train.checkpoint import latest_checkpoint, load_checkpoint

TEACHER = ["train-bgm", "--profile", "quick", "--image-size", "32", "--ngf", "8",
           "--n-blocks1", "1", "--n-blocks2", "1", "--batch-size", "2", "--num-train", "4",
           "--num-val", "2", "--val-every", "2", "--steps", "2", "--device", "cpu"]
TINY = ["--size", "32", "--batch-size", "2", "--ndf", "8", "--device", "cpu",
        "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    assert main([*TEACHER, "--out", str(out)]) == 0
    return out


def student(teacher, out, *extra):
    return main(["train-student", "--teacher", str(teacher), "--out", str(out), *TINY, *extra])


def test_trains_validates_resumes_and_exports(teacher, tmp_path, capsys):
    out = tmp_path / "student"
    args = ["--generated", "6", "--val-generated", "2", "--val-every", "2"]
    assert student(teacher, out, *args, "--steps", "2") == 0
    settings = json.loads((out / "run.json").read_text())
    assert settings["model"] == "bgm-student"
    assert settings["captures"] is None and settings["num_train_samples"] == 6
    assert settings["teacher"]["ngf"] == 8 and settings["teacher_run"] == str(teacher.resolve())
    assert student(teacher, out, *args, "--steps", "4", "--resume") == 0
    state = load_checkpoint(latest_checkpoint(out))
    assert state["step"] == 4
    assert state["history"]["val"]["step"] == [0, 2, 4]
    err = capsys.readouterr().err
    assert "step 4/4" in err and "held-out SAD student" in err

    # generator.pth is the student in the released layout: it loads as official weights
    config = {k: settings["teacher"][k] for k in ("ngf", "nf_part", "n_blocks1", "n_blocks2")}
    loaded = bgm_generator(weights=str(out / "generator.pth"), **config)
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, state["student"][name])

    # the run cannot be resumed with another recipe
    assert student(teacher, out, *args, "--steps", "6", "--resume", "--gan-weight", "0") == 2
    assert "other settings" in capsys.readouterr().err


def test_trains_on_captured_videos(teacher, tmp_path):
    captures = tmp_path / "captured" / "video_a"
    captures.mkdir(parents=True)
    data = TargetDomainDataset(3, 32, seed=0)
    for i in range(3):
        a = data.arrays(i)
        cv2.imwrite(str(captures / f"{i:04d}_img.png"),
                    (a["image"][..., ::-1] * 255).astype(np.uint8))
        cv2.imwrite(str(captures / f"{i:04d}_masksDL.png"), (a["seg_gt"] * 255).astype(np.uint8))
    cv2.imwrite(str(captures / "video_a_back.png"),
                (data.arrays(0)["bg"][..., ::-1] * 255).astype(np.uint8))
    out = tmp_path / "student"
    assert student(teacher, out, "--captures", str(captures.parent), "--steps", "2") == 0
    assert load_checkpoint(latest_checkpoint(out))["step"] == 2
    assert (out / "generator.pth").is_file()


@pytest.mark.parametrize("extra, message", [
    ([], "--captures/--generated: give exactly one"),
    (["--generated", "4", "--captures", "x"], "--captures/--generated: give exactly one"),
    (["--generated", "4", "--val-generated", "0", "--val-every", "2"],
     "--val-every: validation needs held-out truth"),
    (["--generated", "4", "--size", "30"], "--size: the generator needs a multiple of 4"),
    (["--generated", "0"], "--generated: expected an integer >= 1"),
    (["--generated", "4", "--gan-weight", "-1"], "--gan-weight: expected a finite number"),
    (["--generated", "4", "--min-shift", "0.2"], "--min-shift: expected a finite number in "
                                                 "[0, 0.1], got 0.2"),
    (["--generated", "4", "--max-shift", "2"], "--max-shift: expected a finite number"),
])
def test_bad_arguments_are_named(teacher, tmp_path, capsys, extra, message):
    assert student(teacher, tmp_path / "s", "--steps", "1", *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s" / "run.json").exists()  # nothing was started


def test_teacher_must_be_a_bgm_run(tmp_path, capsys):
    assert student(tmp_path, tmp_path / "s", "--generated", "4", "--steps", "1") == 2
    assert "checkpoint: no step_*.pt file" in capsys.readouterr().err


def test_switches_reach_the_trainer_and_fix_the_run(teacher, tmp_path, capsys):
    out = tmp_path / "student"
    switches = ["--gan-gradient", "paper", "--shift-fill", "background", "--min-shift", "0.05"]
    assert student(teacher, out, "--generated", "4", "--steps", "1", *switches) == 0
    settings = json.loads((out / "run.json").read_text())
    assert (settings["gan_gradient"], settings["shift_fill"], settings["min_shift"],
            settings["max_shift"]) == ("paper", "background", 0.05, 0.1)
    config = load_checkpoint(latest_checkpoint(out))["config"]
    assert (config["gan_gradient"], config["shift_fill"], config["min_shift"]) == (
        "paper", "background", 0.05)
    # another switch cannot resume the run
    assert student(teacher, out, "--generated", "4", "--steps", "2", "--resume",
                   "--gan-gradient", "paper", "--shift-fill", "zeros", "--min-shift", "0.05") == 2
    assert "other settings" in capsys.readouterr().err
    # the default is the released code's detached GAN term
    fresh = tmp_path / "default"
    assert student(teacher, fresh, "--generated", "4", "--steps", "1") == 0
    assert json.loads((fresh / "run.json").read_text())["gan_gradient"] == "released"
    assert load_checkpoint(latest_checkpoint(fresh))["config"]["gan_gradient"] == "released"


def test_anti_shortcut_flag_reaches_the_trainer(teacher, tmp_path, capsys):
    out = tmp_path / "anti"
    assert student(teacher, out, "--generated", "4", "--steps", "1", "--gan-gradient", "paper",
                   "--anti-shortcut") == 0
    assert json.loads((out / "run.json").read_text())["anti_shortcut"] is True
    state = load_checkpoint(latest_checkpoint(out))
    assert state["config"]["anti_shortcut"] is True and "d_anti" in state["history"]["train"]
    # without the flag the run is another run
    assert student(teacher, out, "--generated", "4", "--steps", "2", "--resume",
                   "--gan-gradient", "paper") == 2
    assert "other settings" in capsys.readouterr().err
    assert student(teacher, tmp_path / "one", "--generated", "4", "--steps", "1",
                   "--batch-size", "1", "--anti-shortcut") == 2
    assert "anti_shortcut: needs another frame's alpha" in capsys.readouterr().err


def test_a_run_from_before_the_switches_resumes_as_paper(teacher, tmp_path, capsys):
    out = tmp_path / "old"
    assert student(teacher, out, "--generated", "4", "--steps", "1", "--gan-gradient", "paper") == 0
    # make the folder look like one written before the options existed
    settings = json.loads((out / "run.json").read_text())
    for key in ("gan_gradient", "shift_fill", "min_shift", "max_shift"):
        del settings[key]
    (out / "run.json").write_text(json.dumps(settings))
    path = latest_checkpoint(out)
    state = load_checkpoint(path)
    for key in ("gan_gradient", "shift_fill", "min_shift"):
        del state["config"][key]
    torch.save(state, path)
    # the default (released) is refused by the checkpoint, naming the switch
    assert student(teacher, out, "--generated", "4", "--steps", "2", "--resume") == 2
    assert "gan_gradient='paper'" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text()) == settings  # the refusal wrote nothing
    assert student(teacher, out, "--generated", "4", "--steps", "2", "--resume",
                   "--gan-gradient", "paper") == 0
    assert load_checkpoint(latest_checkpoint(out))["step"] == 2


@pytest.mark.parametrize("option, value", [("--gan-gradient", "attached"),
                                           ("--shift-fill", "mirror")])
def test_unknown_switch_values_are_named(teacher, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as stop:
        student(teacher, tmp_path / "s", "--generated", "4", "--steps", "1", option, value)
    assert stop.value.code == 2
    assert f"argument {option}: invalid choice: '{value}'" in capsys.readouterr().err
    assert not (tmp_path / "s" / "run.json").exists()
