"""Foregrounds, alphas and backgrounds read from folders on disk (real data).

Expected trees (file names pair foregrounds with alphas by their stem; any of
the extensions in :data:`IMAGE_EXTENSIONS`)::

    fg_dir/                 alpha_dir/              bg_dir/
      hair_001.png            hair_001.png            0001.jpg
      dog_17.jpg              dog_17.png              0002.jpg
      ...                     ...                     ...

A real data set always holds a few broken files (a truncated download, a zero
byte placeholder, an alpha whose size does not match its foreground). Such a
file must not stop an epoch: the source records it in ``bad_files``, warns with
the running count, and deterministically substitutes the next readable item
(index + 1, + 2, ... modulo the length). Each worker process of a DataLoader
holds its own copy of ``bad_files``; the warnings reach the console from every
process. :meth:`FolderForegrounds.scan` checks every file up front.

>>> import tempfile, numpy as np, cv2, os
>>> root = tempfile.mkdtemp()
>>> os.makedirs(f"{root}/fg"); os.makedirs(f"{root}/alpha")
>>> _ = cv2.imwrite(f"{root}/fg/a.png", np.full((8, 8, 3), 200, np.uint8))
>>> _ = cv2.imwrite(f"{root}/alpha/a.png", np.full((8, 8), 255, np.uint8))
>>> src = FolderForegrounds(f"{root}/fg", f"{root}/alpha")
>>> fg, alpha, name = src.sample(0)
>>> fg.shape, alpha.shape, name, float(alpha.max())
((8, 8, 3), (8, 8), 'a', 1.0)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from .._checks import check_index, check_names
from ..io import read_alpha, read_image, read_image_raw

__all__ = ["IMAGE_EXTENSIONS", "FolderForegrounds", "FolderBackgrounds", "UnreadableFileError",
           "SkippingSource", "list_images"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_READ_ERRORS = (ValueError, OSError, cv2.error)


class UnreadableFileError(ValueError):
    """A file that could not be decoded; ``path`` names it, so that only it is reported."""

    def __init__(self, message: str, path: str | Path) -> None:
        super().__init__(message)
        self.path = Path(path)


def list_images(folder, *, name: str = "folder") -> dict[str, Path]:
    """The image files of ``folder`` keyed by stem, sorted by name.

    Raises:
        ValueError: when the folder is missing, empty, or two files share a stem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{name}: no such folder: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in found:
                raise ValueError(f"{name}: two images share the name {path.stem!r} in {folder}")
            found[path.stem] = path
    if not found:
        raise ValueError(f"{name}: no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return found


class SkippingSource:
    """Base of the folder sources: index-addressable reading that survives unreadable files.

    A subclass defines ``__len__``, ``_paths(index)`` (the files item ``index`` reads,
    for the report) and ``_read(index)`` (read it, raising ``ValueError``, ``OSError``
    or :class:`UnreadableFileError` on a bad file), and reads through ``_load(index)``.
    ``_load`` returns the first readable item from ``index`` on (wrapping around), so
    a bad file is replaced by the same neighbour in every epoch and every worker; each
    bad file is warned about once with the running count, and listed in
    ``bad_files``. :meth:`scan` reads everything once to report them all up front.
    Used by :class:`FolderForegrounds`, :class:`FolderBackgrounds`,
    :class:`~mattinglib.data.external.ExternalMattingDataset` and
    :class:`~mattinglib.data.target_domain.CapturedVideoDataset`.
    """

    def __init__(self) -> None:
        self.bad_files: list[str] = []
        self._bad_index: set[int] = set()

    def __len__(self) -> int:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _paths(self, index: int) -> list[Path]:  # pragma: no cover
        raise NotImplementedError

    def _read(self, index: int):  # pragma: no cover
        raise NotImplementedError

    def _load(self, index: int):
        index = check_index(index, len(self))  # IndexError past the end ends a for loop
        n = len(self)
        for step in range(n):
            candidate = (int(index) + step) % n
            if candidate in self._bad_index:
                continue
            try:
                return self._read(candidate)
            except _READ_ERRORS as err:
                self._record(candidate, err)
        raise RuntimeError(f"{type(self).__name__}: none of the {n} items could be read; "
                           f"bad files: {self.bad_files[:5]}")

    def _record(self, index: int, err: Exception) -> None:
        self._bad_index.add(index)
        # A sample may read many files (a video frame's neighbours): name the one that failed.
        paths = [err.path] if isinstance(err, UnreadableFileError) else self._paths(index)
        names = [str(p) for p in paths]
        self.bad_files.extend(n for n in names if n not in self.bad_files)
        warnings.warn(
            f"{type(self).__name__}: skipped unreadable item {index} ({', '.join(names)}): {err}; "
            f"{len(self._bad_index)} unreadable item(s) so far, the next readable one is used "
            "instead",
            RuntimeWarning, stacklevel=3)

    def scan(self) -> list[str]:
        """Read every item once; returns ``bad_files`` (also recorded on the object)."""
        for i in range(len(self)):
            if i not in self._bad_index:
                try:
                    self._read(i)
                except _READ_ERRORS as err:
                    self._record(i, err)
        return list(self.bad_files)


class FolderForegrounds(SkippingSource):
    """Foreground colours and their alpha mattes from two folders, paired by file stem.

    Args:
        fg_dir: folder of foreground colour images (RGB).
        alpha_dir: folder of alpha mattes (grey, or RGB/RGBA as :func:`mattinglib.io.read_alpha`
            reads).
        names: optional subset of stems to use (in this order).

    ``sample(i)`` returns ``(fg float32 (H, W, 3) in [0, 1], alpha float32 (H, W)
    in [0, 1], stem)``. A file that cannot be decoded, or an alpha whose size
    differs from its foreground, is recorded in ``bad_files`` and the next
    readable pair is returned instead.
    """

    def __init__(self, fg_dir, alpha_dir, *, names=None):
        super().__init__()
        fgs = list_images(fg_dir, name="fg_dir")
        alphas = list_images(alpha_dir, name="alpha_dir")
        missing = sorted(set(fgs) ^ set(alphas))
        if names is None and missing:
            raise ValueError("alpha_dir: foregrounds and alphas do not pair up by name; "
                             f"unmatched: {missing[:10]}")
        names = sorted(fgs) if names is None else check_names(names)
        absent = [n for n in names if n not in fgs or n not in alphas]
        if absent:
            raise ValueError(f"names: no foreground/alpha pair for {absent[:10]}")
        self.names = names
        self._pairs = [(fgs[n], alphas[n]) for n in names]

    def __len__(self) -> int:
        return len(self._pairs)

    def _paths(self, index: int) -> list[Path]:
        return list(self._pairs[index])

    def _read(self, index: int):
        fg_path, alpha_path = self._pairs[index]
        fg = read_image(fg_path)
        alpha = read_alpha(alpha_path)
        if fg.shape[:2] != alpha.shape:
            raise ValueError(f"alpha: size {alpha.shape} differs from its foreground's "
                             f"{fg.shape[:2]}")
        return fg, alpha, self.names[index]

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """``(fg, alpha, stem)`` of pair ``index`` (or of the next readable pair)."""
        return self._load(index)

    __getitem__ = sample


class FolderBackgrounds(SkippingSource):
    """Background photos from a folder, read as RGB.

    ``sample(i)`` returns ``(bg float32 (H, W, 3) in [0, 1], stem)``;
    ``sample_uint8(i)`` the same as uint8 (cheaper to crop and resize).
    Unreadable files are recorded in ``bad_files`` and skipped deterministically.
    """

    def __init__(self, bg_dir):
        super().__init__()
        files = list_images(bg_dir, name="bg_dir")
        self.names = sorted(files)
        self._files = [files[n] for n in self.names]

    def __len__(self) -> int:
        return len(self._files)

    def _paths(self, index: int) -> list[Path]:
        return [self._files[index]]

    def _read(self, index: int):
        # The library's reader: it also reports a truncated JPEG (OpenCV alone fills it with grey).
        arr = read_image_raw(self._files[index], cv2.IMREAD_COLOR)
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB), self.names[index]

    def sample_uint8(self, index: int) -> tuple[np.ndarray, str]:
        """``(bg uint8 (H, W, 3), stem)``."""
        return self._load(index)

    def sample(self, index: int) -> tuple[np.ndarray, str]:
        """``(bg float32 (H, W, 3) in [0, 1], stem)``."""
        arr, name = self._load(index)
        return arr.astype(np.float32) / np.float32(255.0), name

    __getitem__ = sample
