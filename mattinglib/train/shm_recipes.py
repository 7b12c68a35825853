"""Semantic Human Matting's training, described by one recipe object.

SHM (Chen et al., ACM MM 2018) trains in three phases (:data:`SHM_PHASES`): T-Net
alone on the ground-truth trimap (cross-entropy), M-Net alone on ground-truth trimaps
(Deep Image Matting's loss), then both together through the fusion
(``0.5 alpha + 0.5 composition + 0.01 cross-entropy``). This module wires them the
way :mod:`mattinglib.train.recipes` wires M-Net:

- :class:`SHMRecipe`, every number of the three phases: T-Net's backbone and width,
  the :class:`~mattinglib.train.recipes.MNetRecipe` of M-Net (its width, its
  pre-training, which is the M-Net phase, and the data sources), the crops, the batch,
  the steps and the learning rate of each phase, the seed and the validation.
  ``SHMRecipe.quick()`` is the course's CPU recipe, ``.full()`` the GPU one;
  ``print(SHMRecipe.quick())`` is what chapter 4 (section 5) and the ``shm`` stage of
  the benchmarks build;
- :func:`build_shm_model`, the untrained SHM of a recipe (or one around a trained M-Net);
- :func:`build_shm_trainer`, the :class:`~mattinglib.train.trainer.Trainer` of one phase;
- :func:`start_shm_phase`, which also claims the phase's run folder
  (``run.json`` = the recipe's :meth:`~SHMRecipe.settings` and the phase), so that a
  resumed run of other settings is refused; :func:`shm_run_dir` names the folders::

    runs/04_shm/<recipe.run_name()>/
        pretrain_tnet/     run.json, step_*.pt
        end_to_end/        run.json, step_*.pt

The M-Net phase is the M-Net recipe's own run (:func:`~mattinglib.train.recipes.train_run`
of ``recipe.mnet``, chapter 4's section 3, in ``runs/04_mnet``); :func:`build_shm_trainer`
also builds it inside an SHM (``phase="pretrain_mnet"``) with the same numbers.

Learning rates. The paper fine-tunes ImageNet networks; here T-Net's phase runs Adam
at 1e-4 and the end-to-end phase at 1e-5 (the rates chapter 4 has used since it first
ran the schedule), M-Net's phase at its recipe's rate. The end-to-end phase lasts half
the T-Net phase's steps in the full recipe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from .._checks import check_int, check_number
from ..config import REPO_ROOT, Profile, get_profile
from ..data.composition import compose_on_device
from ..models.mnet import MNET_INPUT_MULTIPLE, MNet
from ..models.shm import SHM, SHM_MODES
from ..models.tnet import BACKBONES, TNet
from .checkpoint import check_run_folder, start_run_folder
from .recipes import (
    TRAINER_OPTIONS,
    MNetRecipe,
    build_model,
    lr_scheduler,
    matting_val_fn,
    recipe_of,
    shm_loss_fn,
    training_data,
    validation_data,
)
from .trainer import Trainer

__all__ = [
    "SHM_PHASES",
    "SHM_RUNS",
    "SHMRecipe",
    "build_shm_model",
    "build_shm_trainer",
    "start_shm_phase",
    "shm_run_dir",
]

#: The training phases, in the order the paper runs them (the modes of ``SHM``).
SHM_PHASES = SHM_MODES
#: Where chapter 4 keeps its SHM runs, one sub-folder per recipe.
SHM_RUNS = REPO_ROOT / "runs" / "04_shm"
MODEL_NAME = "shm"


@dataclass(frozen=True)
class SHMRecipe:
    """Every number of a Semantic Human Matting run, in one frozen object.

    ``SHMRecipe.quick()`` is the course's CPU recipe, ``.full()`` the GPU one;
    ``recipe.replace(end_to_end_steps=50)`` changes fields (unknown names raise). A
    phase's run folder holds :meth:`settings` and the phase in its ``run.json``.

    Networks: T-Net is a PSPNet on a ``tnet_backbone`` ResNet, its head ``tnet_width``
    wide, the backbone from ``tnet_pretrained`` (``"imagenet"``: torchvision's weights
    from the torch hub cache; ``None``: random), initialised with ``seed``. M-Net is
    ``mnet``'s (width and seed).

    Phases (:meth:`phases`): ``"pretrain_tnet"``, ``tnet_steps`` at Adam ``tnet_lr``
    (T-Net's weights only); ``"pretrain_mnet"``, the run ``mnet`` describes (its
    steps, rate, schedule, batch and crops); ``"end_to_end"``, ``end_to_end_steps`` at
    ``end_to_end_lr`` (every weight). Both SHM phases run a constant rate on batches of
    ``batch_size``.

    Data of the T-Net and end-to-end phases (:meth:`data_recipe`): the sources of
    ``mnet`` (real foregrounds, generated ones, the crops and trimaps) at this recipe's
    ``image_size``, ``num_train_samples`` long, drawn with ``seed``; validation of
    the end-to-end phase every ``val_every`` steps (also the checkpoint interval) on
    ``num_val_samples`` composites drawn with ``seed + 1``. ``num_workers`` loader workers.
    """

    name: str = "custom"
    mnet: MNetRecipe = field(default_factory=MNetRecipe)
    tnet_backbone: str = "resnet18"
    tnet_width: float = 0.25
    tnet_pretrained: str | None = None
    image_size: int = 64
    batch_size: int = 8
    num_train_samples: int = 512
    num_val_samples: int = 32
    val_every: int = 50
    tnet_steps: int = 300
    tnet_lr: float = 1e-4
    end_to_end_steps: int = 300
    end_to_end_lr: float = 1e-5
    seed: int = 0
    num_workers: int = 0

    #: the network this recipe trains (``run.json``'s ``"model"``).
    model: ClassVar[str] = MODEL_NAME
    #: Fields a resumed phase may change (they change neither the model nor the data order).
    free_on_resume: ClassVar[frozenset[str]] = frozenset(
        {"name", "val_every", "num_val_samples", "num_workers"})
    #: Preset name -> classmethod name.
    presets: ClassVar[dict[str, str]] = {"quick": "quick", "full": "full"}

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a string, got {self.name!r}")
        if type(self.mnet) is not MNetRecipe:
            raise TypeError(f"mnet: expected an MNetRecipe, got {type(self.mnet).__name__}")
        if self.tnet_backbone not in BACKBONES:
            raise ValueError(f"tnet_backbone: expected one of {sorted(BACKBONES)}, "
                             f"got {self.tnet_backbone!r}")
        if self.tnet_pretrained is not None and not isinstance(self.tnet_pretrained, str):
            raise TypeError(f"tnet_pretrained: expected 'imagenet', a path as a string or None, "
                            f"got {self.tnet_pretrained!r}")
        for name in ("image_size", "batch_size", "num_train_samples", "num_val_samples",
                     "val_every", "tnet_steps", "end_to_end_steps"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        for name in ("seed", "num_workers"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=0))
        if self.image_size % MNET_INPUT_MULTIPLE:
            raise ValueError(f"image_size: SHM needs a multiple of {MNET_INPUT_MULTIPLE}, "
                             f"got {self.image_size}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size: T-Net's BatchNorm needs at least 2 images a step, "
                             f"got {self.batch_size}")
        for name in ("tnet_width", "tnet_lr", "end_to_end_lr"):
            object.__setattr__(self, name, check_number(getattr(self, name), name, minimum=0,
                                                        min_open=True))

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def quick(cls) -> "SHMRecipe":
        """The CPU recipe: a ResNet-18 T-Net with a quarter-width head, M-Net of
        :meth:`MNetRecipe.quick() <mattinglib.train.recipes.MNetRecipe.quick>`, 300 steps
        of 8 crops of 64 px per SHM phase. Chapter 4 only runs one end-to-end forward and
        backward pass of it on a CPU; the ``shm`` stage of the benchmarks steps it."""
        return cls(name="quick", mnet=MNetRecipe.quick(), tnet_backbone="resnet18",
                   tnet_width=0.25, tnet_pretrained=None, image_size=64, batch_size=8,
                   num_train_samples=512, num_val_samples=32, val_every=50, tnet_steps=300,
                   tnet_lr=1e-4, end_to_end_steps=300, end_to_end_lr=1e-5, seed=0,
                   num_workers=0)

    @classmethod
    def full(cls) -> "SHMRecipe":
        """The paper's networks for a GPU: PSPNet-50 with ImageNet weights, M-Net of
        :meth:`MNetRecipe.full() <mattinglib.train.recipes.MNetRecipe.full>` and its data
        (320 px crops, batch 16); 20,000 T-Net steps at 1e-4, then 10,000 end to end
        at 1e-5."""
        return cls(name="full", mnet=MNetRecipe.full(), tnet_backbone="resnet50",
                   tnet_width=1.0, tnet_pretrained="imagenet", image_size=320, batch_size=16,
                   num_train_samples=320_000, num_val_samples=256, val_every=1000,
                   tnet_steps=20_000, tnet_lr=1e-4, end_to_end_steps=10_000, end_to_end_lr=1e-5,
                   seed=0, num_workers=8)

    @classmethod
    def preset(cls, name: str | None = None) -> "SHMRecipe":
        """The preset called ``name`` (``"quick"``, ``"full"``); ``None``: the active
        profile's (``MATTINGLIB_PROFILE``, else by hardware)."""
        name = get_profile(None).name if name is None else name
        if name not in cls.presets:
            raise ValueError(f"preset: expected one of {sorted(cls.presets)}, got {name!r}")
        return getattr(cls, cls.presets[name])()

    # -- the phases ---------------------------------------------------------------------------
    def phases(self) -> dict[str, tuple[int, float]]:
        """``{phase: (steps, learning rate)}`` in the order the phases run.

        >>> phases = SHMRecipe.full().phases()
        >>> list(phases), phases["end_to_end"]
        (['pretrain_tnet', 'pretrain_mnet', 'end_to_end'], (10000, 1e-05))
        """
        return {"pretrain_tnet": (self.tnet_steps, self.tnet_lr),
                "pretrain_mnet": (self.mnet.train_steps, self.mnet.lr),
                "end_to_end": (self.end_to_end_steps, self.end_to_end_lr)}

    def data_recipe(self) -> MNetRecipe:
        """The M-Net recipe whose :func:`~mattinglib.train.recipes.training_data` and
        :func:`~mattinglib.train.recipes.validation_data` the T-Net and end-to-end phases
        read: ``mnet``'s sources at this recipe's sizes, batch, seed and workers."""
        return self.mnet.replace(image_size=self.image_size, batch_size=self.batch_size,
                                 num_train_samples=self.num_train_samples,
                                 num_val_samples=self.num_val_samples, val_every=self.val_every,
                                 seed=self.seed, num_workers=self.num_workers)

    # -- changes and run.json -----------------------------------------------------------------
    def replace(self, **changes: Any) -> "SHMRecipe":
        """A copy with some fields changed; unknown names raise a ``ValueError`` listing
        the fields.

        >>> SHMRecipe.quick().replace(end_to_end_steps=5).end_to_end_steps
        5
        >>> SHMRecipe.quick().replace(widht=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: changes: unknown SHMRecipe fields ['widht']; known: [...]
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"changes: unknown {type(self).__name__} fields {unknown}; "
                             f"known: {sorted(known)}")
        return replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The JSON form written to ``run.json``: ``{"model": "shm", every field}``, the M-Net
        recipe as its own settings."""
        values = asdict(self)
        values["mnet"] = self.mnet.settings()
        return json.loads(json.dumps({"model": self.model, **values}))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "SHMRecipe":
        """The recipe of a ``run.json`` written by :meth:`settings` (unknown keys are refused)."""
        if not isinstance(settings, Mapping):
            raise TypeError(f"settings: expected a mapping, got {type(settings).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in settings.items() if k not in ("model", "phase")}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"settings: unknown {cls.__name__} fields {unknown}")
        if isinstance(values.get("mnet"), Mapping):
            values["mnet"] = MNetRecipe.from_settings(values["mnet"])
        return cls(**values)

    def fixed_on_resume(self) -> tuple[str, ...]:
        """Fields a resumed phase must keep (they change the model, the data or the schedule)."""
        return tuple(k for k in self.settings() if k not in self.free_on_resume)

    def run_name(self) -> str:
        """A folder name that changes with every field that changes the run.

        >>> SHMRecipe.quick().run_name().startswith("shm_quick_s64_resnet18_t300+300_")
        True
        """
        digest = hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode())
        return (f"{self.model}_{self.name}_s{self.image_size}_{self.tnet_backbone}"
                f"_t{self.tnet_steps}+{self.end_to_end_steps}_{digest.hexdigest()[:10]}")


# --------------------------------------------------------------------------- builders


def build_shm_model(recipe: SHMRecipe | Profile | str | None = None, *,
                    mnet: MNet | None = None) -> SHM:
    """The SHM of a recipe, in its ``"end_to_end"`` mode and train mode.

    Args:
        recipe: an :class:`SHMRecipe`, a preset name (``"quick"``, ``"full"``), a
            :class:`~mattinglib.config.Profile` (its name's preset) or ``None`` (the
            active profile's preset).
        mnet: the M-Net to join (e.g. the one the M-Net phase trained), of the recipe's
            width; ``None``: a fresh one (:func:`~mattinglib.train.recipes.build_model`
            of ``recipe.mnet``).

    Raises:
        RuntimeError: ``tnet_pretrained="imagenet"`` and the weights are neither in the
            torch hub cache nor downloadable (the message names the file).

    >>> shm = build_shm_model("quick")
    >>> shm.tnet.backbone_name, shm.mnet.width, shm.mode
    ('resnet18', 0.25, 'end_to_end')
    """
    recipe = recipe_of(recipe, SHMRecipe)
    if mnet is None:
        mnet = build_model(recipe.mnet)
    elif not isinstance(mnet, MNet):
        raise TypeError(f"mnet: expected an MNet or None, got {type(mnet).__name__}")
    elif mnet.width != recipe.mnet.width:
        raise ValueError(f"mnet: the recipe's M-Net has width {recipe.mnet.width}, "
                         f"got an MNet of width {mnet.width}")
    pretrained = recipe.tnet_pretrained if recipe.tnet_pretrained is not None else False
    tnet = TNet(backbone=recipe.tnet_backbone, width=recipe.tnet_width,
                pretrained_backbone=pretrained, seed=recipe.seed)
    return SHM(tnet, mnet, mode="end_to_end").train()


def build_shm_trainer(recipe: SHMRecipe | Profile | str | None = None,
                      phase: str = "end_to_end", *, model: SHM | None = None,
                      checkpoint_dir: str | Path | None = None,
                      device: str = "auto", **overrides: Any) -> Trainer:
    """The trainer of one SHM phase as a recipe describes it.

    ``"pretrain_tnet"``: Adam at ``tnet_lr`` on T-Net's weights, ``tnet_steps`` steps,
    no validation (M-Net is not trained in this phase). ``"pretrain_mnet"``: M-Net's
    weights, on the ground-truth trimap, with the numbers of ``recipe.mnet`` (steps,
    rate and schedule, batch, data, validation). ``"end_to_end"``: every weight at
    ``end_to_end_lr`` for ``end_to_end_steps``, validated every ``val_every`` steps
    (:func:`~mattinglib.train.recipes.matting_val_fn`). The T-Net and end-to-end phases
    read :meth:`SHMRecipe.data_recipe`'s data; the loss is
    :func:`~mattinglib.train.recipes.shm_loss_fn` of the model's mode, which this sets.

    Args:
        recipe: as for :func:`build_shm_model`.
        phase: one of :data:`SHM_PHASES`.
        model: the SHM to train (the previous phase's, or :func:`build_shm_model` around a
            trained M-Net); ``None``: a fresh :func:`build_shm_model`.
        checkpoint_dir: where checkpoints go (every ``val_every`` steps and at the end);
            ``None``: none. :func:`start_shm_phase` also writes ``run.json``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        **overrides: recipe fields (``end_to_end_steps=30``, ``image_size=32``,
            ``mnet=MNetRecipe(...)``, ...) and
            the trainer options ``progress``, ``amp``, ``channels_last``,
            ``checkpoint_every``, ``keep_checkpoints``, ``grad_clip``, ``device_transform``.

    Returns:
        a :class:`~mattinglib.train.trainer.Trainer`; ``trainer.recipe`` is the resolved
        recipe, ``trainer.phase`` the phase, ``trainer.lr`` its rate.

    >>> t = build_shm_trainer("quick", "pretrain_tnet", image_size=32, batch_size=2,
    ...                       num_train_samples=4, num_val_samples=2, device="cpu",
    ...                       mnet=MNetRecipe.quick().replace(data="synthetic"), progress=False)
    >>> t.max_steps, t.lr, t.model.mode, t.val_data is None
    (300, 0.0001, 'pretrain_tnet', True)
    """
    names = (TRAINER_OPTIONS - {"lr"}) | {"device_transform"}
    options = {k: overrides.pop(k) for k in list(overrides) if k in names}
    recipe = recipe_of(recipe, SHMRecipe).replace(**overrides)
    if phase not in SHM_PHASES:
        raise ValueError(f"phase: expected one of {list(SHM_PHASES)}, got {phase!r}")
    if model is None:
        model = build_shm_model(recipe)
    elif not isinstance(model, SHM):
        raise TypeError(f"model: expected an SHM or None, got {type(model).__name__}")
    model.set_mode(phase)
    steps, lr = recipe.phases()[phase]
    if phase == "pretrain_mnet":
        data, params = recipe.mnet, model.mnet.parameters()
    else:
        data = recipe.data_recipe()
        params = model.tnet.parameters() if phase == "pretrain_tnet" else model.parameters()
    validate = phase != "pretrain_tnet"
    if data.compose_on_device:
        options.setdefault("device_transform", compose_on_device)
    every = options.pop("checkpoint_every", data.val_every if checkpoint_dir is not None else None)
    optimizer = torch.optim.Adam(params, lr=lr)
    trainer = Trainer(
        model, optimizer, shm_loss_fn, training_data(data), batch_size=data.batch_size,
        max_steps=steps, val_data=validation_data(data) if validate else None,
        val_fn=matting_val_fn if validate else None,
        val_every=data.val_every if validate else None,
        scheduler=lr_scheduler(data, optimizer, steps) if phase == "pretrain_mnet" else None,
        device=device, checkpoint_dir=checkpoint_dir, checkpoint_every=every, seed=data.seed,
        num_workers=data.num_workers, **options)
    trainer.recipe, trainer.phase, trainer.lr = recipe, phase, lr
    return trainer


def shm_run_dir(recipe: SHMRecipe | Profile | str | None = None) -> Path:
    """The run folder of chapter 4's SHM: ``runs/04_shm/<recipe.run_name()>``, one
    sub-folder per phase.

    >>> shm_run_dir("quick") == SHM_RUNS / SHMRecipe.quick().run_name()
    True
    """
    return SHM_RUNS / recipe_of(recipe, SHMRecipe).run_name()


def start_shm_phase(recipe: SHMRecipe | Profile | str | None, phase: str, out: str | Path, *,
                    model: SHM | None = None, resume: bool = True,
                    device: str = "auto", **options: Any) -> Trainer:
    """Claim the run folder ``out`` for one phase of a recipe; returns its trainer (not
    yet fitted: call ``trainer.fit(resume=resume)``).

    ``out/run.json`` becomes :meth:`SHMRecipe.settings` plus ``"phase"``; with
    ``resume=True`` a folder holding a run of other :meth:`~SHMRecipe.fixed_on_resume`
    fields or another phase is refused before anything is written.

    Args:
        recipe, phase, model: as for :func:`build_shm_trainer`.
        out: the phase's run folder (``shm_run_dir(recipe) / phase`` in chapter 4).
        resume: continue the run in ``out`` (False: ``out`` must hold no checkpoint).
        device: where to train.
        **options: the trainer options of :func:`build_shm_trainer`.
    """
    recipe = recipe_of(recipe, SHMRecipe)
    settings = {**recipe.settings(), "phase": phase}
    fixed = (*recipe.fixed_on_resume(), "phase")
    check_run_folder(out, settings, resume=resume, fixed=fixed)
    trainer = build_shm_trainer(recipe, phase, model=model, checkpoint_dir=out,
                                device=device, **options)
    start_run_folder(out, settings, resume=resume, fixed=fixed)
    return trainer
