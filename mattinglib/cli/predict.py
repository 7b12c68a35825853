"""The prediction commands: ``predict`` (a trimap-based network) and ``predict-bgm``.

``predict`` reads a run folder of ``python -m mattinglib train``
(:func:`mattinglib.train.runs.load_trained_model`) and mattes one image with its
trimap at any size (:func:`mattinglib.inference.matting.predict_alpha`);
``predict-bgm`` mattes photos with a plate of the empty scene
(:func:`mattinglib.inference.bgm.predict_bgm`)::

    python -m mattinglib predict --checkpoint runs/mnet --image photo.png --trimap trimap.png \\
        --out alpha.png
    python -m mattinglib predict-bgm --photo photo.png --plate plate.png --out-dir out \\
        --weights netG.pth
    python -m mattinglib predict-bgm --photo photo.png --plate plate.png --out-dir out \\
        --run runs/bgm_quick_...     # a generator trained here (train-bgm, chapter 6)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import io
from ..inference.bgm import predict_bgm
from ..inference.matting import predict_alpha
from ..train.runs import load_bgm_generator, load_trained_model

__all__ = ["add_predict_command", "add_predict_bgm_command"]


# --------------------------------------------------------------------------- predict


def _cmd_predict(args: argparse.Namespace) -> int:
    io.check_image_path(args.out, name="--out")
    model = load_trained_model(args.checkpoint, device=args.device)
    image = io.read_image(args.image)
    trimap = io.read_trimap(args.trimap)
    alpha = predict_alpha(model, image, trimap, device=args.device, max_side=args.max_side,
                          tile=args.tile, overlap=args.overlap)
    io.write_alpha(args.out, alpha)
    print(f"wrote {args.out} ({alpha.shape[1]}x{alpha.shape[0]})", file=sys.stderr)
    return 0


def add_predict_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``predict`` to a ``python -m mattinglib`` sub-command parser; returns its parser.

    ``python -m mattinglib predict --checkpoint runs/mnet --image photo.png
    --trimap trimap.png --out alpha.png [--max-side 1024] [--tile 512]``:
    ``--checkpoint`` is a ``step_*.pt`` file or a run folder written by
    ``python -m mattinglib train`` (its latest checkpoint is used).
    """
    p = subparsers.add_parser("predict",
                              help="alpha matte of an image from a trimap and a trained model",
                              description=add_predict_command.__doc__.split("\n\n")[1])
    p.add_argument("--checkpoint", required=True, type=Path,
                   help="step_*.pt file, or a run folder (its latest checkpoint)")
    p.add_argument("--image", required=True, type=Path, help="RGB image (any size)")
    p.add_argument("--trimap", required=True, type=Path, help="trimap PNG with values 0/128/255")
    p.add_argument("--out", required=True, type=Path, help="where to write the alpha PNG")
    p.add_argument("--max-side", type=int, default=None,
                   help="downscale so the longer side is at most this (then upscale the alpha)")
    p.add_argument("--tile", type=int, default=None,
                   help="run in tiles of this size (saves memory)")
    p.add_argument("--overlap", type=int, default=32, help="overlap of the tiles in pixels")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.set_defaults(func=_cmd_predict)
    return p


# --------------------------------------------------------------------------- predict-bgm


def _cmd_predict_bgm(args) -> int:
    if args.run is not None and args.weights is not None:
        raise SystemExit("predict-bgm: give --weights (an official checkpoint) or --run (a run "
                         "folder trained here), not both")
    generator = None
    if args.run is not None:
        generator = load_bgm_generator(args.run, device=args.device)
        print(f"generator: the run {args.run}", file=sys.stderr)
    for photo in args.photo:
        paths = predict_bgm(photo, args.plate, out_dir=args.out_dir, weights=args.weights,
                            generator=generator,
                            target=args.target, size=args.size, device=args.device,
                            align=not args.no_align, segmentation=args.segmentation,
                            seg_weights=args.seg_weights,
                            allow_random_weights=args.allow_random_weights, seed=args.seed)
        for path in paths.values():
            print(f"wrote {path}")
    if args.allow_random_weights and args.weights is None and args.run is None:
        print("note: DEMO MODE (random generator weights): these mattes are meaningless",
              file=sys.stderr)
    return 0


def add_predict_bgm_command(subparsers) -> argparse.ArgumentParser:
    """Register ``predict-bgm`` on an argparse ``subparsers`` object; returns its parser.

    The handler is stored as ``func`` (``args.func(args)`` returns the exit code).

    >>> parser = argparse.ArgumentParser(prog="mattinglib")
    >>> p = add_predict_bgm_command(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["predict-bgm", "--photo", "a.png", "--plate", "b.png",
    ...                           "--out-dir", "o"])
    >>> args.size, args.weights, args.allow_random_weights
    (512, None, False)
    """
    p = subparsers.add_parser(
        "predict-bgm", help="Background Matting on photos with a plate of the empty scene",
        description="Align the plate, segment the person, run the Background Matting generator on "
                    "a square crop and write <name>_matte.png, <name>_fg.png, "
                    "<name>_composite.png.")
    p.add_argument("--photo", required=True, nargs="+", help="photo(s) with the person")
    p.add_argument("--plate", required=True, help="photo of the same scene without the person")
    p.add_argument("--out-dir", required=True, help="output folder")
    p.add_argument("--weights",
                   help="official generator checkpoint (.pth); see the error without it")
    p.add_argument("--run", help="a run folder (or step_*.pt) of a generator trained here "
                                 "(train-bgm, chapter 6), instead of --weights")
    p.add_argument("--target", help="new background image for the composite (else a checkerboard)")
    p.add_argument("--size", type=int, default=512,
                   help="network resolution (multiple of 4; paper: 512)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--segmentation", default="auto", choices=("auto", "deeplab", "background"),
                   help="auto: DeepLabV3 when its weights are local, "
                        "else the (labelled) background difference")
    p.add_argument("--seg-weights",
                   help="torchvision DeepLabV3 checkpoint (else the torch hub cache)")
    p.add_argument("--no-align", action="store_true", help="the plate is already aligned (tripod)")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="demo mode without --weights: a random generator, meaningless mattes")
    p.add_argument("--seed", type=int, default=0, help="seed of the random generator in demo mode")
    p.set_defaults(func=_cmd_predict_bgm)
    return p
