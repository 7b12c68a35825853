"""Milliseconds per image of the four official matting errors, against plain ports.

Usage (from the repository root)::

    python benchmarks/bench_metrics.py                 # all alphamatting images, 3 repeats
    python benchmarks/bench_metrics.py --repeats 5 --loop-cases 2

Data: the alphamatting.com low-resolution training images (ground truth and both
trimaps), looked up under ``$MATTINGLIB_DATA`` / ``<repo>/data`` and then beside
the checkout in ``../shared/data``::

    alphamatting_lowres/
      gt/GT01.png ...          alpha, three identical channels
      trimap1/GT01.png ...     fine trimap
      trimap2/GT01.png ...     coarse trimap

The prediction scored is the ground truth blurred with a Gaussian (sigma 3 px),
so every metric has real work to do. Without the images the benchmark says so
and falls back to generated 800x600 mattes.

Baselines, measured in the same process on the same cases:

* ``sad`` / ``mse``: the official formula on the whole image
  (``sum(|p - t| * (trimap == 128))``) without any input checks; the ratio is
  the price of validation.
* ``grad``: the 9x9 kernel applied as one non-separable 2-D convolution, as a
  direct port of ``imfilter`` does.
* ``conn``: (a) the same vectorised code but letting the background label win
  the largest-component ``argmax`` (the known port bug: as fast, but wrong; its
  deviation is recorded); (b) a pure-Python port of the MATLAB loops with a
  flood-fill labelling, timed on ``--loop-cases`` cases only because it is slow,
  and checked to give the same value.

Writes ``benchmarks/results/<name>.json`` (default ``metrics_cpu``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write_result  # noqa: E402

from mattinglib import metrics as M  # noqa: E402
from mattinglib.config import find_dataset  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- data


Case = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # name, pred, target, trimap


def _read_channel0(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise FileNotFoundError(path)
    return arr[:, :, 2] if arr.ndim == 3 else arr  # BGR order: index 2 is channel 0


def _blurred(alpha: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(alpha, (0, 0), 3.0)


def find_alphamatting(explicit: str | None) -> Path | None:
    candidates = [Path(explicit)] if explicit else [
        find_dataset("alphamatting_lowres"),
        REPO.parent / "shared" / "data" / "alphamatting_lowres",
    ]
    for path in candidates:
        if path is not None and (path / "gt").is_dir():
            return path
    return None


def alphamatting_cases(root: Path) -> list[Case]:
    cases = []
    for gt_path in sorted((root / "gt").glob("GT*.png")):
        target = _read_channel0(gt_path)
        for trimap_dir in ("trimap1", "trimap2"):
            trimap_path = root / trimap_dir / gt_path.name
            if trimap_path.is_file():
                cases.append((f"{gt_path.stem}_{trimap_dir}", _blurred(target), target,
                              _read_channel0(trimap_path)))
    return cases


def generated_cases(count: int, *, seed: int = 0) -> list[Case]:
    """Smooth random 800x600 mattes with a 10 px unknown band around their soft edges."""
    rng = np.random.default_rng(seed)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    cases = []
    for i in range(count):
        field = ndimage.gaussian_filter(rng.standard_normal((600, 800)), 25.0)
        # About 10 px wide soft edges between large opaque and clear regions.
        alpha = np.clip(0.5 + 2.5 * field / field.std(), 0.0, 1.0)
        target = np.round(alpha * 255).astype(np.uint8)
        soft = ((target > 0) & (target < 255)).astype(np.uint8)
        band = cv2.dilate(soft, kernel, iterations=10).astype(bool)
        trimap = np.where(target == 255, 255, 0).astype(np.uint8)
        trimap[band] = 128
        cases.append((f"generated_{i:02d}", _blurred(target), target, trimap))
    return cases


# ---------------------------------------------------------------------- baselines


def sad_unchecked(pred, target, trimap) -> float:
    diff = np.abs(pred.astype(np.float64) - target.astype(np.float64)) / 255.0
    return float(np.sum(diff * (trimap == 128)) / 1000.0)


def mse_unchecked(pred, target, trimap) -> float:
    diff = (pred.astype(np.float64) - target.astype(np.float64)) / 255.0
    unknown = trimap == 128
    return float(np.sum(diff**2 * unknown) / np.sum(unknown))


def grad_2d_convolve(pred, target, trimap) -> float:
    hx = M.gaussian_gradient_kernel(1.4)

    def magnitude(a):
        a = a.astype(np.float64)
        a = (a - a.min()) / (a.max() - a.min())
        gx = ndimage.convolve(a, hx, mode="nearest")
        gy = ndimage.convolve(a, hx.T, mode="nearest")
        return np.sqrt(gx**2 + gy**2)

    return float(np.sum((magnitude(pred) - magnitude(target)) ** 2 * (trimap == 128)) / 1000.0)


def conn_background_label(pred, target, trimap) -> float:
    """The common port bug: ``argmax`` over all labels, background label 0 included."""
    p = pred.astype(np.float32) / np.float32(255)
    t = target.astype(np.float32) / np.float32(255)
    p64, t64 = p.astype(np.float64), t.astype(np.float64)
    steps = 0.1 * np.arange(11)
    level = np.full(p.shape, -1.0)
    for previous, current in zip(steps[:-1], steps[1:]):
        labels, _ = ndimage.label((p64 >= current) & (t64 >= current), structure=M._FOUR_CONNECTED)
        omega = labels == np.argmax(np.bincount(labels.ravel()))
        level[(level == -1.0) & ~omega] = previous
    level[level == -1.0] = 1.0
    level32 = level.astype(np.float32)
    d_p, d_t = p - level32, t - level32
    phi_p = 1 - d_p * (d_p >= 0.15)
    phi_t = 1 - d_t * (d_t >= 0.15)
    return float(np.sum(np.abs(phi_p - phi_t) * (trimap == 128), dtype=np.float64) / 1000.0)


def conn_python_loops(pred, target, trimap) -> float:
    """A line-by-line port of the MATLAB loops, labelling by flood fill."""
    h, w = pred.shape
    p = (pred.astype(np.float32) / np.float32(255)).astype(np.float64).tolist()
    t = (target.astype(np.float32) / np.float32(255)).astype(np.float64).tolist()
    tri = trimap.tolist()
    level = [[-1.0] * w for _ in range(h)]
    for k in range(1, 11):
        thr, previous = 0.1 * k, 0.1 * (k - 1)
        label = [[0] * w for _ in range(h)]
        best_id, best_size, next_id = 0, 0, 0
        for j in range(w):  # column-major, as bwconncomp numbers its components
            for i in range(h):
                if label[i][j] or p[i][j] < thr or t[i][j] < thr:
                    continue
                next_id += 1
                label[i][j] = next_id
                size, queue = 0, deque([(i, j)])
                while queue:
                    y, x = queue.popleft()
                    size += 1
                    for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                        if (0 <= ny < h and 0 <= nx < w and not label[ny][nx]
                                and p[ny][nx] >= thr and t[ny][nx] >= thr):
                            label[ny][nx] = next_id
                            queue.append((ny, nx))
                if size > best_size:
                    best_id, best_size = next_id, size
        for i in range(h):
            for j in range(w):
                if level[i][j] == -1.0 and (best_id == 0 or label[i][j] != best_id):
                    level[i][j] = previous
    total = 0.0
    for i in range(h):
        for j in range(w):
            if tri[i][j] != 128:
                continue
            lv = 1.0 if level[i][j] == -1.0 else level[i][j]
            d_p = float(np.float32(p[i][j]) - np.float32(lv))
            d_t = float(np.float32(t[i][j]) - np.float32(lv))
            phi_p = 1.0 - d_p if d_p >= 0.15 else 1.0
            phi_t = 1.0 - d_t if d_t >= 0.15 else 1.0
            total += abs(phi_p - phi_t)
    return total / 1000.0


# ------------------------------------------------------------------------- timing


def time_ms(func, cases, repeats: int) -> tuple[dict[str, list[float]], list[float]]:
    """Per case the median of ``repeats`` calls, in ms of wall clock and of process CPU.

    The code timed is single-threaded, so on a shared machine the process CPU
    time is the steadier measure; both are kept. Also returns the values computed.
    """
    per_case: dict[str, list[float]] = {"wall": [], "cpu": []}
    values = []
    for _, pred, target, trimap in cases:
        wall, cpu = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            value = func(pred, target, trimap)
            cpu.append((time.process_time() - c0) * 1000.0)
            wall.append((time.perf_counter() - w0) * 1000.0)
        per_case["wall"].append(statistics.median(wall))
        per_case["cpu"].append(statistics.median(cpu))
        values.append(value)
    return per_case, values


def summary(per_case: dict[str, list[float]]) -> dict[str, float]:
    return {
        "cpu_ms_per_image_mean": round(statistics.fmean(per_case["cpu"]), 3),
        "cpu_ms_per_image_median": round(statistics.median(per_case["cpu"]), 3),
        "wall_ms_per_image_mean": round(statistics.fmean(per_case["wall"]), 3),
    }


def _ratio(slow: dict[str, list[float]], fast: dict[str, float]) -> float:
    return round(statistics.fmean(slow["cpu"]) / fast["cpu_ms_per_image_mean"], 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="alphamatting_lowres folder (default: looked up)")
    parser.add_argument("--repeats", type=int, default=3, help="calls per case; the median counts")
    parser.add_argument("--loop-cases", type=int, default=1,
                        help="cases for the slow pure-Python connectivity port (0 = skip)")
    parser.add_argument("--generated", type=int, default=10,
                        help="generated cases when the real images are absent")
    parser.add_argument("--name", default="metrics_cpu", help="result file stem")
    args = parser.parse_args(argv)

    root = find_alphamatting(args.data)
    if root is not None:
        cases = alphamatting_cases(root)
        source = {"dataset": "alphamatting_lowres (ground truth, trimap1 and trimap2)",
                  "prediction": "ground truth blurred with a Gaussian, sigma 3 px, uint8"}
    else:
        print("alphamatting_lowres not found (set MATTINGLIB_DATA or pass --data); "
              f"timing {args.generated} generated 800x600 mattes instead", file=sys.stderr)
        cases = generated_cases(args.generated)
        source = {"dataset": "generated 800x600 smooth random mattes, seed 0",
                  "prediction": "matte blurred with a Gaussian, sigma 3 px, uint8"}
    source["cases"] = len(cases)
    source["image_sizes"] = sorted({f"{c[2].shape[1]}x{c[2].shape[0]}" for c in cases})
    source["unknown_pixels_mean"] = round(statistics.fmean(int((c[3] == 128).sum()) for c in cases))

    ours, values = {}, {}
    for key, func in [("sad", M.sad), ("mse", M.mse), ("grad", M.gradient_error),
                      ("conn", M.connectivity_error), ("evaluate", M.evaluate)]:
        per_case, values[key] = time_ms(func, cases, args.repeats)
        ours[key] = summary(per_case)
        print(f"mattinglib {key:9s} {ours[key]['cpu_ms_per_image_mean']:9.2f} ms/image (CPU)",
              flush=True)

    baselines = {}
    unchecked = "official formula over the whole image, no input checks"
    for key, func, what, ours_key in [
        ("sad_unchecked", sad_unchecked, unchecked, "sad"),
        ("mse_unchecked", mse_unchecked, unchecked, "mse"),
        ("grad_2d_convolve", grad_2d_convolve, "9x9 kernel as one 2-D convolution", "grad"),
        ("conn_background_label", conn_background_label,
         "vectorised, background label allowed to win (known port bug)", "conn"),
    ]:
        per_case, got = time_ms(func, cases, args.repeats)
        entry = {"what": what, **summary(per_case),
                 "cpu_ratio_to_mattinglib": _ratio(per_case, ours[ours_key])}
        rel = [abs(g - v) / abs(v) for g, v in zip(got, values[ours_key]) if v != 0]
        entry["rel_deviation_max"] = float(max(rel)) if rel else 0.0
        entry["cases_deviating_over_1e-4"] = sum(r > 1e-4 for r in rel)
        baselines[key] = entry
        print(f"baseline   {key:22s} {entry['cpu_ms_per_image_mean']:9.2f} ms/image (CPU), "
              f"max deviation {entry['rel_deviation_max']:.2e}", flush=True)

    if args.loop_cases > 0:
        subset = cases[: args.loop_cases]
        per_case, got = time_ms(conn_python_loops, subset, 1)
        ours_subset, _ = time_ms(M.connectivity_error, subset, args.repeats)
        rel = [abs(g - v) / abs(v) for g, v in zip(got, values["conn"]) if v != 0]
        entry = {"what": "pure-Python port of the MATLAB loops with flood-fill labelling",
                 "cases": [c[0] for c in subset], **summary(per_case),
                 "cpu_ratio_to_mattinglib": _ratio(per_case, summary(ours_subset)),
                 "rel_deviation_max": float(max(rel)) if rel else 0.0}
        baselines["conn_python_loops"] = entry
        print(f"baseline   conn_python_loops      {entry['cpu_ms_per_image_mean']:9.1f} "
              f"ms/image (CPU), {entry['cpu_ratio_to_mattinglib']}x mattinglib", flush=True)

    payload = {"data": source, "repeats": args.repeats,
               "timing": "per case the median of the repeats, then mean/median over cases; "
                         "cpu = process CPU time (single-threaded code, steadier on a shared "
                         "machine), wall = wall clock; mattinglib times include input validation",
               "mattinglib": ours, "baselines": baselines}
    path = write_result(args.name, payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
