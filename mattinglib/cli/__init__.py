"""Command line: ``python -m mattinglib <command> ...`` (or the ``mattinglib`` script).

Commands:
    compose    I = aF + (1-a)B from a foreground, an alpha and a background image
    evaluate   the official metrics of predicted mattes against ground truth
    train      train a matting network (M-Net) on generated data, resumable
    train-bgm  train the Background Matting generator (supervised stage), resumable
    train-student  Background Matting's adversarial stage: a student against a frozen
               teacher on unlabelled captures, resumable
    predict    alpha for an image and its trimap, at any size (pad, downscale or tile)
    predict-bgm  Background Matting on real photos with a captured background plate

Each command prints ``--help``. One module per command family holds its
parser and its ``_cmd_*`` function: :mod:`~mattinglib.cli.compose`,
:mod:`~mattinglib.cli.evaluate`, :mod:`~mattinglib.cli.train` (train,
train-bgm, train-student; what they share is in :mod:`~mattinglib.cli._common`)
and :mod:`~mattinglib.cli.predict` (predict, predict-bgm). The library modules
they call hold no command-line code.

Errors: a bad input (a missing or unreadable file, an output folder that cannot
be written, a value out of range) ends the command with one line ``error: ...``
on stderr and exit status 2; every command checks where its results go before
it starts the long work. Anything else is a bug and shows its traceback
(``MATTINGLIB_TRACEBACK=1`` shows it for input errors too).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from .._checks import InputTypeError

__all__ = ["build_parser", "main", "is_input_error"]

# The library's input errors name the argument first ("alpha: expected ...", "--out: ...").
# A ValueError without that prefix comes from deeper down (NumPy, PyTorch, the standard
# library) and is treated as a bug, with its traceback.
_NAMED_ERROR = re.compile(r"^[-\w.\[\]/]+: ")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m mattinglib`` parser with every command; ``args.func(args)`` runs one.

    >>> args = build_parser().parse_args(["evaluate", "--pred", "p", "--gt", "g", "--trimap", "t"])
    >>> args.command, args.json
    ('evaluate', None)
    """
    from .compose import add_compose_command
    from .evaluate import add_evaluate_command
    from .predict import add_predict_bgm_command, add_predict_command
    from .train import add_train_bgm_command, add_train_command, add_train_student_command

    parser = argparse.ArgumentParser(prog="mattinglib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_compose_command(sub)
    add_evaluate_command(sub)
    add_train_command(sub)
    add_train_bgm_command(sub)
    add_train_student_command(sub)
    add_predict_command(sub)
    add_predict_bgm_command(sub)
    return parser


def is_input_error(err: BaseException) -> bool:
    """Whether ``err`` reports a bad input (one line, exit 2) rather than a bug (traceback).

    File-system errors (``OSError``: a missing file, a read-only folder, a full
    disk) always are; a ``ValueError`` or ``TypeError`` is when it comes from the
    library's checks (:class:`~mattinglib._checks.InputTypeError`, or a message
    that starts with the argument's name).

    >>> is_input_error(ValueError("alpha: expected values in [0, 1]"))
    True
    >>> is_input_error(ValueError("operands could not be broadcast together"))
    False
    >>> is_input_error(KeyError("sad"))
    False
    """
    if isinstance(err, (OSError, InputTypeError)):
        return True
    return isinstance(err, ValueError) and bool(_NAMED_ERROR.match(str(err)))


def main(argv=None) -> int:
    """Run the command of ``argv`` (default: ``sys.argv[1:]``); returns its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as err:
        if not is_input_error(err) or os.environ.get("MATTINGLIB_TRACEBACK"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
