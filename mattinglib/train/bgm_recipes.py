"""Background Matting's two training stages, each described by one recipe object.

Background Matting (Sengupta et al., CVPR 2020) first trains its generator on
synthetic composites, where alpha, foreground and background are known
(``train_adobe.py`` in the authors' code, github.com/senguptaumd/Background-Matting),
then a fresh *student* against that frozen *teacher* on unlabelled captures
(``train_real_fixed.py``, :mod:`mattinglib.train.adversarial`). This module wires
both the way :mod:`mattinglib.train.recipes` wires M-Net:

- :class:`BGMRecipe`, every number of a supervised run (the generator's size, the
  crops, the batch, the steps, the learning rate, the data pipeline);
  :class:`StudentRecipe`, every number of a teacher-student run (its teacher's
  recipe included). ``quick()`` is the course's CPU recipe, ``full()`` the GPU
  one; ``print(BGMRecipe.quick())`` is what chapter 6 trains,
  ``print(StudentRecipe.quick())`` what chapter 7 trains;
- :func:`bgm_loss_fn`, the supervised loss ``alpha_l1 + 2 fg_l1 + composition +
  gradient`` of :func:`mattinglib.losses.bgm.supervised_loss`, every term named;
- :func:`bgm_val_fn`, the official SAD / MSE / Grad / Conn on held-out
  generated samples;
- :func:`build_bgm_generator`, :func:`build_bgm_trainer` and
  :func:`build_student_trainer`, which take a recipe (or a preset name);
  :func:`start_bgm_run` and :func:`start_student_run` also claim a run folder
  whose ``run.json`` is the recipe's :meth:`~BGMRecipe.settings`;
- ``python -m mattinglib train-bgm`` and ``train-student``
  (:mod:`mattinglib.cli.train`) build their recipe from a preset and the flags;
  :func:`~mattinglib.train.runs.load_bgm_generator` reads a run back.

Sizes
-----
* ``BGMRecipe.full()``: the paper's recipe, 512 px crops, batch 4 (as ``train_adobe.py``:
  batch 4 at 512), the paper's generator (``ngf = nf_part = 64``, 7 + 3 ResNet
  blocks, 17.9 M parameters), pooled generated layers and the per-pixel
  augmentation on the device, so that eight loader workers keep a GPU busy.
* ``BGMRecipe.quick()``: 64 px crops, batch 4, 60 steps, validation every 30 steps
  on 8 samples, and a small generator (``ngf = nf_part = 16``, 2 + 1 ResNet blocks,
  0.47 M parameters): one step takes about half a second on an idle two-core
  CPU (several seconds on a busy one), so the run fits in a chapter. It shows the
  losses falling; it is not a usable matting model.

Learning rate: Adam at 1e-4, the paper's. With bf16 autocast on CUDA (the
trainer's default) the generator runs in bf16 while the loss is computed in float32.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .._checks import check_bool, check_int, check_number
from ..config import REPO_ROOT, Profile, get_profile
from ..data.bgm import BGMSyntheticDataset
from ..data.bgm_device import augment_bgm_batch
from ..losses.bgm import supervised_loss
from ..models.bgm import (
    GENERATOR_INPUTS,
    BackgroundMattingGenerator,
    bgm_generator,
    from_model_range,
)
from ..trimap import trimap_from_alpha
from .adversarial import (
    GAN_GRADIENTS,
    SHIFT_FILLS,
    TeacherStudentTrainer,
    fresh_discriminator,
    fresh_student_like,
)
from .checkpoint import check_run_folder, start_run_folder
from .recipes import TRAINER_OPTIONS, recipe_of
from .trainer import Trainer
from .validation import VAL_BATCH_SIZE, evaluate_dataset, model_device, official

__all__ = [
    "BGM_INPUTS",
    "BGMRecipe",
    "StudentRecipe",
    "bgm_loss_fn",
    "bgm_val_fn",
    "build_bgm_generator",
    "build_bgm_trainer",
    "build_student_trainer",
    "start_bgm_run",
    "start_student_run",
    "course_run_dir",
    "student_run_dir",
]

#: The batch keys fed to the generator, in its argument order (image, back, seg, multi).
BGM_INPUTS = GENERATOR_INPUTS
#: The ground-truth trimap of validation: ``trimap_from_alpha`` with these settings.
VAL_TRIMAP = {"kernel_size": 3, "iterations": 5}
MODEL_NAME = "bgm"
STUDENT_MODEL_NAME = "bgm-student"
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
    >>> from torch.utils.data import DataLoader
    >>> batch = next(iter(DataLoader(BGMSyntheticDataset(2, 32, seed=0), batch_size=2)))
    >>> net = bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1)
    >>> sorted(bgm_loss_fn(net, batch))
    ['alpha_l1', 'composition', 'fg_l1', 'gradient', 'total']
    """
    missing = [k for k in (*BGM_INPUTS, "alpha", "fg", "bg_gt") if k not in batch]
    if missing:
        raise ValueError(f"batch: missing the keys {missing} "
                         f"(expected a BGMSyntheticDataset batch)")
    alpha, fg = model(*(batch[k] for k in BGM_INPUTS))
    with torch.autocast(device_type=alpha.device.type, enabled=False):
        return supervised_loss(alpha.float(), fg.float(), batch["alpha"].float(),
                               batch["fg"].float(), batch["image"].float(), batch["bg_gt"].float())


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
    device = model_device(model)

    def predict(batch, indices):
        alpha, _ = model(*(batch[k].to(device) for k in BGM_INPUTS))
        preds = from_model_range(alpha.float()).cpu().numpy()[:, 0]
        # (a + 1) / 2 of 2 a - 1 is a again, exactly at 0 and 1, so the trimap's
        # "alpha == 1" and "alpha > 0" regions are those of the stored matte.
        truths = np.clip(from_model_range(batch["alpha"]).numpy()[:, 0], 0, 1)
        return preds, truths, np.stack([trimap_from_alpha(t, **VAL_TRIMAP) for t in truths])

    return official(evaluate_dataset(predict, val_data, batch_size=batch_size))


# --------------------------------------------------------------------------- recipes


class _StageRecipe:
    """What both recipes share: presets, ``replace``, ``run.json`` and the run's name."""

    model: ClassVar[str]
    #: Fields a resumed run may change (they change neither the model nor the data order).
    free_on_resume: ClassVar[frozenset[str]]
    #: Fields left out of the run folder's name while at their default (see ``_digest``).
    added_later: ClassVar[tuple[str, ...]] = ()
    #: Preset name -> classmethod name.
    presets: ClassVar[dict[str, str]]

    @classmethod
    def preset(cls, name: str | None = None):
        """The preset called ``name`` (see :attr:`presets`); ``None``: the active profile's
        (``MATTINGLIB_PROFILE``, else by hardware)."""
        name = get_profile(None).name if name is None else name
        if name not in cls.presets:
            raise ValueError(f"preset: expected one of {sorted(cls.presets)}, got {name!r}")
        return getattr(cls, cls.presets[name])()

    def replace(self, **changes: Any):
        """A copy with some fields changed; unknown names raise a ``ValueError``
        listing the fields."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"changes: unknown {type(self).__name__} fields {unknown}; "
                             f"known: {sorted(known)}")
        return replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        """The JSON form written to ``run.json``: ``{"model": ..., every field}``."""
        return json.loads(json.dumps({"model": self.model, **asdict(self)}))

    @classmethod
    def _values(cls, settings: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(settings, Mapping):
            raise TypeError(f"settings: expected a mapping, got {type(settings).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in settings.items() if k != "model"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"settings: unknown {cls.__name__} fields {unknown}")
        return values

    def fixed_on_resume(self) -> tuple[str, ...]:
        """Fields a resumed run must keep (they change the model, the data or the schedule)."""
        return tuple(k for k in self.settings() if k not in self.free_on_resume)

    def _digest(self) -> str:
        # Fields added after runs were made stay out of the digest while at their default,
        # so that the run folders made before them keep their names.
        defaults = {f.name: f.default for f in fields(self)}
        settings = {k: v for k, v in self.settings().items()
                    if not (k in self.added_later and v == defaults[k])}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class BGMRecipe(_StageRecipe):
    """Every number of a supervised Background Matting run, in one frozen object.

    ``BGMRecipe.quick()`` is the course's CPU recipe (chapter 6, ``train-bgm
    --profile quick``), ``.full()`` the paper's for a GPU;
    ``recipe.replace(train_steps=30)`` changes fields (unknown names raise; a new
    ``ngf`` alone also sets ``nf_part``, which must equal it). A run folder's
    ``run.json`` is :meth:`settings`.

    Generator (:func:`mattinglib.models.bgm.bgm_generator`): ``ngf``, ``nf_part``,
    ``n_blocks1`` ResNet blocks after the fusion, ``n_blocks2`` in each head,
    ``use_motion_features`` (the paper's text; the released code feeds the
    background feature), initialised with ``seed``.

    Data (:class:`~mattinglib.data.bgm.BGMSyntheticDataset`): ``num_train_samples``
    composites of ``image_size`` px (seed ``seed``), a share ``real_fraction`` of them
    of the real alphamatting.com foregrounds GT01-GT10
    (:class:`~mattinglib.data.real.AlphamattingForegrounds`, their held-out GT11-GT14
    never), the others generated; ``num_val_samples`` held-out generated ones (seed
    ``seed + 1``); ``procedural_pool > 0`` draws the generated
    layers from pools of that size (:mod:`mattinglib.data.pool`), ``device_augment``
    leaves the per-pixel augmentation to the training device
    (:func:`~mattinglib.data.bgm_device.augment_bgm_batch`); ``num_workers`` loader workers.

    Optimisation: Adam at a constant ``lr`` for ``train_steps`` steps of
    ``batch_size``; validation (and a checkpoint) every ``val_every`` steps.
    """

    name: str = "custom"
    ngf: int = 16
    nf_part: int = 16
    n_blocks1: int = 2
    n_blocks2: int = 1
    use_motion_features: bool = False
    image_size: int = 64
    batch_size: int = 4
    train_steps: int = 60
    lr: float = 1e-4
    val_every: int = 30
    num_train_samples: int = 512
    num_val_samples: int = 8
    seed: int = 0
    num_workers: int = 0
    procedural_pool: int = 0
    device_augment: bool = False
    real_fraction: float = 0.0

    model: ClassVar[str] = MODEL_NAME
    free_on_resume: ClassVar[frozenset[str]] = frozenset(
        {"name", "train_steps", "val_every", "num_val_samples", "num_workers"})
    presets: ClassVar[dict[str, str]] = {"quick": "quick", "full": "full"}

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a string, got {self.name!r}")
        for name in ("ngf", "nf_part", "n_blocks1", "n_blocks2", "image_size", "batch_size",
                     "train_steps", "val_every", "num_train_samples", "num_val_samples"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        for name in ("seed", "num_workers", "procedural_pool"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=0))
        for name in ("use_motion_features", "device_augment"):
            object.__setattr__(self, name, check_bool(getattr(self, name), name))
        object.__setattr__(self, "lr", check_number(self.lr, "lr", minimum=0, min_open=True))
        object.__setattr__(self, "real_fraction", check_number(self.real_fraction, "real_fraction",
                                                               minimum=0, maximum=1))
        if self.image_size % 4:
            raise ValueError(f"image_size: the generator needs a multiple of 4, "
                             f"got {self.image_size}")
        if self.nf_part != self.ngf:
            raise ValueError(f"nf_part: the generator needs nf_part == ngf ({self.ngf}), "
                             f"got {self.nf_part}")

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def quick(cls) -> "BGMRecipe":
        """Chapter 6 on a CPU: 60 steps of 4 crops of 64 px, a 0.47 M-parameter generator;
        half the foregrounds real (GT01-GT10), half generated."""
        return cls(name="quick", ngf=16, nf_part=16, n_blocks1=2, n_blocks2=1,
                   use_motion_features=False, image_size=64, batch_size=4, train_steps=60,
                   lr=1e-4, val_every=30, num_train_samples=512, num_val_samples=8, seed=0,
                   num_workers=0, procedural_pool=0, device_augment=False, real_fraction=0.5)

    @classmethod
    def full(cls) -> "BGMRecipe":
        """The paper's sizes for a GPU: the 17.9 M-parameter generator, 512 px, batch 4,
        Adam 1e-4; pooled layers and the augmentation on the device."""
        return cls(name="full", ngf=64, nf_part=64, n_blocks1=7, n_blocks2=3,
                   use_motion_features=False, image_size=512, batch_size=4, train_steps=20_000,
                   lr=1e-4, val_every=1000, num_train_samples=20_000, num_val_samples=256, seed=0,
                   num_workers=8, procedural_pool=256, device_augment=True, real_fraction=0.25)

    # -- changes and run.json -----------------------------------------------------------------
    def replace(self, **changes: Any) -> "BGMRecipe":
        """A copy with some fields changed (``ngf`` alone also sets ``nf_part``).

        >>> BGMRecipe.quick().replace(ngf=8).nf_part
        8
        >>> BGMRecipe.quick().replace(width=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: changes: unknown BGMRecipe fields ['width']; known: [...]
        """
        if "ngf" in changes and "nf_part" not in changes:
            changes = {**changes, "nf_part": changes["ngf"]}
        return super().replace(**changes)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "BGMRecipe":
        """The recipe of a ``run.json`` written by :meth:`settings`; also reads the layout
        written before the recipes (``"profile"`` and a ``"generator"`` dict), whose missing
        data-pipeline fields are those of the preset it names."""
        if isinstance(settings, Mapping) and isinstance(settings.get("generator"), Mapping):
            old = dict(settings)
            generator, name = old.pop("generator"), old.pop("profile", "custom")
            base = cls.preset(name) if name in cls.presets else cls()
            old = {k: v for k, v in old.items() if k != "model"}
            unknown = sorted((set(old) | set(generator)) - {f.name for f in fields(cls)})
            if unknown:
                raise ValueError(f"settings: unknown {cls.__name__} fields {unknown}")
            return replace(base, name=name, **{**old, **generator})
        return cls(**cls._values(settings))

    def generator_config(self) -> dict[str, Any]:
        """The arguments of :func:`~mattinglib.models.bgm.bgm_generator` (without the seed)."""
        return {k: getattr(self, k) for k in _GENERATOR_OPTIONS}

    def run_name(self) -> str:
        """A folder name that changes with every field that changes the run.

        >>> BGMRecipe.quick().run_name().startswith("bgm_quick_s64_b4_t60_ngf16_2x1_")
        True
        """
        return (f"{self.model}_{self.name}_s{self.image_size}_b{self.batch_size}"
                f"_t{self.train_steps}_ngf{self.ngf}_{self.n_blocks1}x{self.n_blocks2}_{self._digest()}")


@dataclass(frozen=True)
class StudentRecipe(_StageRecipe):
    """Every number of a teacher-student run
    (:class:`~mattinglib.train.adversarial.TeacherStudentTrainer`).

    ``StudentRecipe.quick()`` is chapter 7 on a CPU, ``.full()`` the paper's sizes
    for a GPU (and ``train-student``'s preset there), ``.cpu()`` the recorded CPU
    benchmark (``benchmarks/bench_teacher_student.py``). A run folder's ``run.json``
    is :meth:`settings`.

    Teacher: ``teacher`` is the :class:`BGMRecipe` of the supervised generator
    (trained first, or read from ``teacher_run``, a run folder of ``train-bgm``);
    the student is a fresh generator of its size (seed ``student_seed``), the
    discriminator a PatchGAN ``ndf`` wide (seed ``d_seed``).

    Data: ``captures``, a folder of captured videos
    (:class:`~mattinglib.data.target_domain.CapturedVideoDataset`), or ``None``:
    ``num_train_samples`` generated target-domain captures
    (:class:`~mattinglib.data.target_domain.TargetDomainDataset`, seed ``train_seed``,
    effect ``strengths``; ``None``: the defaults; ``procedural_pool > 0``: the
    training captures are a pool of that many, made once and shared by the loader's
    workers), all of ``image_size`` px;
    ``num_val_samples`` held-out generated captures (seed ``val_seed``; 0: no
    validation) scored every ``val_every`` steps (``None``: at the start and the end).

    Optimisation: ``train_steps`` steps of ``batch_size``; Adam at ``lr`` (student)
    and ``lr_d`` (discriminator, stepped every ``d_every`` steps); the pseudo-label
    weight halves every ``halve_every_epochs`` epochs of ``steps_per_epoch`` steps
    (``None``: one pass over the captures); the GAN term weighs ``gan_weight`` and
    reaches the student as ``gan_gradient`` says; the recomposition shift lies in
    ``[min_shift, max_shift]`` of the width, vacated columns filled by ``shift_fill``;
    ``anti_shortcut`` also shows the critic frames cut out with another frame's alpha as
    fake (:func:`~mattinglib.train.adversarial.anti_shortcut_composite`).
    Checkpoints every ``checkpoint_every`` steps (``None``: at the end) and the
    trainer's own draws seeded by ``seed``.
    """

    name: str = "custom"
    teacher: BGMRecipe = field(default_factory=BGMRecipe)
    teacher_run: str | None = None
    captures: str | None = None
    image_size: int = 64
    batch_size: int = 2
    train_steps: int = 16
    steps_per_epoch: int | None = 2
    num_train_samples: int = 64
    num_val_samples: int = 6
    val_every: int | None = 8
    strengths: dict[str, float] | None = None
    procedural_pool: int = 0
    ndf: int = 16
    d_every: int = 5
    halve_every_epochs: int = 2
    gan_weight: float = 1.0
    gan_gradient: str = "released"
    shift_fill: str = "wrap"
    min_shift: float = 0.0
    max_shift: float = 0.1
    anti_shortcut: bool = False
    lr: float = 1e-4
    lr_d: float = 1e-5
    checkpoint_every: int | None = None
    num_workers: int = 0
    seed: int = 0
    student_seed: int = 1
    d_seed: int = 2
    train_seed: int = 7
    val_seed: int = 8

    model: ClassVar[str] = STUDENT_MODEL_NAME
    added_later: ClassVar[tuple[str, ...]] = ("anti_shortcut",)
    free_on_resume: ClassVar[frozenset[str]] = frozenset(
        {"name", "train_steps", "val_every", "num_val_samples", "checkpoint_every", "num_workers"})
    presets: ClassVar[dict[str, str]] = {"quick": "quick", "full": "full", "cpu": "cpu"}

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name: expected a string, got {self.name!r}")
        if not isinstance(self.teacher, BGMRecipe):
            raise TypeError(f"teacher: expected a BGMRecipe, got {type(self.teacher).__name__}")
        for name in ("teacher_run", "captures"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}: expected a path as a string or None, got {value!r}")
        for name in ("image_size", "batch_size", "train_steps", "num_train_samples", "ndf",
                     "d_every", "halve_every_epochs"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1))
        for name in ("steps_per_epoch", "val_every", "checkpoint_every"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=1,
                                                     optional=True))
        for name in ("num_val_samples", "num_workers", "procedural_pool", "seed", "student_seed",
                     "d_seed", "train_seed", "val_seed"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum=0))
        if self.image_size % 4:
            raise ValueError(f"image_size: the generator needs a multiple of 4, "
                             f"got {self.image_size}")
        if self.val_every is not None and self.num_val_samples == 0:
            raise ValueError("val_every: validation needs held-out truth; set num_val_samples")
        for name in ("lr", "lr_d"):
            object.__setattr__(self, name, check_number(getattr(self, name), name, minimum=0,
                                                        min_open=True))
        object.__setattr__(self, "gan_weight", check_number(self.gan_weight, "gan_weight",
                                                            minimum=0))
        if self.gan_gradient not in GAN_GRADIENTS:
            raise ValueError(f"gan_gradient: expected one of {list(GAN_GRADIENTS)}, "
                             f"got {self.gan_gradient!r}")
        if self.shift_fill not in SHIFT_FILLS:
            raise ValueError(f"shift_fill: expected one of {list(SHIFT_FILLS)}, "
                             f"got {self.shift_fill!r}")
        for name in ("min_shift", "max_shift"):  # fractions of the width
            object.__setattr__(self, name, check_number(getattr(self, name), name, minimum=0,
                                                        maximum=1))
        if self.min_shift > self.max_shift:
            raise ValueError(f"min_shift: expected at most max_shift={self.max_shift!r}, "
                             f"got {self.min_shift!r}")
        object.__setattr__(self, "anti_shortcut", check_bool(self.anti_shortcut, "anti_shortcut"))
        if self.anti_shortcut and self.batch_size < 2:
            raise ValueError(f"anti_shortcut: needs another frame's alpha in the batch, so "
                             f"batch_size >= 2; got {self.batch_size}")
        if self.strengths is not None:
            if not isinstance(self.strengths, Mapping):
                raise TypeError(f"strengths: expected a mapping of effect -> strength or None, "
                                f"got {self.strengths!r}")
            object.__setattr__(self, "strengths", dict(self.strengths))

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def quick(cls) -> "StudentRecipe":
        """Chapter 7 on a CPU: chapter 6's teacher, 16 student steps of 2 captures of 64 px,
        "epochs" of 2 steps so that the pseudo-label weight visibly decays."""
        return cls(name="quick", teacher=BGMRecipe.quick(), image_size=64, batch_size=2,
                   train_steps=16, steps_per_epoch=2, num_train_samples=64, num_val_samples=6,
                   val_every=8, ndf=16, gan_gradient="released", shift_fill="wrap",
                   min_shift=0.0, max_shift=0.1, checkpoint_every=None, num_workers=0)

    @classmethod
    def full(cls) -> "StudentRecipe":
        """The paper's sizes for a GPU: the full teacher, 10,000 student steps of 4 captures
        of 512 px from a pool of 256 generated ones, a 64-wide PatchGAN, held-out scores every
        500 steps."""
        return cls(name="full", teacher=BGMRecipe.full(), image_size=512, batch_size=4,
                   train_steps=10_000, steps_per_epoch=None, num_train_samples=4000,
                   num_val_samples=64, val_every=500, ndf=64, checkpoint_every=500, num_workers=8,
                   procedural_pool=256)

    @classmethod
    def cpu(cls) -> "StudentRecipe":
        """The recorded CPU benchmark (``bench_teacher_student.py --preset cpu``, about an
        hour on 2 cores): a teacher of 1,500 quick-sized steps on 2,000 composites, a student
        of 3,000 steps of 4 captures of 64 px, the GAN term attached (``"paper"``, as the
        recorded runs were made)."""
        teacher = BGMRecipe.quick().replace(name="cpu", train_steps=1500, num_train_samples=2000,
                                            val_every=250, real_fraction=0.0)
        return cls(name="cpu", teacher=teacher, image_size=64, batch_size=4, train_steps=3000,
                   steps_per_epoch=None, num_train_samples=1000, num_val_samples=32, val_every=250,
                   ndf=32, gan_gradient="paper", checkpoint_every=250, num_workers=0,
                   student_seed=11, d_seed=12, train_seed=1007, val_seed=1008)

    # -- changes and run.json -----------------------------------------------------------------
    def replace(self, **changes: Any) -> "StudentRecipe":
        """A copy with some fields changed; unknown names raise a ``ValueError`` listing the fields.

        >>> StudentRecipe.quick().replace(train_steps=4).train_steps
        4
        """
        return super().replace(**changes)

    def with_seed(self, seed: int) -> "StudentRecipe":
        """Every seed derived from one: the trainer ``seed``, the student ``seed + 1``, the
        discriminator ``seed + 2``, the training captures ``seed + 7``, held-out ``seed + 8``.

        >>> r = StudentRecipe.quick().with_seed(3)
        >>> r.seed, r.student_seed, r.d_seed, r.train_seed, r.val_seed
        (3, 4, 5, 10, 11)
        """
        check_int(seed, "seed", minimum=0)
        return self.replace(seed=seed, student_seed=seed + 1, d_seed=seed + 2,
                            train_seed=seed + 7, val_seed=seed + 8)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "StudentRecipe":
        """The recipe of a ``run.json`` written by :meth:`settings` (unknown keys are refused)."""
        values = cls._values(settings)
        if "teacher" in values:
            values["teacher"] = BGMRecipe.from_settings(values["teacher"])
        return cls(**values)

    def run_name(self) -> str:
        """A folder name that changes with every field that changes the run.

        >>> StudentRecipe.quick().run_name().startswith("student_quick_s64_b2_t16_released_wrap_")
        True
        """
        return (f"student_{self.name}_s{self.image_size}_b{self.batch_size}_t{self.train_steps}"
                f"_{self.gan_gradient}_{self.shift_fill}_{self._digest()}")


# --------------------------------------------------------------------------- builders


def _split_trainer_options(overrides: dict[str, Any]) -> dict[str, Any]:
    """Take the trainer options (not recipe fields) out of a builder's ``**overrides``."""
    names = (TRAINER_OPTIONS - {"lr"}) | {"device_transform"}
    return {k: overrides.pop(k) for k in list(overrides) if k in names}


def build_bgm_generator(recipe: BGMRecipe | Profile | str | None = None, *, seed: int | None = None,
                        **changes: Any) -> BackgroundMattingGenerator:
    """A freshly initialised Background Matting generator of a recipe's size.

    ``quick``: ``ngf = nf_part = 16``, ``n_blocks1 = 2``, ``n_blocks2 = 1``
    (0.47 M parameters); ``full``: the paper's 64 / 64 / 7 / 3 (17.9 M).
    Initialised with the paper's rule (:func:`mattinglib.models.bgm.bgm_generator`), in train mode.

    Args:
        recipe: a :class:`BGMRecipe`, a preset name, a :class:`~mattinglib.config.Profile`
            (its name's preset) or ``None`` (the active profile's preset).
        seed: the initialisation's seed (default: the recipe's).
        **changes: recipe fields (``ngf``, ``n_blocks1``, ...; ``ngf`` alone also sets ``nf_part``).

    >>> net = build_bgm_generator("quick")
    >>> net.config["ngf"], net.config["n_blocks1"], net.config["n_blocks2"]
    (16, 2, 1)
    >>> sum(p.numel() for p in build_bgm_generator("full").parameters())
    17908420
    """
    recipe = recipe_of(recipe, BGMRecipe).replace(**changes)
    return bgm_generator(seed=recipe.seed if seed is None else seed, **recipe.generator_config())


def build_bgm_trainer(recipe: BGMRecipe | Profile | str | None = None, *,
                      checkpoint_dir: str | Path | None = None, device: str = "auto",
                      **overrides: Any) -> Trainer:
    """A trainer for the supervised stage of Background Matting on generated composites.

    Wires :func:`build_bgm_generator`, Adam at the recipe's ``lr`` (the paper's 1e-4),
    :class:`~mattinglib.data.bgm.BGMSyntheticDataset` for training
    (``num_train_samples``) and validation (``num_val_samples``, seed + 1, so no
    validation sample is a training sample) at ``image_size``, :func:`bgm_loss_fn`,
    :func:`bgm_val_fn` every ``val_every`` steps, the recipe's ``train_steps``,
    ``batch_size`` and ``num_workers``. ``procedural_pool`` pools the generated layers
    and ``device_augment`` (full) leaves the per-pixel augmentation to the device:
    the workers read the layers and draw the random numbers,
    :func:`~mattinglib.data.bgm_device.augment_bgm_batch` does the rest as the
    trainer's ``device_transform``. On CUDA the trainer's defaults give bf16 autocast
    and channels_last. The generator's unused parameters (the motion encoder, with
    ``use_motion_features=False``) are frozen, so the trainer also runs under ``torchrun``.

    Args:
        recipe: a :class:`BGMRecipe`, ``"quick"``, ``"full"``, a
            :class:`~mattinglib.config.Profile` (its name's preset) or ``None`` (the
            active profile's preset).
        checkpoint_dir: where checkpoints go (every ``val_every`` steps and at
            the end); ``None``: none. :func:`start_bgm_run` also writes ``run.json``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        **overrides: recipe fields (``train_steps=30``, ``image_size=32``, ``ngf=8``, ``lr=...``;
            applied as ``recipe.replace(**fields)``) and the trainer options ``progress``,
            ``amp``, ``channels_last``, ``checkpoint_every``, ``keep_checkpoints``, ``grad_clip``.

    Returns:
        a :class:`~mattinglib.train.trainer.Trainer` (``trainer.recipe`` is the resolved
        recipe); call ``fit()`` (or ``fit(resume=True)`` to continue from ``checkpoint_dir``).

    >>> t = build_bgm_trainer("quick", train_steps=2, num_train_samples=4, num_val_samples=2,
    ...                       image_size=32, ngf=8, device="cpu", progress=False)
    >>> t.max_steps, t.batch_size, t.recipe.nf_part, t.recipe.lr
    (2, 4, 8, 0.0001)
    """
    options = _split_trainer_options(overrides)
    recipe = recipe_of(recipe, BGMRecipe).replace(**overrides)
    model = build_bgm_generator(recipe)
    # The motion encoder of the released code's quirk gets no gradient: frozen, so that
    # DistributedDataParallel (under torchrun) does not wait for its gradients.
    for param in model.unused_parameters():
        param.requires_grad_(False)
    train_data = BGMSyntheticDataset(recipe.num_train_samples, recipe.image_size, seed=recipe.seed,
                                     procedural_pool=recipe.procedural_pool,
                                     real_fraction=recipe.real_fraction,
                                     augment_on="device" if recipe.device_augment else "worker")
    if recipe.device_augment:
        options.setdefault("device_transform", functools.partial(augment_bgm_batch,
                                                                 size=recipe.image_size))
    val_data = BGMSyntheticDataset(recipe.num_val_samples, recipe.image_size, seed=recipe.seed + 1)
    every = options.pop("checkpoint_every",
                        recipe.val_every if checkpoint_dir is not None else None)
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=recipe.lr), bgm_loss_fn, train_data,
        batch_size=recipe.batch_size, max_steps=recipe.train_steps, val_data=val_data,
        val_fn=bgm_val_fn, val_every=recipe.val_every, device=device,
        checkpoint_dir=checkpoint_dir, checkpoint_every=every, seed=recipe.seed,
        num_workers=recipe.num_workers, **options)
    trainer.recipe = recipe
    return trainer


def start_bgm_run(recipe: BGMRecipe | Profile | str | None, out: str | Path, *, resume: bool = True,
                  device: str = "auto", **options: Any) -> Trainer:
    """Claim the run folder ``out`` for a recipe and return its trainer (not yet fitted).

    ``out/run.json`` becomes :meth:`BGMRecipe.settings`; with ``resume=True`` a folder
    holding a run of other :meth:`~BGMRecipe.fixed_on_resume` fields is refused, before
    anything is written. Chapter 6 and ``python -m mattinglib train-bgm`` build their runs
    here; call ``trainer.fit(resume=resume)``.

    Args:
        recipe: as for :func:`build_bgm_trainer`.
        out: the run folder.
        resume: continue the run in ``out`` (False: ``out`` must hold no checkpoint).
        device: where to train.
        **options: the trainer options of :func:`build_bgm_trainer`.
    """
    recipe = recipe_of(recipe, BGMRecipe)
    settings, fixed = recipe.settings(), recipe.fixed_on_resume()
    check_run_folder(out, settings, resume=resume, fixed=fixed)
    trainer = build_bgm_trainer(recipe, checkpoint_dir=out, device=device, **options)
    start_run_folder(out, settings, resume=resume, fixed=fixed)
    return trainer


def course_run_dir(recipe: BGMRecipe | Profile | str | None = None) -> Path:
    """The run folder of chapter 6's supervised run: ``runs/06_<recipe.run_name()>``.

    Chapters 06, 07 and 08 share it (07 uses the chapter-06 generator as its teacher),
    so its name carries every setting that changes the run: a run of other settings
    gets its own folder instead of loading a stale checkpoint.

    >>> course_run_dir("quick").name == "06_" + BGMRecipe.quick().run_name()
    True
    """
    return REPO_ROOT / "runs" / f"06_{recipe_of(recipe, BGMRecipe).run_name()}"


def student_run_dir(recipe: StudentRecipe | Profile | str | None = None) -> Path:
    """The run folder of chapter 7's teacher-student run: ``runs/07_<recipe.run_name()>``
    (the digest covers the teacher's recipe too)."""
    return REPO_ROOT / "runs" / f"07_{recipe_of(recipe, StudentRecipe).run_name()}"


def _student_data(recipe: StudentRecipe):
    from ..data.target_domain import CapturedVideoDataset, TargetDomainDataset

    if recipe.captures is not None:
        train = CapturedVideoDataset(recipe.captures, size=recipe.image_size,
                                     seed=recipe.train_seed)
    else:
        train = TargetDomainDataset(recipe.num_train_samples, recipe.image_size,
                                    seed=recipe.train_seed, strengths=recipe.strengths,
                                    pool=recipe.procedural_pool)
    val = None
    if recipe.num_val_samples:
        val = TargetDomainDataset(recipe.num_val_samples, recipe.image_size, seed=recipe.val_seed,
                                  strengths=recipe.strengths)
    return train, val


def build_student_trainer(recipe: StudentRecipe | Profile | str | None, teacher: nn.Module, *,
                          checkpoint_dir: str | Path | None = None, device: str = "auto",
                          progress: bool = True, **changes: Any) -> TeacherStudentTrainer:
    """The teacher-student trainer a recipe describes, against a given teacher.

    The student is :func:`~mattinglib.train.adversarial.fresh_student_like` the teacher
    (seed ``student_seed``), the discriminator
    :func:`~mattinglib.train.adversarial.fresh_discriminator` (``ndf``, seed ``d_seed``),
    the data those of :class:`StudentRecipe`.

    Args:
        recipe: a :class:`StudentRecipe`, a preset name (``"quick"``, ``"full"``, ``"cpu"``),
            a :class:`~mattinglib.config.Profile` (its name's preset) or ``None`` (the
            active profile's preset).
        teacher: the supervised generator, of the size of ``recipe.teacher``.
        checkpoint_dir: where checkpoints go; ``None``: none.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        progress: a progress bar.
        **changes: recipe fields (``train_steps=4``, ...), applied with ``recipe.replace``.

    Returns:
        a :class:`~mattinglib.train.adversarial.TeacherStudentTrainer`; ``trainer.recipe``
        is the resolved recipe.
    """
    recipe = recipe_of(recipe, StudentRecipe).replace(**changes)
    if not isinstance(teacher, BackgroundMattingGenerator):
        raise TypeError(f"teacher: expected a BackgroundMattingGenerator, "
                        f"got {type(teacher).__name__}")
    have = {**teacher.config, "use_motion_features": teacher.use_motion_features}
    want = recipe.teacher.generator_config()
    got = {k: have[k] for k in want}
    if got != want:
        raise ValueError(f"teacher: a generator of {got}, but the recipe's "
                         f"teacher is {want}; build the recipe with the teacher's BGMRecipe")
    train, val = _student_data(recipe)
    trainer = TeacherStudentTrainer(
        teacher, fresh_student_like(teacher, seed=recipe.student_seed),
        fresh_discriminator(ndf=recipe.ndf, seed=recipe.d_seed), train,
        batch_size=recipe.batch_size, max_steps=recipe.train_steps, device=device,
        lr_g=recipe.lr, lr_d=recipe.lr_d, d_every=recipe.d_every,
        halve_every_epochs=recipe.halve_every_epochs, steps_per_epoch=recipe.steps_per_epoch,
        max_shift=recipe.max_shift, min_shift=recipe.min_shift, shift_fill=recipe.shift_fill,
        gan_gradient=recipe.gan_gradient, gan_weight=recipe.gan_weight,
        anti_shortcut=recipe.anti_shortcut, seed=recipe.seed,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=recipe.checkpoint_every if checkpoint_dir is not None else None,
        val_data=val, val_every=recipe.val_every if val is not None else None,
        num_workers=recipe.num_workers, progress=progress)
    trainer.recipe = recipe
    return trainer


#: Fields added to the student's ``run.json`` after runs were made without them: a saved
#: ``run.json`` that lacks them leaves the check to the checkpoint, which knows what such
#: runs used (:mod:`mattinglib.train.adversarial`: gan_gradient "paper", wrap, 0, 0.1).
_STUDENT_ADDED_LATER = ("gan_gradient", "shift_fill", "min_shift", "max_shift", "anti_shortcut")


def _student_fixed(recipe: StudentRecipe, out: str | Path, resume: bool) -> tuple[str, ...]:
    fixed = recipe.fixed_on_resume()
    try:
        saved = json.loads((Path(out) / "run.json").read_text()) if resume else {}
    except (OSError, ValueError):
        return fixed  # check_run_folder reports an unreadable file
    if not isinstance(saved, dict):
        return fixed
    return tuple(k for k in fixed if k in saved or k not in _STUDENT_ADDED_LATER)


def start_student_run(recipe: StudentRecipe | Profile | str | None, teacher: nn.Module,
                      out: str | Path, *, resume: bool = True, device: str = "auto",
                      progress: bool = True) -> TeacherStudentTrainer:
    """Claim the run folder ``out`` for a teacher-student recipe; returns its trainer,
    resumed from ``out``'s latest checkpoint when ``resume`` (call ``trainer.fit()``).

    ``out/run.json`` becomes :meth:`StudentRecipe.settings`, written only once the
    folder, the trainer and the checkpoint (which checks its own settings) have passed
    their checks; a run of other :meth:`~StudentRecipe.fixed_on_resume` fields is refused.
    Chapter 7 and ``python -m mattinglib train-student`` build their runs here.
    """
    recipe = recipe_of(recipe, StudentRecipe)
    settings, fixed = recipe.settings(), _student_fixed(recipe, out, resume)
    check_run_folder(out, settings, resume=resume, fixed=fixed)
    trainer = build_student_trainer(recipe, teacher, checkpoint_dir=out, device=device,
                                    progress=progress)
    if resume:  # the checkpoint checks its own settings before run.json is rewritten
        trainer.resume()
    start_run_folder(out, settings, resume=resume, fixed=fixed)
    return trainer
