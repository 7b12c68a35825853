"""Load or train: the trained models a later chapter reuses, found in their run folders.

A chapter that needs a model trained earlier in the course (the capstone needs
chapter 4's M-Net and chapter 6's Background Matting generator) loads the
checkpoint when the run folder holds one and trains it otherwise, so that a
re-run is cheap and the chapter also works on its own::

    runs/04_mnet/<profile and sizes>/      chapter 4 (and load_or_train_mnet)
        run.json                           the settings (written when this module trains)
        step_00000300.pt
    runs/06_bgm_<profile and sizes>/       chapter 6 (bgm_recipes.course_run_dir)

The training recipe itself lives in :mod:`mattinglib.train.recipes`; this
module only decides between loading and training, so a better recipe changes
what gets trained without changing the chapters that load it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from torch import nn

from ..config import REPO_ROOT, Profile, get_device
from ..models.mnet import MNet
from .checkpoint import RUN_FILE, latest_checkpoint, load_checkpoint, start_run_folder
from .recipes import DEFAULT_LR, _resolve_profile, build_mnet_trainer, load_trained_model

__all__ = ["MNET_RUNS", "mnet_run_dir", "load_or_train_mnet", "load_bgm_teacher"]

#: Where chapter 4 keeps its M-Net runs, one sub-folder per setting.
MNET_RUNS = REPO_ROOT / "runs" / "04_mnet"

# The settings of a run that must agree with the saved run.json when training continues.
_FIXED = ("model", "width", "image_size", "batch_size", "seed", "num_train_samples")


def mnet_run_dir(profile: Profile | str | None = None, *, lr: float = DEFAULT_LR) -> Path:
    """The run folder of chapter 4's M-Net for a profile: every size that changes the run is in its name.

    >>> mnet_run_dir("quick").relative_to(REPO_ROOT).as_posix()
    'runs/04_mnet/quick_s64_w0.25_b8_n512_v32_t300_lr0.0004_seed0'
    """
    p = _resolve_profile(profile)
    return MNET_RUNS / (f"{p.name}_s{p.image_size}_w{p.width:g}_b{p.batch_size}"
                        f"_n{p.num_train_samples}_v{p.num_val_samples}_t{p.train_steps}"
                        f"_lr{lr:g}_seed{p.seed}")


def _needs_training(run_dir: Path, settings: dict) -> bool:
    """No checkpoint yet, or a run of these settings that stopped before its last step."""
    latest = latest_checkpoint(run_dir)
    if latest is None:
        return True
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        return False
    saved = json.loads(run_file.read_text())
    step = int(latest.stem.split("_")[1])
    return saved.get("train_steps") == settings["train_steps"] and step < settings["train_steps"]


def load_or_train_mnet(run_dir: str | Path, profile: Profile | str | None = None, *,
                       progress: bool = True, device: str = "auto") -> nn.Module:
    """M-Net from ``run_dir``: loaded when it holds a checkpoint, else trained there first.

    Training uses :func:`~mattinglib.train.recipes.build_mnet_trainer` with
    ``profile`` and ``fit(resume=True)``, and writes ``run.json`` beside the
    checkpoints, so the folder also serves ``python -m mattinglib predict``.
    A run of the same step count that was interrupted continues where it
    stopped. Any other folder that holds checkpoints is not trained further:
    the latest one is loaded as it is (a folder written by a notebook's trainer has
    no ``run.json``; its M-Net is then built at ``profile.width``, and weights
    of another width fail to load with PyTorch's size-mismatch error).

    Args:
        run_dir: the run folder (created when training).
        profile: a :class:`~mattinglib.config.Profile`, ``"quick"``, ``"full"``
            or ``None`` (``MATTINGLIB_PROFILE``, else by hardware).
        progress: show the training progress bar.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.

    Returns:
        the ``MNet`` in eval mode, on ``device``.

    Raises:
        TypeError: ``run_dir`` is not a path.
        ValueError: a bad ``profile``, or a ``run.json`` in ``run_dir`` whose
            settings differ from the profile's when training would continue.
    """
    if not isinstance(run_dir, (str, Path)):
        raise TypeError(f"run_dir: expected a path, got {type(run_dir).__name__}")
    run_dir = Path(run_dir)
    p = _resolve_profile(profile)
    settings = {"model": "mnet", "profile": p.name, "lr": DEFAULT_LR,
                **{k: getattr(p, k) for k in ("width", "image_size", "batch_size", "seed",
                                              "num_train_samples", "num_val_samples",
                                              "train_steps", "val_every")}}
    if _needs_training(run_dir, settings):
        start_run_folder(run_dir, settings, resume=True, fixed=_FIXED)
        build_mnet_trainer(p, checkpoint_dir=run_dir, device=device, progress=progress).fit(resume=True)
    if (run_dir / RUN_FILE).is_file():
        return load_trained_model(run_dir, device=device)
    dev = get_device(device)
    model = MNet(width=p.width)
    model.load_state_dict(load_checkpoint(latest_checkpoint(run_dir), map_location=dev)["model"])
    return model.to(dev).eval()


def load_bgm_teacher(profile: Profile | str | None = None, *, device: str = "auto") -> tuple[nn.Module, str]:
    """Chapter 6's supervised Background Matting generator, or a labelled random one.

    Looks in the run folder chapters 6 and 7 share
    (:func:`~mattinglib.train.bgm_recipes.course_run_dir`). Nothing is trained
    here: without a checkpoint the generator keeps its random initial weights
    and a :class:`~mattinglib.inference.bgm.RandomWeightsWarning` says so.

    Args:
        profile: as for :func:`load_or_train_mnet`; it sizes the generator.
        device: where to put it.

    Returns:
        ``(generator in eval mode, description)``; the description names the
        checkpoint and its step, or says ``"random weights"``.
    """
    from ..inference.bgm import RandomWeightsWarning
    from .bgm_recipes import build_bgm_trainer, course_run_dir

    trainer = build_bgm_trainer(profile, progress=False, device=device)
    run_dir = course_run_dir(trainer)
    path = latest_checkpoint(run_dir)
    generator = trainer.model
    if path is None:
        warnings.warn(f"load_bgm_teacher: no checkpoint in {run_dir} (run chapter 6 to train it); the "
                      "generator has RANDOM weights: its mattes only show that the pipeline runs",
                      RandomWeightsWarning, stacklevel=2)
        return generator.eval(), "random weights (chapter 6 has not been run)"
    state = load_checkpoint(path, map_location=trainer.device)
    generator.load_state_dict(state["model"])
    return generator.eval(), f"chapter 6's generator, step {int(state['step'])} ({path.parent.name}/{path.name})"
