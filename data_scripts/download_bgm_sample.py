"""Download the Background Matting sample photos, their background plate and two target backgrounds.

Background Matting (Sengupta et al., "Background Matting: The World is Your
Green Screen", CVPR 2020) publishes a few real hand-held photos in the
``sample_data/`` folder of the authors' repository,
github.com/senguptaumd/Background-Matting (licence CC BY-NC-SA 4.0,
non-commercial). This script fetches them one by one and writes::

    <data root>/                       --root, else $MATTINGLIB_DATA, else <repo>/data
    ├── bgm_sample/
    │   ├── input/0001_img.png .. 1500_img.png   four photos of a person (1920x1080)
    │   ├── input/background_plate.png           the scene without the person, shot
    │   │                                        hand-held (not aligned to the photos)
    │   └── target_backgrounds/0001.png, 0002.png  two new backgrounds
    └── downloads/bgm_sample/          the files while downloading

The command, from the repository root::

    python data_scripts/download_bgm_sample.py

In the repository the plate is ``sample_data/input/0001_back.png`` and the
target backgrounds are in ``sample_data/background/``; :data:`FILES` maps each
file of the layout to its path there. Every file is checked against the sha256
in ``data_scripts/checksums/bgm_sample.json`` (computed from a local copy of the
sample data; ``--no-checksums`` accepts the files as received). All files are
downloaded before any is moved into ``bgm_sample/``, so a network failure
leaves no half-made folder (whose presence the course takes to mean "use the
real data"); running the command again resumes the partial downloads, and
files already in place and matching their checksum are not fetched again.

Options: ``--root`` (data root), ``--base-url`` (a mirror: the folder that holds
``sample_data/``; ``file:///...`` works for a local clone), ``--force``,
``--no-checksums``, ``--no-progress``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts._cli import run_script  # noqa: E402
from data_scripts._download import (  # noqa: E402
    ChecksumError,
    DownloadError,
    check_sha256_hex,
    download,
    read_json,
    sha256_file,
)

__all__ = ["DATASET", "DEFAULT_BASE_URL", "FILES", "CHECKSUMS_PATH", "load_checksums",
           "file_url", "fetch_bgm_sample", "build_parser", "main"]

DATASET = "bgm_sample"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com/senguptaumd/Background-Matting/master/"
#: File of the layout (under ``<root>/bgm_sample``) -> its path in the authors' repository.
FILES: dict[str, str] = {
    "input/0001_img.png": "sample_data/input/0001_img.png",
    "input/0500_img.png": "sample_data/input/0500_img.png",
    "input/1000_img.png": "sample_data/input/1000_img.png",
    "input/1500_img.png": "sample_data/input/1500_img.png",
    "input/background_plate.png": "sample_data/input/0001_back.png",
    "target_backgrounds/0001.png": "sample_data/background/0001.png",
    "target_backgrounds/0002.png": "sample_data/background/0002.png",
}
CHECKSUMS_PATH = Path(__file__).resolve().parent / "checksums" / f"{DATASET}.json"
STAGING = Path("downloads") / DATASET


def load_checksums(source=CHECKSUMS_PATH) -> dict[str, dict]:
    """``layout file -> {"sha256", "size"}`` from a JSON file (or a mapping); ``None``: no
    checksums."""
    if source is None:
        return {}
    raw = source if isinstance(source, dict) else read_json(source)
    if raw is None:
        raise FileNotFoundError(f"checksums: no such file: {source}")
    out = {}
    for rel, entry in dict(raw.get("files", {})).items():
        if rel not in FILES:
            raise ValueError(f"checksums: {rel!r} is not a file of the bgm_sample layout")
        size = entry.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise ValueError(f"checksums: files[{rel!r}].size must be a non-negative int")
        out[rel] = {"sha256": check_sha256_hex(entry["sha256"], name=f"checksums: files[{rel!r}]"),
                    "size": size}
    return out


def file_url(base_url: str, repo_path: str) -> str:
    """The URL of ``repo_path`` under ``base_url``.

    >>> file_url("https://example.org/repo", "sample_data/input/0001_img.png")
    'https://example.org/repo/sample_data/input/0001_img.png'
    """
    return base_url.rstrip("/") + "/" + repo_path


def _in_place(path: Path, entry: dict | None) -> bool:
    return path.is_file() and (entry is None or sha256_file(path) == entry["sha256"])


def fetch_bgm_sample(
    root=None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    force: bool = False,
    checksums=CHECKSUMS_PATH,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Make ``<root>/bgm_sample`` complete; download only the files that are missing or wrong.

    Args:
        root: the data root; ``None`` = :func:`mattinglib.config.data_root`.
        base_url: the folder that holds ``sample_data/`` (see :func:`file_url`).
        force: download every file again.
        checksums: the recorded checksums (:func:`load_checksums`); ``None``: none.
        progress: show progress bars.
        retries: resumes of a dropped connection before giving up.
        timeout: seconds to wait for the server.
        log: where progress messages go.

    Returns:
        the layout files (``input/0001_img.png``, ...) fetched over the network by this call.

    Raises:
        DownloadError: the network failed (partial downloads are kept for a resume).
        ChecksumError: a file differs from its recorded sha256 (nothing was moved into place).
    """
    from mattinglib.config import data_root

    root = Path(root).expanduser() if root is not None else data_root()
    expected = load_checksums(checksums)
    dataset_dir, staging = root / DATASET, root / STAGING
    needed = [rel for rel in FILES if force or not _in_place(dataset_dir / rel, expected.get(rel))]
    if not needed:
        log(f"{dataset_dir}: everything present, nothing to download")
        return []
    fetched = []
    for rel in needed:  # every download first: a failure leaves bgm_sample/ untouched
        entry = expected.get(rel, {})
        dest = staging / rel
        if force and dest.exists():
            dest.unlink()
        url = file_url(base_url, FILES[rel])
        log(f"{rel}: downloading {url}")
        result = download(url, dest, sha256=entry.get("sha256"), size=entry.get("size"),
                          progress=progress, retries=retries, timeout=timeout, log=log)
        if not result.reused:
            fetched.append(rel)
        if not entry:
            log(f"{rel}: no recorded checksum; observed sha256 {result.sha256}")
    for rel in needed:
        target = dataset_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    shutil.rmtree(staging, ignore_errors=True)
    downloads = root / STAGING.parent
    if downloads.is_dir() and not any(downloads.iterdir()):
        downloads.rmdir()
    log(f"{dataset_dir}: done ({len(needed)} of {len(FILES)} files written)")
    return fetched


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="download_bgm_sample.py",
        description="Download the Background Matting sample photos, plate and target backgrounds "
        f"into <root>/{DATASET}/{{input,target_backgrounds}}/.")
    parser.add_argument("--root", type=Path, default=None,
                        help="data root (default: $MATTINGLIB_DATA, else <repo>/data)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL,
                        help=f"the folder that holds sample_data/ (default: {DEFAULT_BASE_URL})")
    parser.add_argument("--force", action="store_true", help="download every file again")
    parser.add_argument("--no-checksums", action="store_true",
                        help="accept the files as received (no sha256 check)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _offline_help(err: BaseException, base_url: str) -> str:
    urls = "\n".join(f"      {file_url(base_url, p)} -> bgm_sample/{rel}"
                     for rel, p in FILES.items())
    return (f"error: {err}\n"
            "What to do:\n"
            "  - check the network connection and run the same command again\n"
            "    (an interrupted download continues where it stopped);\n"
            f"  - or fetch the files by hand into the data root:\n{urls}\n"
            "The course does not need this data: without it the chapters fall back to "
            "generated images.")


def main(args=None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 network, 2 bad data)."""
    ns = build_parser().parse_args(args)

    def work() -> None:
        fetch_bgm_sample(ns.root, base_url=ns.base_url, force=ns.force,
                         checksums=None if ns.no_checksums else CHECKSUMS_PATH,
                         progress=not ns.no_progress)

    return run_script(work, {DownloadError: (1, lambda err: _offline_help(err, ns.base_url)),
                             ChecksumError: (2, None)})


if __name__ == "__main__":
    sys.exit(main())
