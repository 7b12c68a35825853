"""Run folders read back: the trained models a later chapter or a command reuses.

:func:`load_trained_model` (M-Net, DIM) and :func:`load_bgm_generator` (the
Background Matting generator) read a run folder written by the training
commands or :func:`~mattinglib.train.recipes.train_run`: its ``run.json`` says
which model and which size, its latest checkpoint gives the weights.

Load or train: a chapter that needs a model trained earlier in the course (the capstone needs
chapter 4's M-Net and chapter 6's Background Matting generator) loads the
checkpoint when the run folder holds one and trains it otherwise, so that a
re-run is cheap and the chapter also works on its own::

    runs/04_mnet/<recipe.run_name()>/      chapter 4 (and load_or_train_mnet)
        run.json                           the recipe's settings
        step_00000300.pt
    runs/06_<BGMRecipe.run_name()>/        chapter 6 (bgm_recipes.course_run_dir)

The training recipe itself lives in :mod:`mattinglib.train.recipes`
(:class:`~mattinglib.train.recipes.MNetRecipe`); :func:`load_or_train_mnet` only
decides between loading and training, so a better recipe changes what gets trained
(and the folder name, which holds a digest of every setting) without changing
the chapters that load it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from torch import nn

from .._checks import check_number
from ..config import REPO_ROOT, Profile, get_device
from ..models.bgm import BackgroundMattingGenerator, RandomWeightsWarning
from ..models.dim import DIM
from ..models.mnet import MNet
from .bgm_recipes import MODEL_NAME, BGMRecipe
from .checkpoint import (
    RUN_FILE,
    latest_checkpoint,
    load_checkpoint,
    load_run_weights,
    read_run_settings,
)
from .recipes import RECIPES, MNetRecipe, recipe_of, train_run

__all__ = ["MNET_RUNS", "mnet_run_dir", "load_trained_model", "load_bgm_generator",
           "load_or_train_mnet", "load_bgm_teacher"]

#: Where chapter 4 keeps its M-Net runs, one sub-folder per recipe.
MNET_RUNS = REPO_ROOT / "runs" / "04_mnet"


# --------------------------------------------------------------------------- loading a run


def load_trained_model(checkpoint: str | Path, *, device: str = "auto") -> nn.Module:
    """The model of a run folder written by :func:`~mattinglib.train.recipes.train_run` or
    ``python -m mattinglib train``.

    Args:
        checkpoint: a ``step_*.pt`` file, or the run folder (its latest checkpoint).
        device: where to put the model (``"auto"``: CUDA when available).

    Returns:
        the ``MNet`` or ``DIM`` (in its ``"joint"`` stage) with the checkpoint's
        weights, in eval mode.
    """
    path, settings = read_run_settings(
        checkpoint, records="which model the checkpoint holds (written by "
        "`python -m mattinglib train`)")
    name = settings.get("model")
    if name not in RECIPES:
        raise ValueError(f"checkpoint: {RUN_FILE} names model {name!r}, "
                         f"this version knows {sorted(RECIPES)}")
    width = settings.get("width")
    try:
        check_number(width, "width")
    except ValueError as err:
        raise ValueError(f"checkpoint: {path.parent / RUN_FILE} records {err}") from None
    dev = get_device(device)
    if name == "dim":
        batch_norm = bool(settings.get("batch_norm", True))
        model = load_run_weights(DIM(width=float(width), batch_norm=batch_norm), path,
                                 model_desc=f"DIM(width={width}, batch_norm={batch_norm})",
                                 map_location=dev)
        model.set_stage("joint")
    else:
        model = load_run_weights(MNet(width=float(width)), path, model_desc=f"MNet(width={width})",
                                 map_location=dev)
    return model.to(dev).eval()


def _generator_of(settings: dict, run_file: Path) -> dict:
    """The generator's size in a ``run.json`` of ``train-bgm``: the recipe's fields, or the
    ``"generator"`` dict that runs written before :class:`~mattinglib.train.bgm_recipes.BGMRecipe`
    recorded."""
    generator = settings.get("generator", settings)
    if "generator" not in settings and "ngf" not in settings:
        raise ValueError(f"checkpoint: {run_file} records no generator size (neither the "
                         "BGMRecipe fields ngf, nf_part, n_blocks1, n_blocks2 nor a 'generator' "
                         "dict); train the run again with `python -m mattinglib train-bgm`")
    names = ("ngf", "nf_part", "n_blocks1", "n_blocks2", "use_motion_features")
    if not isinstance(generator, dict) or any(k not in generator for k in names):
        shown = generator if "generator" in settings else {k: settings.get(k) for k in names}
        raise ValueError(f"checkpoint: {run_file} records generator {shown!r}, "
                         f"expected a dict with {list(names)}")
    return {k: generator[k] for k in names}


def load_bgm_generator(checkpoint: str | Path, *,
                       device: str = "auto") -> BackgroundMattingGenerator:
    """The generator of a run written by ``python -m mattinglib train-bgm``, in eval mode.

    Args:
        checkpoint: a ``step_*.pt`` file, or the run folder (its latest checkpoint);
            the folder's ``run.json`` gives the generator's size.
        device: where to put the model (``"auto"``: CUDA when available).

    Returns:
        the generator with the checkpoint's weights, in eval mode.

    Raises:
        FileNotFoundError: no checkpoint, or no ``run.json`` beside it.
        ValueError: the run is not a Background Matting run.
    """
    path, settings = read_run_settings(
        checkpoint, records="the generator's size (written by `python -m mattinglib train-bgm`)")
    if settings.get("model") != MODEL_NAME:
        raise ValueError(f"checkpoint: {path.parent / RUN_FILE} names model "
                         f"{settings.get('model')!r}, expected {MODEL_NAME!r}")
    config = _generator_of(settings, path.parent / RUN_FILE)
    dev = get_device(device)
    desc = "BackgroundMattingGenerator(" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + ")"
    model = load_run_weights(BackgroundMattingGenerator(**config), path, model_desc=desc,
                             map_location=dev)
    return model.to(dev).eval()


# --------------------------------------------------------------------------- load or train


def _mnet_recipe(recipe: MNetRecipe | Profile | str | None) -> MNetRecipe:
    """An :class:`MNetRecipe` as given, or the preset a Profile or a name stands for."""
    resolved = recipe_of(recipe, MNetRecipe)
    if type(resolved) is not MNetRecipe:
        raise TypeError(f"recipe: expected an MNetRecipe (M-Net), got {type(resolved).__name__}")
    return resolved


def mnet_run_dir(recipe: MNetRecipe | Profile | str | None = None) -> Path:
    """The run folder of chapter 4's M-Net: ``runs/04_mnet/<recipe.run_name()>``.

    Args:
        recipe: an :class:`MNetRecipe`, a preset name (``"quick"``, ``"cpu-long"``,
            ``"full"``), a :class:`~mattinglib.config.Profile` (its name's preset)
            or ``None`` (the active profile's preset).

    >>> mnet_run_dir("quick") == MNET_RUNS / MNetRecipe.quick().run_name()
    True
    >>> path = mnet_run_dir("quick").relative_to(REPO_ROOT).as_posix()
    >>> path.startswith("runs/04_mnet/mnet_quick_s")
    True
    """
    return MNET_RUNS / _mnet_recipe(recipe).run_name()


def _finished(run_dir: Path, recipe: MNetRecipe) -> bool:
    """``run_dir`` holds this recipe's run (its ``run.json``) up to its last step."""
    latest = latest_checkpoint(run_dir)
    run_file = run_dir / RUN_FILE
    if latest is None or not run_file.is_file():
        return False
    try:
        saved = json.loads(run_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    settings = recipe.settings()
    same = isinstance(saved, dict) and all(saved.get(k) == settings[k]
                                           for k in recipe.fixed_on_resume())
    return same and int(latest.stem.split("_")[1]) >= recipe.train_steps


def load_or_train_mnet(run_dir: str | Path, recipe: MNetRecipe | Profile | str | None = None, *,
                       progress: bool = True, device: str = "auto") -> nn.Module:
    """M-Net from ``run_dir``: loaded when it holds the finished run, else trained there first.

    The run is :func:`~mattinglib.train.recipes.train_run` of the recipe, the
    one chapter 4 trains into the same folder (:func:`mnet_run_dir`), so a student
    who ran chapter 4 does not train again. A finished run is loaded without
    building the training data; an interrupted one continues where it stopped.
    A folder holding checkpoints but no ``run.json`` (a notebook's own trainer)
    is loaded as it is, at the recipe's width.

    Args:
        run_dir: the run folder (created when training).
        recipe: an :class:`~mattinglib.train.recipes.MNetRecipe`, a preset name,
            a :class:`~mattinglib.config.Profile` (its name's preset) or ``None``
            (the active profile's preset).
        progress: show the training progress bar.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.

    Returns:
        the ``MNet`` in eval mode, on ``device``.

    Raises:
        TypeError: ``run_dir`` is not a path, or ``recipe`` is not an M-Net recipe.
        ValueError: a bad preset name, or a ``run.json`` in ``run_dir`` whose
            settings differ from the recipe's (another run: use another folder).
    """
    if not isinstance(run_dir, (str, Path)):
        raise TypeError(f"run_dir: expected a path, got {type(run_dir).__name__}")
    run_dir = Path(run_dir)
    recipe = _mnet_recipe(recipe)
    if _finished(run_dir, recipe):
        return load_trained_model(run_dir, device=device)
    if latest_checkpoint(run_dir) is not None and not (run_dir / RUN_FILE).is_file():
        dev = get_device(device)
        model = MNet(width=recipe.width)
        state = load_checkpoint(latest_checkpoint(run_dir), map_location=dev)
        model.load_state_dict(state["model"])
        return model.to(dev).eval()
    model, _ = train_run(recipe, run_dir, device=device, progress=progress)
    return model


def load_bgm_teacher(recipe: BGMRecipe | Profile | str | None = None, *,
                     device: str = "auto") -> tuple[nn.Module, str]:
    """Chapter 6's supervised Background Matting generator, or a labelled random one.

    Looks in the run folder chapters 6 and 7 share
    (:func:`~mattinglib.train.bgm_recipes.course_run_dir` of the recipe). Nothing is
    trained here: without a checkpoint the generator keeps its random initial weights
    and a :class:`~mattinglib.models.bgm.RandomWeightsWarning` says so.

    Args:
        recipe: a :class:`~mattinglib.train.bgm_recipes.BGMRecipe`, a preset name, a
            :class:`~mattinglib.config.Profile` (its name's preset) or ``None`` (the
            active profile's preset); it sizes the generator.
        device: where to put it.

    Returns:
        ``(generator in eval mode, description)``; the description names the
        checkpoint and its step, or says ``"random weights"``.
    """
    from . import bgm_recipes

    recipe = recipe_of(recipe, BGMRecipe)
    run_dir = bgm_recipes.course_run_dir(recipe)
    path = latest_checkpoint(run_dir)
    dev = get_device(device)
    generator = bgm_recipes.build_bgm_generator(recipe).to(dev)
    if path is None:
        warnings.warn(f"load_bgm_teacher: no checkpoint in {run_dir} (run chapter 6 to train "
                      "it); the generator has RANDOM weights: its mattes only show that the "
                      "pipeline runs",
                      RandomWeightsWarning, stacklevel=2)
        return generator.eval(), "random weights (chapter 6 has not been run)"
    state = load_checkpoint(path, map_location=dev)
    generator.load_state_dict(state["model"])
    return generator.eval(), (f"chapter 6's generator, step {int(state['step'])} "
                              f"({path.parent.name}/{path.name})")
