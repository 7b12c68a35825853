"""Ctrl-C during training: the last complete step is saved and resumes bit for bit.

A real Ctrl-C is a SIGINT sent to the process: the tests send one to
themselves from inside a training step, and also raise ``KeyboardInterrupt``
directly (a callback between steps, the loss function in the middle of one).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal

import pytest
import torch
from test_trainer import TinyMattingSet, matting_loss, mean_abs_error, tiny_model

from mattinglib.cli.train import add_train_command
from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.models.bgm import bgm_generator
from mattinglib.train import TrainingInterrupted
from mattinglib.train.adversarial import (
    TeacherStudentTrainer,
    fresh_discriminator,
    fresh_student_like,
)
from mattinglib.train.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    remove_stale_temp_files,
)
from mattinglib.train.trainer import Trainer

STEPS = 13


@pytest.fixture(autouse=True)
def ctrl_c_reaches_python():
    """Python's own Ctrl-C handler, whatever the test runner inherited: a runner started
    in the background (``cmd &`` in a script) ignores SIGINT, and so, rightly, does a
    training run started that way."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def sigint_at(step: int, times: int = 1):
    """A loss function that sends itself Ctrl-C ``times`` times during step ``step`` (1-based)."""
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if calls["n"] == step:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return matting_loss(model, batch)

    return loss_fn


def raise_in_loss_at(step: int):
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        terms = matting_loss(model, batch)  # the forward has run: dropout drew, the state moved
        if calls["n"] == step:
            raise KeyboardInterrupt
        return terms

    return loss_fn


def raise_after(step: int):
    def callback(trainer, now, losses):
        if now == step:
            raise KeyboardInterrupt
    return callback


def trainer(folder, *, loss_fn=matting_loss, callbacks=(), model_seed=0) -> Trainer:
    model = tiny_model(model_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    return Trainer(model, optimizer, loss_fn, TinyMattingSet(), batch_size=4, max_steps=STEPS,
                   scheduler=scheduler, val_fn=mean_abs_error, val_data=TinyMattingSet(seed=1),
                   val_every=5, checkpoint_dir=folder,
                   checkpoint_every=None if folder is None else 3, seed=11,
                   callbacks=list(callbacks), device="cpu", progress=False)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    run = trainer(tmp_path_factory.mktemp("straight"))
    run.fit()
    return run


def assert_same_run(resumed: Trainer, straight: Trainer) -> None:
    assert resumed.history.train_steps == list(range(1, STEPS + 1))
    for name in ("total", "l1", "l2"):
        assert resumed.history.train[name] == straight.history.train[name]  # exact
    assert resumed.history.val_steps == straight.history.val_steps
    assert resumed.history.val["mae"] == straight.history.val["mae"]
    for a, b in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.equal(a, b)


def resume(folder) -> Trainer:
    torch.manual_seed(1234)  # a new process: another random state, another model
    again = trainer(folder, model_seed=99)
    again.fit(resume=True)
    return again


class TestTrainer:
    def test_ctrl_c_finishes_the_step_saves_it_and_resumes_exactly(self, tmp_path, straight):
        run = trainer(tmp_path, loss_fn=sigint_at(8))
        with pytest.raises(TrainingInterrupted) as info:
            run.fit()
        err = info.value
        assert isinstance(err, KeyboardInterrupt)
        assert (err.step, err.saved, err.checkpoint) == (8, True, checkpoint_path(tmp_path, 8))
        assert str(err).startswith("interrupted at step 8/13: checkpoint of step 8 saved to ")
        assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 8)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
        assert_same_run(resume(tmp_path), straight)

    def test_keyboard_interrupt_between_steps(self, tmp_path, straight):
        run = trainer(tmp_path, callbacks=[raise_after(7)])
        with pytest.raises(TrainingInterrupted, match="step 7/13: checkpoint of step 7 saved"):
            run.fit()
        assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 7)
        assert_same_run(resume(tmp_path), straight)

    def test_interrupt_inside_a_step_saves_nothing_and_keeps_the_last_checkpoint(
            self, tmp_path, straight):
        run = trainer(tmp_path, loss_fn=raise_in_loss_at(8))
        with pytest.raises(TrainingInterrupted) as info:
            run.fit()
        assert not info.value.saved and info.value.checkpoint == checkpoint_path(tmp_path, 6)
        assert "interrupted during step 8, which is lost" in str(info.value)
        assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 6)
        assert_same_run(resume(tmp_path), straight)

    def test_a_second_ctrl_c_stops_at_once(self, tmp_path):
        run = trainer(tmp_path, loss_fn=sigint_at(5, times=2))
        with pytest.raises(TrainingInterrupted, match="during step 5, which is lost") as info:
            run.fit()
        assert info.value.checkpoint == checkpoint_path(tmp_path, 3)

    def test_without_a_checkpoint_folder_the_state_stays_in_memory(self, straight):
        run = trainer(None, callbacks=[raise_after(4)])
        with pytest.raises(TrainingInterrupted, match="nothing saved .no checkpoint_dir.") as info:
            run.fit()
        assert info.value.checkpoint is None and run.step == 4
        run.callbacks.clear()
        run.fit()  # continues in memory
        assert_same_run(run, straight)

    def test_stale_temporary_files_are_removed_on_start(self, tmp_path):
        dead = tmp_path / ".step_00000003.pt.tmp-999999999"  # no such process
        live = tmp_path / f".step_00000006.pt.tmp-{os.getppid()}"  # a running process
        tmp_path.mkdir(exist_ok=True)
        dead.write_bytes(b"half a checkpoint")
        live.write_bytes(b"being written")
        run = trainer(tmp_path)
        run.max_steps = 3
        run.fit()
        assert not dead.exists() and live.exists()
        assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003.pt"]
        assert remove_stale_temp_files(tmp_path / "missing") == []


# --------------------------------------------------------------------------- teacher-student

TINY_BGM = dict(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1)


def student_trainer(folder, max_steps=6):
    teacher = bgm_generator(**TINY_BGM, seed=1)
    return TeacherStudentTrainer(teacher, fresh_student_like(teacher, seed=2),
                                 fresh_discriminator(ndf=8, seed=3), TargetDomainDataset(6, 32),
                                 batch_size=2, max_steps=max_steps, device="cpu", progress=False,
                                 steps_per_epoch=2, seed=5, checkpoint_dir=folder,
                                 checkpoint_every=3)


def test_teacher_student_ctrl_c_saves_and_resumes_exactly(tmp_path):
    straight = student_trainer(tmp_path / "straight")
    straight.fit()

    run = student_trainer(tmp_path / "run")
    original = run.train_step

    def step_with_ctrl_c(batch):
        if run.step == 3:  # during step 4
            os.kill(os.getpid(), signal.SIGINT)
        return original(batch)

    run.train_step = step_with_ctrl_c
    with pytest.raises(TrainingInterrupted, match="step 4/6: checkpoint of step 4 saved"):
        run.fit()
    torch.manual_seed(77)
    again = student_trainer(tmp_path / "run")
    again.fit(resume=True)
    for name, values in again.history.train.items():
        assert values == straight.history.train[name], name
    for a, b in zip(again.student.state_dict().values(), straight.student.state_dict().values()):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------- the command line

TINY = ["--profile", "quick", "--image-size", "32", "--width", "0.25", "--batch-size", "2",
        "--num-train", "8", "--num-val", "2", "--val-every", "2", "--device", "cpu"]


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="mattinglib")
    add_train_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_train_command_prints_the_resume_command_and_exits_130(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run dir"
    original = Trainer.train_step

    def step_with_ctrl_c(self, batch):
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", step_with_ctrl_c)
    assert run_cli(["train", "--steps", "6", "--out", str(out), *TINY]) == 130
    printed = capsys.readouterr().err
    assert "Traceback" not in printed
    err = [line for line in printed.strip().splitlines() if not line.startswith("train:")]  # tqdm
    assert len(err) == 1
    assert err[0].startswith("interrupted at step 3/6: checkpoint of step 3 saved to ")
    command = err[0].split("; continue with: ")[1]
    assert command.startswith("python -m mattinglib train ") and command.endswith(" --resume")
    assert load_checkpoint(latest_checkpoint(out))["step"] == 3

    monkeypatch.setattr(Trainer, "train_step", original)
    argv = shlex.split(command)[3:]
    assert argv[argv.index("--out") + 1] == str(out)
    assert run_cli(argv) == 0
    assert load_checkpoint(latest_checkpoint(out))["step"] == 6
