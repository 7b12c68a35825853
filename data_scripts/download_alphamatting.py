"""Download the alphamatting.com low-resolution training set (27 images, two trimaps each).

The benchmark of Rhemann et al., "A Perceptually Motivated Online Benchmark for
Image Matting", CVPR 2009, publishes its training images with ground truth as
three zips on www.alphamatting.com. This script fetches them and writes::

    <data root>/                       --root, else $MATTINGLIB_DATA, else <repo>/data
    ├── alphamatting_lowres/
    │   ├── input/GT01.png .. GT27.png      RGB photos, about 800 px wide
    │   ├── gt/GT01.png .. GT27.png         ground-truth alpha (3 identical channels)
    │   ├── trimap1/GT01.png .. GT27.png    fine trimaps, values {0, 128, 255}
    │   ├── trimap2/GT01.png .. GT27.png    coarse trimaps
    │   └── checksums_local.json            only with --record (see below)
    └── downloads/                     the zips: while downloading, or with --keep-archives

which is what :func:`mattinglib.io.load_alphamatting` reads. The command, from
the repository root::

    python data_scripts/download_alphamatting.py

Run it again at any time: files already present and matching their checksums
are not downloaded again ("nothing to download"), an interrupted download
continues where it stopped (the partial ``downloads/<zip>.part`` is resumed with
an HTTP Range request), and ``--force`` fetches everything anew. Without network
it stops with the URLs to fetch by hand; the course does not need this data (the
chapters fall back to generated images when it is absent).

Archive layout (an assumption, not checked against the live server here): the
input and gt zips hold ``GTxx.png`` files, the trimap zip holds them in
``Trimap1/`` and ``Trimap2/`` folders. The extraction does not rely on exact
paths: it looks for ``GTxx.png`` in any sub-folder, takes the trimap kind from
the nearest enclosing folder named ``Trimap1``/``Trimap2`` (any case, ``_`` or
``-`` allowed), ignores other files (``__MACOSX``, a ``Trimap3`` folder) and
fails with a clear message when an image is missing or appears twice.

Checksums, and what they do and do not prove:

* ``data_scripts/checksums/alphamatting_lowres.json`` records the sha256 of the
  extracted PNGs GT01..GT14 (all four kinds), computed from a local copy of the
  data, and the sha256 and size of the three zips as published by the pymatting
  project (github.com/pymatting/pymatting, ``tests/download_images.py``; not
  re-checked against the server where this file was written, which had no
  network). These are enforced: a mismatch stops the script, and nothing that
  fails its check replaces a file on disk.
* GT15..GT27 have no recorded checksum. The script says so ("no recorded
  checksum") instead of pretending. With ``--record`` it writes the sha256 it
  observes into ``alphamatting_lowres/checksums_local.json`` and later runs
  verify against it: trust on first use, which detects later corruption or a
  changed upstream file but cannot tell whether the first copy was genuine.
  Recorded checksums always win over the local manifest.

Options: ``--root`` (data root), ``--base-url`` (a mirror: a folder URL the zip
names are appended to, or a URL containing ``{name}``; ``file:///...`` works for
zips already on disk), ``--force``, ``--keep-archives``, ``--record``,
``--checksums`` (another checksum file) and ``--no-progress``. Zips placed by
hand in ``<data root>/downloads/`` are used instead of downloading. All zips are
fetched before any is extracted, so a network failure leaves no half-made
``alphamatting_lowres/`` folder (whose presence the course takes to mean "use
the real data").

Mirror (reported in public code, not checked here): the benchmark's files are
also served from TU Wien's ownCloud, e.g.
``--base-url "https://owncloud.tuwien.ac.at/index.php/s/kbv8ZxuqehNk9vy/download?path=/Datasets&files={name}"``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_scripts._cli import run_script  # noqa: E402
from data_scripts._download import (  # noqa: E402
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    check_sha256_hex,
    download,
    read_json,
    safe_extract,
    sha256_file,
    write_json_atomic,
)

__all__ = [
    "DATASET",
    "DEFAULT_BASE_URL",
    "ARCHIVES",
    "KINDS",
    "CHECKSUMS_PATH",
    "LOCAL_MANIFEST",
    "ARCHIVE_DIR",
    "ArchiveLayoutError",
    "FetchReport",
    "archive_url",
    "load_checksums",
    "fetch_alphamatting",
    "build_parser",
    "main",
]

DATASET = "alphamatting_lowres"
DEFAULT_BASE_URL = "http://www.alphamatting.com/datasets/zip/"
#: Which folders of the layout each published zip fills.
ARCHIVES: dict[str, tuple[str, ...]] = {
    "input_training_lowres.zip": ("input",),
    "gt_training_lowres.zip": ("gt",),
    "trimap_training_lowres.zip": ("trimap1", "trimap2"),
}
KINDS = ("input", "gt", "trimap1", "trimap2")
CHECKSUMS_PATH = Path(__file__).resolve().parent / "checksums" / f"{DATASET}.json"
LOCAL_MANIFEST = "checksums_local.json"
ARCHIVE_DIR = "downloads"

_IMAGE = re.compile(r"^(GT\d\d)\.png$", re.IGNORECASE)
_TRIMAP_DIR = re.compile(r"^trimap[ _-]?([12])$", re.IGNORECASE)


class ArchiveLayoutError(RuntimeError):
    """An archive does not hold the expected ``GTxx.png`` files."""


@dataclass
class FetchReport:
    """What :func:`fetch_alphamatting` found and did.

    Attributes:
        dataset_dir: ``<root>/alphamatting_lowres``.
        downloaded: archive names fetched over the network by this run.
        extracted: archive names unpacked by this run (fetched or reused).
        verified: layout files (``kind/GTxx.png``) matching a recorded checksum.
        unverified: layout files present with no checksum anywhere.
        recorded: files and archives whose sha256 this run wrote to the local manifest.
    """

    dataset_dir: Path
    downloaded: list[str] = field(default_factory=list)
    extracted: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)


def archive_url(base_url: str, name: str) -> str:
    """The URL of archive ``name`` on a server or mirror.

    >>> archive_url("http://www.alphamatting.com/datasets/zip", "gt_training_lowres.zip")
    'http://www.alphamatting.com/datasets/zip/gt_training_lowres.zip'
    >>> archive_url("https://mirror.example/get?files={name}", "a.zip")
    'https://mirror.example/get?files=a.zip'
    """
    if "{name}" in base_url:
        return base_url.replace("{name}", name)
    return base_url.rstrip("/") + "/" + name


def load_checksums(source=CHECKSUMS_PATH) -> dict:
    """Recorded checksums as ``{"files": {rel: sha}, "archives": {name: {"sha256", "size"}}}``.

    ``source`` is a path to a JSON file in the format of
    ``data_scripts/checksums/alphamatting_lowres.json``, an already-loaded mapping,
    or ``None`` for no recorded checksums at all. Every sha256 is validated.
    """
    if source is None:
        raw: Mapping = {}
    elif isinstance(source, Mapping):
        raw = source
    else:
        raw = read_json(source)
        if raw is None:
            raise FileNotFoundError(f"checksums: no such file: {source}")
    files = {str(k): check_sha256_hex(v, name=f"checksums: files[{k!r}]")
             for k, v in dict(raw.get("files", {})).items()}
    archives = {}
    for name, entry in dict(raw.get("archives", {})).items():
        size = entry.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise ValueError(f"checksums: archives[{name!r}].size must be a non-negative int")
        archives[str(name)] = {
            "sha256": check_sha256_hex(entry["sha256"], name=f"checksums: archives[{name!r}]"),
            "size": size,
        }
    return {"files": files, "archives": archives}


def _merge(recorded: dict, local: dict, log) -> dict:
    """Recorded checksums win; the local (trust-on-first-use) ones fill the gaps."""
    merged = {"files": dict(local["files"]), "archives": dict(local["archives"])}
    for key in ("files", "archives"):
        for name, value in recorded[key].items():
            if name in local[key] and local[key][name] != value:
                log(f"note: the local manifest disagrees with the recorded checksum of {name}; "
                    "using the recorded one")
            merged[key][name] = value
    return merged


def _names_summary(rels: list[str]) -> str:
    names = sorted({Path(r).stem for r in rels})
    span = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return f"{len(rels)} file{'s' if len(rels) != 1 else ''} ({span})"


def _summary(verified: list[str], unverified: list[str], recorded_files, recorded_now=()) -> str:
    """``108 files: 56 match the recorded checksums, ...`` (empty categories left out)."""
    ours = sum(rel in recorded_files for rel in verified)
    counts = [
        (ours, "match the recorded checksums"),
        (len(verified) - ours, "match the local manifest"),
        (len(recorded_now), "recorded now in the local manifest"),
        (len(unverified) - len(recorded_now), "have no recorded checksum"),
    ]
    described = ", ".join(f"{n} {what}" for n, what in counts if n)
    return f"{len(verified) + len(unverified)} files: {described}"


def _scan(dataset_dir: Path, names, expected_files: Mapping[str, str]):
    """Sort every layout file into verified / unverified / missing / bad (with its sha)."""
    verified, unverified, missing, bad = [], [], [], []
    observed = {}
    for kind in KINDS:
        for name in names:
            rel = f"{kind}/{name}.png"
            path = dataset_dir / rel
            if not path.is_file():
                missing.append(rel)
                continue
            sha = observed[rel] = sha256_file(path)
            if rel not in expected_files:
                unverified.append(rel)
            elif sha == expected_files[rel]:
                verified.append(rel)
            else:
                bad.append(rel)
    return verified, unverified, missing, bad, observed


def _find_images(folder: Path, kinds: tuple[str, ...], archive: str) -> dict[str, Path]:
    """Map ``kind/GTxx.png`` to the extracted file, wherever the archive put it."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(p.startswith(".") or p == "__MACOSX" for p in rel.parts) or not path.is_file():
            continue
        m = _IMAGE.match(path.name)
        if not m:
            continue
        if len(kinds) == 1:
            kind = kinds[0]
        else:
            matches = (_TRIMAP_DIR.match(p) for p in reversed(rel.parts[:-1]))
            kind = next((f"trimap{mm.group(1)}" for mm in matches if mm), None)
            if kind not in kinds:
                continue
        key = f"{kind}/{m.group(1).upper()}.png"
        if key in found:
            raise ArchiveLayoutError(
                f"{archive}: two candidates for {key}: {found[key].relative_to(folder)} and "
                f"{rel}; the archive layout is not the one this script knows")
        found[key] = path
    return found


def _extract(archive: Path, kinds, names, dataset_dir: Path, expected_files, log) -> dict[str, str]:
    """Unpack one archive into the layout; every file is verified before any is moved."""
    tmp = archive.parent / f".extract-{archive.stem}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        safe_extract(archive, tmp)
        found = _find_images(tmp, kinds, archive.name)
        wanted = [f"{kind}/{name}.png" for kind in kinds for name in names]
        missing = [rel for rel in wanted if rel not in found]
        if missing:
            raise ArchiveLayoutError(
                f"{archive.name}: {_names_summary(missing)} not found "
                f"(missing e.g. {', '.join(missing[:3])}); found {len(found)} GTxx.png files. "
                "The archive layout may have changed upstream; nothing was written")
        observed = {rel: sha256_file(found[rel]) for rel in wanted}
        wrong = [rel for rel in wanted
                 if rel in expected_files and observed[rel] != expected_files[rel]]
        if wrong:
            rel = wrong[0]
            raise ChecksumError(
                dataset_dir / rel, expected_files[rel], observed[rel],
                f"{len(wrong)} file(s) extracted from {archive.name} differ from the recorded "
                f"checksums ({', '.join(wrong[:4])}{', ...' if len(wrong) > 4 else ''}); nothing "
                "from this archive was written. If the archive itself matched its recorded "
                "checksum, the per-file record is what is wrong: report it, and meanwhile pass "
                "--checksums with a corrected copy")
        for rel in wanted:
            target = dataset_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(found[rel], target)
        log(f"{archive.name}: wrote {len(wanted)} files into "
            f"{', '.join(k + '/' for k in kinds)}")
        return observed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_alphamatting(
    root=None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    force: bool = False,
    keep_archives: bool = False,
    record: bool = False,
    checksums=CHECKSUMS_PATH,
    names=None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    log: Callable[[str], None] = print,
) -> FetchReport:
    """Make ``<root>/alphamatting_lowres`` complete and verified; download only what is needed.

    Args:
        root: the data root; ``None`` = :func:`mattinglib.config.data_root`.
        base_url: where the zips are (see :func:`archive_url`).
        force: download and extract every archive even when the files are there.
        keep_archives: keep the zips in ``<root>/downloads/`` afterwards.
        record: write the sha256 of files (and archives) without a recorded
            checksum into ``alphamatting_lowres/checksums_local.json``.
        checksums: the recorded checksums (see :func:`load_checksums`).
        names: which images, default GT01..GT27 (tests use fewer).
        progress: show progress bars.
        retries: resumes of a dropped connection before giving up.
        timeout: seconds to wait for the server.
        log: where progress messages go.

    Returns:
        a :class:`FetchReport`.

    Raises:
        DownloadError: the network failed (partial downloads are kept for a resume).
        ChecksumError: a download or an extracted file differs from its recorded sha256.
        UnsafeArchiveError: an archive tries to write outside its folder.
        ArchiveLayoutError: an archive lacks some of the expected images.
    """
    from mattinglib.config import data_root
    from mattinglib.io import ALPHAMATTING_NAMES

    root = Path(root).expanduser() if root is not None else data_root()
    names = tuple(ALPHAMATTING_NAMES if names is None else names)
    dataset_dir = root / DATASET
    manifest_path = dataset_dir / LOCAL_MANIFEST
    recorded = load_checksums(checksums)
    local = load_checksums(read_json(manifest_path, default={}))
    expected = _merge(recorded, local, log)
    report = FetchReport(dataset_dir=dataset_dir)

    verified, unverified, missing, bad, _ = _scan(dataset_dir, names, expected["files"])
    if bad:
        log(f"{_names_summary(bad)} differ from their recorded sha256 "
            f"(e.g. {bad[0]}); they will be replaced")
    needed_kinds = set(KINDS) if force else {rel.split("/")[0] for rel in missing + bad}
    needed = [a for a, kinds in ARCHIVES.items() if needed_kinds & set(kinds)]

    if not needed:
        log(f"{dataset_dir}: everything present, nothing to download "
            f"({_summary(verified, unverified, recorded['files'])})")
    archive_dir = root / ARCHIVE_DIR
    new_archive_sums = {}
    fetched: list[Path] = []
    extracting = False
    try:
        # Every download first: a network failure then leaves the dataset untouched.
        for name in needed:
            entry = expected["archives"].get(name, {})
            dest = archive_dir / name
            if force and dest.exists():
                dest.unlink()
            url = archive_url(base_url, name)
            log(f"{name}: " + (f"using the copy in {archive_dir}" if dest.is_file()
                               else f"downloading {url}"))
            result = download(url, dest, sha256=entry.get("sha256"), size=entry.get("size"),
                              progress=progress, retries=retries, timeout=timeout, log=log)
            fetched.append(dest)
            if not result.reused:
                report.downloaded.append(name)
            if "sha256" not in entry:
                log(f"{name}: no recorded checksum; observed sha256 {result.sha256}")
                new_archive_sums[name] = {"sha256": result.sha256, "size": dest.stat().st_size}
        extracting = True
        for dest in fetched:
            _extract(dest, ARCHIVES[dest.name], names, dataset_dir, expected["files"], log)
            report.extracted.append(dest.name)
    finally:
        # Zips fetched before a network failure stay, so that the next run reuses them.
        if extracting and not keep_archives:
            for dest in fetched:
                dest.unlink(missing_ok=True)
        if archive_dir.is_dir() and not any(archive_dir.iterdir()):
            archive_dir.rmdir()

    verified, unverified, missing, bad, observed = _scan(dataset_dir, names, expected["files"])
    report.verified, report.unverified = verified, unverified
    if missing or bad:  # only possible if the files changed under our feet
        raise ArchiveLayoutError(f"{dataset_dir}: still missing or wrong after extraction: "
                                 f"{(missing + bad)[:4]}")
    recorded_now: list[str] = []
    if record and (unverified or new_archive_sums):
        manifest = read_json(manifest_path, default={})
        manifest.setdefault("files", {}).update({rel: observed[rel] for rel in unverified})
        manifest.setdefault("archives", {}).update(new_archive_sums)
        manifest["note"] = ("sha256 observed on first download (trust on first use), "
                            "written by data_scripts/download_alphamatting.py --record")
        write_json_atomic(manifest_path, manifest)
        recorded_now = list(unverified)
        report.recorded = recorded_now + sorted(new_archive_sums)
        log(f"recorded the sha256 of {len(report.recorded)} files and archives in "
            f"{manifest_path}; later runs verify against it (trust on first use)")
    elif unverified:
        log(f"no recorded checksum for {_names_summary(unverified)}: they are used as "
            "downloaded. Run again with --record to pin the sha256 observed now "
            f"into {manifest_path} (trust on first use)")
    if needed:
        summary = _summary(verified, unverified, recorded["files"], recorded_now)
        log(f"{dataset_dir}: done ({summary})")
    return report


def _offline_help(err: DownloadError, base_url: str, archive_dir: Path) -> str:
    urls = "\n".join(f"      {archive_url(base_url, name)}" for name in ARCHIVES)
    kept = f"\n  A partial download is kept in {err.partial}.\n" if err.partial else ""
    return (
        f"error: {err}\n{kept}"
        "What to do:\n"
        "  - check the network connection and run the same command again\n"
        "    (an interrupted download continues where it stopped);\n"
        f"  - or fetch the zips by hand and put them in {archive_dir}/:\n{urls}\n"
        "    then run the same command again: it extracts and verifies them;\n"
        "  - or use a mirror with --base-url (see the docstring of this script).\n"
        "The course does not need this data: without it the chapters fall back to "
        "generated images."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="download_alphamatting.py",
        description="Download the alphamatting.com low-resolution training set "
        f"(27 images) into <root>/{DATASET}/{{input,gt,trimap1,trimap2}}/GTxx.png.",
    )
    parser.add_argument("--root", type=Path, default=None,
                        help="data root (default: $MATTINGLIB_DATA, else <repo>/data)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL,
                        help="folder URL of the zips, or a URL containing {name} "
                        f"(default: {DEFAULT_BASE_URL})")
    parser.add_argument("--force", action="store_true",
                        help="download and extract again even when everything is present")
    parser.add_argument("--keep-archives", action="store_true",
                        help=f"keep the zips in <root>/{ARCHIVE_DIR}/")
    parser.add_argument("--record", action="store_true",
                        help="write the sha256 of files without a recorded checksum to "
                        f"<root>/{DATASET}/{LOCAL_MANIFEST} (trust on first use)")
    parser.add_argument("--checksums", type=Path, default=CHECKSUMS_PATH,
                        help="recorded checksums to verify against (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(args=None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 network, 2 bad data)."""
    ns = build_parser().parse_args(args)

    def offline_help(err: BaseException) -> str:
        from mattinglib.config import data_root

        root = ns.root if ns.root is not None else data_root()
        return _offline_help(err, ns.base_url, root / ARCHIVE_DIR)

    def work() -> None:
        fetch_alphamatting(
            ns.root, base_url=ns.base_url, force=ns.force, keep_archives=ns.keep_archives,
            record=ns.record, checksums=ns.checksums, progress=not ns.no_progress)

    return run_script(
        work, {DownloadError: (1, offline_help),
         (ChecksumError, UnsafeArchiveError, ArchiveLayoutError): (2, None)})


if __name__ == "__main__":
    sys.exit(main())
