"""The training commands under ``torchrun``: two CPU processes with gloo.

``train`` and ``train-bgm`` run data-parallel (the Trainer wraps the model in DDP and
shards the data); ``train-student`` too (the teacher-student trainer gives each process
its slice of a step's batch and averages the student's and D's gradients). The processes
get the environment that ``torchrun --nproc_per_node=2`` gives its workers (see
``test_distributed.py`` for why the launcher itself is left out).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_distributed import free_port

from mattinglib.train.checkpoint import latest_checkpoint, load_checkpoint

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--profile", "quick", "--image-size", "32", "--batch-size", "2", "--num-train", "8",
        "--num-val", "2", "--device", "cpu"]
#: M-Net only: a constant rate lets a finished run be extended (a one-cycle run refuses new steps).
CONSTANT = ["--lr-schedule", "constant"]


def two_ranks(*args: str, timeout: int = 300) -> list[subprocess.CompletedProcess]:
    """Run ``python -m mattinglib ARGS`` as ranks 0 and 1 of a two-process job."""
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2", "RANK": str(rank),
               "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "PYTHONPATH": str(ROOT)}
        procs.append(subprocess.Popen([sys.executable, "-m", "mattinglib", *args], env=env,
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outs = []
    try:
        for proc in procs:
            outs.append(subprocess.CompletedProcess(proc.args, None,
                                                    proc.communicate(timeout=timeout)[0]))
            outs[-1].returncode = proc.returncode
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"the two-process run of {args[0]} did not finish in {timeout} s")
    return outs


def assert_ok(results) -> None:
    for rank, done in enumerate(results):
        assert done.returncode == 0, f"rank {rank}:\n{done.stdout[-4000:]}"


def check_run(out: Path, steps: int) -> dict:
    last = latest_checkpoint(out)
    assert last is not None and last.name == f"step_{steps:08d}.pt"
    state = load_checkpoint(last)
    assert state["config"]["world_size"] == 2
    assert state["history"]["train"]["step"] == list(range(1, steps + 1))
    json.loads((out / "run.json").read_text())  # whole, though both processes wrote it
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    return state


@pytest.fixture(scope="module")
def bgm_run(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("ddp_bgm") / "run"
    results = two_ranks("train-bgm", *TINY, "--steps", "2", "--ngf", "8", "--n-blocks1", "1",
                        "--n-blocks2", "1", "--out", str(out))
    return out, results


def test_train_runs_data_parallel_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert_ok(two_ranks("train", *TINY, *CONSTANT, "--width", "0.25", "--steps",
                        "2", "--out", str(out)))
    check_run(out, 2)
    assert_ok(two_ranks("train", *TINY, *CONSTANT, "--width", "0.25", "--steps", "3", "--resume",
                        "--out", str(out)))
    check_run(out, 3)


def test_train_bgm_runs_data_parallel(bgm_run):
    out, results = bgm_run
    assert_ok(results)
    state = check_run(out, 2)
    assert state["data"]["steps_per_epoch"] == 2  # 8 samples / 2 processes / batch 2


def test_train_student_runs_data_parallel(bgm_run, tmp_path):
    teacher, results = bgm_run
    assert_ok(results)
    out = tmp_path / "student"
    assert_ok(two_ranks("train-student", "--teacher", str(teacher), "--generated", "4",
                        "--val-generated", "0", "--size", "32", "--batch-size", "1",
                        "--steps", "2", "--ndf", "8", "--device", "cpu", "--out", str(out)))
    last = latest_checkpoint(out)
    assert last is not None and last.name == "step_00000002.pt"
    state = load_checkpoint(last)
    assert state["config"]["world_size"] == 2 and state["config"]["batch_size"] == 1
    assert state["history"]["train"]["step"] == [1, 2]
    assert (out / "generator.pth").is_file()
    json.loads((out / "run.json").read_text())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
