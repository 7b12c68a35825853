"""The training commands: ``train``, ``train-bgm`` and ``train-student``.

Each command builds its run from the library (:mod:`mattinglib.train.recipes`,
:mod:`mattinglib.train.bgm_recipes`, :mod:`mattinglib.train.adversarial`),
checks the run folder before the long work, trains with a progress bar and
resumable checkpoints, and prints where the run stands; Ctrl-C ends it with
the command that continues it and exit status 130
(:func:`mattinglib.cli._common.interruptible`)::

    python -m mattinglib train --model mnet --profile quick --out runs/mnet
    python -m mattinglib train-bgm --profile quick --out runs/bgm
    python -m mattinglib train-student --teacher runs/bgm --generated 4000 --out runs/student
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._checks import check_int, check_number, check_writable_dir
from ..train.adversarial import (
    GAN_GRADIENTS,
    SHIFT_FILLS,
    TeacherStudentTrainer,
    fresh_discriminator,
    fresh_student_like,
)
from ..train.bgm_recipes import (
    DEFAULT_BGM_LR,
    MODEL_NAME,
    _generator_config,
    bgm_profile,
    build_bgm_trainer,
)
from ..train.checkpoint import RUN_FILE, check_run_folder, save_checkpoint, start_run_folder
from ..train.recipes import DATA_SOURCES, LR_SCHEDULES, RECIPES, train_run
from ..train.runs import load_bgm_generator
from ._common import add_profile_arguments, interruptible, profile_changes, report_run

__all__ = ["add_train_command", "add_train_bgm_command", "add_train_student_command", "EXPORT_FILE"]


# --------------------------------------------------------------------------- train

#: ``train`` options (``args`` attribute) -> the recipe field they change.
_RECIPE_OPTIONS = {"steps": "train_steps", "batch_size": "batch_size", "image_size": "image_size",
                   "val_every": "val_every", "num_train": "num_train_samples",
                   "num_val": "num_val_samples", "seed": "seed", "width": "width", "lr": "lr",
                   "data": "data", "lr_schedule": "lr_schedule"}


def _cmd_train(args: argparse.Namespace) -> int:
    cls = RECIPES[args.model]
    changes = {field: getattr(args, option) for option, field in _RECIPE_OPTIONS.items()
               if getattr(args, option, None) is not None}
    recipe = cls.preset(args.profile).replace(**changes)  # every check runs before run.json is written
    out = Path(args.out)
    # Check the folder before any work; the recipe's fields were checked when it was built.
    check_run_folder(out, recipe.settings(), resume=args.resume, fixed=recipe.fixed_on_resume())
    model, histories = train_run(recipe, out, device=args.device, resume=args.resume)
    del model
    history = histories[-1]
    last = {k: round(v[-1], 5) for k, v in history.val.items()} if history.val_steps else {}
    print(f"{recipe.name} recipe, {args.model}: finished; last validation {last}; run folder {out}",
          file=sys.stderr)
    return 0


def add_train_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train`` to a ``python -m mattinglib`` sub-command parser; returns its parser.

    ``python -m mattinglib train --model mnet --profile quick --out runs/mnet``
    trains M-Net (or ``--model dim``) by the named recipe (:class:`MNetRecipe`,
    :class:`DIMRecipe`: ``quick``, ``cpu-long`` or ``full``) with a progress bar,
    validates with the official metrics, and writes checkpoints and ``run.json``
    to ``--out``; the same command with ``--resume`` continues the run.
    """
    p = subparsers.add_parser("train", help="train a matting network (M-Net or DIM)",
                              description=add_train_command.__doc__.split("\n\n")[1])
    p.add_argument("--model", choices=sorted(RECIPES), default="mnet", help="which network")
    add_profile_arguments(p, image_multiple=16, choices=("quick", "cpu-long", "full"))
    p.add_argument("--width", type=float, help="channel multiplier of the network")
    p.add_argument("--lr", type=float, help="Adam's (peak) learning rate (default: the recipe's)")
    p.add_argument("--data", choices=DATA_SOURCES,
                   help="real foregrounds GT01-GT10 with generated ones (real), or generated only")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="onecycle (warm-up, cosine decay; the recipes' default) or constant "
                        "(lets --resume extend a finished run with more --steps)")
    p.set_defaults(func=interruptible(_cmd_train, p))
    return p


# --------------------------------------------------------------------------- train-bgm

# Settings that must not change between a run and its --resume (they change the model
# or the data order); the step count may grow.
_BGM_FIXED_ON_RESUME = ("model", "generator", "image_size", "batch_size", "seed", "num_train_samples")


def _cmd_train_bgm(args: argparse.Namespace) -> int:
    profile = bgm_profile(args.profile)
    changes = profile_changes(args)
    profile = profile.with_(**changes)
    generator = _generator_config(profile, {k: v for k, v in {
        "ngf": args.ngf, "n_blocks1": args.n_blocks1, "n_blocks2": args.n_blocks2}.items()
        if v is not None})
    generator["use_motion_features"] = bool(args.motion_features)
    out = Path(args.out)
    settings = {"model": MODEL_NAME, "profile": profile.name, "lr": args.lr, "generator": generator,
                **{k: getattr(profile, k) for k in ("image_size", "batch_size", "seed",
                                                    "num_train_samples", "num_val_samples",
                                                    "train_steps", "val_every")}}
    check_run_folder(out, settings, resume=args.resume, fixed=_BGM_FIXED_ON_RESUME)
    # The command-line changes go in as overrides, which win over the BGM profile changes.
    trainer = build_bgm_trainer(args.profile, checkpoint_dir=out, device=args.device, lr=args.lr,
                                **changes, **generator)
    # Written only once every setting has passed the builder's checks.
    start_run_folder(out, settings, resume=args.resume, fixed=_BGM_FIXED_ON_RESUME)
    return report_run(trainer, trainer.fit(resume=args.resume), out)


def add_train_bgm_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train-bgm`` to a ``python -m mattinglib`` sub-command parser; returns its parser.

    ``python -m mattinglib train-bgm --profile quick --out runs/bgm`` trains the
    Background Matting generator on generated composites (the supervised
    stage) with a progress bar, validates with the official metrics, and
    writes checkpoints and ``run.json`` to ``--out``; the same command with
    ``--resume`` (and a larger ``--steps``) continues the run.
    """
    p = subparsers.add_parser("train-bgm", help="train the Background Matting generator on "
                              "generated composites (supervised stage)",
                              description=add_train_bgm_command.__doc__.split("\n\n")[1])
    add_profile_arguments(p, image_multiple=4)
    p.add_argument("--ngf", type=int, help="generator base width (also nf_part)")
    p.add_argument("--n-blocks1", type=int, help="ResNet blocks after the fusion")
    p.add_argument("--n-blocks2", type=int, help="ResNet blocks in each head")
    p.add_argument("--motion-features", action="store_true",
                   help="feed the motion feature to comb_multi (the paper's text) instead of the "
                        "released code's background feature")
    p.add_argument("--lr", type=float, default=DEFAULT_BGM_LR,
                   help=f"Adam learning rate ({DEFAULT_BGM_LR}, the paper's)")
    p.set_defaults(func=interruptible(_cmd_train_bgm, p))
    return p


# --------------------------------------------------------------------------- train-student

#: The student's weights, written at the end of a run (released layout, no ``module.`` prefix).
EXPORT_FILE = "generator.pth"
# Settings a resumed run must keep (they change the models or the data order).
_STUDENT_FIXED_ON_RESUME = ("teacher", "data", "size", "batch_size", "seed", "ndf", "gan_weight",
                    "steps_per_epoch", "d_every", "gan_gradient", "shift_fill", "min_shift", "max_shift")
# Added later: a run.json without them is checked by the checkpoint instead, which knows
# what such runs used (mattinglib.train.adversarial: gan_gradient "paper", wrap, 0, 0.1).
_STUDENT_ADDED_LATER = ("gan_gradient", "shift_fill", "min_shift", "max_shift")


def _fixed_keys(out: Path, resume: bool) -> tuple[str, ...]:
    try:
        saved = json.loads((out / RUN_FILE).read_text()) if resume else {}
    except (OSError, ValueError):
        return _STUDENT_FIXED_ON_RESUME  # check_run_folder reports the unreadable file
    if not isinstance(saved, dict):
        return _STUDENT_FIXED_ON_RESUME
    return tuple(k for k in _STUDENT_FIXED_ON_RESUME if k in saved or k not in _STUDENT_ADDED_LATER)


def _data(args: argparse.Namespace):
    from ..data.target_domain import CapturedVideoDataset, TargetDomainDataset

    if (args.captures is None) == (args.generated is None):
        raise ValueError("--captures/--generated: give exactly one source of unlabelled captures "
                         "(a folder of captured videos, or a number of generated ones)")
    if args.captures is not None:
        data = CapturedVideoDataset(args.captures, size=args.size, seed=args.seed)
        source = {"captures": str(Path(args.captures).resolve())}
    else:
        data = TargetDomainDataset(args.generated, args.size, seed=args.seed + 7)
        source = {"generated": args.generated}
    val = None
    if args.val_generated:
        val = TargetDomainDataset(args.val_generated, args.size, seed=args.seed + 8)
    return data, source, val


def _refuse_torchrun() -> None:
    # TeacherStudentTrainer runs in one process: under torchrun every process would train
    # its own student on the whole data and write checkpoints into the same folder.
    from ..train.distributed import dist_info_from_env

    info = dist_info_from_env()
    if info.is_distributed:
        raise ValueError(f"train-student: runs in one process, but torchrun started "
                         f"{info.world_size} (WORLD_SIZE={info.world_size}); run it without "
                         "torchrun (train and train-bgm do support it)")


def _cmd_train_student(args: argparse.Namespace) -> int:
    _refuse_torchrun()
    for name in ("steps", "batch_size", "size", "ndf", "val_every", "steps_per_epoch",
                 "generated", "d_every"):
        check_int(getattr(args, name), "--" + name.replace("_", "-"), minimum=1, optional=True)
    check_int(args.workers, "--workers", minimum=0)
    check_int(args.val_generated, "--val-generated", minimum=0)
    if args.size % 4:
        raise ValueError(f"--size: the generator needs a multiple of 4, got {args.size}")
    check_number(args.gan_weight, "--gan-weight", minimum=0)
    check_number(args.max_shift, "--max-shift", minimum=0, maximum=1)
    check_number(args.min_shift, "--min-shift", minimum=0, maximum=args.max_shift)
    if args.val_every is not None and not args.val_generated:
        raise ValueError("--val-every: validation needs held-out truth; add --val-generated N")

    check_writable_dir(args.out, "--out")
    teacher = load_bgm_generator(args.teacher, device="cpu")
    data, source, val = _data(args)
    out = Path(args.out)
    settings = {"model": "bgm-student", "teacher": str(Path(args.teacher).resolve()),
                "generator": {**teacher.config, "use_motion_features": teacher.use_motion_features},
                "data": source, "size": args.size, "batch_size": args.batch_size,
                "seed": args.seed, "ndf": args.ndf, "gan_weight": args.gan_weight,
                "steps_per_epoch": args.steps_per_epoch, "d_every": args.d_every,
                "gan_gradient": args.gan_gradient, "shift_fill": args.shift_fill,
                "min_shift": args.min_shift, "max_shift": args.max_shift,
                "steps": args.steps, "val_generated": args.val_generated}
    fixed = _fixed_keys(out, args.resume)
    check_run_folder(out, settings, resume=args.resume, fixed=fixed)
    trainer = TeacherStudentTrainer(
        teacher, fresh_student_like(teacher, seed=args.seed + 1),
        fresh_discriminator(ndf=args.ndf, seed=args.seed + 2), data,
        batch_size=args.batch_size, max_steps=args.steps, device=args.device,
        d_every=args.d_every, steps_per_epoch=args.steps_per_epoch, gan_weight=args.gan_weight,
        gan_gradient=args.gan_gradient, shift_fill=args.shift_fill, min_shift=args.min_shift,
        max_shift=args.max_shift,
        seed=args.seed, checkpoint_dir=out, checkpoint_every=args.checkpoint_every,
        val_data=val, val_every=args.val_every if val is not None else None,
        num_workers=args.workers)
    if args.resume:  # the checkpoint checks its own settings before run.json is rewritten
        trainer.resume()
    # Written only once every setting has passed the trainer's checks.
    start_run_folder(out, settings, resume=args.resume, fixed=fixed)
    history = trainer.fit()
    export = save_checkpoint(out / EXPORT_FILE, {k: v.detach().cpu() for k, v in
                                                 trainer.student.state_dict().items()})
    message = f"step {trainer.step}/{trainer.max_steps}; student weights in {export}"
    if history.val_steps:
        message += (f"; held-out SAD student {history.last('sad'):.4g}, "
                    f"teacher {history.last('teacher_sad'):.4g}")
    print(message, file=sys.stderr)
    return 0


def add_train_student_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train-student`` to a ``python -m mattinglib`` sub-command parser; returns its parser.

    ``python -m mattinglib train-bgm`` trains the teacher on generated composites;
    this command then trains a fresh student against it on unlabelled captures
    (:class:`~mattinglib.train.adversarial.TeacherStudentTrainer`)::

        # your own captured videos, laid out as the authors' released captured data
        python -m mattinglib train-student --teacher runs/bgm --captures data/captured --out runs/student
        # or the offline target domain, validated on held-out generated captures
        python -m mattinglib train-student --teacher runs/bgm --generated 4000 --val-generated 32 \\
            --out runs/student

    The run folder gets ``step_*.pt`` checkpoints (``--resume`` continues one,
    also with a larger ``--steps``), ``run.json`` with the settings, and at the end
    ``generator.pth``: the student's weights in the released state-dict layout, so
    that ``python -m mattinglib predict-bgm --weights runs/student/generator.pth``
    mattes a photo with it (for the paper-sized generator).
    """
    p = subparsers.add_parser(
        "train-student", help="Background Matting's adversarial stage: a fresh student against "
        "a frozen teacher on unlabelled captures",
        description=add_train_student_command.__doc__.split("\n\n")[1])
    p.add_argument("--teacher", required=True, type=Path,
                   help="the teacher: a run folder (or checkpoint) of `train-bgm`")
    p.add_argument("--out", required=True, type=Path, help=f"run folder (checkpoints, {RUN_FILE}, "
                   f"{EXPORT_FILE})")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--captures", type=Path, help="folder of captured videos (see "
                   "mattinglib.data.target_domain.CapturedVideoDataset)")
    p.add_argument("--generated", type=int, help="train on this many generated target-domain captures")
    p.add_argument("--val-generated", type=int, default=0,
                   help="validate on this many held-out generated captures (they have truth)")
    p.add_argument("--val-every", type=int, help="validate every N steps (needs --val-generated)")
    p.add_argument("--size", type=int, default=512, help="square size of the captures (512: the paper)")
    p.add_argument("--steps", type=int, default=10_000, help="total student steps")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps-per-epoch", type=int,
                   help="epoch of the wt schedule (default: captures // batch size)")
    p.add_argument("--d-every", type=int, default=5, help="step D every N iterations (recipe: 5)")
    p.add_argument("--ndf", type=int, default=64, help="discriminator width (recipe: 64)")
    p.add_argument("--gan-weight", type=float, default=1.0,
                   help="weight of the GAN term (recipe: 1; 0: pseudo-supervision only)")
    p.add_argument("--gan-gradient", choices=GAN_GRADIENTS, default="released",
                   help="released (default): the GAN term sends no gradient to the student, "
                   "as the authors' released code (its Variable wrapper detaches the "
                   "recomposition); paper: it does, as the paper describes")
    p.add_argument("--shift-fill", choices=SHIFT_FILLS, default="wrap",
                   help="what fills the columns the recomposition shift vacates: wrap "
                   "(default: the original's circular roll), background, zeros")
    p.add_argument("--max-shift", type=float, default=0.1,
                   help="largest recomposition shift, a fraction of the width (default 0.1)")
    p.add_argument("--min-shift", type=float, default=0.0,
                   help="smallest recomposition shift, a fraction of the width, where the "
                   "subject allows it (default 0; at most --max-shift)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="checkpoint every N steps")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.set_defaults(func=interruptible(_cmd_train_student, p))
    return p
