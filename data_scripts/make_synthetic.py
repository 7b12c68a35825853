"""Write an offline matting data set of generated samples to disk.

The course trains without any downloaded data on foregrounds whose colour and
alpha are known exactly (:mod:`mattinglib.data.synthetic`: hair, fur, motion
blur, defocus, glass, holes, camouflage). The library composes them on the fly;
this script freezes N of them into PNG files, so that the same folder-based
code that reads real data (and other tools) can read them::

    <out>/                                  --out, default <data root>/synthetic_<size>_seed<seed>
    ├── fg/0000000.png ..                   foreground colour F, RGB 8-bit
    ├── alpha/0000000.png ..                alpha, grey 8-bit
    ├── bg/0000000.png ..                   background B, RGB 8-bit
    ├── merged/0000000.png ..               I = alpha F + (1 - alpha) B from the 8-bit F, alpha, B
    ├── trimaps/0000000.png ..              {0, 128, 255}: unknown = dilate(alpha > 0)
    │                                           - erode(alpha == 1)
    └── manifest.json                       seed, size, kinds, trimap settings, count, format

Reading it back:

* ``mattinglib.data.folders.FolderForegrounds(out/"fg", out/"alpha")`` and
  ``FolderBackgrounds(out/"bg")`` (the DIM recipe on these files:
  ``CompositionDataset.from_folders(out/"fg", out/"alpha", out/"bg")``);
* ``mattinglib.data.composition.Composition1kDataset(out)`` reads ``merged/``,
  ``alpha/``, ``trimaps/``, ``fg/`` and ``bg/`` as a fixed evaluation set (the
  names hold no ``_<k>`` suffix: one composite per foreground).

The command, from the repository root::

    python data_scripts/make_synthetic.py --num-samples 2000 --size 320 --seed 0

Determinism: sample ``i`` is foreground ``i`` and background ``i`` of
``SyntheticForegrounds(size, seed)`` / ``SyntheticBackgrounds(size, seed)``
(kind ``kinds[i % len(kinds)]``) and a trimap drawn from
``np.random.default_rng([seed, 9, i])``; it depends on nothing else, so two
runs with the same settings write identical files, and a run with a larger
``--num-samples`` extends the set. The composite is computed from the 8-bit
files, rounded to nearest, so ``merged = a fg + (1 - a) bg`` holds for the
written files to half an 8-bit level.

Resumable: each file is written under a temporary name and renamed; a second
run skips samples whose five files exist and are complete PNGs of the right
size. The manifest fixes the settings: running again into the same folder
with another seed, size, kind list or trimap setting is refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts._cli import run_script  # noqa: E402
from data_scripts._download import read_json, write_json_atomic  # noqa: E402
from data_scripts.prepare_adobe import composite_u8, png_size, write_png  # noqa: E402

__all__ = ["FOLDERS", "MANIFEST", "STREAM_TRIMAP", "SyntheticReport", "sample_name",
           "make_sample", "make_synthetic", "build_parser", "main"]

FOLDERS = ("fg", "alpha", "bg", "merged", "trimaps")
MANIFEST = "manifest.json"
#: Random stream of the trimaps (synthetic.py uses 1 and 2, composition.py 3, bgm.py 4,
#: target_domain.py 7 and 8).
STREAM_TRIMAP = 9
_SETTINGS = ("seed", "size", "kinds", "trimap_kernel_sizes", "trimap_iterations")


@dataclass
class SyntheticReport:
    """What :func:`make_synthetic` did: the folder, samples written and already complete."""

    out: Path
    written: int = 0
    skipped: int = 0


def sample_name(index: int) -> str:
    """The file stem of sample ``index``: ``sample_name(12) == "0000012"``."""
    return f"{index:07d}"


def make_sample(index: int, *, size: int, seed: int, kinds: Sequence[str],
                trimap_kernel_sizes: Sequence[int] = (3, 5, 7),
                trimap_iterations: tuple[int, int] = (1, 20)) -> dict[str, np.ndarray]:
    """Sample ``index`` as the uint8 arrays the script writes.

    Returns:
        ``{"fg", "bg", "merged"}`` uint8 ``(size, size, 3)`` RGB and
        ``{"alpha", "trimaps"}`` uint8 ``(size, size)``.
    """
    from mattinglib.data.synthetic import SyntheticBackgrounds, SyntheticForegrounds, rng_for
    from mattinglib.io import to_uint8
    from mattinglib.trimap import random_trimap

    fg, alpha, _ = SyntheticForegrounds(size, seed, kinds=tuple(kinds)).sample(index)
    bg, _ = SyntheticBackgrounds(size, seed).sample(index)
    fg8, alpha8, bg8 = to_uint8(fg), to_uint8(alpha, name="alpha"), to_uint8(bg)
    trimap = random_trimap(alpha8, rng=rng_for(seed, STREAM_TRIMAP, index),
                           kernel_sizes=tuple(trimap_kernel_sizes),
                           iterations_range=tuple(trimap_iterations))
    return {"fg": fg8, "alpha": alpha8, "bg": bg8, "trimaps": trimap,
            "merged": composite_u8(fg8, bg8, alpha8, rounding="nearest")}


def make_synthetic(
    out,
    num_samples: int,
    *,
    size: int = 320,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    trimap_kernel_sizes: Sequence[int] = (3, 5, 7),
    trimap_iterations: tuple[int, int] = (1, 20),
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> SyntheticReport:
    """Write (or complete) ``num_samples`` generated samples under ``out``.

    Args:
        out: the output folder (see the module docstring for the tree).
        num_samples: how many samples (indices ``0 .. num_samples - 1``).
        size: side of the square samples (at least 8).
        seed: non-negative int.
        kinds: foreground kinds (default: all of :data:`mattinglib.data.synthetic.KINDS`).
        trimap_kernel_sizes, trimap_iterations: the trimap's random band
            (:func:`mattinglib.trimap.random_trimap`).
        progress: show a progress bar. log: where messages go.

    Returns:
        a :class:`SyntheticReport`.

    Raises:
        ValueError: bad arguments, or ``out`` holds a set made with other settings.
    """
    from mattinglib._progress import progress_bar
    from mattinglib.data.synthetic import KINDS, check_seed, check_size

    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples: expected a positive int, got {num_samples!r}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"size: expected an int, got {size!r}")
    check_size(size)
    seed = check_seed(seed)
    kinds = list(KINDS if kinds is None else kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise ValueError(f"kinds: expected names from {list(KINDS)}, got {kinds!r}")
    out = Path(out)
    settings = {"seed": seed, "size": size, "kinds": kinds,
                "trimap_kernel_sizes": [int(k) for k in trimap_kernel_sizes],
                "trimap_iterations": [int(i) for i in trimap_iterations]}
    old = read_json(out / MANIFEST)
    if old is not None:
        differ = [k for k in _SETTINGS if old.get(k) != settings[k]]
        if differ:
            raise ValueError(f"out: {out} holds a set made with other settings "
                             f"({', '.join(f'{k}={old.get(k)!r}' for k in differ)}); "
                             "choose another folder")
    manifest = {
        **settings,
        "num_samples": max(num_samples, int(old.get("num_samples", 0)) if old else 0),
        "generator": "mattinglib.data.synthetic.SyntheticForegrounds / SyntheticBackgrounds",
        "trimap_stream": STREAM_TRIMAP,
        "names": "sample i is <folder>/<i as 7 zero-padded digits>.png",
        "kind_of_sample": "kinds[i % len(kinds)]",
        "composite": "round(a * fg + (1 - a) * bg) from the 8-bit files, a = alpha / 255",
        "folders": list(FOLDERS),
    }
    write_json_atomic(out / MANIFEST, manifest)
    report = SyntheticReport(out)
    with progress_bar(total=num_samples, desc="synthetic", unit="img", disable=not progress) as bar:
        for i in range(num_samples):
            name = sample_name(i)
            if all(png_size(out / d / f"{name}.png") == (size, size) for d in FOLDERS):
                report.skipped += 1
            else:
                arrays = make_sample(i, size=size, seed=seed, kinds=kinds,
                                     trimap_kernel_sizes=trimap_kernel_sizes,
                                     trimap_iterations=trimap_iterations)
                for d in FOLDERS:
                    write_png(out / d / f"{name}.png", arrays[d])
                report.written += 1
            bar.update(1)
    log(f"{out}: {report.written} samples written, {report.skipped} already complete")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_synthetic.py",
        description="Write N generated matting samples (fg, alpha, bg, merged, trimaps) as PNG.")
    parser.add_argument("--num-samples", type=int, required=True)
    parser.add_argument("--size", type=int, default=320, help="side of the samples (default 320)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", default=None,
                        help="foreground kinds (default: all of mattinglib.data.synthetic.KINDS)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <data root>/synthetic_<size>_seed<seed>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(args=None) -> int:
    """Command-line entry point; returns 0, or 1 on bad arguments / a mismatched folder."""
    from mattinglib.config import data_root

    ns = build_parser().parse_args(args)
    out = ns.out if ns.out is not None else data_root() / f"synthetic_{ns.size}_seed{ns.seed}"
    def work() -> None:
        make_synthetic(out, ns.num_samples, size=ns.size, seed=ns.seed, kinds=ns.kinds,
                       progress=not ns.no_progress)

    return run_script(work, {ValueError: (1, None)})


if __name__ == "__main__":
    sys.exit(main())
