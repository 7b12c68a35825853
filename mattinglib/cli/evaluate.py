"""``evaluate``: the official SAD / MSE / Grad / Conn of a folder of predicted mattes.

    python -m mattinglib evaluate --pred preds/ --gt alphas/ --trimap trimaps/ [--json out.json]

Every PNG in ``--pred`` needs a ground truth and a trimap of the same file name;
the table it prints uses the units of the official evaluation
(:func:`mattinglib.metrics.evaluate`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import io, metrics
from .._checks import check_writable_file
from .._progress import progress_bar

__all__ = ["add_evaluate_command"]


def _cmd_evaluate(args) -> int:
    if args.json:
        check_writable_file(args.json, "--json")
    pred_dir, gt_dir, trimap_dir = Path(args.pred), Path(args.gt), Path(args.trimap)
    names = sorted(p.name for p in pred_dir.glob("*.png"))
    if not names:
        print(f"error: pred: no PNG files in {pred_dir}", file=sys.stderr)
        return 2
    rows = {}
    for name in progress_bar(names, desc="evaluating"):
        for folder in (gt_dir, trimap_dir):
            if not (folder / name).is_file():
                print(f"error: {folder / name} is missing (every prediction needs a ground truth "
                      "and a trimap of the same file name)", file=sys.stderr)
                return 2
        pred = io.read_alpha(pred_dir / name)
        rows[name] = metrics.evaluate(pred, io.read_alpha(gt_dir / name),
                                      io.read_trimap(trimap_dir / name))
    mean = metrics.mean_metrics(list(rows.values()))
    print(f"{'image':<24}{'SAD':>10}{'MSE':>10}{'Grad':>10}{'Conn':>10}")
    for name, m in list(rows.items()) + [("mean", mean)]:
        print(f"{name:<24}{m['sad']:>10.3f}{m['mse']:>10.5f}{m['grad']:>10.3f}{m['conn']:>10.3f}")
    print("units: SAD, Grad and Conn divided by 1000 as the official evaluation; MSE unscaled")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": rows, "mean": mean}, indent=2) + "\n")
    return 0


def add_evaluate_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``evaluate`` to a ``python -m mattinglib`` sub-command parser; returns its parser."""
    p = subparsers.add_parser("evaluate",
                              help="official SAD / MSE / Grad / Conn of a folder of mattes")
    p.add_argument("--pred", required=True, help="folder of predicted alpha PNGs")
    p.add_argument("--gt", required=True, help="folder of ground-truth alpha PNGs (same names)")
    p.add_argument("--trimap", required=True, help="folder of trimap PNGs (same names)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    p.set_defaults(func=_cmd_evaluate)
    return p
