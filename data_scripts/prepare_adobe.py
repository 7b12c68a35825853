"""Compose the Deep Image Matting training set and Composition-1k from the Adobe data.

The Adobe Deep Image Matting data set (Xu et al., CVPR 2017) is given on
request, under a non-commercial agreement, as a folder of foregrounds and
alpha mattes plus text files that say which COCO (training) or PASCAL VOC
(test) photo goes behind which foreground. It holds no composites: every user
composes them. This script does that, exactly as the paper's numbers need
(Xu et al., CVPR 2017, section 4): 431 foregrounds x 100 COCO backgrounds = 43,100 training
composites and 50 foregrounds x 20 VOC backgrounds = 1,000 test composites
(Composition-1k) with the fixed trimaps. It expects::

    Combined_Dataset/                        --adobe (as the request grants it)
    ├── Training_set/
    │   ├── Adobe-licensed images/
    │   │   ├── fg/<name>                    foreground colours (jpg or png)
    │   │   └── alpha/<name>                 alpha mattes, same file name
    │   ├── Other/
    │   │   ├── fg/<name>
    │   │   └── alpha/<name>
    │   ├── training_fg_names.txt            431 names, one a line
    │   └── training_bg_names.txt            43,100 COCO names: 100 per foreground, in order
    └── Test_set/
        ├── Adobe-licensed images/
        │   ├── fg/<name>
        │   ├── alpha/<name>
        │   └── trimaps/<name>               the fixed trimaps, {0, 128, 255}
        ├── test_fg_names.txt                50 names
        └── test_bg_names.txt                1,000 VOC names: 20 per foreground, in order

    (the two *_bg_names.txt files are also found one level up, beside the split folders)

    <coco>/  COCO train2014 images            --coco  (data_scripts/download_backgrounds.py
    <voc>/   VOC2012 JPEGImages                --voc    --dataset coco-train2014 / voc2012)

and writes::

    <out>/                                   --out, default <data root>/adobe_dim
    ├── train/
    │   ├── merged/<fg>_<k>.png              I = alpha F + (1 - alpha) B, k = 0..99
    │   ├── bg/<fg>_<k>.png                  the background B exactly as composed
    │   ├── alpha/<fg>.png                   grey 8-bit
    │   └── fg/<fg>.png                      RGB
    └── test/                                Composition-1k, what
        ├── merged/<fg>_<k>.png              mattinglib.data.composition.Composition1kDataset
        ├── bg/<fg>_<k>.png                  reads (k = 0..19)
        ├── alpha/<fg>.png
        ├── fg/<fg>.png
        └── trimaps/<fg>.png

``<fg>`` is the foreground's file name without its extension. The command,
from the repository root::

    python data_scripts/prepare_adobe.py --adobe /path/to/Combined_Dataset \\
        --coco data/backgrounds/coco/train2014 --voc data/backgrounds/voc2012/JPEGImages

Training does not need ``train/merged`` (the DIM recipe composes on the fly,
``CompositionDataset.from_folders(<out>/train/fg, <out>/train/alpha, <coco>)``),
and the 43,100 full-size PNGs take well over 100 GB: ``--split test`` writes
only Composition-1k (a few GB). ``--limit 2`` composes the first two
foregrounds of each split, a dry run that checks paths in seconds.

How a composite is made, and why (the composition script distributed with the
data set; the same rule appears in many public re-implementations):

1. The foreground ``F`` (RGB) and alpha are read as 8-bit; an RGB or RGBA alpha
   file uses its first channel.
2. The background is read as RGB. When it is smaller than the foreground in
   either direction it is scaled up, keeping its aspect ratio, by
   ``r = max(w / bw, h / bh)`` to ``(ceil(bw r), ceil(bh r))`` with Pillow's
   bicubic filter, so that it covers the foreground; a larger background is
   never scaled down (its texture keeps its native scale).
3. The top-left ``h x w`` corner is cropped: deterministic, so the published
   numbers refer to one fixed set of images.
4. ``I = a F + (1 - a) B`` with ``a = alpha / 255`` in float64, then converted
   to 8 bits by truncation (``floor``), as the original does. ``--rounding
   nearest`` rounds instead (half the error, but other images than everyone
   else's Composition-1k). Either way ``bg/`` holds the cropped ``B``, so
   ``merged = a fg + (1 - a) bg`` holds for the written files up to one 8-bit
   level (half a level with ``nearest``).

Robustness: every output is written under a temporary name and renamed, so a
file that exists is complete; a second run skips every output that exists and
is a whole PNG (signature, size in its header, end chunk) of the foreground's
size, and recomposes the rest. A foreground, alpha, trimap or background that
is missing or cannot be decoded does not stop the run: the composites it
affects are counted as failures and listed by file name at the end (exit
status 2). A trimap with values other than {0, 128, 255} is such a failure
(never rounded).
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts._cli import run_script  # noqa: E402
from data_scripts._download import atomic_write  # noqa: E402

__all__ = [
    "SPLITS",
    "PUBLISHED_COUNTS",
    "SplitSpec",
    "PrepareReport",
    "read_names",
    "read_rgb_u8",
    "read_alpha_u8",
    "cover_and_crop",
    "composite_u8",
    "png_size",
    "write_png",
    "prepare_split",
    "prepare_adobe",
    "build_parser",
    "main",
]


@dataclass(frozen=True)
class SplitSpec:
    """Where one split's files are inside ``Combined_Dataset``."""

    folder: str
    fg_dirs: tuple[str, ...]
    fg_names: str
    bg_names: str
    background: str  # "coco" or "voc"
    trimaps: bool


SPLITS: dict[str, SplitSpec] = {
    "train": SplitSpec("Training_set", ("Adobe-licensed images", "Other"),
                       "training_fg_names.txt", "training_bg_names.txt", "coco", False),
    "test": SplitSpec("Test_set", ("Adobe-licensed images",),
                      "test_fg_names.txt", "test_bg_names.txt", "voc", True),
}
#: (foregrounds, backgrounds per foreground) of the paper.
PUBLISHED_COUNTS = {"train": (431, 100), "test": (50, 20)}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


@dataclass
class PrepareReport:
    """What :func:`prepare_split` did.

    Attributes:
        split: ``"train"`` or ``"test"``.
        out_dir: the split's output folder.
        foregrounds: foregrounds processed (after ``limit``).
        per_fg: backgrounds per foreground.
        written: composites written by this run.
        skipped: composites already complete on disk.
        failures: ``(composite or file name, reason)`` for every composite
            that could not be made (a bad foreground fails all of its composites).
    """

    split: str
    out_dir: Path
    foregrounds: int = 0
    per_fg: int = 0
    written: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


# --------------------------------------------------------------------------- reading


def read_names(path) -> list[str]:
    """The non-empty lines of a name file, stripped (``training_fg_names.txt`` and co)."""
    text = Path(path).read_text(encoding="utf-8", errors="strict")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _open_pil(path: Path):
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"missing file {path}")
    try:
        img = Image.open(path)
        img.load()  # decode now: a truncated file fails here, not later
    except (OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"cannot decode {path}: {err}") from None
    return img


def read_rgb_u8(path) -> np.ndarray:
    """An image as uint8 ``(H, W, 3)`` RGB, decoded by Pillow as the original composer did.

    Raises:
        FileNotFoundError: no such file. ValueError: the file cannot be decoded.
    """
    img = _open_pil(Path(path))
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_alpha_u8(path) -> np.ndarray:
    """An alpha matte as uint8 ``(H, W)``; RGB(A) files use their first channel, as the
    original composer does (16-bit files are scaled to 8 bits by rounding)."""
    img = _open_pil(Path(path))
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.dtype == np.uint8:
        return arr.copy()
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer) and arr.max() <= 65535:
        return np.rint(arr.astype(np.float64) / 257.0).astype(np.uint8)
    raise ValueError(f"cannot read {path} as an 8-bit alpha (mode {img.mode})")


# --------------------------------------------------------------------------- composing


def cover_and_crop(bg: np.ndarray, height: int, width: int) -> np.ndarray:
    """A background made to cover ``height x width`` as the DIM composer does.

    Scaled up (never down), aspect kept, by ``r = max(width / bw, height / bh)``
    to ``(ceil(bw r), ceil(bh r))`` with Pillow's bicubic filter when ``r > 1``,
    then its top-left ``height x width`` corner is taken.

    Args:
        bg: uint8 ``(bh, bw, 3)``.
        height, width: the foreground's size.

    Returns:
        uint8 ``(height, width, 3)``.

    >>> big = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    >>> bool((cover_and_crop(big, 4, 5) == big[:4, :5]).all())
    True
    >>> cover_and_crop(big, 12, 10).shape  # scaled by 2 to 12 x 16, then cropped
    (12, 10, 3)
    """
    from PIL import Image

    if bg.dtype != np.uint8 or bg.ndim != 3 or bg.shape[2] != 3:
        raise ValueError(f"bg: expected uint8 (H,W,3), got {bg.dtype} {bg.shape}")
    bh, bw = bg.shape[:2]
    ratio = max(width / bw, height / bh)
    if ratio > 1:
        size = (math.ceil(bw * ratio), math.ceil(bh * ratio))
        bg = np.asarray(Image.fromarray(bg).resize(size, Image.BICUBIC))
    return np.ascontiguousarray(bg[:height, :width])


def composite_u8(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, *,
                 rounding: str = "floor") -> np.ndarray:
    """``alpha F + (1 - alpha) B`` on 8-bit images, in float64, back to 8 bits.

    Args:
        fg, bg: uint8 ``(H, W, 3)``. alpha: uint8 ``(H, W)`` (divided by 255).
        rounding: ``"floor"`` (truncation, the original composer) or ``"nearest"``.

    Returns:
        uint8 ``(H, W, 3)``.

    >>> fg = np.full((1, 1, 3), 255, np.uint8); bg = np.zeros((1, 1, 3), np.uint8)
    >>> composite_u8(fg, bg, np.array([[128]], np.uint8))[0, 0].tolist()
    [128, 128, 128]
    >>> composite_u8(fg, bg, np.array([[1]], np.uint8), rounding="floor")[0, 0, 0]
    np.uint8(1)
    """
    if rounding not in ("floor", "nearest"):
        raise ValueError(f"rounding: expected 'floor' or 'nearest', got {rounding!r}")
    for name, x, nd in (("fg", fg, 3), ("bg", bg, 3), ("alpha", alpha, 2)):
        if x.dtype != np.uint8 or x.ndim != nd:
            raise ValueError(f"{name}: expected a uint8 array with {nd} dimensions, "
                             f"got {x.dtype} {x.shape}")
    if fg.shape != bg.shape or fg.shape[:2] != alpha.shape:
        raise ValueError(f"alpha: sizes differ: fg {fg.shape}, bg {bg.shape}, alpha {alpha.shape}")
    a = alpha.astype(np.float64)[..., None] / 255.0
    out = a * fg + (1.0 - a) * bg
    out = np.floor(out) if rounding == "floor" else np.rint(out)
    return np.clip(out, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- writing


def png_size(path) -> tuple[int, int] | None:
    """``(height, width)`` of a complete PNG file, or ``None`` when it is absent,
    not a PNG or cut short (no end chunk): cheap, nothing is decoded."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(24)
            f.seek(0, 2)
            if f.tell() < 24 + len(_PNG_END):
                return None
            f.seek(-len(_PNG_END), 2)
            tail = f.read()
    except OSError:
        return None
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR" or tail != _PNG_END:
        return None
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def write_png(path, image: np.ndarray) -> None:
    """Write a uint8 ``(H, W)`` or RGB ``(H, W, 3)`` array as a PNG, atomically."""
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected uint8, got {image.dtype}")
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", arr)
    if not ok:  # pragma: no cover - OpenCV fails only on impossible shapes
        raise ValueError(f"image: could not encode {image.shape} as PNG")
    # fsync off: a file lost to a power cut is caught by png_size on the next run.
    with atomic_write(path, fsync=False) as f:
        f.write(buf.tobytes())


# --------------------------------------------------------------------------- one split


def _find_names_file(adobe: Path, spec: SplitSpec, which: str) -> Path:
    for candidate in (adobe / spec.folder / which, adobe / which):
        if candidate.is_file():
            return candidate
    raise ValueError(f"adobe: no {which} in {adobe / spec.folder} or {adobe}; "
                     "is this the Combined_Dataset folder?")


def _background_folder(bg_dir: Path, first_name: str) -> Path:
    """The folder holding the background files: the given one or a usual sub-folder."""
    candidates = [bg_dir, bg_dir / "JPEGImages", bg_dir / "VOCdevkit" / "VOC2012" / "JPEGImages",
                  bg_dir / "VOC2012" / "JPEGImages", bg_dir / "train2014"]
    for folder in candidates:
        if (folder / first_name).is_file():
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise ValueError(f"backgrounds: {first_name} (the first listed background) is in none of "
                     f"{tried}")


def _locate_fg(adobe: Path, spec: SplitSpec, name: str) -> Path | None:
    for sub in spec.fg_dirs:
        folder = adobe / spec.folder / sub
        if (folder / "fg" / name).is_file():
            return folder
    return None


def prepare_split(
    adobe,
    bg_dir,
    out_dir,
    split: str,
    *,
    limit: int | None = None,
    bg_per_fg: int | None = None,
    rounding: str = "floor",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PrepareReport:
    """Compose one split (see the module docstring for the trees and the rule).

    Args:
        adobe: the ``Combined_Dataset`` folder.
        bg_dir: the COCO train2014 (``"train"``) or VOC2012 JPEGImages (``"test"``)
            folder, or a parent with the usual sub-folders.
        out_dir: the split's output folder (``merged/``, ``bg/``, ``alpha/``, ``fg/``,
            ``trimaps/``).
        split: ``"train"`` or ``"test"``.
        limit: compose only the first ``limit`` foregrounds.
        bg_per_fg: backgrounds per foreground; default: the number of background
            names divided by the number of foreground names (100 and 20).
        rounding: ``"floor"`` (original) or ``"nearest"``.
        progress: show a progress bar.
        log: where messages go.

    Returns:
        a :class:`PrepareReport`; failures are listed, not raised.

    Raises:
        ValueError: the folder is not a ``Combined_Dataset``, the name files
            disagree with each other, or the backgrounds are not where they were said to be.
    """
    from mattinglib._checks import check_trimap_values
    from mattinglib._progress import progress_bar

    if split not in SPLITS:
        raise ValueError(f"split: expected one of {sorted(SPLITS)}, got {split!r}")
    if rounding not in ("floor", "nearest"):
        raise ValueError(f"rounding: expected 'floor' or 'nearest', got {rounding!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: expected a positive int or None, got {limit!r}")
    spec = SPLITS[split]
    adobe, bg_dir, out_dir = Path(adobe), Path(bg_dir), Path(out_dir)
    if not (adobe / spec.folder).is_dir():
        raise ValueError(f"adobe: no {spec.folder}/ folder in {adobe}; pass the "
                         "Combined_Dataset folder")
    fg_names = read_names(_find_names_file(adobe, spec, spec.fg_names))
    bg_names = read_names(_find_names_file(adobe, spec, spec.bg_names))
    if not fg_names:
        raise ValueError(f"adobe: {spec.fg_names} lists no foreground")
    if bg_per_fg is None:
        if len(bg_names) % len(fg_names):
            raise ValueError(f"adobe: {len(bg_names)} background names are not a multiple of "
                             f"{len(fg_names)} foregrounds; pass --bg-per-fg")
        bg_per_fg = len(bg_names) // len(fg_names)
    if isinstance(bg_per_fg, bool) or not isinstance(bg_per_fg, int) or bg_per_fg < 1:
        raise ValueError(f"bg_per_fg: expected a positive int, got {bg_per_fg!r}")
    if len(bg_names) < len(fg_names) * bg_per_fg:
        raise ValueError(f"bg_per_fg: {len(fg_names)} x {bg_per_fg} composites need "
                         f"{len(fg_names) * bg_per_fg} background names, {spec.bg_names} has "
                         f"{len(bg_names)}")
    published = PUBLISHED_COUNTS[split]
    if (len(fg_names), bg_per_fg) != published:
        log(f"note: {split}: {len(fg_names)} foregrounds x {bg_per_fg} backgrounds, "
            f"not the paper's {published[0]} x {published[1]}")
    todo = fg_names[:limit] if limit else fg_names
    bg_folder = _background_folder(bg_dir, bg_names[0])
    report = PrepareReport(split, out_dir, foregrounds=len(todo), per_fg=bg_per_fg)
    log(f"{split}: {len(todo)} foregrounds x {bg_per_fg} backgrounds = "
        f"{len(todo) * bg_per_fg} composites into {out_dir}")

    bar = progress_bar(total=len(todo) * bg_per_fg, desc=split, unit="img", disable=not progress)
    try:
        for i, name in enumerate(todo):
            stem = Path(name).stem
            comps = [f"{stem}_{k}" for k in range(bg_per_fg)]
            per_fg = [out_dir / "alpha" / f"{stem}.png", out_dir / "fg" / f"{stem}.png"]
            if spec.trimaps:
                per_fg.append(out_dir / "trimaps" / f"{stem}.png")
            size = png_size(per_fg[0])
            done = size is not None and all(png_size(p) == size for p in per_fg[1:])

            def complete(c: str) -> bool:
                return done and all(png_size(out_dir / d / f"{c}.png") == size
                                    for d in ("merged", "bg"))

            pending = [k for k, c in enumerate(comps) if not complete(c)]
            report.skipped += bg_per_fg - len(pending)
            bar.update(bg_per_fg - len(pending))
            if not pending:
                continue
            try:
                folder = _locate_fg(adobe, spec, name)
                if folder is None:
                    raise FileNotFoundError(
                        f"missing file fg/{name} in "
                        f"{' or '.join(str(adobe / spec.folder / d) for d in spec.fg_dirs)}")
                fg = read_rgb_u8(folder / "fg" / name)
                alpha = read_alpha_u8(folder / "alpha" / name)
                if alpha.shape != fg.shape[:2]:
                    raise ValueError(f"alpha/{name} is {alpha.shape}, its "
                                     f"foreground {fg.shape[:2]}")
                trimap = None
                if spec.trimaps:
                    trimap = read_alpha_u8(folder / "trimaps" / name)
                    check_trimap_values(trimap, name=f"trimaps/{name}")
                    if trimap.shape != alpha.shape:
                        raise ValueError(f"trimaps/{name} is {trimap.shape}, its "
                                         f"alpha {alpha.shape}")
            except (OSError, ValueError) as err:
                report.failures.extend((comps[k], f"{name}: {err}") for k in pending)
                bar.update(len(pending))
                continue
            if not done:
                write_png(per_fg[0], alpha)
                write_png(per_fg[1], fg)
                if trimap is not None:
                    write_png(per_fg[2], trimap)
            h, w = alpha.shape
            for k in pending:
                bg_name = bg_names[i * bg_per_fg + k]
                try:
                    bg = cover_and_crop(read_rgb_u8(bg_folder / bg_name), h, w)
                except (OSError, ValueError) as err:
                    report.failures.append((comps[k], f"background {bg_name}: {err}"))
                else:
                    write_png(out_dir / "bg" / f"{comps[k]}.png", bg)
                    write_png(out_dir / "merged" / f"{comps[k]}.png",
                              composite_u8(fg, bg, alpha, rounding=rounding))
                    report.written += 1
                bar.update(1)
    finally:
        bar.close()
    log(f"{split}: {report.written} written, {report.skipped} already complete, "
        f"{report.failed} failed")
    return report


def prepare_adobe(
    adobe,
    *,
    coco=None,
    voc=None,
    out=None,
    splits: Sequence[str] = ("train", "test"),
    **kwargs,
) -> dict[str, PrepareReport]:
    """Both splits: ``out/train`` from ``coco``, ``out/test`` (Composition-1k) from ``voc``.

    Args:
        adobe: the ``Combined_Dataset`` folder.
        coco: COCO train2014 images (needed for ``"train"``).
        voc: VOC2012 JPEGImages (needed for ``"test"``).
        out: output root; default ``<data root>/adobe_dim``.
        splits: which splits.
        **kwargs: passed to :func:`prepare_split`.

    Returns:
        ``{split: PrepareReport}``.
    """
    from mattinglib.config import data_root

    out = Path(out).expanduser() if out is not None else data_root() / "adobe_dim"
    sources = {"train": coco, "test": voc}
    reports = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"splits: expected names from {sorted(SPLITS)}, got {split!r}")
        if sources[split] is None:
            flag = "--coco" if split == "train" else "--voc"
            raise ValueError(f"{'coco' if split == 'train' else 'voc'}: the {split} split needs "
                             f"its background folder ({flag})")
        reports[split] = prepare_split(adobe, sources[split], out / split, split, **kwargs)
    return reports


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_adobe.py",
        description="Compose the DIM training set (431 x 100) and Composition-1k (50 x 20) "
        "from the Adobe Combined_Dataset and COCO / VOC backgrounds.")
    parser.add_argument("--adobe", type=Path, required=True, help="the Combined_Dataset folder")
    parser.add_argument("--coco", type=Path, help="COCO train2014 images (train split)")
    parser.add_argument("--voc", type=Path, help="VOC2012 JPEGImages (test split)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output root (default: <data root>/adobe_dim)")
    parser.add_argument("--split", choices=("train", "test", "both"), default="both")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N foregrounds of each split (a dry run)")
    parser.add_argument("--bg-per-fg", type=int, default=None,
                        help="backgrounds per foreground (default: from the name files)")
    parser.add_argument("--rounding", choices=("floor", "nearest"), default="floor",
                        help="8-bit conversion of the composite (default: floor, as the original)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(args=None) -> int:
    """Command-line entry point; returns 0 (all done), 1 (bad arguments/folders) or
    2 (some composites failed; they are listed)."""
    ns = build_parser().parse_args(args)
    splits = ("train", "test") if ns.split == "both" else (ns.split,)

    def work() -> int:
        reports = prepare_adobe(ns.adobe, coco=ns.coco, voc=ns.voc, out=ns.out, splits=splits,
                                limit=ns.limit, bg_per_fg=ns.bg_per_fg, rounding=ns.rounding,
                                progress=not ns.no_progress)
        failures = [(split, n, why) for split, r in reports.items() for n, why in r.failures]
        if not failures:
            return 0
        print(f"{len(failures)} composite(s) failed:", file=sys.stderr)
        for split, name, why in failures:
            print(f"  {split}/{name}: {why}", file=sys.stderr)
        return 2

    return run_script(work, {ValueError: (1, None)})

if __name__ == "__main__":
    sys.exit(main())
