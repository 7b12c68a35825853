"""Judging mattes on real photos the models never trained on.

The held-out set is the alphamatting.com training images GT11-GT27
(:data:`mattinglib.data.real.HELDOUT_NAMES`; no training source may read
them), with their fine trimap (Trimap1), downscaled so that the longer side is
at most ``max_side``. :func:`compare_methods` runs every method on every photo
and scores it with the official metrics over the unknown region; the two
baselines that every learnt model must be compared with in the same run are
:func:`baseline_methods`: closed-form matting (Levin et al., 2008) and the
trimap-only guess (0.5 in the band).

>>> methods = {"trimap only": lambda image, trimap: trimap_baseline(trimap)}
>>> import numpy as np
>>> a = np.zeros((8, 8), np.float32); a[:, 4:] = 1; a[:, 3:5] = 0.5
>>> tri = np.full((8, 8), 128, np.uint8); tri[:, :2] = 0; tri[:, 6:] = 255
>>> table = compare_methods(methods, [("toy", np.zeros((8, 8, 3), np.float32), a, tri)])
>>> round(table["trimap only"]["toy"]["sad"], 4)
0.008
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .classical import closed_form_matting, trimap_baseline
from .metrics import evaluate, mean_metrics

__all__ = ["heldout_cases", "baseline_methods", "compare_methods", "summarise", "format_table",
           "model_method"]

Case = tuple[str, np.ndarray, np.ndarray, np.ndarray]
Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


def heldout_cases(max_side: int | None = 320, *, trimap: str = "trimap1", root=None) -> list[Case]:
    """The held-out photos present on disk as ``(name, image, alpha, trimap)``.

    Args:
        max_side: downscale so the longer side is at most this (``None``: full size).
        trimap: ``"trimap1"`` (fine) or ``"trimap2"`` (coarse).
        root: the ``alphamatting_lowres`` folder (``None``: under the data root).

    Raises:
        FileNotFoundError: when no held-out photo (GT11-GT27) is on disk, with
            the download command.
    """
    from .data.real import heldout_names_present
    from .io import load_alphamatting

    names = heldout_names_present(root)
    if not names:
        raise FileNotFoundError("no held-out alphamatting.com photo (GT11-GT27) found; download "
                                "them with: python data_scripts/download_alphamatting.py")
    samples = load_alphamatting(root, trimap=trimap, names=list(names), max_side=max_side)
    return [(s.name, s.image, s.alpha, s.trimap) for s in samples]


def baseline_methods() -> dict[str, Method]:
    """Closed-form matting and the trimap-only guess, keyed by their names."""
    return {"closed-form": lambda image, trimap: closed_form_matting(image, trimap),
            "trimap only": lambda image, trimap: trimap_baseline(trimap)}


def model_method(model, **kwargs: Any) -> Method:
    """A trained network as a method (:func:`mattinglib.inference.matting.predict_alpha`)."""
    from .inference.matting import predict_alpha

    return lambda image, trimap: predict_alpha(model, image, trimap, **kwargs)


def compare_methods(methods: Mapping[str, Method], cases: Sequence[Case], *,
                    predictions: dict | None = None,
                    seconds: dict | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Every method on every case, scored with the official metrics (SAD, MSE, Grad, Conn).

    Args:
        methods: name -> ``method(image, trimap) -> alpha (H, W) in [0, 1]``.
        cases: ``(name, image (H, W, 3), alpha (H, W), trimap (H, W) uint8)``.
        predictions: if given, filled with ``predictions[case][method] = alpha``.
        seconds: if given, filled with the total seconds each method took.

    Returns:
        ``table[method][case] = {"sad", "mse", "grad", "conn"}``.
    """
    if not methods:
        raise ValueError("methods: expected at least one method")
    if not cases:
        raise ValueError("cases: expected at least one case")
    table: dict[str, dict[str, dict[str, float]]] = {m: {} for m in methods}
    for name, image, gt, tri in cases:
        for method, run in methods.items():
            t0 = time.perf_counter()
            pred = run(image, tri)
            if seconds is not None:
                seconds[method] = seconds.get(method, 0.0) + time.perf_counter() - t0
            if predictions is not None:
                predictions.setdefault(name, {})[method] = pred
            table[method][name] = evaluate(pred, gt, tri)
    return table


def summarise(table: Mapping[str, Mapping[str, Mapping[str, float]]], *,
              reference: str = "trimap only") -> dict[str, dict[str, Any]]:
    """Mean metrics per method, and against ``reference``: the ratio of mean SADs and
    on how many cases the method's SAD is lower."""
    out: dict[str, dict[str, Any]] = {}
    ref = table.get(reference)
    for method, rows in table.items():
        summary: dict[str, Any] = dict(mean_metrics(list(rows.values())))
        if ref is not None and method != reference:
            ref_sad = mean_metrics(list(ref.values()))["sad"]
            summary[f"sad_ratio_to_{reference}"] = summary["sad"] / ref_sad
            summary[f"wins_over_{reference}"] = sum(rows[c]["sad"] < ref[c]["sad"] for c in rows)
        summary["cases"] = len(rows)
        out[method] = summary
    return out


def format_table(table: Mapping[str, Mapping[str, Mapping[str, float]]],
                 metric: str = "sad") -> str:
    """A plain-text table: one row per case, one column per method, then the mean."""
    methods = list(table)
    cases = list(next(iter(table.values())))
    width = max(12, *(len(m) + 2 for m in methods))
    lines = [f"{metric.upper():<8}" + "".join(f"{m:>{width}}" for m in methods)]
    for case in cases:
        lines.append(f"{case:<8}" + "".join(f"{table[m][case][metric]:>{width}.3f}"
                                            for m in methods))
    means = [np.mean([table[m][c][metric] for c in cases]) for m in methods]
    lines.append(f"{'mean':<8}" + "".join(f"{v:>{width}.3f}" for v in means))
    return "\n".join(lines)
