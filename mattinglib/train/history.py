"""The record of a training run: every loss term per step, every metric per validation.

Stored as plain lists of numbers so that it fits in a weights-only checkpoint and
turns into a table or a plot without any training code.

>>> h = History()
>>> h.log_train(1, {"total": 0.9, "alpha": 0.5})
>>> h.log_train(2, {"total": 0.7, "alpha": 0.4})
>>> h.log_val(2, {"sad": 12.5})
>>> h.train["alpha"], h.val_steps, h.last("sad")
([0.5, 0.4], [2], 12.5)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["History"]


class History:
    """Losses per training step and metrics per validation step.

    Attributes:
        train_steps: the step number (1-based, after the optimiser update) of each record.
        train: term name -> one float per entry of ``train_steps``.
        val_steps: the step after which each validation ran.
        val: metric name -> one float per entry of ``val_steps``.

    A term that a step did not report is stored as NaN, so all lists of a table
    keep the same length.
    """

    def __init__(self) -> None:
        self.train_steps: list[int] = []
        self.train: dict[str, list[float]] = {}
        self.val_steps: list[int] = []
        self.val: dict[str, list[float]] = {}

    # -- recording ------------------------------------------------------------------------
    @staticmethod
    def _append(steps: list[int], table: dict[str, list[float]], step: int,
                values: Mapping[str, float]) -> None:
        for name in values:
            if name not in table:  # a new term: earlier rows did not have it
                table[name] = [math.nan] * len(steps)
        steps.append(int(step))
        for name, column in table.items():
            column.append(float(values.get(name, math.nan)))

    def log_train(self, step: int, losses: Mapping[str, float]) -> None:
        """Record the loss terms (name -> float) of one training step."""
        self._append(self.train_steps, self.train, step, losses)

    def log_val(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record the validation metrics (name -> float) computed after ``step``."""
        self._append(self.val_steps, self.val, step, metrics)

    def last(self, name: str) -> float:
        """The latest value of a validation metric or, failing that, of a loss term."""
        for table in (self.val, self.train):
            if name in table and table[name]:
                return table[name][-1]
        known = sorted(set(self.val) | set(self.train))
        raise KeyError(f"name: no recorded term or metric {name!r}; known: {known}")

    def __len__(self) -> int:
        return len(self.train_steps)

    def __repr__(self) -> str:
        return (f"History({len(self.train_steps)} steps, terms {sorted(self.train)}, "
                f"{len(self.val_steps)} validations, metrics {sorted(self.val)})")

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain lists, as stored in checkpoints.

        ``{"train": {"step": [...], name: [...], ...}, "val": {"step": [...], ...}}``
        """
        return {
            "train": {"step": list(self.train_steps),
                      **{k: list(v) for k, v in self.train.items()}},
            "val": {"step": list(self.val_steps), **{k: list(v) for k, v in self.val.items()}},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "History":
        """The inverse of :meth:`to_dict`."""
        history = cls()
        for part, steps, table in (("train", history.train_steps, history.train),
                                   ("val", history.val_steps, history.val)):
            columns = dict(data.get(part, {}))
            steps.extend(int(s) for s in columns.pop("step", []))
            for name, values in columns.items():
                if len(values) != len(steps):
                    raise ValueError(f"data: {part} column {name!r} has {len(values)} values "
                                     f"for {len(steps)} steps")
                table[name] = [float(v) for v in values]
        return history

    # -- plotting ---------------------------------------------------------------------------
    def plot(self, terms: list[str] | None = None, *, smooth: int = 1, log: bool = True):
        """Loss terms against steps, and each validation metric in its own panel.

        Args:
            terms: the loss terms to draw (all of them by default).
            smooth: width of a moving average over steps (1 = raw values).
            log: logarithmic loss axis (terms of very different sizes stay readable).

        Returns:
            A ``matplotlib.figure.Figure``. It is made without pyplot, so a notebook shows
            it once when it is the cell's last expression and nothing leaks between cells.
        """
        from matplotlib.figure import Figure

        if smooth < 1:
            raise ValueError(f"smooth: expected a window of at least 1 step, got {smooth}")
        names = list(self.train) if terms is None else list(terms)
        unknown = sorted(set(names) - set(self.train))
        if unknown:
            raise ValueError(f"terms: unknown loss terms {unknown}; recorded: {sorted(self.train)}")
        metrics = list(self.val)
        fig = Figure(figsize=(4.5 * (1 + len(metrics)), 3.4), layout="constrained")
        axes = fig.subplots(1, 1 + len(metrics), squeeze=False)[0]
        ax = axes[0]
        steps = np.asarray(self.train_steps)
        for name in names:
            values = np.asarray(self.train[name], dtype=float)
            if smooth > 1 and len(values) >= smooth:
                values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
                ax.plot(steps[smooth - 1:], values, label=name)
            else:
                ax.plot(steps, values, label=name)
        positive = all(np.nanmin(self.train[n]) > 0 for n in names if self.train[n])
        if log and names and positive:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title("training loss terms" + (f" (mean of {smooth} steps)" if smooth > 1 else ""))
        if names:
            ax.legend(fontsize="small")
        for ax, name in zip(axes[1:], metrics):
            ax.plot(self.val_steps, self.val[name], marker="o")
            ax.set_xlabel("step")
            ax.set_title(f"validation: {name}")
        return fig
