"""Every training stage of the course as one object with a ``step`` and a batch stream.

``make gpu-check`` (``gpu_check.py``), ``data_keeps_up.py`` and the full-profile smoke
tests (``tests/test_full_profile_smoke.py``) all need "the stage's real training step
on its real data pipeline at the profile's sizes". The library's public builders give
most of it:

=============  ==============================================================
``mnet``       :func:`mattinglib.train.recipes.build_mnet_trainer`
``bgm``        :func:`mattinglib.train.bgm_recipes.build_bgm_trainer` (a profile means
               the :class:`~mattinglib.train.bgm_recipes.BGMRecipe` preset of its name)
``shm``        SHM's end-to-end phase,
               :func:`mattinglib.train.shm_recipes.build_shm_trainer` of the
               :class:`~mattinglib.train.shm_recipes.SHMRecipe` preset of the profile's
               name (T-Net from random weights: a step costs the same, and nothing is
               read from the torch hub)
``dim``        Deep Image Matting's joint stage (no library builder): ``DIM(width)``
               at the profile's width, :func:`dim_joint_loss_fn`, Adam at the M-Net rate,
               on the data of the DIM recipe preset of the profile's name
``student``    the teacher-student stage as ``python -m mattinglib train-student``
               builds it (:func:`~mattinglib.train.bgm_recipes.build_student_trainer`)
               from the :class:`~mattinglib.train.bgm_recipes.StudentRecipe` preset of
               the profile's name, against an untrained teacher of its teacher's size
=============  ==============================================================

Each is sized by a profile (or, for ``mnet``, ``shm``, ``bgm`` and ``student``, the
recipe preset of its name) plus keyword overrides (fields such as ``image_size``,
``batch_size``, ``num_workers``, ``train_steps``, and the trainer options ``amp``,
``channels_last``, ``checkpoint_every``), so the checks follow any change of a recipe.
For ``shm`` the profile's names map onto the recipe's (:data:`SHM_FIELDS`).

>>> stage = build_stage("mnet", "quick", device="cpu", image_size=32, batch_size=2,
...                     num_train_samples=4, num_val_samples=1, train_steps=1)
>>> batch = next(stage.batches())
>>> sorted(stage.step(batch)), stage.samples_per_step, stage.image_size
(['alpha', 'composition', 'total'], 2, 32)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from mattinglib.config import Profile, get_profile
from mattinglib.data.composition import compose_on_device
from mattinglib.losses.dim import alpha_prediction_loss, dim_loss
from mattinglib.models.dim import DIM
from mattinglib.train import Trainer
from mattinglib.train.adversarial import TeacherStudentTrainer
from mattinglib.train.bgm_recipes import (
    StudentRecipe,
    build_bgm_generator,
    build_bgm_trainer,
    build_student_trainer,
)
from mattinglib.train.recipes import (
    DEFAULT_LR,
    TRAINER_OPTIONS,
    DIMRecipe,
    build_mnet_trainer,
    matting_val_fn,
    training_data,
    unknown_weight,
    validation_data,
)
from mattinglib.train.shm_recipes import SHMRecipe, build_shm_trainer

__all__ = ["STAGES", "Stage", "build_stage", "dim_joint_loss_fn", "SHM_FIELDS", "STUDENT_NDF"]

STAGES = ("mnet", "shm", "dim", "bgm", "student")
#: The profile field names a caller may give the ``shm`` stage -> the recipe's fields they set
#: (the stage steps the end-to-end phase; a width sizes both networks).
SHM_FIELDS = {"train_steps": ("end_to_end_steps",), "lr": ("end_to_end_lr",),
              "width": ("tnet_width", "mnet.width"), "seed": ("seed", "mnet.seed"),
              "procedural_pool": ("mnet.procedural_pool",)}
#: The discriminator width of the full adversarial stage (the recipe's).
STUDENT_NDF = StudentRecipe.full().ndf
#: The recipe fields of the Background Matting generator's size.
GENERATOR_FIELDS = ("ngf", "nf_part", "n_blocks1", "n_blocks2", "use_motion_features")


def dim_joint_loss_fn(model: nn.Module,
                      batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deep Image Matting's joint stage: the overall loss on the encoder-decoder's alpha plus
    the alpha-prediction loss on the refined alpha, both over the unknown band.

    Args:
        model: a ``DIM`` in its ``"joint"`` stage (possibly wrapped in DDP).
        batch: as :class:`~mattinglib.data.composition.SyntheticMattingDataset` yields.

    Returns:
        ``{"alpha", "composition", "refined", "total"}``, 0-dim float32 tensors.
    """
    out = model(batch["image"], batch["trimap"])
    weight = unknown_weight(batch["trimap"], check_values=False)
    terms = dim_loss(out["alpha_coarse"].float(), batch["alpha"], batch["fg"], batch["bg"],
                     batch["image"], weight)
    terms["refined"] = alpha_prediction_loss(out["alpha"].float(), batch["alpha"], weight)
    terms["total"] = terms["total"] + terms["refined"]
    return terms


@dataclass
class Stage:
    """One training stage, ready to step.

    Attributes:
        name: one of :data:`STAGES`.
        trainer: a :class:`~mattinglib.train.trainer.Trainer` or a
            :class:`~mattinglib.train.adversarial.TeacherStudentTrainer`.
        profile: the resolved profile (sizes, batch, workers); for ``mnet``, ``shm``,
            ``bgm`` and ``student`` their recipe (``MNetRecipe``, ``SHMRecipe``,
            ``BGMRecipe``, ``StudentRecipe``), which have ``name`` and ``image_size`` too.
        amp: whether the step runs under bf16 autocast.
        modules: the networks of the stage (what ``channels_last`` and ``compile`` act on).
    """

    name: str
    trainer: Any
    profile: Any
    amp: bool
    modules: tuple[nn.Module, ...]

    @property
    def samples_per_step(self) -> int:
        return self.trainer.batch_size

    @property
    def image_size(self) -> int:
        return self.profile.image_size

    @property
    def num_workers(self) -> int:
        return self.trainer.num_workers

    @property
    def dataset(self) -> Any:
        return self.trainer.data if isinstance(self.trainer, TeacherStudentTrainer) \
            else self.trainer.train_data

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    def batches(self) -> Iterator[Any]:
        """The endless stream of training batches through the stage's real ``DataLoader``."""
        if not isinstance(self.trainer, TeacherStudentTrainer):
            return self.trainer.batches(0)
        t = self.trainer

        def endless() -> Iterator[Any]:
            for epoch in itertools.count():
                yield from DataLoader(t.data, batch_size=t.batch_size, shuffle=True, drop_last=True,
                                      num_workers=t.num_workers, collate_fn=default_collate,
                                      pin_memory=t.device.type == "cuda",
                                      generator=torch.Generator().manual_seed(t.seed + epoch))
        return endless()

    def step(self, batch: Any) -> dict[str, float]:
        """One optimisation step on ``batch``; returns the logged terms (``"total"`` included)."""
        if not isinstance(self.trainer, TeacherStudentTrainer):
            return self.trainer.train_step(batch)
        # The adversarial trainer has no autocast switch of its own; the stage adds it.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logged = self.trainer.train_step(batch)
        self.trainer.step += 1  # its schedule (D every 5 steps, wt) reads the step
        return {**logged, "total": logged["total_g"]}


def _split_options(overrides: dict[str, Any], default_lr: float) -> tuple[dict[str, Any], float]:
    """Take the trainer options (and the checked ``lr``) out of a stage's ``**overrides``."""
    options = {k: overrides.pop(k) for k in list(overrides) if k in TRAINER_OPTIONS}
    lr = options.pop("lr", default_lr)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (0 < lr < math.inf):
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    return options, float(lr)


def _dim_stage(profile: Profile | str | None, device: str, overrides: dict,
               checkpoint_dir) -> Stage:
    """Deep Image Matting's joint stage, sized by the profile (it has no recipe builder)."""
    if not isinstance(profile, Profile):
        profile = get_profile(profile)
    fields = dict(overrides)
    options, lr = _split_options(fields, DEFAULT_LR)  # takes the trainer options out of fields
    profile = profile.with_(**fields)
    model = DIM(width=profile.width, seed=profile.seed)
    # The data of the recipe preset with the profile's name (real foregrounds, pooled
    # generated layers and the composite made on the device in the full one), at the
    # profile's sizes.
    recipe = DIMRecipe.preset(profile.name).replace(
        image_size=profile.image_size, num_train_samples=profile.num_train_samples,
        num_val_samples=profile.num_val_samples, seed=profile.seed,
        **({"procedural_pool": fields["procedural_pool"]} if "procedural_pool" in fields else {}))
    if recipe.compose_on_device:
        options.setdefault("device_transform", compose_on_device)
    every = options.pop("checkpoint_every",
                        profile.val_every if checkpoint_dir is not None else None)
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=lr), dim_joint_loss_fn,
        training_data(recipe), batch_size=profile.batch_size, max_steps=profile.train_steps,
        val_data=validation_data(recipe), val_fn=partial(matting_val_fn, input_kind="dim"),
        val_every=profile.val_every, device=device, checkpoint_dir=checkpoint_dir,
        checkpoint_every=every, seed=profile.seed, num_workers=profile.num_workers, **options)
    return Stage("dim", trainer, profile, trainer.amp, (trainer.model,))


def shm_stage_recipe(profile: Profile | str | None, **fields: Any) -> SHMRecipe:
    """The :class:`~mattinglib.train.shm_recipes.SHMRecipe` the ``shm`` stage steps: the
    preset of the profile's name, T-Net from random weights, changed by ``fields`` (recipe
    fields, or the profile names of :data:`SHM_FIELDS`).

    >>> r = shm_stage_recipe("quick", width=0.125, train_steps=3)
    >>> r.tnet_width, r.mnet.width, r.end_to_end_steps, r.tnet_pretrained
    (0.125, 0.125, 3, None)
    """
    name = profile.name if isinstance(profile, Profile) else profile
    recipe = SHMRecipe.preset(name).replace(tnet_pretrained=None)
    changes: dict[str, Any] = {}
    mnet_changes: dict[str, Any] = {}
    for key, value in fields.items():
        for target in SHM_FIELDS.get(key, (key,)):
            if target.startswith("mnet."):
                mnet_changes[target.removeprefix("mnet.")] = value
            else:
                changes[target] = value
    if mnet_changes:
        changes["mnet"] = recipe.mnet.replace(**mnet_changes)
    return recipe.replace(**changes)


def _shm_stage(profile: Profile | str | None, device: str, overrides: dict,
               checkpoint_dir) -> Stage:
    fields = dict(overrides)
    options = {k: fields.pop(k) for k in list(fields) if k in TRAINER_OPTIONS - {"lr"}}
    recipe = shm_stage_recipe(profile, **fields)
    trainer = build_shm_trainer(recipe, "end_to_end", checkpoint_dir=checkpoint_dir,
                                device=device, **options)
    return Stage("shm", trainer, recipe, trainer.amp, (trainer.model,))


def _student_stage(profile: Profile | str | None, device: str, overrides: dict,
                   checkpoint_dir) -> Stage:
    overrides = dict(overrides)
    amp = overrides.pop("amp", None)
    channels_last = overrides.pop("channels_last", None)
    checkpoint_every = overrides.pop("checkpoint_every", None)
    overrides.pop("progress", None)
    name = profile.name if isinstance(profile, Profile) else profile
    recipe = StudentRecipe.preset(name)
    # The generator fields (ngf, n_blocks1, ...) size the teacher, and so the student.
    generator = {k: overrides.pop(k) for k in list(overrides) if k in GENERATOR_FIELDS}
    recipe = recipe.replace(teacher=recipe.teacher.replace(**generator),
                            checkpoint_every=checkpoint_every, **overrides)
    teacher = build_bgm_generator(recipe.teacher)
    trainer = build_student_trainer(recipe, teacher, checkpoint_dir=checkpoint_dir, device=device,
                                    progress=False)
    profile = recipe
    on_cuda = trainer.device.type == "cuda"
    amp = (on_cuda and torch.cuda.is_bf16_supported()) if amp is None else amp
    modules = (trainer.teacher, trainer.student, trainer.discriminator)
    if on_cuda if channels_last is None else channels_last:
        for m in modules:
            m.to(memory_format=torch.channels_last)
    return Stage("student", trainer, profile, amp, modules)


def build_stage(name: str, profile: Profile | str | None = "full", *, device: str = "auto",
                checkpoint_dir: str | Path | None = None, **overrides: Any) -> Stage:
    """The stage ``name`` sized by ``profile`` with ``overrides``, on ``device``.

    Args:
        name: one of :data:`STAGES`.
        profile: a :class:`~mattinglib.config.Profile` or its name.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        checkpoint_dir: where the stage's trainer writes checkpoints (``None``: none).
        **overrides: profile (recipe) fields, the trainer options ``amp``, ``channels_last``,
            ``checkpoint_every`` (``progress`` is off unless given); for ``bgm`` and
            ``student`` the generator fields (``ngf``, ``n_blocks1``, ...; the student's
            teacher has them).
    """
    if name not in STAGES:
        raise ValueError(f"name: expected one of {STAGES}, got {name!r}")
    overrides.setdefault("progress", False)
    if name == "student":
        return _student_stage(profile, device, overrides, checkpoint_dir)
    if name == "shm":
        return _shm_stage(profile, device, overrides, checkpoint_dir)
    if name == "dim":
        return _dim_stage(profile, device, overrides, checkpoint_dir)
    if name == "mnet":
        # M-Net is sized by its recipe (real foregrounds): a profile means its preset.
        trainer = build_mnet_trainer(profile, checkpoint_dir=checkpoint_dir, device=device,
                                     **overrides)
        return Stage(name, trainer, trainer.recipe, trainer.amp, (trainer.model,))
    trainer = build_bgm_trainer(profile, checkpoint_dir=checkpoint_dir, device=device, **overrides)
    return Stage(name, trainer, trainer.recipe, trainer.amp, (trainer.model,))
