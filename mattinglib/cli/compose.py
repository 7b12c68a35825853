"""``compose``: I = aF + (1-a)B from a foreground, an alpha and a background image.

    python -m mattinglib compose --foreground fg.png --alpha alpha.png \\
        --background bg.png --output composite.png

A background of another size is stretched to the foreground's frame.
"""

from __future__ import annotations

import argparse

import cv2

from .. import compositing, io

__all__ = ["add_compose_command"]


def _cmd_compose(args) -> int:
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


def add_compose_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``compose`` to a ``python -m mattinglib`` sub-command parser; returns its parser."""
    p = subparsers.add_parser("compose", help="I = aF + (1-a)B")
    p.add_argument("--foreground", required=True)
    p.add_argument("--alpha", required=True)
    p.add_argument("--background", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=_cmd_compose)
    return p
