"""Recipes: the glue that turns a model and its training data into a :class:`Trainer`.

A recipe is three small functions and a builder:

- a loss function ``loss_fn(model, batch) -> {"total": ..., term: ...}`` for
  the trainer (:func:`mnet_loss_fn`, :func:`shm_loss_fn`);
- :func:`matting_val_fn`, the official metrics (SAD, MSE, Grad, Conn of
  :func:`mattinglib.metrics.evaluate`) averaged over a validation set;
- :func:`build_mnet_trainer`, which wires M-Net, Adam, the training and
  validation sets of a recipe (:class:`MNetRecipe`; a profile stands for the
  preset of its name) and its step counts into a trainer.

SHM's three phases have their own recipe, which embeds an :class:`MNetRecipe`:
:class:`~mattinglib.train.shm_recipes.SHMRecipe` in :mod:`mattinglib.train.shm_recipes`.

The command ``python -m mattinglib train`` (:mod:`mattinglib.cli.train`) runs a
recipe with a progress bar and resumable checkpoints::

    runs/mnet/
        run.json              the model and the settings (read back by predict and --resume)
        step_00000050.pt      checkpoints (the latest 3 are kept)
        step_00000100.pt

Learning rate. Deep Image Matting fine-tunes an ImageNet VGG16 with Adam at
1e-5. Here M-Net starts from random (He) weights, with BatchNorm after every
hidden convolution (SHM's addition): at 1e-5 a run of a few hundred steps
barely moves. An early measurement on generated data (30 steps, 32 px, batch 4,
mean of the last 5 losses against the first 5): lr 1e-3 went 0.344 -> 0.266,
4e-4 went 0.348 -> 0.305, 1e-4 went 0.348 -> 0.347; :data:`DEFAULT_LR` = 4e-4
stays the peak rate of the full preset and the rate of the stages built without a
recipe. On the real-foreground data the quick recipe warms up to 3e-3 and
anneals (one-cycle), which the held-out ablation in
:meth:`MNetRecipe.quick` chose over 1e-3 and 1e-2. ``lr=1e-5`` with
``pretrained_vgg="imagenet"`` is the paper's setting.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .._checks import check_bool, check_int, check_number
from ..config import Profile, get_profile
from ..data.composition import SyntheticMattingDataset, compose_on_device
from ..data.real import RealMattingDataset
from ..losses.dim import (
    alpha_prediction_loss,
    dim_loss,
    mnet_pretrain_loss,
    shm_end_to_end_loss,
    tnet_pretrain_loss,
)
from ..models.alpha import input_kind_of, model_alpha
from ..models.dim import DIM, DIM_INPUT_MULTIPLE
from ..models.mnet import MNET_INPUT_MULTIPLE, MNet
from ..trimap import trimap_to_classes, trimap_to_onehot
from .checkpoint import start_run_folder
from .trainer import Trainer
from .validation import VAL_BATCH_SIZE, evaluate_dataset, model_device, official

__all__ = [
    "DEFAULT_LR",
    "VAL_BATCH_SIZE",
    "mnet_loss_fn",
    "shm_loss_fn",
    "matting_val_fn",
    "dim_loss_fn",
    "MNetRecipe",
    "DIMRecipe",
    "RECIPES",
    "TRAINER_OPTIONS",
    "unknown_weight",
    "recipe_of",
    "lr_scheduler",
    "training_data",
    "validation_data",
    "build_model",
    "build_mnet_trainer",
    "build_dim_trainers",
    "train_run",
]

#: Adam's learning rate for M-Net trained from scratch (see the module docstring).
DEFAULT_LR = 4e-4


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare model behind a ``DistributedDataParallel`` wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def unknown_weight(trimap: torch.Tensor, *, check_values: bool = True) -> torch.Tensor:
    """The ``(B, 1, H, W)`` float32 mask of the unknown pixels of a ``(B, 1, H, W)`` trimap
    in {0, 128/255, 1} (or uint8 {0, 128, 255}): the region of DIM's losses.

    Args:
        trimap: the ground-truth trimap of a batch.
        check_values: check the trimap's values (a device synchronisation; see
            :func:`~mattinglib.trimap.trimap_to_classes`); the training losses of this
            module pass ``False``, their batches come from the library's datasets.

    >>> unknown_weight(torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 1, 1, 3))
    tensor([[[[0., 1., 0.]]]])
    """
    return trimap_to_classes(trimap, check_values=check_values).eq(1).unsqueeze(1).to(
        torch.float32)


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
    >>> from torch.utils.data import DataLoader
    >>> batch = next(iter(DataLoader(SyntheticMattingDataset(2, 32, seed=0), batch_size=2)))
    >>> sorted(mnet_loss_fn(MNet(width=0.25), batch))
    ['alpha', 'composition', 'total']
    """
    # The batch comes from the library's datasets (checked trimaps): no value checks,
    # which would each wait for the device.
    onehot = trimap_to_onehot(batch["trimap"], check_values=False).to(batch["image"].dtype)
    alpha_r = model(torch.cat([batch["image"], onehot], dim=1)).float()
    return dim_loss(alpha_r, batch["alpha"], batch["fg"], batch["bg"], batch["image"],
                    unknown_weight(batch["trimap"], check_values=False))


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
        the dict of the phase's loss in :mod:`mattinglib.losses.dim` (``"total"`` and the
        terms computed).

    No value is read back from the device: the batch comes from the library's
    datasets, whose trimaps were checked when they were made, so the trimap and
    class checks are off (``check_values=False``) and a training step on a GPU
    does not wait for them.
    """
    mode = _unwrap(model).mode
    image, target = batch["image"], batch["alpha"]
    classes = trimap_to_classes(batch["trimap"], check_values=False)
    if mode == "pretrain_tnet":
        out = model(image)
        return tnet_pretrain_loss(trimap_logits=out["trimap_logits"].float(),
                                  trimap_target=classes, check_values=False)
    if mode == "pretrain_mnet":
        out = model(image, batch["trimap"], check_values=False)
        return mnet_pretrain_loss(pred_alpha=out["alpha"].float(), target_alpha=target,
                                  fg=batch["fg"], bg=batch["bg"], image=image,
                                  weight=classes.eq(1).unsqueeze(1).to(torch.float32))
    out = model(image)
    return shm_end_to_end_loss(pred_alpha=out["alpha"].float(), target_alpha=target,
                               fg=batch["fg"], bg=batch["bg"], image=image,
                               trimap_logits=out["trimap_logits"].float(), trimap_target=classes,
                               check_values=False)


def matting_val_fn(model: nn.Module, val_data: Any, *, input_kind: str | None = None,
                   batch_size: int = VAL_BATCH_SIZE) -> dict[str, float]:
    """The official errors averaged over a validation set, with the ground-truth trimaps.

    The trainer calls it in eval mode; it runs under ``torch.no_grad()`` and
    leaves the mode to the caller (call ``model.eval()`` when using it directly). Each sample's
    alpha comes from :func:`mattinglib.models.alpha.model_alpha` (the
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
    kind = input_kind_of(model, input_kind)
    device = model_device(model)

    def predict(batch, indices):
        image, trimap = batch["image"].to(device), batch["trimap"].to(device)
        alpha = model_alpha(model, image, trimap, input_kind=kind).cpu().numpy()[:, 0]
        # The dataset stores trimaps as uint8 / 255, exactly; this recovers the uint8 values.
        trimaps = np.rint(batch["trimap"].numpy()[:, 0] * 255).astype(np.uint8)
        return alpha, batch["alpha"].numpy()[:, 0], trimaps

    return official(evaluate_dataset(predict, val_data, batch_size=batch_size))


#: The keyword options of the builders that go to the :class:`Trainer`, not to the recipe
#: (``lr`` is a recipe field: a builder refuses it as an option).
TRAINER_OPTIONS = frozenset({"lr", "progress", "amp", "channels_last", "checkpoint_every",
                             "keep_checkpoints", "grad_clip"})


# --------------------------------------------------------------------------- recipes

#: Learning-rate schedules a recipe may name.
LR_SCHEDULES = ("constant", "onecycle")
#: Training-data sources a recipe may name.
DATA_SOURCES = ("real", "synthetic")


@dataclass(frozen=True)
class MNetRecipe:
    """Every number of an M-Net training run, in one frozen object.

    ``MNetRecipe.quick()`` is the course's CPU recipe, ``.full()`` the GPU one,
    ``.cpu_long()`` a longer CPU reference run; ``recipe.replace(train_steps=50)``
    changes fields (unknown names raise). The chapter, ``python -m mattinglib
    train`` and the benchmarks all build their runs from these objects, and a
    run folder's ``run.json`` is :meth:`settings`.

    Data (``data="real"``, :class:`~mattinglib.data.real.RealMattingDataset`):
    real foregrounds GT01-GT10 at longer side ``max_side`` (the scale of the
    evaluation), ``synthetic_fraction`` of generated ones, offline real
    backgrounds with ``procedural_fraction`` procedural ones, crops of
    ``image_size * crop_scales`` around an unknown pixel, trimaps dilated
    ``trimap_iterations`` times; ``data="synthetic"``: generated data only
    (:class:`~mattinglib.data.composition.SyntheticMattingDataset`).

    Optimisation: Adam at ``lr``; ``lr_schedule="onecycle"`` warms up over the
    first 10% of ``train_steps`` and anneals to zero (cosine), ``"constant"``
    keeps ``lr``. Validation every ``val_every`` steps on ``num_val_samples``
    composites of the training foregrounds drawn with another seed (the held-out
    photos GT11-GT27 are for the final evaluation only, not for choosing anything).
    """

    name: str = "custom"
    width: float = 0.25
    image_size: int = 96
    batch_size: int = 8
    train_steps: int = 600
    lr: float = 1e-3
    lr_schedule: str = "onecycle"
    val_every: int = 100
    num_train_samples: int = 4800
    num_val_samples: int = 32
    data: str = "real"
    max_side: int = 320
    synthetic_fraction: float = 0.25
    procedural_fraction: float = 0.25
    crop_scales: tuple[float, ...] = (0.75, 1.0, 1.25)
    trimap_iterations: tuple[int, int] = (1, 3)
    procedural_pool: int = 0
    compose_on_device: bool = False
    seed: int = 0
    num_workers: int = 0
    eval_max_side: int = 320

    #: the network this recipe trains (``run.json``'s ``"model"``).
    model: ClassVar[str] = "mnet"
    #: training crops must be multiples of this (the network's pooling).
    input_multiple: ClassVar[int] = MNET_INPUT_MULTIPLE

    def __post_init__(self) -> None:
        for name in ("image_size", "batch_size", "train_steps", "val_every", "num_train_samples",
                     "num_val_samples", "max_side", "eval_max_side"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        for name in ("seed", "num_workers", "procedural_pool"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=0))
        object.__setattr__(self, "compose_on_device",
                           check_bool(self.compose_on_device, "compose_on_device"))
        if self.image_size % self.input_multiple:
            raise ValueError(f"image_size: {type(self).__name__} needs a multiple of "
                             f"{self.input_multiple}, got {self.image_size}")
        for name in ("width", "lr"):
            object.__setattr__(self, name, check_number(getattr(self, name), name, minimum=0,
                                                        min_open=True))
        for name in ("synthetic_fraction", "procedural_fraction"):
            object.__setattr__(self, name, check_number(getattr(self, name), name, minimum=0,
                                                        maximum=1))
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule: expected one of {list(LR_SCHEDULES)}, "
                             f"got {self.lr_schedule!r}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data: expected one of {list(DATA_SOURCES)}, got {self.data!r}")
        object.__setattr__(self, "crop_scales", tuple(float(c) for c in self.crop_scales))
        object.__setattr__(self, "trimap_iterations", tuple(int(i) for i in self.trimap_iterations))

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def quick(cls) -> "MNetRecipe":
        """The CPU recipe of the course: 1,200 steps of 4 crops of 64 px, one-cycle lr 3e-3.

        Chosen by the ablation in ``benchmarks/results/matting_quality_abl_*.json``
        (held-out photos GT11-GT14, Trimap1, longer side 320 px, mean SAD; trimap-only
        4.63, closed-form 0.66): 300 steps of 8 crops of 96 px at a constant 4e-4
        gave 3.80; 600 steps of 8 crops of 64 px (about the same compute) with a
        one-cycle schedule gave 3.33 at a peak of 1e-3, 2.94 at 3e-3 and 4.40 at
        1e-2; the same 4,800 crops as 1,200 steps of 4 gave 2.20 (more updates, not
        more data); width 0.125 for 1,800 steps of 8 gave 2.05 at twice the compute.
        The run the course records is ``benchmarks/results/matting_quality_quick.json``.
        """
        return cls(name="quick", image_size=64, batch_size=4, train_steps=1200, lr=3e-3,
                   lr_schedule="onecycle", val_every=200, num_train_samples=4800)

    @classmethod
    def cpu_long(cls) -> "MNetRecipe":
        """A longer CPU reference run (about 40 minutes on 2 cores, estimated from the
        quick run's step time; not recorded yet): five times the quick recipe's steps,
        on crops of 96 px."""
        return cls(name="cpu-long", image_size=96, batch_size=4, train_steps=6000, lr=3e-3,
                   val_every=500, num_train_samples=24_000)

    @classmethod
    def full(cls) -> "MNetRecipe":
        """The paper's sizes for a GPU: full width, 320 px crops, 20,000 steps of 16."""
        return cls(name="full", width=1.0, image_size=320, batch_size=16, train_steps=20_000,
                   lr=4e-4, val_every=1000, num_train_samples=320_000, num_val_samples=256,
                   max_side=800, eval_max_side=100_000, num_workers=8, procedural_pool=512,
                   compose_on_device=True)

    @classmethod
    def preset(cls, name: str | None = None) -> "MNetRecipe":
        """The preset called ``name`` (``"quick"``, ``"cpu-long"``, ``"full"``); ``None``:
        the active profile's (``MATTINGLIB_PROFILE``, else by hardware)."""
        name = get_profile(None).name if name is None else name
        presets = {"quick": cls.quick, "cpu-long": cls.cpu_long, "full": cls.full}
        if name not in presets:
            raise ValueError(f"preset: expected one of {sorted(presets)}, got {name!r}")
        return presets[name]()

    # -- changes and run.json -----------------------------------------------------------------
    def replace(self, **changes: Any) -> "MNetRecipe":
        """A copy with some fields changed; unknown names raise a ``ValueError``
        listing the fields."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"changes: unknown recipe fields {unknown}; known: {sorted(known)}")
        return replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The JSON form written to ``run.json``: ``{"model": ..., every field}``."""
        return json.loads(json.dumps({"model": self.model, **asdict(self)}))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "MNetRecipe":
        """The recipe of a ``run.json`` written by :meth:`settings` (unknown keys are refused)."""
        known = {f.name for f in fields(cls)}
        values = {k: (tuple(v) if isinstance(v, list) else v)
                  for k, v in settings.items() if k != "model"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"settings: unknown {cls.__name__} fields {unknown}")
        return cls(**values)

    def fixed_on_resume(self) -> tuple[str, ...]:
        """Fields a resumed run must keep (they change the model, the data or the schedule)."""
        free = {"name", "val_every", "num_workers", "num_val_samples", "eval_max_side"}
        if self.lr_schedule == "constant":
            free.add("train_steps")  # a constant rate lets a finished run be extended
        return tuple(k for k in self.settings() if k not in free)

    def run_name(self) -> str:
        """A folder name that changes with every field that changes the run."""
        text = json.dumps(self.settings(), sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        return (f"{self.model}_{self.name}_s{self.image_size}_w{self.width:g}"
                f"_t{self.train_steps}_{digest}")


@dataclass(frozen=True)
class DIMRecipe(MNetRecipe):
    """Deep Image Matting's two stages: the encoder-decoder for ``train_steps``,
    then the refinement stage alone for ``refine_steps`` (alpha loss, Adam at
    ``refine_lr``), as the paper trains them. ``batch_norm`` adds BatchNorm to the
    encoder-decoder (not in the paper; it trains faster from scratch)."""

    batch_norm: bool = True
    refine_steps: int = 300
    refine_lr: float = 1e-3

    model: ClassVar[str] = "dim"
    input_multiple: ClassVar[int] = DIM_INPUT_MULTIPLE

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "refine_steps",
                           check_int(self.refine_steps, "refine_steps", minimum=1))
        object.__setattr__(self, "batch_norm", check_bool(self.batch_norm, "batch_norm"))
        object.__setattr__(self, "refine_lr", check_number(self.refine_lr, "refine_lr", minimum=0,
                                                           min_open=True))

    @classmethod
    def full(cls) -> "DIMRecipe":
        """The paper's sizes (no BatchNorm, lr 1e-5 is for ImageNet weights; from scratch 4e-4)."""
        base = MNetRecipe.full()
        return cls(**{**asdict(base), "refine_steps": 5000, "refine_lr": 1e-4})


#: The recipe class of each trainable matting model.
RECIPES: dict[str, type[MNetRecipe]] = {"mnet": MNetRecipe, "dim": DIMRecipe}


def training_data(recipe: MNetRecipe, *, seed_offset: int = 0, num_samples: int | None = None,
                  flip: bool = True):
    """The training set a recipe describes (``seed_offset=1``: its validation draws, which
    are made once and need no pool)."""
    n = recipe.num_train_samples if num_samples is None else num_samples
    seed = recipe.seed + seed_offset
    compose = not (recipe.compose_on_device and seed_offset == 0)
    if recipe.data == "synthetic":
        return SyntheticMattingDataset(n, recipe.image_size, seed=seed, flip=flip, compose=compose,
                                       fixed_point=not compose)
    return RealMattingDataset(n, recipe.image_size, seed, max_side=recipe.max_side, compose=compose,
                              fixed_point=not compose,
                              synthetic_fraction=recipe.synthetic_fraction,
                              procedural_fraction=recipe.procedural_fraction,
                              crop_scales=recipe.crop_scales,
                              trimap_iterations=recipe.trimap_iterations, flip=flip,
                              procedural_pool=recipe.procedural_pool if seed_offset == 0 else 0)


def validation_data(recipe: MNetRecipe):
    """Validation composites: the training sources drawn with another seed, no flips."""
    return training_data(recipe, seed_offset=1, num_samples=recipe.num_val_samples, flip=False)


def lr_scheduler(recipe: MNetRecipe, optimizer: torch.optim.Optimizer, steps: int):
    """The learning-rate scheduler of ``recipe.lr_schedule`` over ``steps`` steps:
    ``None`` for ``"constant"``, a ``LambdaLR`` of :func:`_one_cycle` for ``"onecycle"``."""
    if recipe.lr_schedule == "constant":
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_one_cycle, steps=steps))


def _one_cycle(step: int, *, steps: int) -> float:
    """The learning-rate factor of ``"onecycle"`` at ``step``: a linear warm-up over the first
    10% of ``steps``, then a cosine down to zero at ``steps`` (and zero after, so a run
    continued past its end does not fail the way ``OneCycleLR`` does).

    >>> [round(_one_cycle(t, steps=20), 3) for t in (0, 1, 2, 11, 20, 25)]
    [0.5, 1.0, 1.0, 0.5, 0.0, 0.0]
    """
    warmup = max(1, round(0.1 * steps))
    if step < warmup:
        return (step + 1) / warmup
    done = min(1.0, (step - warmup) / max(1, steps - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * done))


def build_model(recipe: MNetRecipe) -> nn.Module:
    """The untrained network of a recipe (seeded by ``recipe.seed``)."""
    if isinstance(recipe, DIMRecipe):
        return DIM(width=recipe.width, batch_norm=recipe.batch_norm, stage="encoder_decoder",
                   seed=recipe.seed)
    return MNet(width=recipe.width, seed=recipe.seed)


def dim_loss_fn(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deep Image Matting's loss for the model's current stage (``model.stage``).

    - ``"encoder_decoder"`` and ``"joint"``: ``0.5 * alpha + 0.5 * composition``
      (Charbonnier, eps 1e-6) over the unknown region, on the returned alpha;
    - ``"refinement"``: the alpha prediction loss only, as the paper trains its
      refinement stage.

    Args:
        model: a :class:`~mattinglib.models.dim.DIM` (possibly wrapped in DDP).
        batch: as for :func:`mnet_loss_fn`.
    """
    out = model(batch["image"], batch["trimap"])
    weight = unknown_weight(batch["trimap"], check_values=False)
    alpha = out["alpha"].float()
    if _unwrap(model).stage == "refinement":
        loss = alpha_prediction_loss(alpha, batch["alpha"], weight)
        return {"alpha": loss, "total": loss}
    return dim_loss(alpha, batch["alpha"], batch["fg"], batch["bg"], batch["image"], weight)


def recipe_of(recipe: Any, cls: type) -> Any:
    """The recipe a builder's ``recipe`` argument stands for: an instance of ``cls`` as
    given, else the preset ``cls.preset(name)`` of a :class:`~mattinglib.config.Profile`'s
    name, of a preset name, or of the active profile (``None``).

    ``cls`` is any recipe class with a ``preset`` class method (:class:`MNetRecipe`,
    :class:`DIMRecipe`, :class:`~mattinglib.train.bgm_recipes.BGMRecipe`, ...).

    >>> recipe_of("quick", MNetRecipe) == MNetRecipe.quick()
    True
    >>> recipe_of(3, MNetRecipe)
    Traceback (most recent call last):
    ...
    TypeError: recipe: expected an MNetRecipe, a Profile or a preset name, got 3
    """
    if isinstance(recipe, cls):
        return recipe
    if isinstance(recipe, Profile):
        return cls.preset(recipe.name)
    if recipe is None or isinstance(recipe, str):
        return cls.preset(recipe)
    name = cls.__name__
    # "an MNetRecipe" (an initialism, read letter by letter), "a StudentRecipe" (a word)
    initialism = len(name) > 1 and name[1].isupper()
    article = "an" if name[0] in ("AEFHILMNORSX" if initialism else "AEIOU") else "a"
    raise TypeError(f"recipe: expected {article} {name}, a Profile or a preset name, "
                    f"got {recipe!r}")


def _recipe_trainer(recipe: MNetRecipe, model: nn.Module, loss_fn, *, steps: int, lr: float,
                    params, checkpoint_dir, device, options: dict[str, Any]) -> Trainer:
    options = dict(options)
    every = options.pop("checkpoint_every",
                        recipe.val_every if checkpoint_dir is not None else None)
    optimizer = torch.optim.Adam(params, lr=lr)
    trainer = Trainer(
        model, optimizer, loss_fn, training_data(recipe),
        batch_size=recipe.batch_size, max_steps=steps, val_data=validation_data(recipe),
        val_fn=matting_val_fn, val_every=recipe.val_every,
        scheduler=lr_scheduler(recipe, optimizer, steps), device=device,
        checkpoint_dir=checkpoint_dir, checkpoint_every=every, seed=recipe.seed,
        num_workers=recipe.num_workers,
        device_transform=compose_on_device if recipe.compose_on_device else None, **options)
    trainer.recipe = recipe
    trainer.lr = lr
    return trainer


def build_mnet_trainer(recipe: MNetRecipe | Profile | str | None = None, *,
                       checkpoint_dir: str | Path | None = None, device: str = "auto",
                       **overrides: Any) -> Trainer:
    """A trainer for SHM's M-Net as a recipe describes it.

    Args:
        recipe: an :class:`MNetRecipe`, a preset name (``"quick"``, ``"cpu-long"``,
            ``"full"``), a :class:`~mattinglib.config.Profile` (its name's preset)
            or ``None`` (the active profile's preset).
        checkpoint_dir: where checkpoints go (every ``val_every`` steps and at
            the end); ``None``: none. :func:`train_run` also writes ``run.json``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        **overrides: recipe fields (``train_steps=30``, ``image_size=32``, ``lr=...``)
            and the trainer options ``progress``, ``amp``, ``channels_last``,
            ``checkpoint_every``, ``keep_checkpoints``, ``grad_clip``.

    Returns:
        a :class:`~mattinglib.train.trainer.Trainer` (``trainer.recipe`` is the
        resolved recipe, ``trainer.lr`` its learning rate); call ``fit()``.

    >>> t = build_mnet_trainer("quick", train_steps=2, num_train_samples=8, num_val_samples=2,
    ...                        batch_size=2, image_size=32, data="synthetic", device="cpu",
    ...                        progress=False)
    >>> t.max_steps, type(t.model).__name__, t.recipe.lr_schedule
    (2, 'MNet', 'onecycle')
    """
    options = {k: overrides.pop(k) for k in list(overrides) if k in TRAINER_OPTIONS - {"lr"}}
    recipe = recipe_of(recipe, MNetRecipe).replace(**overrides)
    model = build_model(recipe)
    return _recipe_trainer(recipe, model, mnet_loss_fn, steps=recipe.train_steps, lr=recipe.lr,
                           params=model.parameters(), checkpoint_dir=checkpoint_dir, device=device,
                           options=options)


def build_dim_trainers(recipe: DIMRecipe | Profile | str | None = None, *,
                       checkpoint_dir: str | Path | None = None, device: str = "auto",
                       **overrides: Any) -> tuple[Trainer, Trainer]:
    """Deep Image Matting's two trainers, sharing one model: the encoder-decoder
    (checkpoints in ``checkpoint_dir/encoder_decoder``), then the refinement
    stage (checkpoints in ``checkpoint_dir``). Fit them in that order; the second
    switches the model to the ``"refinement"`` stage when it starts (see :func:`train_run`).

    Arguments as for :func:`build_mnet_trainer`, with :class:`DIMRecipe` fields.
    """
    options = {k: overrides.pop(k) for k in list(overrides) if k in TRAINER_OPTIONS - {"lr"}}
    recipe = recipe_of(recipe, DIMRecipe).replace(**overrides)
    model = build_model(recipe)
    root = None if checkpoint_dir is None else Path(checkpoint_dir)
    stage1 = _recipe_trainer(recipe, model, dim_loss_fn, steps=recipe.train_steps, lr=recipe.lr,
                             params=[p for n, p in model.named_parameters()
                                     if not n.startswith("refinement.")],
                             checkpoint_dir=None if root is None else root / "encoder_decoder",
                             device=device, options=options)
    stage2 = _recipe_trainer(recipe, stage1.model, dim_loss_fn, steps=recipe.refine_steps,
                             lr=recipe.refine_lr, params=stage1.model.refinement.parameters(),
                             checkpoint_dir=root, device=device, options=options)
    return stage1, stage2


def train_run(recipe: MNetRecipe, out: str | Path | None = None, *, device: str = "auto",
              resume: bool = True, progress: bool = True, **options: Any):
    """Train (or load, or continue) the run ``recipe`` describes in the run folder ``out``.

    This is what the chapter, ``python -m mattinglib train`` and the quality
    benchmark call. ``out`` becomes a run folder (``run.json`` = :meth:`MNetRecipe.settings`
    plus checkpoints) that ``python -m mattinglib predict --checkpoint out`` and
    :func:`~mattinglib.train.runs.load_trained_model` read; with ``resume=True`` a finished
    run returns at once and an interrupted one continues (a ``run.json`` with other settings
    is refused).

    Args:
        recipe: an :class:`MNetRecipe` or :class:`DIMRecipe`.
        out: the run folder; ``None`` trains without checkpoints.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        resume: continue from the checkpoints in ``out`` (False: ``out`` must hold none).
        progress: progress bars.
        **options: trainer options (``amp``, ``channels_last``, ``keep_checkpoints``, ...).

    Returns:
        ``(model, histories)``: the trained model in eval mode, and the list of
        :class:`~mattinglib.train.history.History` of its stages (one for M-Net; the
        encoder-decoder and the refinement for DIM).
    """
    if not isinstance(recipe, MNetRecipe):
        raise TypeError(f"recipe: expected an MNetRecipe or DIMRecipe, got {type(recipe).__name__}")
    if out is not None:
        out = Path(out)
        start_run_folder(out, recipe.settings(), resume=resume, fixed=recipe.fixed_on_resume())
    options = {"progress": progress, **options}
    if isinstance(recipe, DIMRecipe):
        stage1, stage2 = build_dim_trainers(recipe, checkpoint_dir=out, device=device, **options)
        if out is not None:
            start_run_folder(out / "encoder_decoder",
                             {**recipe.settings(), "stage": "encoder_decoder"},
                             resume=resume, fixed=recipe.fixed_on_resume())
        first = stage1.fit(resume=resume and out is not None)
        stage2.model.set_stage("refinement")
        second = stage2.fit(resume=resume and out is not None)
        model = stage2.model.set_stage("joint")
        return model.eval(), [first, second]
    trainer = build_mnet_trainer(recipe, checkpoint_dir=out, device=device, **options)
    history = trainer.fit(resume=resume and out is not None)
    return trainer.model.eval(), [history]
