"""Speed and memory of one M-Net training step (SHM's matting network) at 320x320.

One step = M-Net forward on RGB + the one-hot ground-truth trimap, Deep Image
Matting's loss (:func:`mattinglib.train.recipes.mnet_loss_fn`: 0.5 alpha
prediction + 0.5 compositional over the unknown band), backward and an Adam
step. The batch is real generated data
(:class:`~mattinglib.data.composition.SyntheticMattingDataset`), made once
before timing, so the data pipeline is not measured.

Variants, each from the same initial weights, in the same process:

- ``fp32_contiguous``: float32, NCHW tensors (the baseline of the ratios);
- ``fp32_channels_last``: float32, NHWC model and inputs;
- ``bf16_contiguous`` / ``bf16_channels_last``: bfloat16 autocast for the
  forward pass and the loss (the trainer's GPU default is bf16 + channels_last).

Both widths are measured: 1.0 (the paper's VGG16 widths) and the quick
profile's width. On a CPU without native bfloat16 (AVX512-BF16 or AMX) the
bf16 convolutions are emulated and many times slower than float32; there a
bf16 variant runs one timed step without warm-up, and at width 1.0 it is
skipped (one step takes several minutes) with the reason stored in the JSON.

Reported per variant: images per second, milliseconds per step, the ratio of
images per second to ``fp32_contiguous`` of the same width, and peak memory:
``torch.cuda.max_memory_allocated`` on a GPU; on the CPU the peak resident set
size of the process (VmHWM), reset before each variant through
``/proc/self/clear_refs`` where Linux allows it.

Usage (the CPU defaults took about six minutes on one shared, busy core)::

    python benchmarks/bench_mnet_step.py                  # CPU, batch 2
    python benchmarks/bench_mnet_step.py --device cuda    # GPU, batch 16

Results go to ``benchmarks/results/mnet_step_<device>.json`` with the machine described.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import peak_mib, reset_peak, sync, write_result  # noqa: E402

from mattinglib.config import get_device, get_profile  # noqa: E402
from mattinglib.data.composition import SyntheticMattingDataset  # noqa: E402
from mattinglib.models.mnet import MNet  # noqa: E402
from mattinglib.train.recipes import DEFAULT_LR, mnet_loss_fn  # noqa: E402

VARIANTS = ("fp32_contiguous", "fp32_channels_last", "bf16_contiguous", "bf16_channels_last")


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16 in the CPU flags (Linux); otherwise bf16 is emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def make_batch(batch: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    data = SyntheticMattingDataset(batch, size, seed=0)
    samples = [data[i] for i in range(batch)]
    return {k: torch.stack([s[k] for s in samples]).to(device) for k in samples[0]}


def run_variant(model0: MNet, batch: dict[str, torch.Tensor], variant: str, *, iters: int,
                warmup: int, device: torch.device) -> dict[str, Any]:
    bf16 = variant.startswith("bf16")
    fmt = torch.channels_last if variant.endswith("channels_last") else torch.contiguous_format
    model = copy.deepcopy(model0).to(device=device, memory_format=fmt).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=DEFAULT_LR)
    data = {k: v.contiguous(memory_format=fmt) if v.ndim == 4 else v for k, v in batch.items()}

    def step() -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            terms = mnet_loss_fn(model, data)
        terms["total"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(terms["total"].detach())

    peak_reset = reset_peak(device)
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        loss = step()
    sync(device)
    seconds = (time.perf_counter() - start) / iters
    images = batch["image"].shape[0]
    return {"variant": variant, "iters": iters, "warmup": warmup,
            "images_per_s": images / seconds, "ms_per_step": 1000 * seconds,
            "peak_mib": peak_mib(device), "peak_reset": peak_reset, "final_loss": loss}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--batch", type=int, default=None, help="default: 2 on CPU, 16 on GPU")
    p.add_argument("--widths", type=float, nargs="+", default=None,
                   help="default: 1.0 and the quick profile's width")
    p.add_argument("--iters", type=int, default=None, help="timed steps (default: CPU 2, GPU 20)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    device = get_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    on_gpu = device.type == "cuda"
    batch_size = args.batch or (16 if on_gpu else 2)
    widths = args.widths or [1.0, get_profile("quick").width]
    base_iters = args.iters or (20 if on_gpu else 2)
    native_bf16 = (on_gpu and torch.cuda.is_bf16_supported()
                   or (not on_gpu and cpu_has_native_bf16()))
    batch = make_batch(batch_size, args.size, device)

    rows, skipped = [], []
    for width in widths:
        model0 = MNet(width=width, seed=0)
        n_params = sum(p.numel() for p in model0.parameters())
        base = None
        for variant in args.variants:
            iters, warmup = base_iters, 1
            if variant.startswith("bf16") and not native_bf16:
                if width >= 0.5:
                    skipped.append({"width": width, "variant": variant,
                                    "reason": "bf16 is emulated on this CPU (no AVX512-BF16/AMX); "
                                              "one step takes minutes"})
                    continue
                iters, warmup = 1, 0
            if not on_gpu and width >= 0.5:
                iters = 1  # ~25 s per step on one core; the warm-up step is still run
            row = run_variant(model0, batch, variant, iters=iters, warmup=warmup, device=device)
            row.update(width=width, n_params=n_params)
            if variant == "fp32_contiguous":
                base = row["images_per_s"]
            row["ratio_vs_fp32_contiguous"] = row["images_per_s"] / base if base else None
            rows.append(row)
            print(f"width {width:<5} {variant:<20} {row['images_per_s']:8.3f} img/s "
                  f"{row['ms_per_step']:10.1f} ms/step  "
                  f"x{row['ratio_vs_fp32_contiguous'] or 0:.2f}  "
                  f"peak {row['peak_mib'] or 0:.0f} MiB", flush=True)

    payload = {
        "description": "M-Net (SHM) training step: forward on RGB + one-hot trimap, DIM loss "
                       "(mnet_loss_fn), backward, Adam; images per second",
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "size": args.size,
        "batch": batch_size,
        "native_bf16": native_bf16,
        "peak_memory": ("torch.cuda.max_memory_allocated, MiB" if on_gpu else
                        "peak resident set size of the process (VmHWM), MiB, reset per variant "
                        "when peak_reset is true"),
        "steps": rows,
        "skipped": skipped,
    }
    return write_result(f"mnet_step_{device.type}", payload)


if __name__ == "__main__":
    print(main())
