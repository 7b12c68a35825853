"""Ctrl-C during training: finish the step in progress, save, and say how to continue.

A ``KeyboardInterrupt`` can arrive anywhere, also halfway through a step, when
BatchNorm statistics are updated but the optimiser has not stepped: a
checkpoint written then would not resume exactly. So while a trainer's
``fit`` runs in the main thread, :class:`DeferredInterrupt` turns the first
Ctrl-C into a request that the loop honours between two steps; a second
Ctrl-C interrupts at once, as usual. The trainers then save a checkpoint of
the last complete step (atomically, when they have a ``checkpoint_dir``) and
raise :class:`TrainingInterrupted`, a ``KeyboardInterrupt`` that says where
the run stands. An interruption in the middle of a step (a second Ctrl-C, or
one raised by user code inside the loss) saves nothing: the step is lost,
the checkpoints on disk stay valid.

>>> with DeferredInterrupt(enabled=False) as stop:
...     stop.requested
False
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

__all__ = ["TrainingInterrupted", "DeferredInterrupt", "interrupted"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C.

    Attributes:
        step: the last complete step.
        max_steps: the planned number of steps.
        checkpoint: the checkpoint a resume continues from (``None``: none on disk).
        saved: whether ``checkpoint`` was written at this interruption.
    """

    def __init__(self, step: int, max_steps: int, checkpoint: Path | None, saved: bool,
                 note: str = "") -> None:
        self.step, self.max_steps, self.checkpoint, self.saved = step, max_steps, checkpoint, saved
        if saved:
            where = f"checkpoint of step {step} saved to {checkpoint}"
        elif checkpoint is not None:
            where = f"nothing saved{note}; the latest checkpoint is {checkpoint}"
        else:
            where = (f"nothing saved{note} (no checkpoint_dir); fit() again continues from the "
                     "trainer's state in memory")
        super().__init__(f"interrupted at step {step}/{max_steps}: {where}")


class DeferredInterrupt:
    """A context in which the first SIGINT sets :attr:`requested` instead of raising.

    Installed only in the main thread and only over Python's default SIGINT
    handler (another handler, e.g. a debugger's, is left alone). A second
    SIGINT raises ``KeyboardInterrupt`` at once.

    Args:
        enabled: ``False`` installs nothing (multi-process runs, whose ranks
            could stop at different steps and wait on each other for ever).
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> DeferredInterrupt:
        if (self.enabled and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def interrupted(trainer: Any, *, consistent: bool, save: Any, distributed: bool = False
                ) -> TrainingInterrupted:
    """The exception to raise after an interruption, saving first when that is sound.

    Args:
        trainer: has ``step``, ``max_steps`` and ``checkpoint_dir``.
        consistent: the trainer's state is that of a complete step.
        save: a callable writing the trainer's checkpoint and returning its path.
        distributed: a multi-process run (never saved here: the ranks may
            have stopped at different steps).
    """
    from .checkpoint import latest_checkpoint

    step, total, folder = trainer.step, trainer.max_steps, trainer.checkpoint_dir
    if folder is not None and consistent and not distributed:
        return TrainingInterrupted(step, total, save(), True)
    if distributed:
        note = " (a multi-process run is not saved on interruption)"
    elif not consistent:
        note = f" (interrupted during step {step + 1}, which is lost)"
    else:
        note = ""
    latest = latest_checkpoint(folder) if folder is not None else None
    return TrainingInterrupted(step, total, latest, False, note)
