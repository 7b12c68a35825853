"""Background Matting's training list: human Adobe foregrounds on COCO backgrounds.

Background Matting (Sengupta et al., CVPR 2020; ``train_adobe.py`` and
``Data_adobe/compose.py`` in github.com/senguptaumd/Background-Matting) trains its
supervised stage on the *human* foregrounds of the Adobe Deep Image Matting set
(269 for training, 11 for testing), each composed on 100 COCO photos (test2017
for training, val2017 for testing), and reads them through a CSV file. Which
Adobe foregrounds show people is listed in the authors' repository
(senguptaumd/Background-Matting, folder ``Data_adobe/``); that list is not
reproduced here, and no name is guessed: you give the names, one per line in
``--names-file`` (``#`` starts a comment) or on the command line with ``--names``.

Expected inputs::

    Combined_Dataset/                         --adobe: the names are looked up in
    ├── Training_set/Adobe-licensed images/{fg,alpha}/<name>
    ├── Training_set/Other/{fg,alpha}/<name>
    └── Test_set/Adobe-licensed images/{fg,alpha}/<name>
        (or --fg-dir DIR --alpha-dir DIR: any two folders holding <name>)
    <coco>/000000000001.jpg ...               --backgrounds: COCO test2017 (train) or
                                              val2017 (test), from download_backgrounds.py

Output::

    <out>/
    ├── merged/<fg>_<k>.png                   I = alpha F + (1 - alpha) B, k = 0 .. per_fg - 1
    ├── bg/<fg>_<k>.png                       B: the COCO photo scaled to cover, top-left crop
    └── <csv>                                 default train_data_adobe.csv

The CSV has the original's four columns, separated by ``;``, without a header
line: foreground path; alpha path; composite path; background path (absolute
paths here, ``Data_adobe/``-relative in the original). The composition rule is
the one of ``data_scripts/prepare_adobe.py`` (the authors' compose script uses
the DIM one: upscale the background to cover when smaller, crop the top-left
corner, ``I = a F + (1 - a) B`` truncated to 8 bits). The original paired each
foreground with the next 100 files of an unsorted directory listing, which
depends on the file system; here the backgrounds are sorted by name and
shuffled by ``--seed``, and foreground ``j`` takes the permuted backgrounds
``j * per_fg .. (j + 1) * per_fg - 1`` (so all are different while there are
enough; otherwise the permutation wraps around, which the script reports).

The commands, from the repository root::

    python data_scripts/bgm_lists.py --adobe /path/to/Combined_Dataset \\
        --names-file my_bgm_train_names.txt --backgrounds data/backgrounds/coco/test2017 \\
        --out data/bgm_adobe/train
    python data_scripts/bgm_lists.py --adobe /path/to/Combined_Dataset \\
        --names-file my_bgm_test_names.txt --backgrounds data/backgrounds/coco/val2017 \\
        --out data/bgm_adobe/test --csv test_data_adobe.csv

``--list-only`` writes the CSV without composing (the composite and background
columns then name files a later run without ``--list-only`` writes); a second
run skips composites that are complete PNGs. Missing names, and files that
cannot be decoded, are listed by name and counted (exit status 2).

**Captured videos** (the self-supervised stage). The authors' captured data,
and your own, are read by ``mattinglib.data.target_domain.CapturedVideoDataset``
from this tree::

    captured/
    ├── video_a/
    │   ├── 0001_img.png        frame 1, RGB (ffmpeg -i video_a.mp4 video_a/%04d_img.png)
    │   ├── 0001_masksDL.png    its soft person segmentation, grey 0..255 (DeepLabv3+ in the
    │   ├── 0002_img.png        original, run on every frame; any segmenter that writes
    │   ├── 0002_masksDL.png    such masks will do)
    │   ├── ...
    │   └── video_a_back.png    the background plate: a photo of the empty scene, the only
    │                           *_back.png of the folder that is not a frame's
    └── photo_b/
        ├── 0001_img.png  0001_masksDL.png  0001_back.png
                                a frame may carry its own plate <stem>_back.png
                                (the layout of the authors' sample photos)

Frames are ordered by name; the motion cue uses the frames ``frame_gap`` and
``2 frame_gap`` before and after. ``--check-captured DIR`` checks such a tree
and prints how many videos and frames it holds.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts._download import atomic_write  # noqa: E402
from data_scripts.prepare_adobe import (  # noqa: E402
    SPLITS,
    composite_u8,
    cover_and_crop,
    png_size,
    read_alpha_u8,
    read_names,
    read_rgb_u8,
    write_png,
)

__all__ = ["BGM_COUNTS", "CSV_COLUMNS", "BGMListReport", "read_name_list", "pair_backgrounds",
           "build_bgm_list", "read_bgm_csv", "check_captured", "build_parser", "main"]

#: Human foregrounds of the Adobe set used by Background Matting (train, test).
BGM_COUNTS = (269, 11)
CSV_COLUMNS = ("fg", "alpha", "merged", "bg")
_BG_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class BGMListReport:
    """What :func:`build_bgm_list` did.

    Attributes:
        csv: the CSV written. rows: its number of rows.
        written, skipped: composites made now / already complete.
        missing: names with no foreground or alpha file.
        failures: ``(composite, reason)`` for files that could not be decoded.
    """

    csv: Path
    rows: int = 0
    written: int = 0
    skipped: int = 0
    missing: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def read_name_list(path) -> list[str]:
    """Names from a text file: one per line, blank lines and ``#`` comments ignored."""
    return [n for n in (line.split("#", 1)[0].strip() for line in read_names(path)) if n]


def pair_backgrounds(num_fg: int, backgrounds: Sequence[str], per_fg: int,
                     seed: int = 0) -> list[list[str]]:
    """Which backgrounds go behind which foreground, reproducibly.

    The backgrounds are sorted, permuted by ``np.random.default_rng(seed)``,
    and foreground ``j`` takes permuted entries ``j * per_fg .. (j + 1) * per_fg - 1``
    (modulo their number).

    >>> pair_backgrounds(2, ["c.jpg", "a.jpg", "b.jpg", "d.jpg"], 2, seed=0)
    [['c.jpg', 'a.jpg'], ['b.jpg', 'd.jpg']]
    """
    if not backgrounds:
        raise ValueError("backgrounds: expected at least one background")
    for name, v in (("num_fg", num_fg), ("per_fg", per_fg)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    ordered = sorted(backgrounds)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    return [[ordered[perm[(j * per_fg + k) % len(ordered)]] for k in range(per_fg)]
            for j in range(num_fg)]


def _locate(name: str, adobe: Path | None, fg_dir: Path | None,
            alpha_dir: Path | None) -> tuple[Path, Path] | None:
    if fg_dir is not None:
        pair = (fg_dir / name, alpha_dir / name)
        return pair if all(p.is_file() for p in pair) else None
    for spec in SPLITS.values():
        for sub in spec.fg_dirs:
            folder = adobe / spec.folder / sub
            if (folder / "fg" / name).is_file() and (folder / "alpha" / name).is_file():
                return folder / "fg" / name, folder / "alpha" / name
    return None


def build_bgm_list(
    names: Sequence[str],
    *,
    backgrounds,
    out,
    adobe=None,
    fg_dir=None,
    alpha_dir=None,
    per_fg: int = 100,
    seed: int = 0,
    csv_name: str = "train_data_adobe.csv",
    compose: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> BGMListReport:
    """Compose the named foregrounds on COCO photos and write Background Matting's CSV.

    Args:
        names: foreground file names (with extension, as in the Adobe folders).
        backgrounds: a folder of COCO photos.
        out: output folder (``merged/``, ``bg/`` and the CSV).
        adobe: the ``Combined_Dataset`` folder, or ``fg_dir`` and ``alpha_dir``.
        per_fg: backgrounds per foreground (100 in the original).
        seed: the pairing's seed (:func:`pair_backgrounds`).
        csv_name: the CSV's file name.
        compose: write the composites (``False``: the CSV only).
        progress: progress bar. log: where messages go.

    Returns:
        a :class:`BGMListReport`; the CSV lists only foregrounds that were found.

    Raises:
        ValueError: no names, no source folders, or no backgrounds.
    """
    from mattinglib._progress import progress_bar

    names = list(dict.fromkeys(names))  # duplicates would write the same files twice
    if not names:
        raise ValueError("names: expected at least one foreground name")
    if (adobe is None) == (fg_dir is None) or (fg_dir is None) != (alpha_dir is None):
        raise ValueError("adobe: give either the Combined_Dataset folder or fg_dir and alpha_dir")
    adobe = Path(adobe) if adobe is not None else None
    fg_dir = Path(fg_dir) if fg_dir is not None else None
    alpha_dir = Path(alpha_dir) if alpha_dir is not None else None
    bg_dir, out = Path(backgrounds), Path(out)
    if not bg_dir.is_dir():
        raise ValueError(f"backgrounds: no such folder: {bg_dir}")
    bg_names = [p.name for p in bg_dir.iterdir()
                if p.is_file() and p.suffix.lower() in _BG_SUFFIXES]
    report = BGMListReport(out / csv_name)
    found = []
    for name in names:
        pair = _locate(name, adobe, fg_dir, alpha_dir)
        if pair is None:
            report.missing.append(name)
        else:
            found.append((name, *pair))
    if report.missing:
        log(f"{len(report.missing)} name(s) have no fg/alpha pair: {', '.join(report.missing)}")
    if len(names) not in BGM_COUNTS:
        log(f"note: {len(names)} names; Background Matting used {BGM_COUNTS[0]} (train) "
            f"and {BGM_COUNTS[1]} (test)")
    pairs = pair_backgrounds(max(len(found), 1), bg_names, per_fg, seed)
    if len(found) * per_fg > len(bg_names):
        log(f"note: {len(found)} x {per_fg} composites but only {len(bg_names)} backgrounds; "
            "some backgrounds are used more than once")
    rows = []
    bar = progress_bar(total=len(found) * per_fg, desc="bgm", unit="img",
                       disable=not (progress and compose))
    try:
        for j, (name, fg_path, alpha_path) in enumerate(found):
            stem = Path(name).stem
            fg = alpha = None
            for k, bg_name in enumerate(pairs[j]):
                comp = f"{stem}_{k}"
                merged, bg_out = out / "merged" / f"{comp}.png", out / "bg" / f"{comp}.png"
                rows.append((fg_path.resolve(), alpha_path.resolve(), merged.resolve(),
                             bg_out.resolve()))
                if not compose:
                    continue
                bar.update(1)
                try:
                    if alpha is None:
                        fg, alpha = read_rgb_u8(fg_path), read_alpha_u8(alpha_path)
                        if fg.shape[:2] != alpha.shape:
                            raise ValueError(f"{alpha_path} is {alpha.shape}, its foreground "
                                             f"{fg.shape[:2]}")
                    if png_size(merged) == alpha.shape and png_size(bg_out) == alpha.shape:
                        report.skipped += 1
                        continue
                    bg = cover_and_crop(read_rgb_u8(bg_dir / bg_name), *alpha.shape)
                except (OSError, ValueError) as err:
                    report.failures.append((comp, str(err)))
                    continue
                write_png(bg_out, bg)
                write_png(merged, composite_u8(fg, bg, alpha))
                report.written += 1
    finally:
        bar.close()
    with atomic_write(report.csv, "w") as f:
        csv.writer(f, delimiter=";", lineterminator="\n").writerows(rows)
    report.rows = len(rows)
    log(f"{report.csv}: {report.rows} rows ({len(found)} foregrounds x {per_fg}); "
        f"{report.written} composites written, {report.skipped} already complete, "
        f"{len(report.failures)} failed")
    return report


def read_bgm_csv(path) -> list[tuple[Path, Path, Path, Path]]:
    """The rows of a Background Matting CSV: ``(fg, alpha, merged, bg)`` paths."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    bad = [i for i, r in enumerate(rows) if len(r) != len(CSV_COLUMNS)]
    if bad:
        raise ValueError(f"path: {path} row {bad[0] + 1} has {len(rows[bad[0]])} columns, "
                         f"expected {len(CSV_COLUMNS)} ({';'.join(CSV_COLUMNS)})")
    return [tuple(Path(c) for c in r) for r in rows]


def check_captured(root) -> dict[str, int]:
    """Check a captured-video tree (see the module docstring) with
    :class:`mattinglib.data.target_domain.CapturedVideoDataset`.

    Returns:
        ``{"videos": ..., "frames": ...}``. Raises ``ValueError`` naming what is missing.
    """
    from mattinglib.data.target_domain import CapturedVideoDataset

    ds = CapturedVideoDataset(root)
    return {"videos": len(ds.videos), "frames": len(ds)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgm_lists.py",
        description="Compose named human Adobe foregrounds on COCO photos and write "
        "Background Matting's CSV (fg;alpha;merged;bg), or check a captured-video tree.")
    parser.add_argument("--adobe", type=Path, help="the Combined_Dataset folder")
    parser.add_argument("--fg-dir", type=Path, help="instead of --adobe: folder of foregrounds")
    parser.add_argument("--alpha-dir", type=Path, help="instead of --adobe: folder of alphas")
    parser.add_argument("--names", nargs="+", default=[], help="foreground file names")
    parser.add_argument("--names-file", type=Path, help="a file of foreground names, one a line")
    parser.add_argument("--backgrounds", type=Path, help="folder of COCO photos")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--per-fg", type=int, default=100, help="backgrounds per foreground")
    parser.add_argument("--seed", type=int, default=0, help="seed of the background pairing")
    parser.add_argument("--csv", default="train_data_adobe.csv", help="the CSV's file name")
    parser.add_argument("--list-only", action="store_true", help="write the CSV, compose nothing")
    parser.add_argument("--check-captured", type=Path, metavar="DIR",
                        help="only check a captured-video tree and print its size")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(args=None) -> int:
    """Command-line entry point; 0 ok, 1 bad arguments, 2 missing names or failed files."""
    parser = build_parser()
    ns = parser.parse_args(args)
    try:
        if ns.check_captured is not None:
            found = check_captured(ns.check_captured)
            print(f"{ns.check_captured}: {found['videos']} video(s), {found['frames']} frame(s)")
            return 0
        if ns.backgrounds is None or ns.out is None:
            raise ValueError("backgrounds: --backgrounds and --out are required")
        names = list(ns.names) + (read_name_list(ns.names_file) if ns.names_file else [])
        report = build_bgm_list(names, backgrounds=ns.backgrounds, out=ns.out, adobe=ns.adobe,
                                fg_dir=ns.fg_dir, alpha_dir=ns.alpha_dir, per_fg=ns.per_fg,
                                seed=ns.seed, csv_name=ns.csv, compose=not ns.list_only,
                                progress=not ns.no_progress)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if report.missing or report.failures:
        print(f"{len(report.missing)} missing name(s), {len(report.failures)} failed composite(s):",
              file=sys.stderr)
        for name in report.missing:
            print(f"  missing: {name}", file=sys.stderr)
        for comp, why in report.failures:
            print(f"  {comp}: {why}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
