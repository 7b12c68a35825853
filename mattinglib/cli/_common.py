"""What the training commands share: profile options, the report, and Ctrl-C.

``train`` and ``train-bgm`` size a run by a profile (:mod:`mattinglib.config`)
that the command line may change field by field, claim a run folder, train,
and print where the run stands. The model-specific options stay with each
command. All three training commands (also ``train-student``) answer Ctrl-C
with one line, the step reached, the checkpoint saved and the command that
continues the run, and exit status 130 (:func:`interruptible`).
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from pathlib import Path
from typing import Any

from ..config import PROFILES

__all__ = ["add_profile_arguments", "profile_changes", "report_run", "PROFILE_FIELDS",
           "interruptible", "resume_command", "INTERRUPTED_EXIT"]

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED_EXIT = 130

#: Command-line option (``args`` attribute) -> the profile field it changes.
PROFILE_FIELDS = {"steps": "train_steps", "batch_size": "batch_size", "image_size": "image_size",
                  "val_every": "val_every", "num_train": "num_train_samples",
                  "num_val": "num_val_samples", "seed": "seed"}


def add_profile_arguments(p: argparse.ArgumentParser, *, image_multiple: int,
                          choices=None) -> None:
    """The options of a profile-sized training command (``--profile``, ``--out``, ``--steps``...).

    ``choices``: the preset names ``--profile`` accepts (default: the profiles).
    """
    p.add_argument("--profile", choices=sorted(PROFILES) if choices is None else list(choices),
                   default=None,
                   help="sizes of the run (default: $MATTINGLIB_PROFILE, else full on a GPU, "
                        "quick on CPU)")
    p.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, run.json)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --out")
    p.add_argument("--steps", type=int, help="total optimisation steps (default: the profile's)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--image-size", type=int,
                   help=f"training crop size, a multiple of {image_multiple}")
    p.add_argument("--val-every", type=int, help="validate and checkpoint every N steps")
    p.add_argument("--num-train", type=int, help="generated training samples")
    p.add_argument("--num-val", type=int, help="generated validation samples")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")


def profile_changes(args: argparse.Namespace, **extra: str) -> dict[str, Any]:
    """The profile fields the command line sets (options left out change nothing).

    Args:
        args: the parsed options of :func:`add_profile_arguments`.
        **extra: more ``option=field`` pairs of the command (e.g. ``width="width"``).

    >>> profile_changes(argparse.Namespace(steps=30, batch_size=None, image_size=None,
    ...     val_every=None, num_train=None, num_val=None, seed=1, width=0.5), width="width")
    {'train_steps': 30, 'seed': 1, 'width': 0.5}
    """
    fields = {**PROFILE_FIELDS, **extra}
    return {field: getattr(args, option) for option, field in fields.items()
            if getattr(args, option) is not None}


def report_run(trainer: Any, history: Any, out: Path) -> int:
    """Print the step reached, the last validation and the folder to stderr; returns 0."""
    last = {k: round(v[-1], 5) for k, v in history.val.items()} if history.val_steps else {}
    print(f"step {trainer.step}/{trainer.max_steps}; last validation {last}; checkpoints in {out}",
          file=sys.stderr)
    return 0


def resume_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command line that continues the run of ``args``: its options, plus ``--resume``.

    Options left at their default are left out.

    >>> p = argparse.ArgumentParser(prog="mattinglib train")
    >>> _ = p.add_argument("--out"); _ = p.add_argument("--steps", type=int, default=10)
    >>> _ = p.add_argument("--resume", action="store_true")
    >>> resume_command(p, p.parse_args(["--out", "runs/my run", "--steps", "30"]))
    "python -m mattinglib train --out 'runs/my run' --steps 30 --resume"
    """
    parts = ["python", "-m", *shlex.split(parser.prog)]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "resume"):
            continue
        value = getattr(args, action.dest, None)
        if value is None or value is False or value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return shlex.join([*parts, "--resume"])


def interruptible(command: Any, parser: argparse.ArgumentParser) -> Any:
    """``command(args)``, answering Ctrl-C with one line on stderr and exit status 130.

    The trainers have saved the last complete step when they raise
    (:class:`~mattinglib.train.interrupt.TrainingInterrupted`); the line says
    so and gives the command that continues the run.
    """

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except KeyboardInterrupt as err:
            where = str(err) or "interrupted before training started"
            print(f"{where}; continue with: {resume_command(parser, args)}", file=sys.stderr)
            return INTERRUPTED_EXIT

    return run
