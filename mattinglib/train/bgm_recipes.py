"""The supervised stage of Background Matting as a :class:`Trainer` recipe.

Background Matting (Sengupta et al., CVPR 2020) first trains its generator on
synthetic composites, where alpha, foreground and background are known
(``train_adobe.py`` in the authors' code, github.com/senguptaumd/Background-Matting). This module wires
that stage the way :mod:`mattinglib.train.recipes` wires M-Net:

- :func:`bgm_loss_fn`, the supervised loss ``alpha_l1 + 2 fg_l1 + composition +
  gradient`` of :func:`mattinglib.losses.bgm.supervised_loss`, every term named;
- :func:`bgm_val_fn`, the official SAD / MSE / Grad / Conn on held-out
  generated samples;
- :func:`build_bgm_generator` and :func:`build_bgm_trainer`, sized by a profile;
- ``python -m mattinglib train-bgm`` (:mod:`mattinglib.cli.train`), a resumable
  run written to a folder, and :func:`~mattinglib.train.runs.load_bgm_generator`
  to read it back.

Sizes per profile
-----------------
The generic profiles size M-Net; the generator of Background Matting is
heavier (four encoders and a ResNet trunk at a quarter of the resolution), so
:data:`BGM_PROFILE_CHANGES` adapts them (:func:`bgm_profile`):

* ``full``: the paper's recipe, 512 px crops, batch 4 (as ``train_adobe.py``: batch 4 at 512),
  and the paper's generator (:data:`BGM_GENERATOR_SIZES`: ``ngf = nf_part = 64``,
  7 + 3 ResNet blocks, 17.9 M parameters). The step count stays the profile's.
* ``quick``: 64 px crops, batch 4, 60 steps, validation every 30 steps on 8
  samples, and a small generator (``ngf = nf_part = 16``, 2 + 1 ResNet blocks,
  0.47 M parameters): one step takes about half a second on an idle two-core
  CPU (several seconds on a busy one), so the run fits in a chapter. It shows the losses falling; it is not a
  usable matting model.

A field you changed yourself on the profile (``profile.with_(image_size=96)``)
is kept, unless you set it back to the generic profile's value; keyword
overrides of :func:`build_bgm_trainer` always win, so prefer them.

Learning rate: Adam at 1e-4, the paper's (:data:`DEFAULT_BGM_LR`). With bf16
autocast on CUDA (the trainer's default) the generator runs in bf16 while the
loss is computed in float32.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..config import PROFILES, Profile
from ..data.bgm import BGMSyntheticDataset
from ..data.bgm_device import augment_bgm_batch
from ..losses.bgm import supervised_loss
from ..metrics import evaluate, mean_metrics
from ..models.bgm import BackgroundMattingGenerator, bgm_generator, from_model_range
from ..trimap import UNKNOWN, trimap_from_alpha
from .recipes import _profile_trainer, _resolve_profile, _split_options
from .trainer import Trainer

__all__ = [
    "DEFAULT_BGM_LR",
    "BGM_INPUTS",
    "BGM_GENERATOR_SIZES",
    "BGM_PROFILE_CHANGES",
    "bgm_loss_fn",
    "bgm_val_fn",
    "bgm_profile",
    "build_bgm_generator",
    "build_bgm_trainer",
]

#: Adam's learning rate of the supervised stage (the paper's).
DEFAULT_BGM_LR = 1e-4
#: The batch keys fed to the generator, in its argument order (image, back, seg, multi).
BGM_INPUTS = ("image", "bg", "seg", "multi_fr")
#: Generator sizes by profile name; ``full`` is the paper's ``ResnetConditionHR``.
BGM_GENERATOR_SIZES: dict[str, dict[str, int]] = {
    "quick": {"ngf": 16, "nf_part": 16, "n_blocks1": 2, "n_blocks2": 1},
    "full": {"ngf": 64, "nf_part": 64, "n_blocks1": 7, "n_blocks2": 3},
}
#: How the supervised stage of Background Matting changes each generic profile.
BGM_PROFILE_CHANGES: dict[str, dict[str, int]] = {
    "quick": {"image_size": 64, "batch_size": 4, "train_steps": 60, "val_every": 30,
              "num_val_samples": 8},
    "full": {"image_size": 512, "batch_size": 4},
}
#: Images per forward pass during validation.
VAL_BATCH_SIZE = 8
#: The ground-truth trimap of validation: ``trimap_from_alpha`` with these settings.
VAL_TRIMAP = {"kernel_size": 3, "iterations": 5}
MODEL_NAME = "bgm"
_GENERATOR_OPTIONS = ("ngf", "nf_part", "n_blocks1", "n_blocks2", "use_motion_features")


# --------------------------------------------------------------------------- loss and validation


def bgm_loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The supervised loss of the generator on one batch of composites.

    The generator sees the composite, the simulated captured background, the
    soft segmentation and the motion cue; its alpha and foreground are scored
    against the ground truth by :func:`mattinglib.losses.bgm.supervised_loss`
    (weights 1, 2, 1, 1), the composition term over the *true* background
    ``bg_gt``. The loss is computed in float32 even under bf16 autocast (the
    Sobel convolution of the gradient term would otherwise run in bf16).

    Args:
        model: a :class:`~mattinglib.models.bgm.BackgroundMattingGenerator`
            (possibly wrapped in DDP; it is called, not its submodules).
        batch: dict of float32 tensors in ``[-1, 1]``: ``image``, ``bg``,
            ``fg``, ``bg_gt`` ``(B, 3, H, W)``, ``seg``, ``alpha`` ``(B, 1, H, W)``,
            ``multi_fr`` ``(B, 4, H, W)``, as
            :class:`~mattinglib.data.bgm.BGMSyntheticDataset` yields.

    Returns:
        ``{"alpha_l1", "fg_l1", "composition", "gradient", "total"}``, 0-dim
        float32 tensors (the losses are in the ``[-1, 1]`` range).

    >>> from mattinglib.data.bgm import BGMSyntheticDataset
    >>> batch = next(iter(DataLoader(BGMSyntheticDataset(2, 32, seed=0), batch_size=2)))
    >>> net = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1)
    >>> sorted(bgm_loss_fn(net, batch))
    ['alpha_l1', 'composition', 'fg_l1', 'gradient', 'total']
    """
    missing = [k for k in (*BGM_INPUTS, "alpha", "fg", "bg_gt") if k not in batch]
    if missing:
        raise ValueError(f"batch: missing the keys {missing} (expected a BGMSyntheticDataset batch)")
    alpha, fg = model(*(batch[k] for k in BGM_INPUTS))
    with torch.autocast(device_type=alpha.device.type, enabled=False):
        return supervised_loss(alpha.float(), fg.float(), batch["alpha"].float(),
                               batch["fg"].float(), batch["image"].float(), batch["bg_gt"].float())


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def bgm_val_fn(model: nn.Module, val_data: Any, *,
               batch_size: int = VAL_BATCH_SIZE) -> dict[str, float]:
    """The official errors of the generator's alpha on held-out composites.

    Each sample's predicted and true alpha are mapped from ``[-1, 1]`` to
    ``[0, 1]``; the trimap is made from the true alpha
    (:func:`mattinglib.trimap.trimap_from_alpha`, :data:`VAL_TRIMAP`), and
    :func:`mattinglib.metrics.evaluate` scores the prediction over its unknown
    band. The network's alpha is used everywhere (Background Matting has no
    trimap to fill in the known regions). Samples without unknown pixels are
    skipped (MSE is undefined there). The trainer calls it in eval mode under
    ``torch.no_grad()``; a direct call should set ``model.eval()`` first.

    Args:
        model: a Background Matting generator.
        val_data: a non-empty map-style dataset of dicts as
            :class:`~mattinglib.data.bgm.BGMSyntheticDataset` yields.
        batch_size: samples per forward pass.

    Returns:
        ``{"sad", "mse", "grad", "conn"}``: SAD, Grad and Conn divided by 1000 as
        the official code does, MSE unscaled; means over the samples.
    """
    if not (hasattr(val_data, "__len__") and hasattr(val_data, "__getitem__")) or len(val_data) == 0:
        raise ValueError(f"val_data: expected a non-empty map-style dataset, "
                         f"got {type(val_data).__name__}")
    device = _model_device(model)
    rows = []
    for batch in DataLoader(val_data, batch_size=batch_size, shuffle=False):
        with torch.no_grad():  # the trainer already disables gradients; a direct call may not
            alpha, _ = model(*(batch[k].to(device) for k in BGM_INPUTS))
        preds = from_model_range(alpha.float()).cpu().numpy()[:, 0]
        # (a + 1) / 2 of 2 a - 1 is a again, exactly at 0 and 1, so the trimap's
        # "alpha == 1" and "alpha > 0" regions are those of the stored matte.
        truths = np.clip(from_model_range(batch["alpha"]).numpy()[:, 0], 0, 1)
        for pred, truth in zip(preds, truths):
            trimap = trimap_from_alpha(truth, **VAL_TRIMAP)
            if (trimap == UNKNOWN).any():
                rows.append(evaluate(pred, truth, trimap))
    if not rows:
        raise ValueError("val_data: no sample has unknown pixels; nothing to evaluate")
    return mean_metrics(rows)


# --------------------------------------------------------------------------- builders


def bgm_profile(profile: Profile | str | None = None) -> Profile:
    """The profile adapted to the supervised stage of Background Matting.

    Applies :data:`BGM_PROFILE_CHANGES` of the profile's name to every field
    that still has the registered profile's value, so fields changed by the
    caller are kept.

    Args:
        profile: a :class:`~mattinglib.config.Profile`, ``"quick"``, ``"full"``
            or ``None`` (``MATTINGLIB_PROFILE``, else by hardware).

    Returns:
        a :class:`~mattinglib.config.Profile`.

    >>> bgm_profile("full").image_size, bgm_profile("full").batch_size
    (512, 4)
    >>> from mattinglib.config import get_profile
    >>> bgm_profile(get_profile("quick").with_(image_size=32)).image_size
    32
    """
    profile = _resolve_profile(profile)
    base = PROFILES.get(profile.name)
    changes = BGM_PROFILE_CHANGES.get(profile.name, {})
    if base is None:
        return profile
    keep = {k: v for k, v in changes.items() if getattr(profile, k) == getattr(base, k)}
    return profile.with_(**keep)


def _generator_config(profile: Profile, overrides: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = dict(BGM_GENERATOR_SIZES.get(profile.name, BGM_GENERATOR_SIZES["full"]))
    config.update(overrides)
    if "ngf" in overrides and "nf_part" not in overrides:
        config["nf_part"] = config["ngf"]  # the generator needs nf_part == ngf
    return config


def build_bgm_generator(profile: Profile | str | None = None, *, seed: int | None = None,
                        **config: Any) -> BackgroundMattingGenerator:
    """A freshly initialised Background Matting generator sized for a profile.

    ``quick``: ``ngf = nf_part = 16``, ``n_blocks1 = 2``, ``n_blocks2 = 1``
    (0.47 M parameters); ``full``: the paper's 64 / 64 / 7 / 3 (17.9 M), see
    :data:`BGM_GENERATOR_SIZES`. Initialised with the paper's rule
    (:func:`mattinglib.models.bgm.bgm_generator`), in train mode.

    Args:
        profile: a :class:`~mattinglib.config.Profile`, its name, or ``None``.
        seed: the initialisation's seed (default: the profile's).
        **config: changes to the size (``ngf``, ``nf_part``, ``n_blocks1``,
            ``n_blocks2``) and ``use_motion_features``; ``ngf`` alone also sets
            ``nf_part``, which must equal it.

    Returns:
        a :class:`~mattinglib.models.bgm.BackgroundMattingGenerator`.

    >>> net = build_bgm_generator("quick")
    >>> net.config["ngf"], net.config["n_blocks1"], net.config["n_blocks2"]
    (16, 2, 1)
    >>> sum(p.numel() for p in build_bgm_generator("full").parameters())
    17908420
    """
    profile = _resolve_profile(profile)
    unknown = sorted(set(config) - set(_GENERATOR_OPTIONS))
    if unknown:
        raise ValueError(f"config: unknown generator options {unknown}; known: {list(_GENERATOR_OPTIONS)}")
    return bgm_generator(seed=profile.seed if seed is None else seed,
                         **_generator_config(profile, config))


def build_bgm_trainer(profile: Profile | str | None = None, *,
                      checkpoint_dir: str | Path | None = None, device: str = "auto",
                      **overrides: Any) -> Trainer:
    """A trainer for the supervised stage of Background Matting on generated composites.

    Wires :func:`build_bgm_generator`, Adam at :data:`DEFAULT_BGM_LR` (the
    paper's 1e-4), :class:`~mattinglib.data.bgm.BGMSyntheticDataset` for
    training (``num_train_samples``) and validation (``num_val_samples``,
    seed + 1, so no validation sample is a training sample) at
    ``image_size``, :func:`bgm_loss_fn`, :func:`bgm_val_fn` every
    ``val_every`` steps, and the profile's ``train_steps``, ``batch_size``,
    ``num_workers``, all from :func:`bgm_profile` (``full``: 512 px, batch 4).
    The profile's ``procedural_pool`` pools the generated layers and its
    ``device_augment`` (full) leaves the per-pixel augmentation to the device:
    the workers read the layers and draw the random numbers,
    :func:`~mattinglib.data.bgm_device.augment_bgm_batch` does the rest as the
    trainer's ``device_transform``. On CUDA the trainer's defaults give bf16 autocast and channels_last. The generator's
    unused parameters (the motion encoder, with ``use_motion_features=False``) are frozen,
    so the trainer also runs under ``torchrun``.

    Args:
        profile: a :class:`~mattinglib.config.Profile`, ``"quick"``, ``"full"``,
            or ``None`` (``MATTINGLIB_PROFILE``, else by hardware).
        checkpoint_dir: where checkpoints go (every ``val_every`` steps and at
            the end); ``None``: none.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        **overrides: profile fields (``train_steps=30``, ``image_size=32``, ...),
            generator options (``ngf``, ``nf_part``, ``n_blocks1``, ``n_blocks2``,
            ``use_motion_features``) and the trainer options ``lr``, ``progress``,
            ``amp``, ``channels_last``, ``checkpoint_every``, ``keep_checkpoints``,
            ``grad_clip``.

    Returns:
        a :class:`~mattinglib.train.trainer.Trainer`; call ``fit()`` (or
        ``fit(resume=True)`` to continue from ``checkpoint_dir``). Also set:
        ``trainer.profile`` (the resolved profile), ``trainer.lr``,
        ``trainer.generator_config`` (the generator's size).

    >>> t = build_bgm_trainer("quick", train_steps=2, num_train_samples=4, num_val_samples=2,
    ...                       image_size=32, ngf=8, device="cpu", progress=False)
    >>> t.max_steps, t.batch_size, t.generator_config["ngf"], t.lr
    (2, 4, 8, 0.0001)
    """
    profile = bgm_profile(profile)
    options, lr = _split_options(overrides, DEFAULT_BGM_LR)
    generator = {k: overrides.pop(k) for k in list(overrides) if k in _GENERATOR_OPTIONS}
    profile = profile.with_(**overrides)  # unknown names raise a ValueError listing the fields
    if profile.image_size % 4:
        raise ValueError(f"image_size: the generator needs a multiple of 4, got {profile.image_size}")
    model = build_bgm_generator(profile, **generator)
    # The motion encoder of the released code's quirk gets no gradient: frozen, so that
    # DistributedDataParallel (under torchrun) does not wait for its gradients.
    for param in model.unused_parameters():
        param.requires_grad_(False)
    train_data = BGMSyntheticDataset(profile.num_train_samples, profile.image_size, seed=profile.seed,
                                     procedural_pool=profile.procedural_pool,
                                     augment_on="device" if profile.device_augment else "worker")
    if profile.device_augment:
        options.setdefault("device_transform", functools.partial(augment_bgm_batch,
                                                                 size=profile.image_size))
    val_data = BGMSyntheticDataset(profile.num_val_samples, profile.image_size, seed=profile.seed + 1)
    trainer = _profile_trainer(model, bgm_loss_fn, bgm_val_fn, train_data, val_data, profile,
                               lr=lr, checkpoint_dir=checkpoint_dir, device=device, options=options)
    trainer.generator_config = {k: model.config[k] for k in ("ngf", "nf_part", "n_blocks1", "n_blocks2")}
    trainer.generator_config["use_motion_features"] = model.use_motion_features
    return trainer


def course_run_dir(trainer: Trainer) -> Path:
    """The checkpoint folder of a supervised run built by :func:`build_bgm_trainer`.

    Chapters 06 and 07 share it (07 uses the chapter-06 generator as its teacher),
    so its name carries every size that changes the run: a run of other settings
    gets its own folder instead of loading a stale checkpoint.
    """
    from ..config import REPO_ROOT

    p, g = trainer.profile, trainer.generator_config
    name = (f"06_bgm_{p.name}_{p.image_size}px_b{p.batch_size}_s{p.train_steps}"
            f"_ngf{g['ngf']}_{g['n_blocks1']}x{g['n_blocks2']}")
    return REPO_ROOT / "runs" / name
