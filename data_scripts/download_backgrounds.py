"""Download the background photos that matting data sets are composed on (COCO, PASCAL VOC).

Deep Image Matting composes its 431 training foregrounds on MS COCO train2014
photos and its Composition-1k test set on PASCAL VOC2012 photos; Background
Matting composes its human foregrounds on COCO test2017 (training) and val2017
(test) photos (Xu et al., CVPR 2017, section 4; Sengupta et al., CVPR 2020, and
``train_adobe.py`` in github.com/senguptaumd/Background-Matting). The photos come
from their official servers::

    coco-train2014  http://images.cocodataset.org/zips/train2014.zip   82,783 images, about 13 GB
    coco-test2017   http://images.cocodataset.org/zips/test2017.zip    40,670 images, about 6 GB
    coco-val2017    http://images.cocodataset.org/zips/val2017.zip      5,000 images, about 0.8 GB
    voc2012         http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar
                                                                       17,125 images, about 2 GB

and are written as::

    <data root>/                        --root, else $MATTINGLIB_DATA, else <repo>/data
    ├── backgrounds/
    │   ├── coco/train2014/COCO_train2014_000000000009.jpg ...
    │   ├── coco/test2017/000000000001.jpg ...
    │   ├── coco/val2017/000000000139.jpg ...
    │   ├── voc2012/JPEGImages/2007_000027.jpg ...   (only JPEGImages is kept from the tar)
    │   ├── <dataset>.complete.json     written last: archive, sha256, image count
    │   └── checksums_local.json        only with --record (see below)
    └── downloads/                      the archive, while downloading or with --keep-archive

The commands, from the repository root (one per data set)::

    python data_scripts/download_backgrounds.py --dataset coco-train2014
    python data_scripts/download_backgrounds.py --dataset voc2012
    python data_scripts/download_backgrounds.py --dataset coco-test2017
    python data_scripts/download_backgrounds.py --dataset coco-val2017

The first two are what ``data_scripts/prepare_adobe.py`` needs (``--coco
<root>/backgrounds/coco/train2014 --voc <root>/backgrounds/voc2012/JPEGImages``);
the last two what ``data_scripts/bgm_lists.py`` needs. The photos are under
their own terms (COCO: Flickr licences of each image; VOC: Flickr terms),
for research use.

Run it again at any time: a data set whose ``.complete.json`` exists is not
downloaded again; an interrupted download continues where it stopped (the
``downloads/<archive>.part`` is resumed with an HTTP Range request); an
interrupted extraction starts again from the archive; ``--force`` does everything anew.

Checksums, and what they prove:

* VOC2012: the md5 ``6cd6e144f989b92b3379bac3b3de84fd`` of
  ``VOCtrainval_11-May-2012.tar`` is the one published with torchvision's VOC
  loader (and many others); it is enforced. A mismatch deletes the archive.
* COCO: the COCO site publishes no checksum for its zips and none is recorded
  here (none is invented). ``--record`` writes the sha256 observed on the first
  download into ``backgrounds/checksums_local.json``; later downloads are
  verified against it (trust on first use: detects a changed or corrupted
  file, cannot prove that the first one was genuine). Zip members carry CRCs,
  which extraction checks.

Archives are unpacked by ``data_scripts._download.safe_extract``: members with
absolute paths, ``..`` components or links leaving the folder are refused
before anything is written. ``--url`` fetches from a mirror (or ``file:///``
for an archive already on disk); an archive placed by hand in
``<data root>/downloads/`` is used instead of downloading.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts._cli import run_script  # noqa: E402
from data_scripts._download import (  # noqa: E402
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download,
    read_json,
    safe_extract,
    write_json_atomic,
)

__all__ = [
    "DATASETS",
    "BACKGROUND_DIR",
    "ARCHIVE_DIR",
    "LOCAL_MANIFEST",
    "PUBLISHED",
    "BackgroundSpec",
    "BackgroundReport",
    "ArchiveLayoutError",
    "md5_file",
    "background_folder",
    "fetch_backgrounds",
    "build_parser",
    "main",
]

BACKGROUND_DIR = "backgrounds"
ARCHIVE_DIR = "downloads"
LOCAL_MANIFEST = "checksums_local.json"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class BackgroundSpec:
    """One downloadable background set.

    Attributes:
        url: the official URL of the archive.
        archive: its file name.
        member_dir: the folder inside the archive that holds the photos.
        folder: where the photos go, relative to ``<data root>/backgrounds``.
        images: how many photos the published archive holds (checked loosely:
            a different count is reported, not an error).
        md5: the published md5 of the archive, or ``None`` when none is known.
        use: what the matting papers use it for.
    """

    url: str
    archive: str
    member_dir: str
    folder: str
    images: int
    md5: str | None
    use: str


_COCO = "http://images.cocodataset.org/zips/"
DATASETS: dict[str, BackgroundSpec] = {
    "coco-train2014": BackgroundSpec(_COCO + "train2014.zip", "train2014.zip", "train2014",
                                     "coco/train2014", 82_783, None,
                                     "Deep Image Matting training backgrounds (100 "
                                     "per foreground)"),
    "coco-test2017": BackgroundSpec(_COCO + "test2017.zip", "test2017.zip", "test2017",
                                    "coco/test2017", 40_670, None,
                                    "Background Matting training backgrounds"),
    "coco-val2017": BackgroundSpec(_COCO + "val2017.zip", "val2017.zip", "val2017",
                                   "coco/val2017", 5_000, None,
                                   "Background Matting test backgrounds"),
    "voc2012": BackgroundSpec(
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
        "VOCtrainval_11-May-2012.tar", "VOCdevkit/VOC2012/JPEGImages", "voc2012/JPEGImages",
        17_125, "6cd6e144f989b92b3379bac3b3de84fd",
        "Composition-1k test backgrounds (20 per foreground)"),
}

#: Sentinel: use the md5 published for the data set (``BackgroundSpec.md5``).
PUBLISHED = "published"


class ArchiveLayoutError(RuntimeError):
    """The archive does not hold the folder of photos this script expects."""


@dataclass
class BackgroundReport:
    """What :func:`fetch_backgrounds` did.

    Attributes:
        folder: the folder of photos.
        images: how many photos it holds.
        downloaded: bytes came over the network in this call.
        extracted: the archive was unpacked in this call.
        sha256: the archive's sha256 (``None`` when nothing had to be fetched).
        recorded: the sha256 was written to the local manifest (``--record``).
    """

    folder: Path
    images: int
    downloaded: bool = False
    extracted: bool = False
    sha256: str | None = None
    recorded: bool = False


def md5_file(path, *, chunk_size: int = 1 << 20) -> str:
    """The md5 of a file as lowercase hex (only to compare with published md5 sums)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def background_folder(dataset: str, root=None) -> Path:
    """Where the photos of ``dataset`` are (or will be) under the data root.

    >>> background_folder("voc2012", "/data").as_posix()
    '/data/backgrounds/voc2012/JPEGImages'
    """
    from mattinglib.config import data_root

    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {dataset!r}")
    root = Path(root).expanduser() if root is not None else data_root()
    return root / BACKGROUND_DIR / DATASETS[dataset].folder


def _count_images(folder: Path) -> int:
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.is_file() and e.name.lower().endswith(_IMAGE_SUFFIXES))


def fetch_backgrounds(
    dataset: str,
    root=None,
    *,
    url: str | None = None,
    md5: str | None = PUBLISHED,
    force: bool = False,
    keep_archive: bool = False,
    record: bool = False,
    progress: bool = True,
    retries: int = 3,
    retry_wait: float = 1.0,
    timeout: float = 30.0,
    log: Callable[[str], None] = print,
) -> BackgroundReport:
    """Make ``<root>/backgrounds/<folder>`` complete; download only when needed.

    Args:
        dataset: one of :data:`DATASETS` (``coco-train2014``, ``coco-test2017``,
            ``coco-val2017``, ``voc2012``).
        root: the data root; ``None`` = :func:`mattinglib.config.data_root`.
        url: another URL for the same archive (a mirror, ``file:///...``).
        md5: the archive's expected md5; default: the published one (None = none).
        force: download and extract again even when complete.
        keep_archive: keep the archive in ``<root>/downloads/``.
        record: write the sha256 of an archive without a known checksum into
            ``<root>/backgrounds/checksums_local.json`` (trust on first use).
        progress: progress bar.
        retries, retry_wait, timeout: see :func:`data_scripts._download.download`.
        log: where messages go.

    Returns:
        a :class:`BackgroundReport`.

    Raises:
        DownloadError: the network failed (a partial download is kept for a resume).
        ChecksumError: the archive differs from its md5 or recorded sha256 (deleted).
        UnsafeArchiveError: the archive tries to write outside its folder.
        ArchiveLayoutError: the archive lacks the expected folder of photos.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {dataset!r}")
    spec = DATASETS[dataset]
    expected_md5 = spec.md5 if md5 == PUBLISHED else md5
    folder = background_folder(dataset, root)
    base = folder.parents[len(Path(spec.folder).parts) - 1]  # <root>/backgrounds
    root_dir = base.parent
    marker = base / f"{dataset}.complete.json"
    manifest_path = base / LOCAL_MANIFEST

    if marker.is_file() and folder.is_dir() and not force:
        n = _count_images(folder)
        log(f"{dataset}: {folder} is complete ({n} images); nothing to download")
        return BackgroundReport(folder, n)
    marker.unlink(missing_ok=True)  # from here on the folder is not known to be complete

    recorded = read_json(manifest_path, default={}).get("archives", {}).get(spec.archive, {})
    archive = root_dir / ARCHIVE_DIR / spec.archive
    if force:
        archive.unlink(missing_ok=True)
    source = url or spec.url
    log(f"{dataset}: " + (f"using the copy in {archive.parent}" if archive.is_file()
                          else f"downloading {source} ({spec.use})"))
    result = download(source, archive, sha256=recorded.get("sha256"), size=recorded.get("size"),
                      progress=progress, retries=retries, retry_wait=retry_wait,
                      timeout=timeout, log=log)
    report = BackgroundReport(folder, 0, downloaded=not result.reused, sha256=result.sha256)
    if expected_md5 is not None:
        actual = md5_file(archive)
        if actual != expected_md5:
            archive.unlink()
            raise ChecksumError(archive, f"md5 {expected_md5}", f"md5 {actual}",
                                "the archive was deleted; run again to download it anew")
        log(f"{spec.archive}: md5 matches the published {expected_md5}")
    elif "sha256" not in recorded:
        if record:
            manifest = read_json(manifest_path, default={})
            manifest.setdefault("archives", {})[spec.archive] = {
                "sha256": result.sha256, "size": archive.stat().st_size}
            manifest["note"] = ("sha256 observed on first download (trust on first use), "
                                "written by data_scripts/download_backgrounds.py --record")
            write_json_atomic(manifest_path, manifest)
            report.recorded = True
            log(f"{spec.archive}: recorded sha256 {result.sha256} in {manifest_path}; "
                "later downloads are verified against it")
        else:
            log(f"{spec.archive}: no published checksum; observed sha256 {result.sha256} "
                "(run with --record to pin it, trust on first use)")

    scratch = base / f".extract-{dataset}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        log(f"{spec.archive}: extracting")
        safe_extract(archive, scratch)
        photos = scratch.joinpath(*spec.member_dir.split("/"))
        if not photos.is_dir():
            raise ArchiveLayoutError(
                f"{spec.archive}: no {spec.member_dir}/ folder inside; the archive layout is not "
                "the one this script knows. Nothing was written")
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(photos, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.extracted = True
    report.images = _count_images(folder)
    if report.images != spec.images:
        log(f"note: {folder} holds {report.images} images; the published archive holds "
            f"{spec.images}")
    write_json_atomic(marker, {"dataset": dataset, "url": source, "archive": spec.archive,
                               "sha256": result.sha256, "images": report.images})
    if not keep_archive:
        archive.unlink(missing_ok=True)
        if archive.parent.is_dir() and not any(archive.parent.iterdir()):
            archive.parent.rmdir()
    log(f"{dataset}: {report.images} images in {folder}")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="download_backgrounds.py",
        description="Download COCO or PASCAL VOC background photos into "
        f"<root>/{BACKGROUND_DIR}/ (see the module docstring for the URLs).")
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--root", type=Path, default=None,
                        help="data root (default: $MATTINGLIB_DATA, else <repo>/data)")
    parser.add_argument("--url", default=None, help="a mirror URL of the same archive")
    parser.add_argument("--force", action="store_true", help="download and extract again")
    parser.add_argument("--keep-archive", action="store_true",
                        help=f"keep the archive in <root>/{ARCHIVE_DIR}/")
    parser.add_argument("--record", action="store_true",
                        help="pin the sha256 of an archive without a published checksum "
                        f"in <root>/{BACKGROUND_DIR}/{LOCAL_MANIFEST} (trust on first use)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(args=None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 network, 2 bad data)."""
    ns = build_parser().parse_args(args)

    def offline_help(err: BaseException) -> str:
        return (f"error: {err}\nWhat to do: check the network and run the same command again "
                "(the download continues where it stopped), or fetch\n"
                f"  {DATASETS[ns.dataset].url}\ninto <data root>/{ARCHIVE_DIR}/ by hand and run "
                "it again.")

    def work() -> None:
        fetch_backgrounds(ns.dataset, ns.root, url=ns.url, force=ns.force,
                          keep_archive=ns.keep_archive, record=ns.record,
                          progress=not ns.no_progress)

    return run_script(
        work, {DownloadError: (1, offline_help),
         (ChecksumError, UnsafeArchiveError, ArchiveLayoutError): (2, None)})


if __name__ == "__main__":
    sys.exit(main())
