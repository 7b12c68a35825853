"""Training under torchrun: two CPU processes with gloo, and the environment detection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import ddp_worker
import pytest
import torch

from mattinglib.train.checkpoint import latest_checkpoint, load_checkpoint
from mattinglib.train.distributed import DistInfo, all_mean, dist_info_from_env, setup_distributed

HERE = Path(__file__).resolve().parent
STEPS = 5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestEnvironment:
    def test_single_process_without_torchrun(self, monkeypatch):
        for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(var, raising=False)
        info, device = setup_distributed(torch.device("cpu"))
        assert info == DistInfo() and not info.is_distributed and info.is_main
        assert device == torch.device("cpu")
        x = torch.tensor([1.0, 2.0])
        assert all_mean(x) is x

    def test_reads_torchrun_variables(self, monkeypatch):
        monkeypatch.setenv("WORLD_SIZE", "4")
        monkeypatch.setenv("RANK", "3")
        monkeypatch.setenv("LOCAL_RANK", "1")
        info = dist_info_from_env()
        assert (info.rank, info.local_rank, info.world_size) == (3, 1, 4)
        assert info.is_distributed and not info.is_main

    def test_inconsistent_rank_is_an_error(self, monkeypatch):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", "2")
        with pytest.raises(ValueError, match=r"^environment: RANK=2 outside 0..WORLD_SIZE-1=1"):
            dist_info_from_env()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[dict, dict, Path]:
    """Start two worker processes with the environment that ``torchrun`` gives its workers.

    Launching them directly (not through ``python -m torch.distributed.run``) spares the
    launcher's own process, a third torch import on a busy two-core CI machine; the
    workers see exactly the variables the trainer reads.
    """
    out = tmp_path_factory.mktemp("ddp")
    port = free_port()
    workers = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2", "RANK": str(rank),
               "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        command = [sys.executable, str(HERE / "ddp_worker.py"), "--out", str(out),
                   "--steps", str(STEPS)]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    logs = []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=120)[0])
    except subprocess.TimeoutExpired:
        for worker in workers:
            worker.kill()
        pytest.fail("the two-process run did not finish in 120 s")
    for rank, (worker, log) in enumerate(zip(workers, logs)):
        assert worker.returncode == 0, f"rank {rank} failed:\n{log[-4000:]}"
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    return ranks[0], ranks[1], out


class TestTwoProcesses:
    def test_both_ranks_end_with_identical_trained_weights(self, two_ranks):
        r0, r1, _ = two_ranks
        assert r0["world_size"] == r1["world_size"] == 2
        assert r0["wrapped"] == "DistributedDataParallel"
        # The ranks started from different weights; DDP broadcast rank 0's and kept them in step.
        assert not all(torch.equal(a, b) for a, b in zip(r0["initial"], r1["initial"]))
        for a, b in zip(r0["final"], r1["final"]):
            assert torch.equal(a, b)
        assert not any(torch.equal(a, b) for a, b in zip(r0["final"], r0["initial"]))

    def test_data_is_sharded_without_overlap(self, two_ranks):
        r0, r1, _ = two_ranks
        assert len(r0["indices"]) == len(r1["indices"]) == STEPS
        per_epoch = ddp_worker.NUM_SAMPLES // (2 * ddp_worker.BATCH_SIZE)  # 3 steps per epoch
        first_epoch = sum(r0["indices"][:per_epoch], []) + sum(r1["indices"][:per_epoch], [])
        assert sorted(first_epoch) == list(range(ddp_worker.NUM_SAMPLES))

    def test_equals_one_process_on_the_union_of_the_batches(self, two_ranks):
        # Averaged gradients of two half-batches = the gradient of the whole batch.
        r0, r1, _ = two_ranks
        net = ddp_worker.model(seed=100)  # rank 0's initial weights, which DDP broadcast
        images, alphas, _ = ddp_worker.dataset()[:]
        optimizer = torch.optim.SGD(net.parameters(), lr=ddp_worker.LR)
        for i0, i1 in zip(r0["indices"], r1["indices"]):
            index = torch.tensor(i0 + i1)
            optimizer.zero_grad()
            ddp_worker.l2(net, images[index], alphas[index]).backward()
            optimizer.step()
        for a, b in zip(net.parameters(), r0["final"]):
            torch.testing.assert_close(a.detach(), b, rtol=1e-5, atol=1e-6)

    def test_rank_zero_validates_and_checkpoints(self, two_ranks):
        r0, r1, out = two_ranks
        assert r0["history"]["val"]["step"] == [2, 4, 5]
        assert r1["history"]["val"]["step"] == []
        # Losses are averaged over the ranks, so both record the same numbers.
        assert r0["history"]["train"]["total"] == r1["history"]["train"]["total"]
        last = latest_checkpoint(out / "ckpt")
        assert last is not None and last.name == f"step_{STEPS:08d}.pt"
        saved = load_checkpoint(last)
        for a, b in zip(saved["model"].values(), r0["final"]):
            assert torch.equal(a, b)
        assert saved["config"]["world_size"] == 2
        assert not [p for p in (out / "ckpt").iterdir() if p.name.startswith(".")]


def run_two_ranks(script: str, out: Path, *args: str) -> list[dict]:
    """Run ``script`` as ranks 0 and 1 of a gloo job; the dicts each rank saved."""
    port = free_port()
    workers = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2", "RANK": str(rank),
               "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        workers.append(subprocess.Popen([sys.executable, str(HERE / script), "--out", str(out),
                                         *args], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    logs = []
    try:
        for worker in workers:
            logs.append(worker.communicate(timeout=300)[0])
    except subprocess.TimeoutExpired:
        for worker in workers:
            worker.kill()
        pytest.fail(f"the two-process run of {script} did not finish in 300 s")
    for rank, (worker, log) in enumerate(zip(workers, logs)):
        assert worker.returncode == 0, f"rank {rank} failed:\n{log[-4000:]}"
    return [torch.load(out / f"student_rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.mark.slow
def test_teacher_student_trains_data_parallel(tmp_path):
    ranks = run_two_ranks("ddp_student_worker.py", tmp_path, "--steps", "2")
    assert all(r["world_size"] == 2 for r in ranks)
    # Every process starts from rank 0's networks and applies the same averaged update.
    for key in ("final", "discriminator"):
        for a, b in zip(ranks[0][key], ranks[1][key]):
            assert torch.equal(a, b), f"the processes' {key} weights differ"
    # Each step the two processes trained on different samples, and the logged losses
    # are the averages (the same in both).
    assert all(x != y for x, y in zip(ranks[0]["seen"], ranks[1]["seen"]))
    assert ranks[0]["history"]["train"]["total_g"] == ranks[1]["history"]["train"]["total_g"]
    assert latest_checkpoint(tmp_path / "ckpt").name == "step_00000002.pt"
    assert load_checkpoint(latest_checkpoint(tmp_path / "ckpt"))["config"]["world_size"] == 2

    # A resume continues in both processes from rank 0's checkpoint.
    resumed = run_two_ranks("ddp_student_worker.py", tmp_path, "--steps", "3", "--resume")
    assert len(resumed[0]["seen"]) == len(resumed[1]["seen"]) == 1
    for a, b in zip(resumed[0]["final"], resumed[1]["final"]):
        assert torch.equal(a, b)
