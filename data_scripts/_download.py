"""Download helpers shared by the dataset scripts.

What every script in ``data_scripts/`` needs, in one place:

* :func:`download` fetches a URL into a file with a progress bar. Bytes arrive in
  ``<file>.part``; an interrupted transfer is continued with an HTTP ``Range``
  request (automatically a few times, and again on the next run), a server that
  ignores ``Range`` makes it start over cleanly, and the final name appears only
  once the file is complete and, when a checksum is known, verified.
* :func:`sha256_file` / :func:`verify_sha256` check files against recorded sums.
* :func:`safe_extract` unpacks a zip or tar archive after checking every member:
  absolute paths, ``..`` components and links that point outside the target
  folder are refused, by name before anything is written and by real path on
  disk in a scratch folder beside the target; a refused archive leaves nothing.
* :func:`atomic_write` / :func:`write_json_atomic` write a file under a temporary
  name and rename it, so a crash never leaves a half-written file behind.

Errors say what to do: :class:`DownloadError` carries the URL and whether a
partial file was kept, :class:`ChecksumError` both hashes, and
:class:`UnsafeArchiveError` the offending member.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
>>> with atomic_write(path) as f:
...     _ = f.write(b"hello")
>>> sha256_file(path)
'2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

__all__ = [
    "DownloadError",
    "ChecksumError",
    "UnsafeArchiveError",
    "DownloadResult",
    "download",
    "sha256_file",
    "verify_sha256",
    "check_sha256_hex",
    "atomic_write",
    "write_json_atomic",
    "read_json",
    "safe_extract",
]

USER_AGENT = "mattinglib-data-scripts/0.1 (python urllib)"
_CHUNK = 1 << 16
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(RuntimeError):
    """The network failed (refused, timed out, HTTP error, connection lost).

    Attributes:
        url: what was being fetched.
        reason: what went wrong, in words.
        partial: the ``.part`` file kept for a later resume, or ``None``.
    """

    def __init__(self, url: str, reason: str, partial: Path | None = None):
        self.url = url
        self.reason = reason
        self.partial = partial
        msg = f"could not download {url}: {reason}"
        if partial is not None:
            msg += f" ({partial.stat().st_size} bytes kept in {partial}; run again to resume)"
        super().__init__(msg)


class ChecksumError(RuntimeError):
    """A file's sha256 (or size) differs from the recorded one.

    Attributes:
        path: the file that was checked (already deleted when it was a download).
        expected: the recorded value.
        actual: the observed value.
    """

    def __init__(self, path: Path, expected: str, actual: str, hint: str = ""):
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        msg = f"checksum mismatch for {path}: expected {expected}, got {actual}"
        super().__init__(f"{msg}. {hint}" if hint else msg)


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder (or is a device)."""


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download` did.

    Attributes:
        path: the complete file.
        sha256: its sha256 (lowercase hex), always computed.
        bytes_fetched: bytes received over the network by this call (0 = reused).
        resumed: a transfer continued from a partial file with an HTTP ``Range``.
        reused: the file was already there and matched (nothing fetched).
    """

    path: Path
    sha256: str
    bytes_fetched: int
    resumed: bool
    reused: bool


# --------------------------------------------------------------------------- checksums


def check_sha256_hex(value: str, *, name: str = "sha256") -> str:
    """A sha256 written as 64 hex digits, lowercased; anything else is a ``ValueError``.

    >>> check_sha256_hex("AB" * 32)[:4]
    'abab'
    >>> check_sha256_hex("abc")
    Traceback (most recent call last):
    ...
    ValueError: sha256: expected 64 hexadecimal digits, got 'abc'
    """
    if not isinstance(value, str) or not _HEX64.match(value.lower()):
        raise ValueError(f"{name}: expected 64 hexadecimal digits, got {value!r}")
    return value.lower()


def sha256_file(path, *, chunk_size: int = 1 << 20) -> str:
    """The sha256 of a file as lowercase hex, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path, expected: str, *, hint: str = "") -> str:
    """Check ``path`` against ``expected``; returns the sha256, raises :class:`ChecksumError`."""
    expected = check_sha256_hex(expected, name="expected")
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(Path(path), expected, actual, hint)
    return actual


# --------------------------------------------------------------------------- atomic files


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, fsync: bool = True) -> Iterator:
    """Open a temporary file beside ``path``; on success it is renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was,
    so readers only ever see the old file or the complete new one. ``fsync=True``
    also survives a power cut; extraction into a scratch folder that is verified
    afterwards skips it (it costs milliseconds per file on a busy disk).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path, obj) -> None:
    """Write ``obj`` as indented, key-sorted JSON (stable diffs), atomically."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path, default=None):
    """The JSON content of ``path``, or ``default`` when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------- download


class _Dropped(Exception):
    """The connection ended before the whole body arrived (resumable)."""

    def __init__(self, got: int, reason: str, resumed: bool):
        super().__init__(reason)
        self.got = got
        self.reason = reason
        self.resumed = resumed


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); ``bytes */1000`` -> (None, 1000)."""
    m = re.match(r"^\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*$", header or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    # Identity encoding: byte offsets must refer to the file, not a compressed stream.
    headers["Accept-Encoding"] = "identity"
    return urlopen(Request(url, headers=headers), timeout=timeout)


def _fetch_into(url, part: Path, *, timeout, progress, chunk_size, log, desc) -> tuple[int, bool]:
    """Continue (or start) ``part`` from the network; returns (bytes fetched, resumed).

    Raises :class:`_Dropped` when the body is cut short, :class:`DownloadError`
    for failures that retrying cannot fix.
    """
    from mattinglib._progress import progress_bar

    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except HTTPError as err:
        if err.code == 416 and offset:
            # Asked for bytes past the end: either the part is already whole, or it
            # belongs to a different (shorter) file. The caller's checks decide.
            _, total = _content_range(err.headers.get("Content-Range"))
            if total == offset:
                return 0, True
            log(f"{part.name}: the server rejected the resume request; starting over")
            part.unlink()
            return _fetch_into(url, part, timeout=timeout, progress=progress,
                               chunk_size=chunk_size, log=log, desc=desc)
        raise DownloadError(url, f"HTTP {err.code} {err.reason}") from err
    except (URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(url, f"{type(err).__name__}: {reason}") from err

    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        resumed = False
        if offset and resp.status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                # A range we did not ask for cannot be appended; start over.
                log(f"{part.name}: the server sent an unexpected range; starting over")
                resp.close()
                part.unlink()
                return _fetch_into(url, part, timeout=timeout, progress=progress,
                                   chunk_size=chunk_size, log=log, desc=desc)
            resumed, mode = True, "ab"
        else:
            if offset:
                log(f"{part.name}: the server ignored the Range request; starting over")
            offset, mode = 0, "wb"
            total = length
        got = 0
        with open(part, mode) as f, progress_bar(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=desc, disable=not progress, leave=False,
        ) as bar:
            try:
                while chunk := resp.read(chunk_size):
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as err:
                raise _Dropped(got, f"{type(err).__name__}: {err}", resumed) from err
        if total is not None and offset + got < total:
            raise _Dropped(got, f"connection closed at byte {offset + got} of {total}", resumed)
        return got, resumed


def download(
    url: str,
    dest,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
    retry_wait: float = 1.0,
    chunk_size: int = _CHUNK,
    log: Callable[[str], None] = print,
) -> DownloadResult:
    """Fetch ``url`` into ``dest``, resumably, and verify it.

    Args:
        url: an ``http(s)://`` (or ``file://``) URL.
        dest: the final file. Bytes go to ``dest + ".part"`` first; ``dest`` only
            appears once the whole file is there and matches ``sha256``.
        sha256: the expected sha256 (64 hex digits), or ``None`` when none is
            recorded: then the file is accepted as received (the caller may
            record :attr:`DownloadResult.sha256`, trust on first use).
        size: the expected size in bytes, or ``None``. A ``.part`` already this
            large is checked without asking the network.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for the server on each connection.
        retries: how many times a dropped connection is resumed before giving up
            (the ``.part`` is kept either way, so the next call continues it).
        retry_wait: the first resume is immediate (a dropped connection is usually
            a one-off); later ones wait ``retry_wait`` seconds, doubling each time.
        chunk_size: bytes per read.
        log: where one-line notes go (restarts, retries, reuse).

    Returns:
        a :class:`DownloadResult`.

    Raises:
        DownloadError: the network failed; the message names the URL and any kept part.
        ChecksumError: the complete file does not match ``sha256``/``size``; the
            bad bytes are deleted, so no corrupt ``dest`` or ``.part`` remains.
        ValueError: a malformed ``sha256``/``size``/``retries``.
    """
    if sha256 is not None:
        sha256 = check_sha256_hex(sha256)
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError(f"size: expected a non-negative int or None, got {size!r}")
    if retries < 0:
        raise ValueError(f"retries: expected >= 0, got {retries}")
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)

    if dest.is_file():
        actual = sha256_file(dest)
        if sha256 is None or actual == sha256:
            return DownloadResult(dest, actual, 0, resumed=False, reused=True)
        log(f"{dest.name}: present but its sha256 is {actual}, not the recorded {sha256}; "
            "downloading it again")
        dest.unlink()

    fetched, resumed = 0, False
    # A part left by an earlier run may come from an older version of the file; if
    # the finished file fails its check, one clean restart settles which it was.
    clean_restart_left = part.exists()
    attempt = 0
    while True:
        if part.exists() and size is not None and part.stat().st_size > size:
            log(f"{part.name}: larger than the expected {size} bytes; starting over")
            part.unlink()
        if not (part.exists() and size is not None and part.stat().st_size == size):
            try:
                got, did_resume = _fetch_into(url, part, timeout=timeout, progress=progress,
                                              chunk_size=chunk_size, log=log, desc=dest.name)
                fetched += got
                resumed |= did_resume
            except DownloadError as err:
                if err.partial is None and part.exists():
                    raise DownloadError(url, err.reason, partial=part) from err.__cause__
                raise
            except _Dropped as err:
                fetched += err.got
                resumed |= err.resumed
                attempt += 1
                if attempt > retries:
                    raise DownloadError(url, f"connection lost ({err.reason})",
                                        partial=part if part.exists() else None) from err
                wait = 0.0 if attempt == 1 else retry_wait * 2 ** (attempt - 2)
                log(f"{dest.name}: connection lost at byte {part.stat().st_size} "
                    f"({err.reason}); resuming in {wait:g}s (retry {attempt} of {retries})")
                time.sleep(wait)
                continue
        actual_size = part.stat().st_size
        if size is not None and actual_size != size:
            bad = f"{actual_size} bytes"
            part.unlink()
            if clean_restart_left:
                clean_restart_left, resumed = False, False
                log(f"{dest.name}: {bad} instead of {size}; downloading again from the start")
                continue
            raise ChecksumError(dest, f"{size} bytes", bad,
                                "The server sent a different file; nothing was kept.")
        actual = sha256_file(part)
        if sha256 is not None and actual != sha256:
            part.unlink()
            if clean_restart_left:
                clean_restart_left, resumed = False, False
                log(f"{dest.name}: sha256 mismatch after resuming an old partial file; "
                    "downloading again from the start")
                continue
            raise ChecksumError(
                dest, sha256, actual,
                "The server sent a different file (changed upstream, a captive portal or "
                "a corrupted mirror); nothing was kept.",
            )
        os.replace(part, dest)
        return DownloadResult(dest, actual, fetched, resumed=resumed, reused=False)


# --------------------------------------------------------------------------- extraction


def _member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's relative path, or :class:`UnsafeArchiveError` if it could escape."""
    unix = name.replace("\\", "/")
    if unix.startswith("/") or re.match(r"^[A-Za-z]:", unix):
        raise UnsafeArchiveError(
            f"archive: member {name!r} of {archive} has an absolute path; refusing to extract")
    parts = [p for p in unix.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"archive: member {name!r} of {archive} contains '..'; refusing to extract")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _check_link(member: PurePosixPath, target: str, archive: Path, *, hard: bool) -> None:
    """A link is allowed only when it stays inside the extraction folder."""
    unix = target.replace("\\", "/")
    if unix.startswith("/") or re.match(r"^[A-Za-z]:", unix):
        raise UnsafeArchiveError(
            f"archive: link {str(member)!r} in {archive} points to the absolute path "
            f"{target!r}; refusing to extract")
    # Symlinks resolve from their own folder, hard links from the archive root.
    base = "" if hard else str(member.parent)
    resolved = os.path.normpath(os.path.join(base, unix))
    if resolved == ".." or resolved.startswith("../") or os.path.isabs(resolved):
        raise UnsafeArchiveError(
            f"archive: link {str(member)!r} in {archive} points outside the target folder "
            f"({target!r}); refusing to extract")


def _inside(path: str | Path, root: Path) -> bool:
    path = Path(path)
    return path == root or root in path.parents


def _zip_is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


@dataclass
class _Member:
    """One archive member to write: its checked relative path, kind and contents."""

    name: str  # as in the archive, for messages
    rel: PurePosixPath
    kind: str  # "dir", "file", "symlink" or "hardlink"
    link: str | None = None
    open: Callable | None = None  # -> a binary file object with the contents (files)


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[_Member]:
    members = []
    for info in zf.infolist():
        rel = _member_path(info.filename, archive)
        if _zip_is_symlink(info):
            link = zf.read(info).decode("utf-8", "surrogateescape")
            _check_link(rel, link, archive, hard=False)
            members.append(_Member(info.filename, rel, "symlink", link))
        elif info.is_dir():
            members.append(_Member(info.filename, rel, "dir"))
        else:
            members.append(_Member(info.filename, rel, "file",
                                   open=lambda info=info: zf.open(info)))
    return members


def _tar_members(tf: tarfile.TarFile, archive: Path) -> list[_Member]:
    members = []
    for m in tf.getmembers():
        rel = _member_path(m.name, archive)
        if m.issym() or m.islnk():
            _check_link(rel, m.linkname, archive, hard=m.islnk())
            kind = "hardlink" if m.islnk() else "symlink"
            members.append(_Member(m.name, rel, kind, m.linkname))
        elif m.isdir():
            members.append(_Member(m.name, rel, "dir"))
        elif m.isfile():
            members.append(_Member(m.name, rel, "file", open=lambda m=m: tf.extractfile(m)))
        else:
            raise UnsafeArchiveError(
                f"archive: member {m.name!r} of {archive} is a device or fifo; "
                "refusing to extract")
    return members


def _write_member(m: _Member, root: Path, archive: Path) -> Path | None:
    """Write one member under ``root`` (a resolved folder), checking real paths on disk.

    The checks above read the members' names; here every folder a member is
    written into, and every link's target, is resolved on disk (following
    the links earlier members made), so that a chain of harmless-looking links
    cannot carry a member or a link outside ``root``.
    """
    if m.rel == PurePosixPath("."):
        return None
    target = root.joinpath(*m.rel.parts)

    def refuse(what: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"archive: member {m.name!r} of {archive} {what} outside the "
                                  "target folder through a link; refusing to extract")

    if not _inside(os.path.realpath(target.parent), root):
        raise refuse("would be written")
    target.parent.mkdir(parents=True, exist_ok=True)
    if m.kind == "dir":
        if not _inside(os.path.realpath(target), root):
            raise refuse("is a folder")
        target.mkdir(exist_ok=True)
        return None
    if target.is_symlink() or target.is_file():
        target.unlink()  # replace it, never write through it
    if m.kind == "symlink":
        if not _inside(os.path.realpath(os.path.join(os.path.realpath(target.parent), m.link)),
                       root):
            raise refuse("is a link that points")
        os.symlink(m.link, target)
    elif m.kind == "hardlink":
        source = os.path.realpath(root.joinpath(*_member_path(m.link, archive).parts))
        if not _inside(source, root):
            raise refuse("is a hard link to a file")
        if not os.path.isfile(source):
            raise UnsafeArchiveError(f"archive: hard link {m.name!r} of {archive} points to "
                                     f"{m.link!r}, which is not a file extracted before it")
        shutil.copyfile(source, target)
    else:
        with m.open() as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    return target


def _check_tree(root: Path, archive: Path) -> None:
    """Every path under ``root``, links resolved, stays under ``root`` (the final check)."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if not _inside(os.path.realpath(path), root):
                rel = os.path.relpath(path, root)
                raise UnsafeArchiveError(f"archive: {rel!r} extracted from {archive} resolves "
                                         "outside the target folder; refusing to extract")


def _move_into(scratch: Path, dest: Path) -> None:
    """Move the extracted tree into ``dest``: a rename when ``dest`` is new, else a merge."""
    if not dest.exists():
        os.replace(scratch, dest)
        return
    for folder, dirs, files in os.walk(scratch):
        there = dest / os.path.relpath(folder, scratch)
        for name in list(dirs):
            src = Path(folder, name)
            if src.is_symlink():  # os.walk lists links to folders among dirs
                files.append(name)
                dirs.remove(name)
            else:
                (there / name).mkdir(exist_ok=True)
        for name in files:
            dst = there / name
            if dst.is_symlink() or dst.is_file():
                dst.unlink()
            os.replace(Path(folder, name), dst)


def safe_extract(archive, dest) -> list[Path]:
    """Unpack a zip or tar archive into ``dest``, refusing members that could escape it.

    Every member's name is checked before anything is written: an absolute
    path (``/x``, ``C:\\x``), a ``..`` component, a link whose target leaves
    ``dest``, or a device/fifo member raises :class:`UnsafeArchiveError`. The
    archive is then unpacked into a hidden scratch folder beside ``dest``,
    where each member's real path is checked on disk as it is written (so a
    chain of links such as ``x -> .`` then ``x/y -> ..`` is refused too), and
    everything extracted is checked once more with links resolved; only then
    does it move into ``dest``. A refused or failed archive leaves nothing
    behind: no scratch folder, no ``dest``, no partial files.

    Args:
        archive: a ``.zip`` or a (compressed) tar file.
        dest: the folder to extract into (created when missing; files already
            there are replaced by members of the same name).

    Returns:
        the paths of the files and links written (folders not listed).

    >>> import tempfile, zipfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(tmp / "bad.zip", "w") as zf:
    ...     zf.writestr("../evil.txt", b"x")
    >>> safe_extract(tmp / "bad.zip", tmp / "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    data_scripts._download.UnsafeArchiveError: archive: member '../evil.txt' of ...
    >>> sorted(p.name for p in tmp.iterdir())
    ['bad.zip']
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive: no such file: {archive}")
    if zipfile.is_zipfile(archive):
        opened = zipfile.ZipFile(archive)
        reader = _zip_members
    elif tarfile.is_tarfile(archive):
        opened = tarfile.open(archive)
        reader = _tar_members
    else:
        raise ValueError(f"archive: {archive} is neither a zip nor a tar file")
    with opened as container:
        members = reader(container, archive)  # names checked before anything is written
        dest = dest.absolute()
        created = next((p for p in [dest.parent, *dest.parent.parents][::-1] if not p.exists()),
                       None)  # the first folder this call creates, removed again on failure
        dest.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
        try:
            root = scratch.resolve()
            written = [w for m in members if (w := _write_member(m, root, archive)) is not None]
            _check_tree(root, archive)
            _move_into(scratch, dest)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # what a merge left (folders)
    return [dest / p.relative_to(root) for p in written]
