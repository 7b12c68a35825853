"""One validation loop for every training stage.

Validating a matting network is always the same loop: run the model over a
held-out dataset in batches, get each sample's predicted alpha, its true alpha
and a trimap, and score the prediction with the official metrics
(:func:`mattinglib.metrics.evaluate`) over the trimap's unknown band. What
differs between the stages is only how a batch becomes those three arrays:

* M-Net, SHM and DIM read the dataset's trimap and fill its known regions
  (:func:`~mattinglib.train.recipes.matting_val_fn`);
* Background Matting has no trimap: its generator's alpha is used everywhere
  and the trimap is made from the truth (:func:`~mattinglib.train.bgm_recipes.bgm_val_fn`);
* the teacher-student stage reads the truth from ``dataset.ground_truth(i)``, which
  its training never sees (:func:`~mattinglib.train.adversarial.evaluate_on_target`).

Each of them is a ``predict(batch, indices)`` function handed to
:func:`evaluate_dataset`.

>>> import torch
>>> data = [{"alpha": torch.full((1, 4, 4), 0.5)} for _ in range(3)]
>>> def predict(batch, indices):  # a model that answers 0.25 everywhere
...     truth = batch["alpha"][:, 0].numpy()
...     trimap = np.full(truth.shape, 128, np.uint8)
...     return np.full_like(truth, 0.25), truth, trimap
>>> scores = evaluate_dataset(predict, data, batch_size=2)
>>> scores["sad"], scores["mse"], scores["count"], scores["mean_alpha"]
(0.004, 0.0625, 3.0, 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import default_collate

from .._checks import check_int
from ..metrics import METRIC_KEYS, evaluate, mean_metrics
from ..trimap import BACKGROUND, FOREGROUND, UNKNOWN

__all__ = ["evaluate_dataset", "region_errors", "model_device", "VAL_BATCH_SIZE",
           "official"]

#: Samples per forward pass of the stages' validation.
VAL_BATCH_SIZE = 8

#: ``predict(batch, indices) -> (pred, truth, trimap)``, each ``(B, H, W)``: the predicted
#: and true alpha in [0, 1] (NumPy float) and the uint8 trimap (0, 128, 255).
Predict = Callable[[Any, Sequence[int]], tuple[np.ndarray, np.ndarray, np.ndarray]]


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters live (CPU for a model without any).

    >>> model_device(nn.Linear(2, 2)), model_device(nn.Identity())
    (device(type='cpu'), device(type='cpu'))
    """
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def region_errors(pred: np.ndarray, truth: np.ndarray, trimap: np.ndarray) -> dict[str, float]:
    """Whole-image SAD of one ``(H, W)`` matte, split by the trimap's regions, and its MSE.

    ``sad_image = sad_band + sad_background + sad_foreground`` (each / 1000, as the
    official SAD); ``mse_image`` is the mean squared error over every pixel.

    >>> truth = np.zeros((2, 2)); pred = np.array([[0.5, 0.0], [0.0, 1.0]])
    >>> trimap = np.array([[128, 0], [0, 0]], np.uint8)
    >>> errors = region_errors(pred, truth, trimap)
    >>> [round(errors[k] * 1000, 3) for k in ("sad_band", "sad_background", "sad_foreground")]
    [0.5, 1.0, 0.0]
    >>> round(errors["sad_image"] * 1000, 3), errors["mse_image"]
    (1.5, 0.3125)
    """
    error = np.abs(pred.astype(np.float64) - truth.astype(np.float64))
    regions = {"band": trimap == UNKNOWN, "background": trimap == BACKGROUND,
               "foreground": trimap == FOREGROUND}
    out = {f"sad_{name}": float(error[mask].sum()) / 1000 for name, mask in regions.items()}
    out["sad_image"] = float(error.sum()) / 1000
    out["mse_image"] = float(np.mean(error ** 2))
    return out


def evaluate_dataset(predict: Predict, data: Any, *, batch_size: int = VAL_BATCH_SIZE,
                     whole_image: bool = False, name: str = "val_data") -> dict[str, float]:
    """Score ``predict`` on every sample of ``data`` with the official metrics; the means.

    The samples are read in order, ``batch_size`` at a time, and collated as a
    ``DataLoader`` without shuffling would. A sample whose trimap has no unknown
    pixel is left out of the official metrics (their MSE is undefined there) but
    counts in ``mean_alpha`` and in the whole-image errors, where an empty frame's
    error (alpha where there is no subject) belongs.

    Args:
        predict: ``predict(batch, indices) -> (pred, truth, trimap)``, each ``(B, H, W)``:
            the predicted and the true alpha in [0, 1] and the uint8 trimap whose unknown
            band (128) is scored. It runs the model (under ``torch.no_grad()``).
        data: a non-empty map-style dataset.
        batch_size: samples per call of ``predict``.
        whole_image: also the whole-image errors of :func:`region_errors`.
        name: the argument's name in error messages.

    Returns:
        ``{"sad", "mse", "grad", "conn"}`` (SAD, Grad, Conn / 1000, as the official
        code; means over the samples with an unknown band, NaN when none has one),
        ``"count"`` (those samples), ``"mean_alpha"`` (the prediction's mean over every
        pixel of every sample) and, with ``whole_image``, the keys of
        :func:`region_errors`, means over every sample.

    Raises:
        ValueError: ``data`` is empty or not a map-style dataset, or (without
            ``whole_image``) no sample has an unknown pixel.
    """
    if (not (hasattr(data, "__len__") and hasattr(data, "__getitem__")) or len(data) == 0):
        raise ValueError(f"{name}: expected a non-empty map-style dataset, "
                         f"got {type(data).__name__}")
    check_int(batch_size, "batch_size", minimum=1)
    rows, whole, alpha_sum, pixels = [], [], 0.0, 0
    for start in range(0, len(data), batch_size):
        indices = range(start, min(start + batch_size, len(data)))
        with torch.no_grad():  # the trainer already disables gradients; a direct call may not
            preds, truths, trimaps = predict(default_collate([data[i] for i in indices]), indices)
        alpha_sum += float(np.asarray(preds, np.float64).sum())
        pixels += int(np.asarray(preds).size)
        for pred, truth, trimap in zip(preds, truths, trimaps):
            if whole_image:
                whole.append(region_errors(pred, truth, trimap))
            if (trimap == UNKNOWN).any():
                rows.append(evaluate(pred, truth, trimap))
    if not rows and not whole_image:
        raise ValueError(f"{name}: no sample has unknown pixels; nothing to evaluate")
    result = mean_metrics(rows) if rows else dict.fromkeys(METRIC_KEYS, math.nan)
    if whole_image:
        result |= mean_metrics(whole)
    result["count"] = float(len(rows))
    result["mean_alpha"] = alpha_sum / pixels
    return result


def official(scores: dict[str, float]) -> dict[str, float]:
    """Only the official metrics of :func:`evaluate_dataset`'s result (what the stages log)."""
    return {k: scores[k] for k in METRIC_KEYS}
