"""The training loop both trainers share: what a run does around its steps.

:class:`~mattinglib.train.trainer.Trainer` (one model, one optimiser, a loss
function) and :class:`~mattinglib.train.adversarial.TeacherStudentTrainer` (a
student and a critic, two optimisers) differ in what one step does, in the data
order and in what a checkpoint holds. Everything else is :class:`TrainingLoop`:

* ``fit(resume=...)``: load the latest checkpoint (or a given one), stop at once
  when the run is finished, clear half-written files of a crash;
* the step loop: progress bar (rank 0), validation when due, a checkpoint every
  ``checkpoint_every`` steps and after the last, pruning of old ones, callbacks;
* Ctrl-C: the step under way finishes, a checkpoint of it is written and
  :class:`~mattinglib.train.interrupt.TrainingInterrupted` says where it is
  (see :mod:`mattinglib.train.interrupt`);
* ``save`` refuses non-finite parameters, so the last checkpoint is one worth
  resuming from.

A subclass provides the parts in the table of :class:`TrainingLoop`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._progress import progress_bar
from .checkpoint import (
    list_checkpoints,
    load_checkpoint,
    remove_stale_temp_files,
    resume_path_for,
    save_checkpoint,
    save_path_for,
)
from .history import History
from .interrupt import DeferredInterrupt, interrupted

__all__ = ["TrainingLoop", "NonFiniteLossError", "checkpoint_kind"]

#: ``callback(trainer, step, logged)``, called after every step.
Callback = Callable[[Any, int, dict[str, float]], None]


class NonFiniteLossError(ValueError):
    """A loss term (or, at a checkpoint, a parameter) became NaN or infinite.

    Raised before the update of that step is applied and before anything is
    saved, so the last checkpoint on disk is still a good one to resume from
    (with a smaller learning rate, say).
    """


#: The trainer that writes each kind of checkpoint.
KIND_TRAINERS = {"supervised": "Trainer (supervised training)",
                 "teacher-student": "TeacherStudentTrainer (the teacher-student stage)"}


def checkpoint_kind(state: Mapping[str, Any]) -> str:
    """``"supervised"`` or ``"teacher-student"``: which trainer wrote the checkpoint ``state``.

    Read from its ``"kind"``; checkpoints written before it was saved are told apart by
    their networks (``"model"``: the supervised trainer; ``"student"``: the other).

    >>> checkpoint_kind({"kind": "teacher-student"}), checkpoint_kind({"model": {}})
    ('teacher-student', 'supervised')
    """
    if "kind" in state:
        return str(state["kind"])
    if "student" in state:
        return "teacher-student"
    if "model" in state:
        return "supervised"
    return "unknown"


class TrainingLoop:
    """Resume, step loop, validation, checkpoints and interruption for a trainer.

    A subclass sets the attributes ``step``, ``max_steps``, ``history`` (a
    :class:`~mattinglib.train.history.History`), ``device``, ``dist`` (from
    :func:`~mattinglib.train.distributed.setup_distributed`), ``checkpoint_dir``,
    ``checkpoint_every``, ``keep_checkpoints``, ``callbacks`` and ``progress``, and
    provides:

    =========================  =====================================================
    ``train_step(batch)``      one update; returns the logged terms as floats
    ``batch_stream()``         the batches of steps ``step .. max_steps - 1``
    ``validate()``             score the model(s); record and return the metrics
    ``validation_due()``       validate after the step just done?
    ``state_dict()``           everything a resume needs
    ``load_state_dict(state)`` restore it (refusing a checkpoint of another run)
    ``trained_modules()``      the networks whose parameters a checkpoint must hold
    =========================  =====================================================

    and may override the hooks ``fresh_start()`` (a run from step 0, before its
    first step), ``before_steps()`` (every ``fit`` that has steps to do),
    ``bar_terms(logged)`` and ``report_validation(bar, metrics)``.
    """

    progress_desc = "train"
    #: What a checkpoint of this trainer is (saved as its ``"kind"``); a resume refuses
    #: a checkpoint of another kind by name (see :func:`checkpoint_kind`).
    checkpoint_kind = "supervised"

    # -- the parts a trainer provides -------------------------------------------------------
    def train_step(self, batch: Any) -> dict[str, float]:
        raise NotImplementedError

    def batch_stream(self) -> Iterator[Any]:
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        raise NotImplementedError

    def validation_due(self) -> bool:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def trained_modules(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    # -- hooks ------------------------------------------------------------------------------
    def fresh_start(self) -> None:
        """Called by ``fit`` on a run at step 0 that loaded no checkpoint."""

    def before_steps(self) -> None:
        """Called by ``fit`` once it has steps to do, before the first batch is read."""

    def bar_terms(self, logged: Mapping[str, float]) -> dict[str, str]:
        """What the progress bar shows of a step's logged terms."""
        return {"loss": f"{logged['total']:.4g}"} if "total" in logged else {}

    def report_validation(self, bar: Any, metrics: Mapping[str, float]) -> dict[str, str]:
        """Show a validation's metrics: returns what the bar adds (or writes a line itself)."""
        return {k: f"{v:.4g}" for k, v in metrics.items()}

    # -- checkpoints ------------------------------------------------------------------------
    def _due(self, every: int | None) -> bool:
        return self.step == self.max_steps or (every is not None and self.step % every == 0)

    def save(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write a checkpoint of the current step (rank 0 only); returns its path.

        Refuses (``NonFiniteLossError``) to save non-finite parameters, so the last
        checkpoint on disk is always one worth resuming from. With
        ``keep_checkpoints``, only that many of the most recent stay in ``checkpoint_dir``.
        """
        for name, module in self.trained_modules().items():
            params = list(module.named_parameters())
            if not params:
                continue
            finite = torch.stack([p.detach().isfinite().all() for _, p in params])
            if not bool(finite.all()):
                bad = [n for (n, _), ok in zip(params, finite.tolist()) if not ok]
                raise NonFiniteLossError(f"step {self.step}: parameters became non-finite "
                                         f"{bad[:5]} (the {name}); the checkpoint was not written")
        path = save_path_for(path, self.checkpoint_dir, self.step)
        written = save_checkpoint(path, self.state_dict()) if self.dist.is_main else None
        if self.dist.is_main and self.checkpoint_dir is not None and self.keep_checkpoints:
            older = [p for p in list_checkpoints(self.checkpoint_dir)
                     if int(p.stem.split("_")[1]) <= self.step]
            for stale in older[: -self.keep_checkpoints]:
                stale.unlink(missing_ok=True)
        if self.dist.is_distributed:
            torch.distributed.barrier()  # the file exists for every rank once save() returns
        return written

    def resume(self, path: str | os.PathLike | None = None) -> Path | None:
        """Load ``path``, or the latest checkpoint of ``checkpoint_dir``; returns what was loaded.

        Returns ``None`` (and changes nothing) when ``path`` is ``None`` and the folder
        holds no checkpoint yet.
        """
        path = resume_path_for(path, self.checkpoint_dir)
        if path is None:
            return None
        state = load_checkpoint(path, map_location=self.device)
        kind = checkpoint_kind(state)
        if kind != self.checkpoint_kind:
            raise ValueError(f"path: {path} is a checkpoint of {KIND_TRAINERS.get(kind, kind)}, "
                             f"not of {type(self).__name__} ({self.checkpoint_kind}); resume it "
                             "with the trainer that wrote it, or train into a new folder")
        self.load_state_dict(state)
        return path

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, resume: bool | str | os.PathLike = False) -> History:
        """Train until ``max_steps``; returns the history.

        Args:
            resume: ``False``: continue from the trainer's current state. ``True``:
                load the latest checkpoint of ``checkpoint_dir`` when there is one,
                else start fresh. A path: load that checkpoint. A finished run
                returns at once, so ``fit(resume=True)`` is also "load the trained
                model, or train it".
        """
        if resume is True:
            loaded = self.resume()
        elif resume is not False:
            loaded = self.resume(resume)
        else:
            loaded = None
        if loaded is None and self.step == 0:
            self.fresh_start()
        if self.step >= self.max_steps:
            return self.history

        if self.checkpoint_dir is not None and self.dist.is_main:
            remove_stale_temp_files(self.checkpoint_dir)
        self.before_steps()
        bar = progress_bar(total=self.max_steps, initial=self.step, desc=self.progress_desc,
                           dynamic_ncols=True, disable=not (self.progress and self.dist.is_main))
        stream = self.batch_stream()
        shown: dict[str, str] = {}
        consistent = True  # the state is a complete step's (a checkpoint would resume exactly)
        stop = DeferredInterrupt(enabled=not self.dist.is_distributed)
        try:
            with stop:
                for batch in stream:
                    consistent = False
                    logged = self.train_step(batch)
                    self.step += 1
                    self.history.log_train(self.step, logged)
                    shown.update(self.bar_terms(logged))
                    if self.validation_due():
                        shown.update(self.report_validation(bar, self.validate()))
                    consistent = True
                    if self.checkpoint_dir is not None and self._due(self.checkpoint_every):
                        self.save()
                    bar.update(1)
                    bar.set_postfix(shown, refresh=False)
                    for callback in self.callbacks:
                        callback(self, self.step, logged)
                    if self.step >= self.max_steps:
                        break
                    if stop.requested:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise interrupted(self, consistent=consistent, save=self.save,
                              distributed=self.dist.is_distributed) from None
        except Exception as err:
            if not stop.requested:
                raise
            # e.g. DataLoader workers stopped by the same Ctrl-C while the next batch was read
            raise interrupted(self, consistent=consistent, save=self.save,
                              distributed=self.dist.is_distributed) from err
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            bar.close()
        return self.history
