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

Each builds a recipe object (:class:`~mattinglib.train.recipes.MNetRecipe`,
:class:`~mattinglib.train.bgm_recipes.BGMRecipe`,
:class:`~mattinglib.train.bgm_recipes.StudentRecipe`) from its preset and the flags
given; the run folder's ``run.json`` is that recipe's ``settings()``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._checks import check_int, check_number, check_writable_dir
from ..train.adversarial import GAN_GRADIENTS, SHIFT_FILLS
from ..train.bgm_recipes import BGMRecipe, StudentRecipe, start_bgm_run, start_student_run
from ..train.checkpoint import RUN_FILE, check_run_folder, read_run_settings, save_checkpoint
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
    # every check runs before run.json is written
    recipe = cls.preset(args.profile).replace(**changes)
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

#: ``train-bgm`` generator options (``args`` attribute) -> the recipe field they change.
_BGM_OPTIONS = {"ngf": "ngf", "n_blocks1": "n_blocks1", "n_blocks2": "n_blocks2", "lr": "lr"}


def _cmd_train_bgm(args: argparse.Namespace) -> int:
    changes = profile_changes(args, **_BGM_OPTIONS)
    if args.motion_features:
        changes["use_motion_features"] = True
    recipe = BGMRecipe.preset(args.profile).replace(**changes)  # every check runs here
    out = Path(args.out)
    # run.json (= recipe.settings()) is written only once the folder and the trainer passed.
    trainer = start_bgm_run(recipe, out, resume=args.resume, device=args.device)
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
    p.add_argument("--lr", type=float,
                   help=f"Adam learning rate (default: the recipe's, "
                        f"{BGMRecipe.quick().lr:g}, the paper's)")
    p.set_defaults(func=interruptible(_cmd_train_bgm, p))
    return p


# --------------------------------------------------------------------------- train-student

#: The student's weights, written at the end of a run (released layout, no ``module.`` prefix).
EXPORT_FILE = "generator.pth"
#: ``train-student`` options (``args`` attribute) -> the recipe field they change.
_STUDENT_OPTIONS = {"size": "image_size", "steps": "train_steps", "batch_size": "batch_size",
                    "steps_per_epoch": "steps_per_epoch", "d_every": "d_every", "ndf": "ndf",
                    "gan_weight": "gan_weight", "gan_gradient": "gan_gradient",
                    "shift_fill": "shift_fill", "max_shift": "max_shift", "min_shift": "min_shift",
                    "anti_shortcut": "anti_shortcut",
                    "checkpoint_every": "checkpoint_every", "workers": "num_workers",
                    "generated": "num_train_samples", "val_generated": "num_val_samples",
                    "val_every": "val_every"}


def _student_recipe(args: argparse.Namespace) -> StudentRecipe:
    """The preset of ``--preset`` changed by the flags given (the teacher comes later)."""
    if (args.captures is None) == (args.generated is None):
        raise ValueError("--captures/--generated: give exactly one source of unlabelled captures "
                         "(a folder of captured videos, or a number of generated ones)")
    for name in ("steps", "batch_size", "size", "ndf", "val_every", "steps_per_epoch",
                 "generated", "d_every", "checkpoint_every"):
        check_int(getattr(args, name), "--" + name.replace("_", "-"), minimum=1, optional=True)
    check_int(args.workers, "--workers", minimum=0, optional=True)
    check_int(args.val_generated, "--val-generated", minimum=0, optional=True)
    check_int(args.seed, "--seed", minimum=0, optional=True)
    if args.size is not None and args.size % 4:
        raise ValueError(f"--size: the generator needs a multiple of 4, got {args.size}")
    recipe = StudentRecipe.preset(args.preset)
    # Each given number is checked with the flag's name (None: the preset's value).
    if args.gan_weight is not None:
        check_number(args.gan_weight, "--gan-weight", minimum=0)
    if args.max_shift is not None:
        check_number(args.max_shift, "--max-shift", minimum=0, maximum=1)
    if args.min_shift is not None:
        max_shift = recipe.max_shift if args.max_shift is None else args.max_shift
        check_number(args.min_shift, "--min-shift", minimum=0, maximum=max_shift)
    if args.seed is not None:
        recipe = recipe.with_seed(args.seed)
    changes = {field: getattr(args, option) for option, field in _STUDENT_OPTIONS.items()
               if getattr(args, option) is not None}
    val = changes.get("num_val_samples", recipe.num_val_samples)
    if args.val_every is not None and not val:
        raise ValueError("--val-every: validation needs held-out truth; add --val-generated N")
    if not val:
        changes["val_every"] = None
    if args.captures is not None:
        changes["captures"] = str(Path(args.captures).resolve())
    return recipe.replace(**changes)


def _with_teacher(recipe: StudentRecipe, teacher: Path) -> StudentRecipe:
    """The recipe with the teacher's: its run folder and the recipe in its ``run.json``."""
    path, settings = read_run_settings(
        teacher, records="the teacher's recipe (written by `python -m mattinglib train-bgm`)")
    if settings.get("model") != BGMRecipe.model:
        raise ValueError(f"--teacher: {path.parent / RUN_FILE} names model "
                         f"{settings.get('model')!r}, expected {BGMRecipe.model!r}")
    return recipe.replace(teacher=BGMRecipe.from_settings(settings),
                          teacher_run=str(Path(teacher).resolve()))


def _cmd_train_student(args: argparse.Namespace) -> int:
    recipe = _student_recipe(args)  # every setting is checked here, before any work
    check_writable_dir(args.out, "--out")
    recipe = _with_teacher(recipe, args.teacher)
    teacher = load_bgm_generator(args.teacher, device="cpu")
    out = Path(args.out)
    trainer = start_student_run(recipe, teacher, out, resume=args.resume, device=args.device)
    history = trainer.fit()
    if not trainer.dist.is_main:  # under torchrun rank 0 writes and reports
        return 0
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
        python -m mattinglib train-student --teacher runs/bgm --captures data/captured \\
            --out runs/student
        # or the offline target domain, validated on held-out generated captures
        python -m mattinglib train-student --teacher runs/bgm --generated 4000 --val-generated 32 \\
            --out runs/student

    The run is :class:`~mattinglib.train.bgm_recipes.StudentRecipe` ``--preset``
    (``quick``, ``full``, ``cpu``) changed by the options given, with the teacher's
    recipe read from its ``run.json``. The run folder gets ``step_*.pt`` checkpoints
    (``--resume`` continues one, also with a larger ``--steps``), ``run.json`` (the
    recipe's settings), and at the end
    ``generator.pth``: the student's weights in the released state-dict layout, so
    that ``python -m mattinglib predict-bgm --weights runs/student/generator.pth``
    mattes a photo with it (for the paper-sized generator). Under ``torchrun
    --nproc_per_node=N`` each process trains on its slice of every step's
    ``N * batch-size`` captures with the gradients averaged; rank 0 validates and
    writes the checkpoints and ``generator.pth``.
    """
    p = subparsers.add_parser(
        "train-student", help="Background Matting's adversarial stage: a fresh student against "
        "a frozen teacher on unlabelled captures",
        description=add_train_student_command.__doc__.split("\n\n")[1])
    p.add_argument("--teacher", required=True, type=Path,
                   help="the teacher: a run folder (or checkpoint) of `train-bgm`")
    p.add_argument("--out", required=True, type=Path, help=f"run folder (checkpoints, {RUN_FILE}, "
                   f"{EXPORT_FILE})")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --out")
    p.add_argument("--preset", choices=sorted(StudentRecipe.presets), default=None,
                   help="the recipe the options below change (StudentRecipe; default: "
                   "$MATTINGLIB_PROFILE, else full on a GPU, quick on a CPU)")
    p.add_argument("--captures", type=Path, help="folder of captured videos (see "
                   "mattinglib.data.target_domain.CapturedVideoDataset)")
    p.add_argument("--generated", type=int,
                   help="train on this many generated target-domain captures")
    p.add_argument("--val-generated", type=int,
                   help="validate on this many held-out generated captures (they have truth; "
                   "0: no validation)")
    p.add_argument("--val-every", type=int, help="validate every N steps (needs held-out captures)")
    p.add_argument("--size", type=int, help="square size of the captures (full: 512, the paper)")
    p.add_argument("--steps", type=int, help="total student steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--steps-per-epoch", type=int,
                   help="epoch of the wt schedule (full: captures // batch size)")
    p.add_argument("--d-every", type=int, help="step D every N iterations (recipe: 5)")
    p.add_argument("--ndf", type=int, help="discriminator width (full: 64)")
    p.add_argument("--gan-weight", type=float,
                   help="weight of the GAN term (recipe: 1; 0: pseudo-supervision only)")
    p.add_argument("--gan-gradient", choices=GAN_GRADIENTS,
                   help="released (the presets): the GAN term sends no gradient to the student, "
                   "as the authors' released code (its Variable wrapper detaches the "
                   "recomposition); paper: it does, as the paper describes")
    p.add_argument("--shift-fill", choices=SHIFT_FILLS,
                   help="what fills the columns the recomposition shift vacates: wrap "
                   "(the presets: the original's circular roll), background, zeros")
    p.add_argument("--max-shift", type=float,
                   help="largest recomposition shift, a fraction of the width (presets: 0.1)")
    p.add_argument("--min-shift", type=float,
                   help="smallest recomposition shift, a fraction of the width, where the "
                   "subject allows it (presets: 0; at most --max-shift)")
    p.add_argument("--anti-shortcut", action="store_const", const=True,
                   help="also show the critic, as fake, each frame cut out with another frame's "
                   "alpha: frame pixels pasted where the subject is not, the mistake of an "
                   "alpha that spreads beyond the subject (off in the presets; needs a batch "
                   "of at least 2)")
    p.add_argument("--checkpoint-every", type=int, help="checkpoint every N steps")
    p.add_argument("--workers", type=int, help="DataLoader worker processes")
    p.add_argument("--seed", type=int, help="seed of the run (the student, D and the captures "
                   "get seed + 1, + 2, + 7, + 8)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.set_defaults(func=interruptible(_cmd_train_student, p))
    return p
