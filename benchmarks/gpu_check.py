"""``make gpu-check``: every training stage's full-profile step on one GPU, in a few minutes.

For each stage of ``_stages.py`` (M-Net, SHM end to end, DIM joint, Background Matting
supervised, teacher-student), built from the ``full`` profile with its real data
pipeline (the profile's workers), and for each variant (``bf16_cl``: bf16 autocast +
channels_last, the trainers' GPU default; ``fp32``: neither):

1. FLOPs of a step, counted by ``torch.utils.flop_counter.FlopCounterMode`` on the first
   real steps (the teacher-student stage: the mean over ``d_every`` = 5 steps, since its
   discriminator is updated on one of them);
2. warm-up steps (cuDNN autotuning, and the compilation with ``--compile``);
3. **compute**: timed steps on one batch already loaded (the GPU's speed: images/s,
   achieved TFLOP/s, MFU = achieved / the GPU's dense bf16 peak, peak memory);
4. **pipeline**: timed steps on fresh batches from the stage's ``DataLoader`` (what a
   training run gets; below the compute rate when the loader cannot keep up);
5. the loss at the first and the last step.

Once per stage, **loader**: samples/s of the ``DataLoader`` alone, against the
samples/s the compute step consumes (``loader_vs_step`` below 1: the GPU waits).

The MFU's peak comes from :data:`PEAK_BF16_DENSE_TFLOPS`, matched on the CUDA device
name; an unknown GPU gets no MFU. Results: ``benchmarks/results/gpu_check_<device>.json``
(machine described) and a printed table, also in ``gpu_check_<device>.txt``.

Usage::

    make gpu-check                             # = python benchmarks/gpu_check.py --device cuda
    python benchmarks/gpu_check.py --device cuda --compile     # also torch.compile'd variants
    python benchmarks/gpu_check.py --device cpu --tiny         # seconds: the test's smoke run

``--tiny`` runs the quick profile with narrower networks at 32 px, batch 2, no workers
and one step per phase: it checks that the script works, not the speed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import RESULTS_DIR, peak_mib, reset_peak, sync, write_result  # noqa: E402
from _stages import STAGES, build_stage  # noqa: E402

from mattinglib.config import get_device  # noqa: E402

#: Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s: (substring of the CUDA device
#: name, GPU, peak, source). NVIDIA's datasheets quote bf16 "with sparsity"; the dense
#: peak is half of it. Matched in this order (``"H100 PCIe"`` before ``"H100"``...).
PEAK_BF16_DENSE_TFLOPS: tuple[tuple[str, str, float, str], ...] = (
    ("H100 NVL", "H100 NVL", 835.0, "NVIDIA H100 datasheet: BF16 1,671 TFLOPS with sparsity"),
    ("H100 PCIe", "H100 PCIe", 756.0, "NVIDIA H100 datasheet: BF16 1,513 TFLOPS with sparsity"),
    ("H100", "H100 SXM", 989.0, "NVIDIA H100 datasheet: BF16 1,979 TFLOPS with sparsity"),
    ("H200", "H200 (also GH200)", 989.0, "NVIDIA H200 datasheet: BF16 1,979 TFLOPS with sparsity"),
    ("A100", "A100 (SXM and PCIe)", 312.0, "NVIDIA A100 datasheet: BF16 312 TFLOPS dense, "
                                            "624 with sparsity"),
    ("L40S", "L40S", 362.0, "NVIDIA L40S datasheet: BF16 733 TFLOPS with sparsity"),
    ("L40", "L40", 181.0, "NVIDIA L40 datasheet: BF16 362 TFLOPS with sparsity"),
    ("L4", "L4", 121.0, "NVIDIA L4 datasheet: BF16 242 TFLOPS with sparsity"),
    ("A10", "A10", 125.0, "NVIDIA A10 datasheet: BF16 125 TFLOPS dense, 250 with sparsity"),
    ("RTX 4090", "GeForce RTX 4090", 165.2, "NVIDIA Ada architecture whitepaper: BF16 with "
                                            "FP32 accumulate 165.2 TFLOPS dense"),
)
#: Variant name -> (bf16 autocast, channels_last).
VARIANTS = {"bf16_cl": (True, True), "fp32": (False, False)}
#: How the full profile is changed for a check: many samples (the datasets are lazy)
#: and no validation run in the middle of the timing.
FULL_CHANGES = {"num_train_samples": 100_000, "num_val_samples": 1, "train_steps": 100_000,
                "val_every": 100_000}
#: ``--tiny``: the quick profile, smaller still (narrower networks, 32 px, one step a phase).
TINY_CHANGES = {"image_size": 32, "batch_size": 2, "num_workers": 0, "num_train_samples": 16,
                "num_val_samples": 1, "train_steps": 1000, "val_every": 1000}
TINY_NETWORKS = {"mnet": {"width": 0.125}, "shm": {"width": 0.125}, "dim": {"width": 0.125},
                 "bgm": {"ngf": 8, "n_blocks1": 1, "n_blocks2": 1},
                 "student": {"ngf": 8, "n_blocks1": 1, "n_blocks2": 1}}


def bf16_peak(device_name: str | None) -> dict[str, Any] | None:
    """The dense bf16 peak of a CUDA device name: ``{"gpu", "tflops", "source"}``, or ``None``.

    >>> bf16_peak("NVIDIA H100 80GB HBM3")["tflops"], bf16_peak("NVIDIA H100 PCIe")["tflops"]
    (989.0, 756.0)
    >>> bf16_peak("NVIDIA A100-SXM4-80GB")["gpu"], bf16_peak("NVIDIA L4")["tflops"]
    ('A100 (SXM and PCIe)', 121.0)
    >>> bf16_peak("Tesla T4") is None, bf16_peak(None) is None
    (True, True)
    """
    if not device_name:
        return None
    for key, gpu, tflops, source in PEAK_BF16_DENSE_TFLOPS:
        if key.lower() in device_name.lower():
            return {"gpu": gpu, "tflops": tflops, "source": source}
    return None


def _timed(run_one, *, steps: int, seconds: float, device: torch.device) -> tuple[float, int, Any]:
    """Call ``run_one()`` ``steps`` times or until ``seconds`` pass (at least twice, or ``steps``);
    returns ``(seconds per call, calls, the last result)``."""
    sync(device)
    start, done, last = time.perf_counter(), 0, None
    while done < steps:
        last = run_one()
        done += 1
        if done >= min(steps, 2) and time.perf_counter() - start > seconds:
            break
    sync(device)
    return (time.perf_counter() - start) / done, done, last


def measure_loader(stage, *, batches: int, seconds: float) -> dict[str, Any]:
    """Samples/s of the stage's ``DataLoader`` alone (its first batch, the workers' start-up,
    is not timed)."""
    stream = stage.batches()
    start = time.perf_counter()
    next(stream)
    startup = time.perf_counter() - start
    per_batch, n, _ = _timed(lambda: next(stream), steps=batches, seconds=seconds,
                             device=torch.device("cpu"))
    stream.close()
    return {"samples_per_s": stage.samples_per_step / per_batch, "batches": n,
            "first_batch_s": startup, "num_workers": stage.num_workers}


def flops_per_step(stage, stream, steps: int) -> tuple[float, float]:
    """Mean FLOPs of ``steps`` real steps (FlopCounterMode) and the first step's loss."""
    first = None
    with FlopCounterMode(display=False) as counter:
        for _ in range(steps):
            losses = stage.step(next(stream))
            first = losses["total"] if first is None else first
    return counter.get_total_flops() / steps, first


def check_variant(name: str, variant: str, args, device: torch.device, changes: dict,
                  peak: dict | None) -> dict[str, Any]:
    amp, channels_last = VARIANTS[variant]
    stage = build_stage(name, args.profile, device=str(device), amp=amp,
                        channels_last=channels_last, **changes)
    stream = stage.batches()
    # The discriminator steps on every 5th step of the student stage.
    flop_steps = 5 if name == "student" and not args.tiny else 1
    flops, loss_start = flops_per_step(stage, stream, flop_steps)
    if args.compile:
        for module in stage.modules:
            module.compile()
    for _ in range(args.warmup):
        stage.step(next(stream))
    fixed = next(stream)
    peak_reset = reset_peak(device)
    step_s, n_compute, _ = _timed(lambda: stage.step(fixed), steps=args.steps,
                                  seconds=args.phase_seconds, device=device)
    pipe_s, n_pipe, last = _timed(lambda: stage.step(next(stream)), steps=args.steps,
                                  seconds=args.phase_seconds, device=device)
    stream.close()
    b = stage.samples_per_step
    achieved = flops / step_s / 1e12
    return {
        "stage": name, "variant": variant + ("_compiled" if args.compile else ""),
        "amp_bf16": stage.amp, "channels_last": channels_last, "compiled": args.compile,
        "batch": b, "image_size": stage.image_size, "num_workers": stage.num_workers,
        "flops_per_step": flops, "flops_per_sample": flops / b,
        "compute": {"steps": n_compute, "ms_per_step": 1000 * step_s, "images_per_s": b / step_s,
                    "tflops_per_s": achieved,
                    "mfu": achieved / peak["tflops"] if peak else None},
        "pipeline": {"steps": n_pipe, "ms_per_step": 1000 * pipe_s, "images_per_s": b / pipe_s},
        "peak_mib": peak_mib(device), "peak_reset": peak_reset,
        "loss_start": loss_start, "loss_end": last["total"],
    }


def table(rows: list[dict], loaders: dict[str, dict]) -> str:
    head = (f"{'stage':<8}{'variant':<18}{'batch':>6}{'px':>5}{'img/s':>9}{'pipe/s':>9}"
            f"{'ms/step':>9}{'TFLOP/s':>9}{'MFU':>7}{'peak MiB':>10}{'load/s':>8}{'load/step':>10}"
            f"  loss start -> end")
    lines = [head, "-" * len(head)]
    for r in rows:
        c, loader = r["compute"], loaders.get(r["stage"], {})
        mfu = f"{100 * c['mfu']:.1f}%" if c["mfu"] is not None else "-"
        lines.append(
            f"{r['stage']:<8}{r['variant']:<18}{r['batch']:>6}{r['image_size']:>5}"
            f"{c['images_per_s']:>9.1f}{r['pipeline']['images_per_s']:>9.1f}{c['ms_per_step']:>9.1f}"
            f"{c['tflops_per_s']:>9.2f}{mfu:>7}{r['peak_mib'] or 0:>10.0f}"
            f"{loader.get('samples_per_s', math.nan):>8.1f}"
            f"{loader.get('samples_per_s', math.nan) / c['images_per_s']:>10.2f}"
            f"  {r['loss_start']:.4g} -> {r['loss_end']:.4g}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, cpu")
    p.add_argument("--tiny", action="store_true", help="quick profile at 32 px: a smoke run")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--compile", action="store_true", help="torch.compile the stage's networks")
    p.add_argument("--steps", type=int, default=None, help="timed steps per phase (GPU 20, tiny 1)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (GPU 3, tiny 0)")
    p.add_argument("--phase-seconds", type=float, default=15.0,
                   help="a timed phase stops after this long (having run at least 2 steps)")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="stages not started within this many seconds are skipped (and listed)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    args.profile = "quick" if args.tiny else "full"
    args.steps = args.steps or (1 if args.tiny else 20)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.tiny else 3)
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    device = get_device(args.device)
    changes = TINY_CHANGES if args.tiny else FULL_CHANGES
    peak = bf16_peak(torch.cuda.get_device_name(device) if device.type == "cuda" else None)
    start = time.perf_counter()
    rows, loaders, skipped = [], {}, []
    for name in args.stages:
        if time.perf_counter() - start > args.budget_s:
            skipped.append({"stage": name, "reason": f"over the {args.budget_s:.0f} s budget"})
            continue
        sizes = {**changes, **(TINY_NETWORKS[name] if args.tiny else {})}
        loader_stage = build_stage(name, args.profile, device=str(device), **sizes)
        loaders[name] = measure_loader(loader_stage, batches=args.steps, seconds=args.phase_seconds)
        del loader_stage
        for variant in args.variants:
            rows.append(check_variant(name, variant, args, device, sizes, peak))
            print(table(rows[-1:], loaders).splitlines()[-1], flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        loaders[name]["loader_vs_step"] = {r["variant"]: loaders[name]["samples_per_s"]
                                           / r["compute"]["images_per_s"]
                                           for r in rows if r["stage"] == name}
    text = table(rows, loaders)
    suffix = f"{device.type}{'_tiny' if args.tiny else ''}{'_compiled' if args.compile else ''}"
    payload = {
        "description": "each training stage's full-profile step with its real data pipeline: "
                       "compute (one loaded batch), pipeline (fresh batches from the DataLoader), "
                       "loader alone; FLOPs by torch.utils.flop_counter.FlopCounterMode",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "profile": args.profile, "changes": changes, "bf16_peak": peak,
        "mfu": "achieved FLOP/s of the compute phase / the dense bf16 peak (also for fp32, "
               "whose convolutions run in TF32 by PyTorch's default)",
        "peak_memory": "torch.cuda.max_memory_allocated over the compute and pipeline phases, "
                       "MiB" if device.type == "cuda" else "peak RSS of the process, MiB",
        "steps": rows, "loaders": loaders, "skipped": skipped,
        "seconds": time.perf_counter() - start, "table": text,
    }
    path = write_result(f"gpu_check_{suffix}", payload, directory=args.results_dir)
    path.with_suffix(".txt").write_text(text + "\n")
    print(text)
    for s in skipped:
        print(f"skipped {s['stage']}: {s['reason']}")
    return path


if __name__ == "__main__":
    print(main())
