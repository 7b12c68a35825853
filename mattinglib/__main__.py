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

Each command prints ``--help``. Long jobs (training, prediction) add their own
commands here as the course introduces them.

Errors: a bad input (a missing or unreadable file, an output folder that cannot
be written, a value out of range) ends the command with one line ``error: ...``
on stderr and exit status 2; every command checks where its results go before
it starts the long work. Anything else is a bug and shows its traceback
(``MATTINGLIB_TRACEBACK=1`` shows it for input errors too).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

# The library's input errors name the argument first ("alpha: expected ...", "--out: ...").
# A ValueError without that prefix comes from deeper down (NumPy, PyTorch, the standard
# library) and is treated as a bug, with its traceback.
_NAMED_ERROR = re.compile(r"^[-\w.\[\]/]+: ")


def _cmd_compose(args) -> int:
    import cv2

    from . import compositing, io

    io.check_image_path(args.output, name="--output")
    fg = io.read_image(args.foreground)
    alpha = io.read_alpha(args.alpha)
    if alpha.shape != fg.shape[:2]:
        raise ValueError(f"--alpha: {args.alpha} is {alpha.shape[1]}x{alpha.shape[0]}, the "
                         f"foreground {args.foreground} is {fg.shape[1]}x{fg.shape[0]}; "
                         "they must match")
    bg = io.read_image(args.background)
    if bg.shape[:2] != alpha.shape:
        # A new background of another size is stretched to the foreground's frame.
        bg = cv2.resize(bg, alpha.shape[::-1], interpolation=cv2.INTER_AREA)
    io.write_image(args.output, compositing.compose(fg, bg, alpha))
    print(f"wrote {args.output}")
    return 0


def _cmd_evaluate(args) -> int:
    from tqdm.auto import tqdm

    from . import io, metrics
    from ._checks import check_writable_file

    if args.json:
        check_writable_file(args.json, "--json")
    pred_dir, gt_dir, trimap_dir = Path(args.pred), Path(args.gt), Path(args.trimap)
    names = sorted(p.name for p in pred_dir.glob("*.png"))
    if not names:
        print(f"error: pred: no PNG files in {pred_dir}", file=sys.stderr)
        return 2
    rows = {}
    for name in tqdm(names, desc="evaluating"):
        for folder in (gt_dir, trimap_dir):
            if not (folder / name).is_file():
                print(f"error: {folder / name} is missing (every prediction needs a ground truth "
                      "and a trimap of the same file name)", file=sys.stderr)
                return 2
        pred = io.read_alpha(pred_dir / name)
        rows[name] = metrics.evaluate(pred, io.read_alpha(gt_dir / name), io.read_trimap(trimap_dir / name))
    mean = metrics.mean_metrics(list(rows.values()))
    print(f"{'image':<24}{'SAD':>10}{'MSE':>10}{'Grad':>10}{'Conn':>10}")
    for name, m in list(rows.items()) + [("mean", mean)]:
        print(f"{name:<24}{m['sad']:>10.3f}{m['mse']:>10.5f}{m['grad']:>10.3f}{m['conn']:>10.3f}")
    print("units: SAD, Grad and Conn divided by 1000 as the official evaluation; MSE unscaled")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": rows, "mean": mean}, indent=2) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mattinglib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compose", help="I = aF + (1-a)B")
    p.add_argument("--foreground", required=True)
    p.add_argument("--alpha", required=True)
    p.add_argument("--background", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=_cmd_compose)

    p = sub.add_parser("evaluate", help="official SAD / MSE / Grad / Conn of a folder of mattes")
    p.add_argument("--pred", required=True, help="folder of predicted alpha PNGs")
    p.add_argument("--gt", required=True, help="folder of ground-truth alpha PNGs (same names)")
    p.add_argument("--trimap", required=True, help="folder of trimap PNGs (same names)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    p.set_defaults(func=_cmd_evaluate)

    from .inference.bgm import add_predict_bgm_command
    from .inference.matting import add_predict_command
    from .train.bgm_recipes import add_train_bgm_command
    from .train.recipes import add_train_command
    from .train.student_recipe import add_train_student_command

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
    from ._checks import InputTypeError

    if isinstance(err, (OSError, InputTypeError)):
        return True
    return isinstance(err, ValueError) and bool(_NAMED_ERROR.match(str(err)))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as err:
        if not is_input_error(err) or os.environ.get("MATTINGLIB_TRACEBACK"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
