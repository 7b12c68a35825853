"""Running the same training script on several processes with ``torchrun``.

Training is single-process by default. Launched as::

    torchrun --nproc_per_node=4 my_training_script.py

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in every process;
:func:`setup_distributed` sees them, joins the process group (NCCL on GPUs, gloo
on CPUs) and pins each process to its GPU. The trainer then wraps the model in
``DistributedDataParallel`` and shards the data with ``DistributedSampler``:
only PyTorch's own machinery, nothing home-made.

>>> info = DistInfo()           # what a plain single-process run sees
>>> info.is_distributed, info.is_main
(False, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "dist_info_from_env",
    "setup_distributed",
    "shutdown_distributed",
    "all_mean",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a (possibly one-process) job.

    Attributes:
        rank: global process index, 0 .. world_size - 1.
        local_rank: index on this machine (which GPU to use).
        world_size: number of processes.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and shows the progress bar."""
        return self.rank == 0


def dist_info_from_env() -> DistInfo:
    """The ranks that ``torchrun`` put in the environment (a one-process job when absent)."""
    if "WORLD_SIZE" not in os.environ:
        return DistInfo()
    try:
        info = DistInfo(
            rank=int(os.environ.get("RANK", "0")),
            local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            world_size=int(os.environ["WORLD_SIZE"]),
        )
    except ValueError as err:
        raise ValueError(
            f"environment: WORLD_SIZE/RANK/LOCAL_RANK must be integers: {err}"
        ) from err
    if not 0 <= info.rank < info.world_size:
        raise ValueError(
            f"environment: RANK={info.rank} outside 0..WORLD_SIZE-1={info.world_size - 1}"
        )
    return info


def setup_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by ``torchrun``; a no-op otherwise.

    Args:
        device: the device asked for. Under ``torchrun`` on GPUs, each process is
            moved to ``cuda:LOCAL_RANK``.

    Returns:
        ``(info, device)``: the ranks and the device this process should use.
    """
    info = dist_info_from_env()
    if not info.is_distributed:
        return info, device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def shutdown_distributed() -> None:
    """Leave the process group (call once at the end of a ``torchrun`` script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over all processes (``x`` itself in a one-process run)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / dist.get_world_size()
