"""Can each stage's data loader keep a GPU busy? An estimate from this CPU.

For every training stage (``_stages.py``) at the full profile's sizes:

* **per-core samples/s**: samples per CPU-second of building the stage's training
  samples and collating them into batches of the stage's size, in this process with
  single-threaded torch and OpenCV, as a loader worker runs (``time.process_time``:
  on a shared machine the CPU time of the work, not the wall time the scheduler
  grants it). Pooled generated layers (:mod:`mattinglib.data.pool`) are made
  first, as the trainer makes them before its workers start; their one-off cost
  is reported apart (``pool``: layers made, CPU seconds). As a check of the
  loader itself, the wall-clock rate of a ``DataLoader`` with one worker process
  is recorded too (``loader_wall_samples_per_s``; below the CPU rate when the
  machine is busy);
* **16-core estimate**: 15 workers (one core is left to the training process),
  assuming workers scale linearly;
* **GPU consumption estimate**: samples/s of a step that runs at 40% of an H100's
  dense bf16 peak (989 TFLOP/s): ``0.4 * 989e12 / FLOPs per sample``. The FLOPs
  of a step are counted by ``torch.utils.flop_counter.FlopCounterMode`` on real
  CPU steps at the full widths on small crops (32 and 64 px; the student stage
  averages 5 steps, its discriminator's update period) and scaled to the full
  size by the pixel count: the networks are convolutional, so FLOPs grow with
  the pixels (``flops_per_pixel_ratio_64_vs_32`` near 1 confirms it);
* **ratio** = 16-core estimate / GPU consumption. Below 1.5 the loader will not
  keep up on a 16-core GPU machine.

Usage::

    python benchmarks/data_keeps_up.py            # about ten minutes on a busy 2-core machine

Results: ``benchmarks/results/data_keeps_up_cpu.json`` with the machine described.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import torch
from torch.utils.data import DataLoader, default_collate
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write_result  # noqa: E402
from _stages import STAGES, build_stage  # noqa: E402

from mattinglib.data.pool import find_pools, prepare_pools  # noqa: E402

H100_BF16_DENSE_TFLOPS = 989.0  # NVIDIA H100 SXM datasheet: 1,979 with sparsity
GPU_EFFICIENCY = 0.4
WORKERS_ON_16_CORES = 15
TARGET_RATIO = 1.5
#: Stages that read the same dataset are measured once.
DATA_OF = {"mnet": "composition", "shm": "composition", "dim": "composition",
           "bgm": "bgm", "student": "target_domain"}


def make_pools(stage) -> dict[str, Any]:
    """Make the stage's pooled layers here (one process), timed: a one-off cost per run."""
    start = time.process_time()
    made = prepare_pools(stage.dataset, 0)
    cpu = time.process_time() - start
    return {"layers": made, "cpu_s": cpu, "cpu_s_per_layer": cpu / made if made else None,
            "pools": [p.pool_size for p in find_pools(stage.dataset)]}


def cpu_rate(stage, seconds: float) -> dict[str, Any]:
    """Samples per CPU-second of ``dataset[i]`` plus the default collate, in this process."""
    data, batch = stage.dataset, stage.samples_per_step
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0)).tolist()
    default_collate([data[i] for i in order[:batch]])  # first-use costs, not timed
    start, used = time.process_time(), batch
    while used < 3 * batch or time.process_time() - start < seconds:
        default_collate([data[order[(used + k) % len(order)]] for k in range(batch)])
        used += batch
    cpu = time.process_time() - start
    return {"samples_per_cpu_s": (used - batch) / cpu, "samples": used - batch, "cpu_s": cpu}


def loader_wall_rate(stage, seconds: float) -> float:
    """Samples per wall-clock second through a ``DataLoader`` with one worker process."""
    # The worker inherits OpenCV's single thread from main() (setting it in a forked worker
    # can deadlock, see mattinglib.data.composition.seed_worker).
    loader = DataLoader(stage.dataset, batch_size=stage.samples_per_step, shuffle=True,
                        num_workers=1, generator=torch.Generator().manual_seed(0))
    stream = iter(loader)
    next(stream)  # the worker's start-up
    start, batches = time.perf_counter(), 0
    while batches < 2 or time.perf_counter() - start < seconds:
        next(stream)
        batches += 1
    elapsed = time.perf_counter() - start
    del stream
    return batches * stage.samples_per_step / elapsed


def flops_per_pixel(name: str, size: int) -> float:
    """FLOPs of one training step per sample and per pixel, full widths, ``size`` px crops."""
    stage = build_stage(name, "full", device="cpu", image_size=size, batch_size=2, num_workers=0,
                        num_train_samples=16, num_val_samples=1, train_steps=100)
    stream = stage.batches()
    steps = 5 if name == "student" else 1
    with FlopCounterMode(display=False) as counter:
        for _ in range(steps):
            stage.step(next(stream))
    return counter.get_total_flops() / steps / stage.samples_per_step / size**2


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="timing of each loader")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    # OpenCV's thread pool does not survive a fork: a worker forked after the main process
    # ran OpenCV in parallel can hang. One thread everywhere, and every loader first.
    cv2.setNumThreads(1)
    consumed_flops = GPU_EFFICIENCY * H100_BF16_DENSE_TFLOPS * 1e12
    rates: dict[str, dict] = {}
    stages = {name: build_stage(name, "full", device="cpu", num_workers=1) for name in args.stages}
    torch.set_num_threads(1)  # again: building data must not, but may, change it
    for name, stage in stages.items():
        data = DATA_OF[name]
        if data not in rates:
            pool = make_pools(stage)
            rates[data] = {**cpu_rate(stage, args.seconds), "pool": pool,
                           "loader_wall_samples_per_s": loader_wall_rate(stage, args.seconds)}
            print(f"{data}: {rates[data]['samples_per_cpu_s']:.2f} samples per CPU-s "
                  f"(one-worker loader: {rates[data]['loader_wall_samples_per_s']:.2f}/s wall; "
                  f"pool: {pool['layers']} layers made in {pool['cpu_s']:.1f} CPU-s)", flush=True)
    rows = {}
    for name, stage in stages.items():
        data = DATA_OF[name]
        small, smaller = flops_per_pixel(name, 64), flops_per_pixel(name, 32)
        flops = small * stage.image_size**2
        per_core = rates[data]["samples_per_cpu_s"]
        consumption = consumed_flops / flops
        rows[name] = {
            "dataset": data, "image_size": stage.image_size, "batch": stage.samples_per_step,
            "per_core_samples_per_s": per_core,
            "estimate_16_cores_samples_per_s": WORKERS_ON_16_CORES * per_core,
            "flops_per_sample": flops, "flops_per_pixel_ratio_64_vs_32": small / smaller,
            "gpu_consumption_samples_per_s": consumption,
            "ratio": WORKERS_ON_16_CORES * per_core / consumption,
        }
        rows[name]["keeps_up"] = rows[name]["ratio"] >= TARGET_RATIO
        print(f"{name:<8} {stage.image_size:>4} px  per core {per_core:7.2f}/s  16 cores "
              f"{WORKERS_ON_16_CORES * per_core:8.1f}/s  GPU needs {consumption:8.1f}/s  "
              f"ratio {rows[name]['ratio']:.3f}", flush=True)
    payload = {
        "description": "per-core loader throughput at the full profile's sizes against the "
                       "samples/s a GPU step consumes at 40% of an H100's dense bf16 peak",
        "gpu_estimate": {"peak_tflops": H100_BF16_DENSE_TFLOPS, "efficiency": GPU_EFFICIENCY,
                         "source": "NVIDIA H100 SXM datasheet, BF16 1,979 TFLOPS with sparsity"},
        "workers_on_16_cores": WORKERS_ON_16_CORES, "target_ratio": TARGET_RATIO,
        "datasets": rates, "stages": rows,
        "short": sorted(n for n, r in rows.items() if not r["keeps_up"]),
    }
    return write_result("data_keeps_up_cpu", payload)


if __name__ == "__main__":
    print(main())
