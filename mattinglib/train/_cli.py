"""What the ``train`` and ``train-bgm`` commands share: their profile options and their report.

Both commands size a run by a profile (:mod:`mattinglib.config`) that the
command line may change field by field, claim a run folder, train, and print
where the run stands. The model-specific options stay with each command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config import PROFILES

__all__ = ["add_profile_arguments", "profile_changes", "report_run", "PROFILE_FIELDS"]

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
                   help="sizes of the run (default: $MATTINGLIB_PROFILE, else full on a GPU, quick on CPU)")
    p.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, run.json)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
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
