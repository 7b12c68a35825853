"""Speed of one supervised Background Matting training step.

One step = generator forward, the supervised loss (alpha L1 + 2 fg L1 +
composition + Sobel gradient), backward and an Adam step, on random tensors of
the right shapes (the data pipeline is not measured). Variants, measured in the
same process from the same initial weights:

- ``fp32``: float32, contiguous tensors, the library's vectorised losses;
- ``bf16_cl``: bfloat16 autocast and channels_last (the trainer's GPU
  default); the losses are computed in float32 on the upcast outputs;
- ``seed_losses``: float32 with the losses written as in the original code
  (a Python loop over the batch with a data-dependent ``if`` per sample, new
  Sobel filters and an all-ones mask allocated at every call).

On the CPU the ``bf16_cl`` variant runs one timed step and no warm-up:
without AVX512-BF16 or AMX, bfloat16 convolutions are emulated and several
times slower than float32 (that row shows it, it is not a recommendation).

A second table times the loss computation alone (forward + backward of the
losses on fixed predictions), where the difference between the vectorised and
the per-sample losses is not hidden by the network.

Reported: images per second and milliseconds per step (median; after the
warm-up the variants take turns step by step, so a load change on a shared
machine does not favour one of them) and the peak memory of each variant's
warm-up (``torch.cuda.max_memory_allocated`` on a GPU; on the CPU the peak
resident set size of the process, reset between variants where Linux allows it).

Usage (the CPU defaults finish in about a minute on 2 cores)::

    python benchmarks/bench_bgm_step.py                      # CPU: ngf=16, 256x256
    python benchmarks/bench_bgm_step.py --threads 1          # the same on a shared, busy CPU
    python benchmarks/bench_bgm_step.py --device cuda        # GPU: ngf=64, 256 and 512

Results go to ``benchmarks/results/bgm_step_<device>.json`` with the machine described.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import peak_mib, reset_peak, sync, write_result  # noqa: E402

from mattinglib.losses.bgm import supervised_loss  # noqa: E402
from mattinglib.models.bgm import BackgroundMattingGenerator  # noqa: E402
from mattinglib.models.init import init_weights  # noqa: E402

# --------------------------------------------------------------------------- the seed's losses


def _seed_normalized_l1(a, b, mask):
    loss, eps = 0, 1e-6
    for i in range(a.shape[0]):
        if mask[i, ...].sum() > 0:  # a device synchronisation per sample on a GPU
            loss = loss + torch.sum(
                torch.abs(a[i, ...] * mask[i, ...] - b[i, ...] * mask[i, ...])
            ) / (torch.sum(mask[i, ...]) + eps)
    return loss / a.shape[0]


def _seed_gradient_loss(a, b, mask):
    fx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3).to(a.device)
    fy = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]]).view(1, 1, 3, 3).to(a.device)
    return (_seed_normalized_l1(F.conv2d(a, fx, padding=1), F.conv2d(b, fx, padding=1), mask)
            + _seed_normalized_l1(F.conv2d(a, fy, padding=1), F.conv2d(b, fy, padding=1), mask))


def seed_supervised_loss(alpha_pred, fg_pred, alpha, fg, image, bg):
    """The supervised loss as the original training script computes it."""
    mask = (alpha > -0.99).float()
    mask0 = torch.ones(alpha.shape).to(alpha.device)
    al_loss = _seed_normalized_l1(alpha, alpha_pred, mask0)
    fg_loss = _seed_normalized_l1(fg, fg_pred, mask)
    al_mask = (alpha_pred > 0.95).float()
    fg_pred_c = image * al_mask + fg_pred * (1 - al_mask)
    a01 = (alpha_pred + 1) / 2
    c_loss = _seed_normalized_l1(image, fg_pred_c * a01 + (1 - a01) * bg, mask0)
    g_loss = _seed_gradient_loss(alpha, alpha_pred, mask0)
    return al_loss + 2 * fg_loss + c_loss + g_loss


def library_total(alpha_pred, fg_pred, alpha, fg, image, bg):
    return supervised_loss(alpha_pred, fg_pred, alpha, fg, image, bg)["total"]


# --------------------------------------------------------------------------- measuring


def make_batch(batch: int, size: int, device: torch.device,
               seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(c: int) -> torch.Tensor:
        return (torch.rand(batch, c, size, size, generator=g) * 2 - 1).to(device)

    alpha = r(1)
    alpha[:, :, : size // 8] = -1.0  # some transparent rows, as in a real matte
    return dict(image=r(3), back=r(3), seg=r(1), multi=r(4), alpha=alpha, fg=r(3), bg=r(3))


class StepRunner:
    """One variant's model, optimizer and inputs, so variants can take turns."""

    def __init__(self, model0: torch.nn.Module, data: dict[str, torch.Tensor], variant: str):
        self.variant = variant
        self.bf16 = variant == "bf16_cl"
        self.loss_fn = seed_supervised_loss if variant == "seed_losses" else library_total
        fmt = torch.channels_last if self.bf16 else torch.contiguous_format
        self.model = copy.deepcopy(model0).train().to(memory_format=fmt)
        self.data = {k: v.contiguous(memory_format=fmt) for k, v in data.items()}
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.last_loss = float("nan")

    def step(self) -> None:
        d = self.data
        with torch.autocast(d["image"].device.type, dtype=torch.bfloat16, enabled=self.bf16):
            alpha_pred, fg_pred = self.model(d["image"], d["back"], d["seg"], d["multi"])
        loss = self.loss_fn(alpha_pred.float(), fg_pred.float(), d["alpha"], d["fg"], d["image"],
                            d["bg"])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.last_loss = loss.detach()


def _timed(fn, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def time_steps(model0: torch.nn.Module, data: dict[str, torch.Tensor], *, variants: list[str],
               iters: int, warmup: int, device: torch.device) -> list[dict[str, Any]]:
    """Warm each variant up (measuring its peak memory), then time them in turns.

    Taking turns step by step, and reporting the median, keeps a load change on a
    shared machine from favouring whichever variant happened to run first.
    """
    runners, samples, peaks, plan = {}, {}, {}, {}
    for variant in variants:
        # bf16 convolutions have no fast CPU kernels without AVX512-BF16/AMX: one step only.
        one_step = variant == "bf16_cl" and device.type == "cpu"
        plan[variant] = (0, 1) if one_step else (warmup, iters)
        resident = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
        runners[variant] = runner = StepRunner(model0, data, variant)
        reset_peak(device)
        samples[variant] = []
        if one_step:
            samples[variant].append(_timed(runner.step, device))
        for _ in range(max(plan[variant][0], 0 if one_step else 1)):
            runner.step()
        sync(device)
        peak = peak_mib(device)
        # on a GPU, leave out what the variants built before this one keep allocated
        peaks[variant] = None if peak is None else peak - resident / 2**20
    for _ in range(iters):
        for variant, runner in runners.items():
            if len(samples[variant]) < plan[variant][1]:
                samples[variant].append(_timed(runner.step, device))
    batch = data["image"].shape[0]
    rows = []
    for variant, runner in runners.items():
        med = statistics.median(samples[variant])
        rows.append(dict(variant=variant, images_per_s=batch / med, ms_per_step=1e3 * med,
                         ms_per_step_min=1e3 * min(samples[variant]),
                         timed_steps=len(samples[variant]), warmup_steps=plan[variant][0],
                         peak_mib=peaks[variant], final_loss=float(runner.last_loss)))
    return rows


def time_losses(data: dict[str, torch.Tensor], *, iters: int,
                device: torch.device) -> dict[str, Any]:
    """Median time of the loss forward + backward alone, the two versions taking turns."""
    g = torch.Generator().manual_seed(1)
    shape = data["image"].shape
    alpha_pred = (torch.rand(shape[0], 1, *shape[2:], generator=g) * 2 - 1).to(device)
    fg_pred = (torch.rand(shape, generator=g) * 2 - 1).to(device)
    alpha_pred.requires_grad_()
    fg_pred.requires_grad_()
    args = (data["alpha"], data["fg"], data["image"], data["bg"])
    fns = {"vectorised": library_total, "seed_losses": seed_supervised_loss}
    values = {}

    def run(name: str) -> None:
        loss = fns[name](alpha_pred, fg_pred, *args)
        loss.backward()
        values[name] = float(loss.detach())

    for name in fns:
        run(name)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(iters):
        for name in fns:
            times[name].append(_timed(lambda: run(name), device))
    out: dict[str, Any] = {f"{name}_ms": 1e3 * statistics.median(t) for name, t in times.items()}
    out["speedup"] = out["seed_losses_ms"] / out["vectorised_ms"]
    out["abs_difference_of_totals"] = abs(values["vectorised"] - values["seed_losses"])
    return out


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto",
                   help="auto, cpu, cuda or cuda:N (auto: CUDA if present)")
    p.add_argument("--ngf", type=int, default=None,
                   help="generator width (default 16 on CPU, 64 on GPU)")
    p.add_argument("--size", type=int, nargs="+", default=None,
                   help="square training resolutions (default 256 on CPU, 256 512 on GPU)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size (default 2 on CPU, 4 on GPU)")
    p.add_argument("--iters", type=int, default=None,
                   help="timed steps per variant (default 3 on CPU, 20 on GPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 / 5)")
    p.add_argument("--variants", nargs="+", default=["fp32", "bf16_cl", "seed_losses"],
                   choices=["fp32", "bf16_cl", "seed_losses"])
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice; "
                        "use 1 on a shared, busy machine)")
    p.add_argument("--name", default=None, help="result name (default bgm_step_<cpu|cuda>)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    gpu = device.type == "cuda"
    ngf = args.ngf or (64 if gpu else 16)
    sizes = args.size or ([256, 512] if gpu else [256])
    batch = args.batch or (4 if gpu else 2)
    iters = args.iters or (20 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    if gpu:
        torch.backends.cudnn.benchmark = True
    if args.threads:
        torch.set_num_threads(args.threads)

    model0 = init_weights(BackgroundMattingGenerator(ngf=ngf, nf_part=ngf), seed=0).to(device)
    n_params = sum(p.numel() for p in model0.parameters())
    print(f"device={device} ngf={ngf} params={n_params:,} batch={batch} iters={iters} "
          f"torch threads={torch.get_num_threads()}")
    rows, loss_rows = [], []
    for size in sizes:
        data = make_batch(batch, size, device)
        for row in time_steps(model0, data, variants=args.variants, iters=iters, warmup=warmup,
                              device=device):
            rows.append(dict(size=size, **row))
            peak = row["peak_mib"] if row["peak_mib"] is not None else float("nan")
            print(f"{size:4d}px {row['variant']:12s} {row['images_per_s']:8.2f} img/s "
                  f"{row['ms_per_step']:9.1f} ms/step (median of {row['timed_steps']})  "
                  f"peak {peak:8.0f} MiB")
        lrow = dict(size=size, **time_losses(data, iters=max(iters, 10), device=device))
        loss_rows.append(lrow)
        print(f"{size:4d}px losses only: vectorised {lrow['vectorised_ms']:.2f} ms, "
              f"seed-style {lrow['seed_losses_ms']:.2f} ms ({lrow['speedup']:.2f}x)")
    payload = dict(
        description=("Background Matting generator: forward + supervised loss + backward + Adam "
                     "step on random tensors; images per second"),
        device=str(device), torch_threads=torch.get_num_threads(), ngf=ngf, n_params=n_params,
        batch=batch, iters=iters, warmup=warmup,
        timing="median over steps, the variants taking turns step by step",
        peak_memory=("torch.cuda.max_memory_allocated during the variant's warm-up, MiB, "
                     "less what earlier variants keep allocated" if gpu
                     else "peak resident set size of the whole process (VmHWM) during the "
                          "variant's warm-up, MiB"),
        steps=rows, losses_only=loss_rows,
        notes=("seed_losses = per-sample Python loop and new filter tensors at every call, as "
               "the original training code; bf16_cl = bfloat16 autocast + channels_last, "
               "losses in fp32"),
    )
    path = write_result(args.name or f"bgm_step_{device.type}", payload)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
