"""Recipes: the glue that turns a model and generated data into a :class:`Trainer`.

A recipe is three small functions and a builder:

- a loss function ``loss_fn(model, batch) -> {"total": ..., term: ...}`` for
  the trainer (:func:`mnet_loss_fn`, :func:`shm_loss_fn`);
- :func:`matting_val_fn`, the official metrics (SAD, MSE, Grad, Conn of
  :func:`mattinglib.metrics.evaluate`) averaged over a validation set;
- :func:`build_mnet_trainer`, which wires M-Net, Adam, the synthetic training
  and validation sets of a profile and its step counts into a trainer.

The command ``python -m mattinglib train`` (:func:`add_train_command`) runs a
recipe with a progress bar and resumable checkpoints::

    runs/mnet/
        run.json              the model and the settings (read back by predict and --resume)
        step_00000050.pt      checkpoints (the latest 3 are kept)
        step_00000100.pt

Learning rate. Deep Image Matting fine-tunes an ImageNet VGG16 with Adam at
1e-5. Here M-Net starts from random (He) weights on generated data, with
BatchNorm after every hidden convolution (SHM's addition): at 1e-5 a run of
a few hundred steps barely moves. Measured on CPU (30 steps, 32 px, batch 4,
mean of the last 5 losses against the first 5): lr 1e-3 went 0.344 -> 0.266,
4e-4 went 0.348 -> 0.305, 1e-4 went 0.348 -> 0.347. :data:`DEFAULT_LR` = 4e-4
is the more conservative of the two that learn; the full profile's stability
at this rate has not been measured yet. Pass ``lr=`` to
change it (``lr=1e-5`` with ``pretrained_vgg="imagenet"`` is the paper's
setting).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..config import PROFILES, Profile, get_device, get_profile
from ..data.composition import SyntheticMattingDataset
from ..inference.matting import input_kind_of, model_alpha
from ..losses.dim import dim_loss, shm_loss
from ..metrics import evaluate, mean_metrics
from ..models.mnet import MNET_INPUT_MULTIPLE, MNet
from ..trimap import UNKNOWN, trimap_to_classes, trimap_to_onehot
from ._cli import add_profile_arguments, profile_changes, report_run
from .checkpoint import (RUN_FILE, check_run_folder, load_checkpoint, read_run_settings,
                         start_run_folder)
from .trainer import Trainer

__all__ = [
    "DEFAULT_LR",
    "VAL_BATCH_SIZE",
    "mnet_loss_fn",
    "shm_loss_fn",
    "matting_val_fn",
    "build_mnet_trainer",
    "load_trained_model",
    "add_train_command",
]

#: Adam's learning rate for M-Net trained from scratch (see the module docstring).
DEFAULT_LR = 4e-4
#: Images per forward pass during validation.
VAL_BATCH_SIZE = 8
MODELS = ("mnet",)


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare model behind a ``DistributedDataParallel`` wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _unknown_weight(trimap: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` float mask of the unknown pixels of a trimap in {0, 128/255, 1}."""
    return trimap_to_classes(trimap).eq(1).unsqueeze(1).to(torch.float32)


def mnet_loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """M-Net fed the ground-truth trimap, trained with Deep Image Matting's loss.

    This is SHM's M-Net pre-training: the trimap channels are the one-hot
    ground truth (``CLASS_ORDER``), the loss is ``0.5 * alpha prediction + 0.5 *
    compositional`` (Charbonnier, eps 1e-6) averaged over the unknown region,
    where the fused alpha ``F + U * alpha_r`` is ``alpha_r`` itself.

    Args:
        model: an ``MNet`` (6 input channels), possibly wrapped in DDP; call it, not
            its submodules, so gradients are synchronised.
        batch: dict of float32 tensors ``image``, ``fg``, ``bg`` ``(B, 3, H, W)``,
            ``alpha`` and ``trimap`` ``(B, 1, H, W)`` (trimap in {0, 128/255, 1}),
            as :class:`~mattinglib.data.composition.SyntheticMattingDataset` yields.

    Returns:
        ``{"alpha", "composition", "total"}``, 0-dim float32 tensors.

    >>> from mattinglib.data.composition import SyntheticMattingDataset
    >>> batch = next(iter(DataLoader(SyntheticMattingDataset(2, 32, seed=0), batch_size=2)))
    >>> sorted(mnet_loss_fn(MNet(width=0.25), batch))
    ['alpha', 'composition', 'total']
    """
    onehot = trimap_to_onehot(batch["trimap"]).to(batch["image"].dtype)
    alpha_r = model(torch.cat([batch["image"], onehot], dim=1)).float()
    return dim_loss(alpha_r, batch["alpha"], batch["fg"], batch["bg"], batch["image"],
                    _unknown_weight(batch["trimap"]))


def shm_loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The loss of an ``SHM`` model in its current mode (``model.mode``).

    - ``"pretrain_tnet"``: cross-entropy of T-Net's logits against the trimap classes.
    - ``"pretrain_mnet"``: M-Net on the ground-truth trimap, DIM's alpha +
      composition over the unknown region (as :func:`mnet_loss_fn`).
    - ``"end_to_end"``: SHM's ``0.5 * alpha + 0.5 * composition + 0.01 * CE``, the
      alpha terms over *every* pixel, since the predicted trimap may be wrong
      anywhere (the paper's setting).

    Args:
        model: an ``SHM`` (possibly wrapped in DDP).
        batch: as for :func:`mnet_loss_fn`.

    Returns:
        the dict of :func:`mattinglib.losses.dim.shm_loss` (``"total"`` and the terms computed).
    """
    mode = _unwrap(model).mode
    image, target = batch["image"], batch["alpha"]
    classes = trimap_to_classes(batch["trimap"])
    if mode == "pretrain_tnet":
        out = model(image)
        return shm_loss(None, None, None, None, None, out["trimap_logits"].float(), classes)
    if mode == "pretrain_mnet":
        out = model(image, batch["trimap"])
        return shm_loss(out["alpha"].float(), target, batch["fg"], batch["bg"], image, None, None,
                        weight=_unknown_weight(batch["trimap"]))
    out = model(image)
    return shm_loss(out["alpha"].float(), target, batch["fg"], batch["bg"], image,
                    out["trimap_logits"].float(), classes)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def matting_val_fn(model: nn.Module, val_data: Any, *, input_kind: str | None = None,
                   batch_size: int = VAL_BATCH_SIZE) -> dict[str, float]:
    """The official errors averaged over a validation set, with the ground-truth trimaps.

    The trainer calls it in eval mode; it runs under ``torch.no_grad()`` and
    leaves the mode to the caller (call ``model.eval()`` when using it directly). Each sample's
    alpha comes from :func:`mattinglib.inference.matting.model_alpha` (the
    network inside the unknown band, the trimap's 0 and 1 elsewhere), then
    :func:`mattinglib.metrics.evaluate` scores it against the ground truth over
    the unknown region, and the per-image numbers are averaged.

    Args:
        model: ``MNet``, ``SHM`` (its M-Net, fed the ground-truth trimap) or ``DIM``.
        val_data: a map-style dataset of dicts with ``image (3, H, W)``,
            ``alpha (1, H, W)`` and ``trimap (1, H, W)`` (H, W multiples of the
            network's), e.g. :class:`~mattinglib.data.composition.SyntheticMattingDataset`.
        input_kind: ``"mnet"`` or ``"dim"``; ``None`` tells it from the model's type.
        batch_size: images per forward pass.

    Returns:
        ``{"sad", "mse", "grad", "conn"}``: SAD, Grad and Conn divided by 1000 as
        the official code does, MSE unscaled; means over the images.
    """
    if not (hasattr(val_data, "__len__") and hasattr(val_data, "__getitem__")) or len(val_data) == 0:
        raise ValueError(f"val_data: expected a non-empty map-style dataset, got {type(val_data).__name__}")
    kind = input_kind_of(model, input_kind)
    device = _model_device(model)
    rows = []
    for batch in DataLoader(val_data, batch_size=batch_size, shuffle=False):
        image, trimap = batch["image"].to(device), batch["trimap"].to(device)
        with torch.no_grad():  # the trainer already disables gradients; a direct call may not
            alpha = model_alpha(model, image, trimap, input_kind=kind).cpu().numpy()
        gt = batch["alpha"].numpy()
        # The dataset stores trimaps as uint8 / 255, exactly; this recovers the uint8 values.
        trimaps = np.rint(batch["trimap"].numpy() * 255).astype(np.uint8)
        for pred, target, tri in zip(alpha[:, 0], gt[:, 0], trimaps[:, 0]):
            if (tri == UNKNOWN).any():  # MSE is undefined without unknown pixels
                rows.append(evaluate(pred, target, tri))
    if not rows:
        raise ValueError("val_data: no sample has unknown pixels; nothing to evaluate")
    return mean_metrics(rows)


_TRAINER_OPTIONS = {"lr", "progress", "amp", "channels_last", "checkpoint_every",
                    "keep_checkpoints", "grad_clip"}


def _resolve_profile(profile: Profile | str | None) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile is None or isinstance(profile, str):
        return get_profile(profile)
    raise ValueError(f"profile: expected a Profile or one of {sorted(PROFILES)}, got {profile!r}")


def _split_options(overrides: dict[str, Any], default_lr: float) -> tuple[dict[str, Any], float]:
    """Take the trainer options (and the checked ``lr``) out of a builder's ``**overrides``."""
    options = {k: overrides.pop(k) for k in list(overrides) if k in _TRAINER_OPTIONS}
    lr = options.pop("lr", default_lr)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (0 < lr < math.inf):
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    return options, float(lr)


def _profile_trainer(model: nn.Module, loss_fn, val_fn, train_data, val_data, profile: Profile, *,
                     lr: float, checkpoint_dir, device: str, options: dict[str, Any]) -> Trainer:
    """Adam at ``lr`` and a :class:`Trainer` sized by ``profile`` (checkpoints every
    ``val_every`` steps unless ``options`` say otherwise); sets ``trainer.profile`` and ``.lr``."""
    every = options.pop("checkpoint_every", profile.val_every if checkpoint_dir is not None else None)
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=lr), loss_fn, train_data,
        batch_size=profile.batch_size, max_steps=profile.train_steps,
        val_data=val_data, val_fn=val_fn, val_every=profile.val_every,
        device=device, checkpoint_dir=checkpoint_dir, checkpoint_every=every,
        seed=profile.seed, num_workers=profile.num_workers, **options,
    )
    trainer.profile = profile
    trainer.lr = lr
    return trainer


def build_mnet_trainer(profile: Profile | str | None = None, *,
                       checkpoint_dir: str | Path | None = None, device: str = "auto",
                       **overrides: Any) -> Trainer:
    """A trainer for SHM's M-Net on generated data, sized by a profile.

    Wires ``MNet(width=profile.width, seed=profile.seed)``, Adam at
    :data:`DEFAULT_LR`, :class:`~mattinglib.data.composition.SyntheticMattingDataset`
    for training (``num_train_samples``) and validation (``num_val_samples``,
    another seed, so no validation sample is a training sample) at
    ``profile.image_size``, :func:`mnet_loss_fn`, :func:`matting_val_fn`, and
    the profile's ``train_steps``, ``batch_size``, ``val_every``, ``num_workers``.

    Args:
        profile: a :class:`~mattinglib.config.Profile`, ``"quick"``, ``"full"``,
            or ``None`` (``MATTINGLIB_PROFILE``, else by hardware).
        checkpoint_dir: where checkpoints go (every ``val_every`` steps and at the
            end); ``None``: none.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        **overrides: profile fields (``train_steps=30``, ``image_size=32``, ...)
            and the options ``lr``, ``progress``, ``amp``, ``channels_last``,
            ``checkpoint_every``, ``keep_checkpoints``, ``grad_clip``.

    Returns:
        a :class:`~mattinglib.train.trainer.Trainer`; call ``fit()`` (or
        ``fit(resume=True)`` to continue from ``checkpoint_dir``). The
        resolved profile is ``trainer.profile``, the learning rate ``trainer.lr``.

    >>> t = build_mnet_trainer("quick", train_steps=2, num_train_samples=8, num_val_samples=2,
    ...                        batch_size=2, image_size=32, device="cpu", progress=False)
    >>> t.max_steps, type(t.model).__name__, t.lr
    (2, 'MNet', 0.0004)
    """
    profile = _resolve_profile(profile)
    options, lr = _split_options(overrides, DEFAULT_LR)
    profile = profile.with_(**overrides)  # unknown names raise a ValueError listing the fields
    if profile.image_size % MNET_INPUT_MULTIPLE:
        raise ValueError(f"image_size: M-Net needs a multiple of 16, got {profile.image_size}")
    model = MNet(width=profile.width, seed=profile.seed)
    train_data = SyntheticMattingDataset(profile.num_train_samples, profile.image_size,
                                         seed=profile.seed)
    # A different seed draws different foregrounds, backgrounds and crops.
    val_data = SyntheticMattingDataset(profile.num_val_samples, profile.image_size,
                                       seed=profile.seed + 1, flip=False)
    return _profile_trainer(model, mnet_loss_fn, matting_val_fn, train_data, val_data, profile,
                            lr=lr, checkpoint_dir=checkpoint_dir, device=device, options=options)


# --------------------------------------------------------------------------- loading a run


def load_trained_model(checkpoint: str | Path, *, device: str = "auto") -> nn.Module:
    """The model of a run written by ``python -m mattinglib train``, in eval mode.

    Args:
        checkpoint: a ``step_*.pt`` file, or the run folder (its latest checkpoint).
        device: where to put the model (``"auto"``: CUDA when available).

    Returns:
        the model (an ``MNet``) with the checkpoint's weights, in eval mode.
    """
    path, settings = read_run_settings(
        checkpoint, records="which model the checkpoint holds (written by "
        "`python -m mattinglib train`)")
    if settings.get("model") not in MODELS:
        raise ValueError(f"checkpoint: {RUN_FILE} names model {settings.get('model')!r}, "
                         f"this version knows {list(MODELS)}")
    dev = get_device(device)
    model = MNet(width=float(settings["width"]))
    model.load_state_dict(load_checkpoint(path, map_location=dev)["model"])
    return model.to(dev).eval()


# --------------------------------------------------------------------------- command line

# Settings that must not change between a run and its --resume (they change the model
# or the data order); the step count may grow.
_FIXED_ON_RESUME = ("model", "width", "image_size", "batch_size", "seed", "num_train_samples")


def _cmd_train(args: argparse.Namespace) -> int:
    profile = get_profile(args.profile)
    profile = profile.with_(**profile_changes(args, width="width"))
    out = Path(args.out)
    settings = {"model": args.model, "profile": profile.name, "lr": args.lr,
                **{k: getattr(profile, k) for k in ("width", "image_size", "batch_size", "seed",
                                                    "num_train_samples", "num_val_samples",
                                                    "train_steps", "val_every")}}
    # Check the folder, then every setting (building the trainer validates them), and only
    # then write run.json: a rejected command must not leave settings behind.
    check_run_folder(out, settings, resume=args.resume, fixed=_FIXED_ON_RESUME)
    trainer = build_mnet_trainer(profile, checkpoint_dir=out, device=args.device, lr=args.lr)
    start_run_folder(out, settings, resume=args.resume, fixed=_FIXED_ON_RESUME)
    return report_run(trainer, trainer.fit(resume=args.resume), out)


def add_train_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train`` to a ``python -m mattinglib`` sub-command parser; returns its parser.

    ``python -m mattinglib train --model mnet --profile quick --steps 300 --out runs/mnet``
    trains on generated data with a progress bar, validates with the official
    metrics, and writes checkpoints and ``run.json`` to ``--out``; the same
    command with ``--resume`` (and a larger ``--steps``) continues the run.
    """
    p = subparsers.add_parser("train", help="train a matting network on generated data",
                              description=add_train_command.__doc__.split("\n\n")[1])
    p.add_argument("--model", choices=MODELS, default="mnet", help="which network")
    add_profile_arguments(p, image_multiple=16)
    p.add_argument("--width", type=float, help="channel multiplier of the network")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"Adam learning rate ({DEFAULT_LR})")
    p.set_defaults(func=_cmd_train)
    return p
