"""The supervised trainer that every chapter uses.

A model plugs in through one small function, ``loss_fn(model, batch)``, that
returns a dict of named scalar tensors with a ``"total"`` key (the term that is
back-propagated; the others are recorded for plotting). Validation is another
small function, ``val_fn(model, val_data) -> {"sad": ..., "mse": ...}``.

Data loading, explicitly
------------------------
``train_data`` is a map-style dataset (``__len__`` and ``__getitem__``). The
trainer builds its ``DataLoader`` itself, one per epoch, so that the order of
the batches is a pure function of ``(seed, epoch)``:

* a ``DistributedSampler`` shuffles with ``seed + epoch`` (in a one-process run
  it is simply a seeded shuffler; under ``torchrun`` it also shards the data
  between the processes);
* every epoch has ``len(sampler) // batch_size`` full batches (``drop_last``), so
  the step number alone says where the data stream is: epoch
  ``step // steps_per_epoch``, batch ``step % steps_per_epoch``;
* resuming mid-epoch skips the samples already consumed in that epoch;
* the loader gets its own ``torch.Generator`` seeded from ``(seed, epoch)``, so
  creating it does not draw from the global generator (which would shift every
  later random number of a resumed run), and worker seeds are reproducible.

Randomness drawn inside ``__getitem__`` from the global generators (a random
flip with ``torch.rand``) is restored exactly with ``num_workers=0``, the
notebook default. With worker processes, a dataset should derive its randomness
from ``(seed, index)`` for a resume to be exact.

Exact resume
------------
A checkpoint holds the model, optimiser and scheduler states, the step, the
history, the trainer's settings and the state of every global random
generator. ``fit(resume=True)`` loads the latest one, checks that the data
order would be the same (seed, batch size, dataset size, number of processes),
restores everything and rebuilds the data stream at the saved step. On CPU an
interrupted and resumed run gives bit-identical per-step losses to an
uninterrupted one (``tests/test_trainer.py`` checks it).

Several processes
-----------------
Launched by ``torchrun`` (see :mod:`mattinglib.train.distributed`), the model is
wrapped in ``DistributedDataParallel`` and each process reads its own shard of
every epoch. Logged losses are averaged over the processes. Only rank 0 shows
the progress bar, validates, and writes checkpoints. BatchNorm statistics stay
per process (convert the model with ``nn.SyncBatchNorm.convert_sync_batchnorm``
first to share them), and every parameter must take part in each forward pass.

Example:

>>> import torch
>>> from torch import nn
>>> data = torch.utils.data.TensorDataset(torch.rand(16, 3, 8, 8), torch.rand(16, 1, 8, 8))
>>> model = nn.Conv2d(3, 1, 3, padding=1)
>>> def loss_fn(model, batch):
...     image, alpha = batch
...     l1 = (model(image) - alpha).abs().mean()
...     return {"l1": l1, "total": l1}
>>> trainer = Trainer(model, torch.optim.Adam(model.parameters(), 1e-2), loss_fn, data,
...                   batch_size=4, max_steps=6, device="cpu", progress=False)
>>> history = trainer.fit()
>>> history.train_steps, sorted(history.train)
([1, 2, 3, 4, 5, 6], ['l1', 'total'])
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, Sampler

from .._checks import check_bool, check_int, check_number, value_checks
from ..config import get_device
from ..data.pool import prepare_pools
from ..weights import load_into
from .checkpoint import (
    get_rng_state,
    latest_checkpoint,
    set_rng_state,
)
from .distributed import all_mean, setup_distributed
from .history import History
from .loop import Callback, NonFiniteLossError, TrainingLoop

__all__ = ["Trainer", "NonFiniteLossError", "seed_everything"]

LossFn = Callable[[nn.Module, Any], Mapping[str, torch.Tensor]]
ValFn = Callable[[nn.Module, Any], Mapping[str, float]]

#: Bumped when the layout of the checkpoint dict changes.
CHECKPOINT_FORMAT = 1


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), NumPy's global generator and Python's ``random``.

    The library itself never draws from these global generators (its functions
    take a ``seed`` or a generator); the trainer seeds them at the start of a
    fresh run, and a notebook's first cell (:func:`mattinglib.notebook.start`)
    so that its own ad-hoc draws repeat too.

    Raises:
        ValueError: ``seed`` is negative.
        TypeError: ``seed`` is not an integer (a bool is not one).

    >>> seed_everything(3); a = random.random(); seed_everything(3); a == random.random()
    True
    >>> seed_everything(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed: expected an integer >= 0, got -1
    """
    seed = check_int(seed, "seed", minimum=0)
    torch.manual_seed(seed)  # also seeds every CUDA device
    np.random.seed(seed % 2**32)  # NumPy's global seed is 32-bit
    random.seed(seed)


class _SkipSampler(Sampler[int]):
    """The indices of ``base`` after the first ``skip`` (the part of an epoch still to do)."""

    def __init__(self, base: Sampler[int], skip: int) -> None:
        self.base, self.skip = base, skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.base), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.base) - self.skip, 0)  # type: ignore[arg-type]


class Trainer(TrainingLoop):
    """Supervised training for a fixed number of steps, with validation and checkpoints.

    Args:
        model: the network; moved to ``device`` (and to channels_last when enabled).
        optimizer: built on ``model.parameters()``.
        loss_fn: ``loss_fn(model, batch) -> {"total": tensor, name: tensor, ...}``,
            scalar tensors; ``batch`` is what the ``DataLoader`` yields, moved to the
            device. Under ``torchrun`` ``model`` is the DDP wrapper: call ``model(...)``,
            not its submodules, so that gradients are synchronised.
        train_data: map-style dataset (see "Data loading" in the module docstring).
        batch_size: samples per step and process.
        max_steps: optimisation steps of the whole run (a resumed run counts the
            steps before the interruption).
        val_data: passed unchanged to ``val_fn`` (a dataset, a loader, a list of images).
        val_fn: ``val_fn(model, val_data) -> {name: float}``; called in eval mode under
            ``torch.no_grad()`` and in float32 (no autocast), so metrics are exact.
        val_every: validate after every this many steps; validation also runs after
            the last step whenever ``val_fn`` is given.
        scheduler: a learning-rate scheduler, stepped once per optimisation step
            (so give its periods in steps, not epochs). ``ReduceLROnPlateau``, which
            needs a metric, is stepped by the caller instead (e.g. in a callback).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        amp: bfloat16 autocast for the forward pass and the loss. ``None``: on for
            CUDA (when the GPU supports bf16), off for CPU; ``True`` on CPU uses CPU
            bf16 autocast. bf16 has float32's exponent range, so no GradScaler.
        channels_last: NHWC memory layout for the model and 4-D float inputs
            (faster convolutions on tensor cores). ``None``: on for CUDA only.
        checkpoint_dir: where ``step_XXXXXXXX.pt`` files go; ``None``: no checkpoints.
        checkpoint_every: save after every this many steps; with ``checkpoint_dir``
            set, the last step is always saved too.
        keep_checkpoints: how many recent checkpoints to keep (``None``: all).
        seed: seeds the data order and, at the start of a fresh run, the global
            generators (torch, NumPy, ``random``), so the same seed gives the same
            losses on CPU. Seed before building the model for identical weights.
        shuffle: shuffle the training data each epoch.
        num_workers: ``DataLoader`` worker processes (0, the safe notebook default).
        collate_fn: how samples become a batch (PyTorch's default collate when ``None``).
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        callbacks: functions ``callback(trainer, step, losses)`` called after every step
            (after validation and checkpointing); an exception stops the run.
        progress: show a tqdm progress bar (only rank 0 does under ``torchrun``).
        device_transform: a function ``batch -> batch`` applied to every training batch
            once it is on the device, before the loss: augmentation that runs batched
            on the GPU instead of in the loader's workers (e.g.
            ``mattinglib.data.compose_batch``). It must take its randomness from the
            batch itself (seeds drawn by the dataset), so that a resumed run stays exact.

    Data: pooled generated layers of the training set (:mod:`mattinglib.data.pool`)
    are made before the first ``DataLoader`` forks its workers, which then share them.

    Attributes:
        step: optimisation steps done so far.
        history: the :class:`~mattinglib.train.history.History` of the run.
        device, amp, channels_last: the resolved settings.
        steps_per_epoch: full batches per epoch and process.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        train_data: Any,
        *,
        batch_size: int,
        max_steps: int,
        val_data: Any = None,
        val_fn: ValFn | None = None,
        val_every: int | None = None,
        scheduler: Any = None,
        device: str | torch.device = "auto",
        amp: bool | None = None,
        channels_last: bool | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        keep_checkpoints: int | None = 3,
        seed: int = 0,
        shuffle: bool = True,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        grad_clip: float | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
        device_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(
                f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if not callable(loss_fn):
            raise ValueError(
                f"loss_fn: expected a function (model, batch) -> dict, got {loss_fn!r}"
            )
        if isinstance(train_data, (IterableDataset, DataLoader)) or not (
            hasattr(train_data, "__len__") and hasattr(train_data, "__getitem__")
        ):
            raise ValueError(
                "train_data: expected a map-style dataset (with __len__ and __getitem__), got "
                f"{type(train_data).__name__}; the trainer builds the DataLoader itself so that "
                "the data order can be resumed exactly"
            )
        check_int(batch_size, "batch_size", minimum=1)
        check_int(max_steps, "max_steps", minimum=1)
        check_int(val_every, "val_every", minimum=1, optional=True)
        check_int(checkpoint_every, "checkpoint_every", minimum=1, optional=True)
        check_int(keep_checkpoints, "keep_checkpoints", minimum=1, optional=True)
        check_int(num_workers, "num_workers", minimum=0)
        check_int(seed, "seed", minimum=0)
        amp = check_bool(amp, "amp", optional=True, none_means="automatic")
        channels_last = check_bool(channels_last, "channels_last", optional=True,
                                   none_means="automatic")
        if val_fn is not None and not callable(val_fn):
            raise ValueError(
                f"val_fn: expected a function (model, val_data) -> dict, got {val_fn!r}"
            )
        if val_fn is None and (val_data is not None or val_every is not None):
            raise ValueError(
                "val_fn: val_data or val_every given but no val_fn to compute the metrics"
            )
        if checkpoint_every is not None and checkpoint_dir is None:
            raise ValueError("checkpoint_dir: checkpoint_every given but no folder to write to")
        grad_clip = check_number(grad_clip, "grad_clip", minimum=0, min_open=True, optional=True)
        if not all(callable(cb) for cb in callbacks):
            raise ValueError("callbacks: expected functions (trainer, step, losses) -> None")
        if device_transform is not None and not callable(device_transform):
            raise ValueError(f"device_transform: expected a function batch -> batch, "
                             f"got {device_transform!r}")

        self.dist, self.device = setup_distributed(get_device(str(device)))
        on_cuda = self.device.type == "cuda"
        if amp and on_cuda and not torch.cuda.is_bf16_supported():
            raise ValueError("amp: bf16 autocast asked for, but this GPU does not support bfloat16")
        self.amp = (on_cuda and torch.cuda.is_bf16_supported()) if amp is None else amp
        self.channels_last = on_cuda if channels_last is None else channels_last

        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # loss_fn sees the DDP wrapper (gradient all-reduce), val_fn and checkpoints the bare model.
        self._forward_model: nn.Module = self.model
        if self.dist.is_distributed:
            self._forward_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if on_cuda else None
            )

        self.optimizer, self.scheduler = optimizer, scheduler
        self.loss_fn, self.train_data = loss_fn, train_data
        self.val_fn, self.val_data, self.val_every = val_fn, val_data, val_every
        self.batch_size, self.max_steps = batch_size, max_steps
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.checkpoint_every, self.keep_checkpoints = checkpoint_every, keep_checkpoints
        self.seed, self.shuffle, self.num_workers = seed, shuffle, num_workers
        self.collate_fn, self.grad_clip = collate_fn, grad_clip
        self.callbacks, self.progress = list(callbacks), progress
        self.device_transform = device_transform

        self._sampler = DistributedSampler(
            train_data, num_replicas=self.dist.world_size, rank=self.dist.rank,
            shuffle=shuffle, seed=seed, drop_last=False,
        )
        self.steps_per_epoch = len(self._sampler) // batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"train_data: {len(self._sampler)} samples per process cannot fill one batch "
                f"of batch_size={batch_size}"
            )
        self.step = 0
        self.history = History()

    # -- settings stored with every checkpoint -----------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The trainer's settings as plain values (saved in checkpoints, checked on resume)."""
        return {
            "batch_size": self.batch_size, "max_steps": self.max_steps,
            "val_every": self.val_every, "checkpoint_every": self.checkpoint_every,
            "seed": self.seed, "shuffle": self.shuffle, "num_workers": self.num_workers,
            "grad_clip": None if self.grad_clip is None else float(self.grad_clip),
            "amp": self.amp, "channels_last": self.channels_last, "device": str(self.device),
            "world_size": self.dist.world_size, "num_samples": len(self.train_data),
            "steps_per_epoch": self.steps_per_epoch,
        }

    # -- data -------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int, skip_batches: int) -> DataLoader:
        if self.num_workers:  # made here, shared by the forked workers
            prepare_pools(self.train_data, self.num_workers,
                          progress=self.progress and self.dist.is_main)
        self._sampler.set_epoch(epoch)
        # Its own generator: building the loader must not draw from the global one.
        generator = torch.Generator().manual_seed(
            int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
        )
        return DataLoader(
            self.train_data,
            batch_size=self.batch_size,
            sampler=_SkipSampler(self._sampler, skip_batches * self.batch_size),
            drop_last=True,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn,
            pin_memory=self.device.type == "cuda",
            generator=generator,
        )

    def batches(self, start_step: int = 0) -> Iterator[Any]:
        """The endless stream of training batches, starting at the batch of ``start_step``."""
        epoch, offset = divmod(start_step, self.steps_per_epoch)
        while True:
            yield from self._epoch_batches(epoch, offset)
            epoch, offset = epoch + 1, 0

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            batch = batch.to(self.device, non_blocking=True)
            if self.channels_last and batch.ndim == 4 and batch.is_floating_point():
                batch = batch.contiguous(memory_format=torch.channels_last)
            return batch
        if isinstance(batch, Mapping):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
            return type(batch)(*(self._to_device(v) for v in batch))
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    # -- one step ---------------------------------------------------------------------------
    @staticmethod
    def _check_terms(terms: Any) -> None:
        if not isinstance(terms, Mapping):
            raise ValueError("loss_fn: expected a dict of named scalar tensors with a 'total' key, "
                             f"got {type(terms).__name__}")
        if "total" not in terms:
            raise ValueError(f"loss_fn: expected a 'total' term (the one to minimise), "
                             f"got the keys {sorted(terms)}")
        for name, value in terms.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                is_tensor = isinstance(value, torch.Tensor)
                got = tuple(value.shape) if is_tensor else type(value).__name__
                raise ValueError(f"loss_fn: term {name!r} should be a scalar tensor, got {got}")
        if not terms["total"].requires_grad:
            raise ValueError("loss_fn: the 'total' term does not require grad "
                             "(computed under torch.no_grad() or detached?)")

    def train_step(self, batch: Any) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the loss terms as floats.

        Under ``torchrun`` the returned terms are averaged over the processes, so
        every process sees the same numbers and stops together on a non-finite loss.
        """
        batch = self._to_device(batch)
        if self.device_transform is not None:  # then channels_last for what it made
            batch = self._to_device(self.device_transform(batch))
        # The inputs come from the data pipeline: no per-step device reads for value checks.
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16,
                            enabled=self.amp), value_checks(False):
            terms = self.loss_fn(self._forward_model, batch)
        self._check_terms(terms)
        names = list(terms)
        values = all_mean(torch.stack([terms[n].detach().float().reshape(()) for n in names]))
        losses = dict(zip(names, values.tolist()))  # one device sync per step
        bad = {n: v for n, v in losses.items() if not math.isfinite(v)}
        if bad:
            last = latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
            raise NonFiniteLossError(
                f"step {self.step + 1}: non-finite loss terms {bad} (all terms: {losses}); "
                f"the update was not applied and nothing was saved; last checkpoint: "
                f"{last if last else 'none'}"
            )
        terms["total"].backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)  # frees the gradients before the next forward
        if self.scheduler is not None:
            self.scheduler.step()
        return losses

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        """Run ``val_fn`` on the bare model (eval mode, no grad) and record its metrics.

        Under ``torchrun`` only rank 0 validates; the other ranks return ``{}``.
        """
        if self.val_fn is None:
            raise ValueError("val_fn: no validation function was given to the trainer")
        if not self.dist.is_main:
            return {}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                metrics = self.val_fn(self.model, self.val_data)
        finally:
            self.model.train(was_training)
        if not isinstance(metrics, Mapping):
            raise ValueError(
                f"val_fn: expected a dict of named floats, got {type(metrics).__name__}"
            )
        try:
            metrics = {str(k): float(v) for k, v in metrics.items()}
        except (TypeError, ValueError) as err:
            raise ValueError(f"val_fn: every metric must be a number: {err}") from err
        self.history.log_val(self.step, metrics)
        return metrics

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as tensors and plain containers."""
        epoch, batch_in_epoch = divmod(self.step, self.steps_per_epoch)
        return {
            "format": CHECKPOINT_FORMAT,
            "kind": self.checkpoint_kind,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "config": self.config,
            "history": self.history.to_dict(),
            "rng": get_rng_state(),
            "data": {"epoch": epoch, "batch_in_epoch": batch_in_epoch,
                     "steps_per_epoch": self.steps_per_epoch},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint made by :meth:`state_dict` (model, optimiser, RNG, ...)."""
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"state: checkpoint format {state.get('format')!r}, "
                             f"this trainer reads format {CHECKPOINT_FORMAT}")
        saved, mine = state["config"], self.config
        for key in ("seed", "batch_size", "shuffle", "world_size", "num_samples"):
            if saved[key] != mine[key]:
                raise ValueError(
                    f"state: the checkpoint was written with {key}={saved[key]!r}, this trainer "
                    f"has {key}={mine[key]!r}; resuming needs the same data order"
                )
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise ValueError(
                "scheduler: the checkpoint and the trainer disagree on having a scheduler"
            )
        load_into(self.model, state["model"], name="state", source="the checkpoint",
                  model_desc=f"this trainer's {type(self.model).__name__}",
                  hint="resuming needs the model the checkpoint was written with")
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = History.from_dict(state["history"])
        self.step = int(state["step"])
        set_rng_state(state["rng"])

    # -- the parts of the loop (mattinglib.train.loop) ---------------------------------------
    def trained_modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def batch_stream(self) -> Iterator[Any]:
        return self.batches(self.step)

    def validation_due(self) -> bool:
        return self.val_fn is not None and self._due(self.val_every)

    def fresh_start(self) -> None:
        seed_everything(self.seed)

    def before_steps(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
