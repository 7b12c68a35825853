"""Matting quality on held-out real photos: the course's models against the baselines.

For each recipe asked for (``--models mnet dim``, ``--presets quick``), the
script trains the model as :func:`mattinglib.train.recipes.train_run` does (or
loads it: run folders under ``runs/bench_quality/`` resume), then scores it on
the held-out alphamatting.com photos (GT11-GT27 present on disk, Trimap1,
longer side ``--max-side``) with the official SAD, MSE, Grad and Conn, next to
closed-form matting and the trimap-only baseline computed in the same run.
DIM is scored twice: its encoder-decoder alone (``DIM coarse``) and with the
refinement stage (``DIM refined``).

``--set field=value`` changes recipe fields (an ablation; ``--tag`` names the
result), e.g.::

    python benchmarks/bench_matting_quality.py --models mnet --presets quick
    python benchmarks/bench_matting_quality.py --models mnet --set data=synthetic --tag synthetic
    python benchmarks/bench_matting_quality.py --models mnet dim --presets cpu-long
    python benchmarks/bench_matting_quality.py --collect       # the ablation table of every result

Writes ``benchmarks/results/matting_quality_<tag>.json`` (per-photo numbers,
means, the recipes, training seconds, the commit and command, the machine) and
a figure of per-photo SAD beside it. ``--collect`` gathers every such file into
``matting_quality_ablation.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _machine import RESULTS_DIR, commit, write_result  # noqa: E402

from mattinglib.evaluation import (  # noqa: E402
    baseline_methods,
    compare_methods,
    format_table,
    heldout_cases,
    model_method,
    summarise,
)
from mattinglib.train.recipes import RECIPES, train_run  # noqa: E402


def _value(text: str):
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001, ``"1,3"`` -> (1, 3), ``"real"`` -> ``"real"``."""
    if "," in text:
        return tuple(_value(t) for t in text.split(","))
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_sets(items: list[str]) -> dict:
    changes = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set: expected field=value, got {item!r}")
        changes[key] = _value(value)
    return changes


def _figure(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    methods, cases = list(table), list(next(iter(table.values())))
    x = np.arange(len(cases))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(cases), 3.6))
    for k, m in enumerate(methods):
        ax.bar(x + (k - (len(methods) - 1) / 2) * 0.8 / len(methods),
               [table[m][c]["sad"] for c in cases], 0.8 / len(methods), label=m)
    ax.set_xticks(x, cases)
    ax.set_ylabel("SAD / 1000 (lower is better)")
    ax.set_title("held-out photos, Trimap1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> Path:
    torch.set_num_threads(args.threads)
    cases = heldout_cases(args.max_side)
    methods = dict(baseline_methods())
    recipes, train_seconds = {}, {}
    for model_name in args.models:
        for preset in args.presets:
            recipe = RECIPES[model_name].preset(preset).replace(**parse_sets(args.set))
            label = f"{'M-Net' if model_name == 'mnet' else 'DIM'} {recipe.name}"
            out = ROOT / "runs" / "bench_quality" / recipe.run_name()
            t0, c0 = time.perf_counter(), time.process_time()
            model, histories = train_run(recipe, out, device=args.device, progress=args.progress)
            train_seconds[label] = {"wall_s": time.perf_counter() - t0,
                                    "process_cpu_s": time.process_time() - c0,
                                    "steps": [h.train_steps[-1] if h.train_steps
                                              else 0 for h in histories],
                                    "val_sad": [h.val.get("sad", []) for h in histories],
                                    "val_steps": [h.val_steps for h in histories]}
            recipes[label] = recipe.settings()
            if model_name == "dim":
                import copy

                coarse = copy.deepcopy(model).set_stage("encoder_decoder").eval()
                methods[f"{label} coarse"] = model_method(coarse)
                methods[f"{label} refined"] = model_method(model)
            else:
                methods[label] = model_method(model)
    seconds: dict = {}
    table = compare_methods(methods, cases, seconds=seconds)
    summary = summarise(table)
    print(format_table(table))
    for method, s in summary.items():
        print(f"{method:<24} mean SAD {s['sad']:.3f}  MSE {s['mse']:.4f}  Grad {s['grad']:.3f}  "
              f"Conn {s['conn']:.3f}",
              *(f" {k} {v:.3g}" for k, v in s.items() if k.startswith(("sad_ratio", "wins"))))
    payload = {
        "description": "held-out alphamatting.com photos (never trained on), Trimap1, official "
                       "metrics (SAD, Grad, Conn /1000; MSE unscaled)",
        "photos": [c[0] for c in cases], "max_side": args.max_side, "tag": args.tag,
        "changes": parse_sets(args.set), "recipes": recipes, "training": train_seconds,
        "per_photo": table, "summary": summary, "method_seconds": seconds,
        "commit": commit(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "torch_threads": torch.get_num_threads(),
    }
    path = write_result(f"matting_quality_{args.tag}", payload)
    _figure(table, path.with_suffix(".png"))
    return path


def collect() -> Path:
    """Gather every ``matting_quality_*.json`` into one ablation table."""
    rows = []
    for path in sorted(RESULTS_DIR.glob("matting_quality_*.json")):
        if path.stem == "matting_quality_ablation":
            continue
        doc = json.loads(path.read_text())["results"]
        for method, s in doc["summary"].items():
            if method in ("closed-form", "trimap only"):
                continue
            train = doc["training"].get(method.replace(" coarse", "").replace(" refined", ""), {})
            rows.append({"tag": doc["tag"], "method": method, "changes": doc["changes"],
                         "mean_sad": s["sad"], "mean_mse": s["mse"], "mean_grad": s["grad"],
                         "mean_conn": s["conn"],
                         "sad_ratio_to_trimap_only": s.get("sad_ratio_to_trimap only"),
                         "wins_over_trimap_only": s.get("wins_over_trimap only"),
                         "closed_form_sad": doc["summary"]["closed-form"]["sad"],
                         "train_wall_s": train.get("wall_s"), "commit": doc["commit"]})
    for r in rows:
        print(f"{r['tag']:<22} {r['method']:<22} SAD {r['mean_sad']:.3f} "
              f"(x{r['sad_ratio_to_trimap_only'] or 0:.2f} trimap-only, "
              f"wins {r['wins_over_trimap_only']}) "
              f"train {r['train_wall_s'] or 0:.0f} s  {r['changes']}")
    return write_result("matting_quality_ablation", {"rows": rows})


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=sorted(RECIPES), default=["mnet"])
    p.add_argument("--presets", nargs="+", default=["quick"], help="quick, cpu-long, full")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a recipe field (repeatable)")
    p.add_argument("--tag", help="result name (default: the presets and models)")
    p.add_argument("--max-side", type=int, default=320)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--collect", action="store_true", help="only gather the results into one table")
    args = p.parse_args(argv)
    if args.collect:
        return collect()
    args.tag = args.tag or "_".join([*args.presets, *args.models])
    return run(args)


if __name__ == "__main__":
    print(main())
