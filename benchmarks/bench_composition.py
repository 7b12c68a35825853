"""Samples per second of the Deep Image Matting composition dataset, against a naive port.

Usage (from the repository root)::

    python benchmarks/bench_composition.py                   # 320 px, 0 and 2 workers
    python benchmarks/bench_composition.py --samples 256 --workers 0 2 4

What is measured, all at the training size (default 320 px, crops 320/480/640):

* ``composition``: :class:`mattinglib.data.CompositionDataset` over foregrounds and
  backgrounds held in memory (as a real data set is after its first epoch in
  the page cache), through :func:`make_loader` with 0 and 2 workers, batch 8;
* ``composition_device``: the same samples as the full recipe's workers deliver
  them (``compose=False, fixed_point=True``: uint16 layers and the uint8 trimap;
  the composite and the float conversion are left to the GPU,
  :func:`~mattinglib.data.composition.compose_on_device`);
* ``naive``: the same recipe written the straightforward way in this file, per
  sample in float64 (cover-resize the background, crop on an unknown pixel,
  resize each array separately, flip, random trimap, compose, convert to
  float32 tensors), through the same DataLoader settings;
* ``synthetic``: :class:`mattinglib.data.SyntheticMattingDataset`, which also
  generates every foreground and background on the fly (offline training data).

Speed is reported twice: samples per wall-clock second through the loader (what a
run sees, but on a shared machine it moves with everything else running) and CPU
milliseconds per sample in this process (``cpu_ms_per_sample``, the best of three
interleaved passes, without the ``synthetic`` dataset; ``cpu_speedup_vs_naive``
compares those).

Peak memory: the largest Python-traced allocation while building one sample
(``tracemalloc``), and the process's maximum resident set size (``ru_maxrss``) of
the main process and of the worker processes.

Writes ``benchmarks/results/composition_cpu.json`` (or ``--name``).
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write_result  # noqa: E402

from mattinglib.data.composition import (  # noqa: E402
    CompositionDataset,
    SyntheticMattingDataset,
    make_loader,
)
from mattinglib.data.synthetic import SyntheticBackgrounds, SyntheticForegrounds  # noqa: E402


class InMemory:
    """A foreground or background source whose items were generated once."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def sample(self, index):
        return self.items[index]


class NaiveComposition(Dataset):
    """The DIM recipe, per sample, in float64, one array at a time."""

    def __init__(self, foregrounds, backgrounds, size, length, seed):
        self.fgs, self.bgs = foregrounds, backgrounds
        self.size, self.length, self.seed = size, length, seed
        scale = min(1.0, size / 320)
        self.crops = [round(c * scale) for c in (320, 480, 640)]

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, index])
        fg, alpha, _ = self.fgs.sample(index % len(self.fgs))
        bg, _ = self.bgs.sample(index % len(self.bgs))
        fg, alpha, bg = fg.astype(np.float64), alpha.astype(np.float64), bg.astype(np.float64)
        h, w = alpha.shape
        s = max(h / bg.shape[0], w / bg.shape[1])
        bg = cv2.resize(bg, (math.ceil(bg.shape[1] * s), math.ceil(bg.shape[0] * s)))[:h, :w]
        ys, xs = np.where((alpha > 0) & (alpha < 1))
        k = rng.integers(len(ys)) if len(ys) else 0
        cy, cx = (ys[k], xs[k]) if len(ys) else (h // 2, w // 2)
        c = min(self.crops[rng.integers(3)], h, w)
        y = min(max(cy - c // 2, 0), h - c)
        x = min(max(cx - c // 2, 0), w - c)
        out = []
        for arr in (fg, alpha, bg):
            out.append(cv2.resize(arr[y:y + c, x:x + c], (self.size, self.size),
                                  interpolation=cv2.INTER_LINEAR))
        fg, alpha, bg = out
        if rng.random() < 0.5:
            fg, alpha, bg = fg[:, ::-1].copy(), alpha[:, ::-1].copy(), bg[:, ::-1].copy()
        ks = int(rng.choice([3, 5, 7]))
        it = int(rng.integers(1, 21))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks))
        fg_mask = (alpha >= 1).astype(np.uint8)
        any_mask = (alpha > 0).astype(np.uint8)
        dilated = cv2.dilate(any_mask, kernel, iterations=it)
        eroded = cv2.erode(fg_mask, kernel, iterations=it)
        trimap = np.where(eroded == 1, 255, np.where(dilated == 1, 128, 0)).astype(np.float64)
        image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg

        def to_t(a):
            chw = (a if a.ndim == 3 else a[..., None]).transpose(2, 0, 1)
            return torch.from_numpy(chw.astype(np.float32))

        return {"image": to_t(image), "fg": to_t(fg), "bg": to_t(bg), "alpha": to_t(alpha),
                "trimap": to_t(trimap / 255.0)}


def samples_per_second(dataset, workers: int, batch: int) -> float:
    loader = make_loader(dataset, batch_size=batch, shuffle=True, seed=0, num_workers=workers)
    start = time.perf_counter()
    count = sum(b["alpha"].shape[0] for b in loader)
    return count / (time.perf_counter() - start)


def cpu_ms_per_sample(datasets: dict, rounds: int = 3) -> dict[str, float]:
    """CPU milliseconds per ``dataset[i]`` in this process, each dataset's best pass of
    ``rounds`` rounds that take the datasets in turn (so a busy spell of the machine
    does not fall on one of them only)."""
    best = {name: math.inf for name in datasets}
    for _ in range(rounds):
        for name, dataset in datasets.items():
            start = time.process_time()
            for i in range(len(dataset)):
                dataset[i]
            best[name] = min(best[name], time.process_time() - start)
    return {name: round(1000 * t / len(datasets[name]), 2) for name, t in best.items()}


def traced_peak_mib(dataset, indices) -> float:
    tracemalloc.start()
    for i in indices:
        dataset[i]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--sources", type=int, default=16,
                        help="foregrounds and backgrounds held in memory")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--name", default="composition_cpu")
    args = parser.parse_args(argv)
    # One thread, as in every DataLoader worker (and before any worker is forked, see
    # mattinglib.data.composition.seed_worker): the in-process numbers are a worker's.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    source = 2 * args.size  # room for the largest (640 px) crop
    t0 = time.perf_counter()
    fg_gen = SyntheticForegrounds(source, seed=0)
    bg_gen = SyntheticBackgrounds(source, seed=0)
    fgs = InMemory([fg_gen.sample(i) for i in range(args.sources)])
    bgs = InMemory([bg_gen.sample(i) for i in range(args.sources)])
    generate_s = time.perf_counter() - t0

    datasets = {
        "composition": CompositionDataset(fgs, bgs, size=args.size, length=args.samples, seed=0),
        "composition_device": CompositionDataset(fgs, bgs, size=args.size, length=args.samples,
                                                 seed=0, compose=False, fixed_point=True),
        "naive": NaiveComposition(fgs, bgs, args.size, args.samples, seed=0),
        "synthetic": SyntheticMattingDataset(args.samples, args.size, seed=0),
    }
    results: dict = {"size": args.size, "samples": args.samples, "batch": args.batch,
                     "torch_threads": torch.get_num_threads(),
                     "source_generation_ms_per_item": 1000 * generate_s / (2 * args.sources),
                     "samples_per_s": {}, "traced_peak_mib_per_sample": {}}
    for name, ds in datasets.items():
        ds[0]  # warm caches
        results["traced_peak_mib_per_sample"][name] = round(traced_peak_mib(ds, range(1, 5)), 2)
        for workers in args.workers:
            rate = samples_per_second(ds, workers, args.batch)
            results["samples_per_s"][f"{name}_workers{workers}"] = round(rate, 2)
            print(f"{name:12s} workers={workers}: {rate:7.1f} samples/s", flush=True)
    for workers in args.workers:
        slow = results["samples_per_s"][f"naive_workers{workers}"]
        for name, key in (("composition", "speedup_vs_naive"),
                          ("composition_device", "device_path_speedup_vs_naive")):
            fast = results["samples_per_s"][f"{name}_workers{workers}"]
            results["samples_per_s"][f"{key}_workers{workers}"] = round(fast / slow, 2)
    cpu = results["cpu_ms_per_sample"] = cpu_ms_per_sample(
        {k: v for k, v in datasets.items() if k != "synthetic"})
    print(f"CPU-ms per sample: {cpu}", flush=True)
    results["cpu_speedup_vs_naive"] = {name: round(cpu["naive"] / cpu[name], 2)
                                       for name in ("composition", "composition_device")}
    results["max_rss_mib"] = {
        "main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "workers": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    path = write_result(args.name, results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
