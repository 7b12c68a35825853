"""Public matting data sets from a local copy: Distinctions-646, AIM-500, P3M-10k.

None of these can be downloaded by the course (each is given by its authors
on request or from a drive link, under its own research licence). Once a user
has one on disk, these loaders read it with the conventions of the rest of
:mod:`mattinglib.data`. The trees below follow each release as described by
its authors; where a detail is not certain, the alternatives in brackets are
accepted too (folder names are matched case-insensitively, files of a sample
are paired by file stem, any of :data:`mattinglib.data.folders.IMAGE_EXTENSIONS`).

**Distinctions-646** (Qiao et al., "Attention-Guided Hierarchical Structure
Aggregation for Image Matting", CVPR 2020): 646 foregrounds with alpha,
596 for training and 50 for testing; like the Adobe set it ships foregrounds
and alphas, and composites are made on COCO / VOC photos::

    Distinctions-646/
    ├── Train/                 [train, Training_set]
    │   ├── FG/<name>.png      foreground colours [fg, Image, image]
    │   └── GT/<name>.png      alpha mattes       [alpha, Alpha, mask]
    └── Test/                  [test, Test_set]
        ├── FG/  GT/
        └── Trimap/            optional, fixed trimaps [trimap, trimaps]

(Some copies hold ``BG/`` and composited images as well; they are ignored.)

**AIM-500** (Li et al., "Deep Automatic Natural Image Matting", IJCAI 2021):
500 natural photos with alpha, for evaluation; it has photos, not foregrounds::

    AIM-500/
    ├── original/<name>.jpg    the photos [image, images, Image]
    ├── mask/<name>.png        alpha mattes [alpha, Alpha, GT]
    ├── trimap/<name>.png      optional [trimaps, Trimap]
    └── usr/                   the authors' semantic representation (ignored)

**P3M-10k** (Li et al., "Privacy-Preserving Portrait Matting", ACM MM 2021):
portraits with alpha, faces blurred in the training set; photos, not foregrounds::

    P3M-10k/
    ├── train/
    │   ├── blurred_image/<name>.jpg   9,421 training photos [image, original_image]
    │   └── mask/<name>.png            alpha mattes [alpha]
    └── validation/
        ├── P3M-500-P/                 500 face-blurred test photos
        │   ├── blurred_image/  mask/  trimap/   (facemask/ ignored)
        └── P3M-500-NP/                500 test photos of other people, faces not blurred
            ├── original_image/  mask/  trimap/

Every loader returns a :class:`ExternalMattingDataset`, whose ``dataset[i]``
looks like a :class:`~mattinglib.data.composition.Composition1kDataset`
sample: float32 tensors ``image`` or ``fg (3, H, W)``, ``alpha (1, H, W)`` in
[0, 1], ``trimap (1, H, W)`` in {0, 128/255, 1} when the set has trimaps, and
``name``. Its ``sample(i) -> (fg, alpha, name)`` makes it a foreground source
for :class:`~mattinglib.data.composition.CompositionDataset` (the DIM recipe)
when the set has foregrounds.

Missing and broken files: a sample whose photo has no alpha (or the reverse)
is left out and listed in ``missing`` (a warning gives the count); a file that
cannot be decoded, or whose size differs from its partner's, is recorded in
``bad_files`` with a warning and the next readable sample is used instead,
as :mod:`mattinglib.data.folders` does (``on_error="raise"`` raises instead, for
evaluation); :meth:`ExternalMattingDataset.scan` checks every file up front.

>>> import tempfile, numpy as np, cv2, os
>>> root = tempfile.mkdtemp()
>>> for d in ("original", "mask"): os.makedirs(f"{root}/{d}")
>>> _ = cv2.imwrite(f"{root}/original/p1.jpg", np.full((8, 6, 3), 90, np.uint8))
>>> _ = cv2.imwrite(f"{root}/mask/p1.png", np.full((8, 6), 255, np.uint8))
>>> ds = load_aim500(root)
>>> len(ds), sorted(ds[0]), tuple(ds[0]["alpha"].shape)
(1, ['alpha', 'image', 'name'], (1, 8, 6))
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

from .._checks import check_index
from ..io import read_alpha, read_image, read_trimap
from .composition import to_chw
from .folders import IMAGE_EXTENSIONS, SkippingSource

__all__ = ["ExternalItem", "ExternalMattingDataset", "load_distinctions646", "load_aim500",
           "load_p3m10k", "P3M_SPLITS"]

#: P3M-10k split name -> its folder below the data set's root.
P3M_SPLITS = {"train": ("train",), "p3m-500-p": ("validation", "P3M-500-P"),
              "p3m-500-np": ("validation", "P3M-500-NP")}


@dataclass(frozen=True)
class ExternalItem:
    """The files of one sample: ``alpha`` and ``image`` or ``fg``; ``trimap`` optional."""

    name: str
    alpha: Path
    image: Path | None = None
    fg: Path | None = None
    trimap: Path | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.image, self.fg, self.alpha, self.trimap) if p is not None]


class ExternalMattingDataset(SkippingSource, Dataset):
    """Samples of a public matting data set on disk (built by the ``load_*`` functions).

    Args:
        items: the samples' files.
        dataset: a name for messages (``"AIM-500"``).
        missing: relative paths of files without a partner (reported, not loaded).
        on_error: ``"skip"`` (record, warn, use the next readable sample) or ``"raise"``.

    Attributes:
        has_fg: the samples carry foreground colours (``fg``) rather than photos (``image``).
        missing: files left out because their partner is absent.
        bad_files: files that could not be read (filled as they are met, or by :meth:`scan`).
    """

    def __init__(self, items: Sequence[ExternalItem], *, dataset: str,
                 missing: Sequence[str] = (), on_error: str = "skip"):
        super().__init__()
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error: expected 'skip' or 'raise', got {on_error!r}")
        if not items:
            raise ValueError(f"root: no {dataset} samples found (no file pairs up with an alpha)"
                             + (f"; unpaired: {list(missing)[:5]}" if missing else ""))
        self.items = list(items)
        self.dataset = dataset
        self.on_error = on_error
        self.missing = list(missing)
        self.has_fg = all(it.fg is not None for it in self.items)
        self.names = [it.name for it in self.items]
        if self.missing:
            warnings.warn(f"{dataset}: {len(self.missing)} file(s) have no partner and are "
                          f"left out (e.g. {', '.join(self.missing[:3])}); see .missing",
                          RuntimeWarning, stacklevel=3)

    def __len__(self) -> int:
        return len(self.items)

    def _paths(self, index: int) -> list[Path]:
        return self.items[index].paths()

    def _read(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        out: dict[str, Any] = {"name": item.name, "alpha": read_alpha(item.alpha)}
        if item.image is not None:
            out["image"] = read_image(item.image)
        if item.fg is not None:
            out["fg"] = read_image(item.fg)
        if item.trimap is not None:
            out["trimap"] = read_trimap(item.trimap)
        for key in ("image", "fg", "trimap"):
            if key in out and out[key].shape[:2] != out["alpha"].shape:
                raise ValueError(f"alpha: size {out['alpha'].shape} of {item.alpha} differs from "
                                 f"its {key}'s {out[key].shape[:2]}")
        return out

    def _get(self, index: int) -> dict[str, Any]:
        if self.on_error == "raise":
            return self._read(check_index(index, len(self)))
        return self._load(index)

    def arrays(self, index: int) -> dict[str, Any]:
        """Sample ``index`` as NumPy arrays: ``image``/``fg`` float32 ``(H, W, 3)``,
        ``alpha`` float32 ``(H, W)`` in [0, 1], ``trimap`` uint8 ``(H, W)``, and ``name``."""
        return self._get(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        a = self._get(index)
        out: dict[str, Any] = {k: to_chw(v) for k, v in a.items() if k in ("image", "fg", "alpha")}
        if "trimap" in a:
            out["trimap"] = to_chw(a["trimap"]).float() / 255.0
        out["name"] = a["name"]
        return out

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """``(fg, alpha, name)``: the foreground source interface of
        :class:`~mattinglib.data.composition.CompositionDataset`.

        Raises:
            ValueError: the data set has photos, not foregrounds (AIM-500,
                P3M-10k): composing a photo again would carry its old background.
        """
        if not self.has_fg:
            raise ValueError(f"dataset: {self.dataset} holds photos, not foreground colours; "
                             "it cannot be recomposed (use it for evaluation, or estimate F "
                             "with mattinglib.compositing.estimate_foreground)")
        a = self._get(index)
        return a["fg"], a["alpha"], a["name"]


# --------------------------------------------------------------------------- finding files


def _subdir(parent: Path, candidates: Sequence[str], *, what: str,
            required: bool = True) -> Path | None:
    """The first child folder of ``parent`` whose name matches a candidate (any case)."""
    if parent.is_dir():
        children = {p.name.lower(): p for p in sorted(parent.iterdir()) if p.is_dir()}
        for name in candidates:
            if name.lower() in children:
                return children[name.lower()]
    if required:
        raise ValueError(f"root: no {what} folder ({' / '.join(candidates)}) in {parent}")
    return None


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if (path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
                and not path.name.startswith(".")):
            if path.stem in found:
                raise ValueError(f"root: two files share the name {path.stem!r} in {folder}")
            found[path.stem] = path
    return found


def _pair(main_dir: Path, main_key: str, alpha_dir: Path, trimap_dir: Path | None, *,
          dataset: str, on_error: str) -> ExternalMattingDataset:
    mains, alphas = _by_stem(main_dir), _by_stem(alpha_dir)
    trimaps = _by_stem(trimap_dir) if trimap_dir is not None else {}
    root = main_dir.parent
    missing = [str(p.relative_to(root)) for stem, p in mains.items() if stem not in alphas]
    missing += [str(p.relative_to(root)) for stem, p in alphas.items() if stem not in mains]
    items = []
    for stem in sorted(set(mains) & set(alphas)):
        trimap = trimaps.get(stem)
        if trimap_dir is not None and trimap is None:
            missing.append(f"{trimap_dir.name}/{stem}.* (trimap of {mains[stem].name})")
            continue
        items.append(ExternalItem(stem, alphas[stem], trimap=trimap, **{main_key: mains[stem]}))
    return ExternalMattingDataset(items, dataset=dataset,
                                  missing=sorted(missing), on_error=on_error)


def _root(root) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"root: no such folder: {root}")
    return root


# --------------------------------------------------------------------------- loaders


def load_distinctions646(root, split: str = "train", *,
                         on_error: str = "skip") -> ExternalMattingDataset:
    """Distinctions-646 foregrounds and alphas (see the module docstring for the tree).

    Args:
        root: the ``Distinctions-646`` folder.
        split: ``"train"`` (596 foregrounds) or ``"test"`` (50).
        on_error: ``"skip"`` or ``"raise"`` on an unreadable file.

    Returns:
        an :class:`ExternalMattingDataset` of ``fg``, ``alpha`` (and ``trimap``
        when the split has a trimap folder).
    """
    names = {"train": ("Train", "train", "Training_set"), "test": ("Test", "test", "Test_set")}
    if split not in names:
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    folder = _subdir(_root(root), names[split], what=f"{split} split")
    fg = _subdir(folder, ("FG", "fg", "Image", "image"), what="foreground")
    alpha = _subdir(folder, ("GT", "alpha", "mask"), what="alpha")
    trimap = _subdir(folder, ("Trimap", "trimaps"), what="trimap", required=False)
    return _pair(fg, "fg", alpha, trimap, dataset=f"Distinctions-646 {split}", on_error=on_error)


def load_aim500(root, *, on_error: str = "skip") -> ExternalMattingDataset:
    """AIM-500 photos, alphas and (when present) trimaps (see the module docstring).

    Args:
        root: the ``AIM-500`` folder.
        on_error: ``"skip"`` or ``"raise"`` on an unreadable file.

    Returns:
        an :class:`ExternalMattingDataset` of ``image``, ``alpha`` (and ``trimap``).
    """
    root = _root(root)
    image = _subdir(root, ("original", "image", "images"), what="photo")
    alpha = _subdir(root, ("mask", "alpha", "GT"), what="alpha")
    trimap = _subdir(root, ("trimap", "trimaps"), what="trimap", required=False)
    return _pair(image, "image", alpha, trimap, dataset="AIM-500", on_error=on_error)


def load_p3m10k(root, split: str = "train", *, on_error: str = "skip") -> ExternalMattingDataset:
    """P3M-10k portraits and alphas (see the module docstring for the tree).

    Args:
        root: the ``P3M-10k`` folder.
        split: ``"train"``, ``"p3m-500-p"`` (face-blurred test) or ``"p3m-500-np"``.
        on_error: ``"skip"`` or ``"raise"`` on an unreadable file.

    Returns:
        an :class:`ExternalMattingDataset` of ``image``, ``alpha`` (and
        ``trimap`` for the test splits).
    """
    if split not in P3M_SPLITS:
        raise ValueError(f"split: expected one of {sorted(P3M_SPLITS)}, got {split!r}")
    folder = _root(root)
    for part in P3M_SPLITS[split]:
        folder = _subdir(folder, (part,), what=f"{split} split")
    image = _subdir(folder, ("blurred_image", "original_image", "image"), what="photo")
    alpha = _subdir(folder, ("mask", "alpha"), what="alpha")
    trimap = _subdir(folder, ("trimap", "trimaps"), what="trimap", required=False)
    return _pair(image, "image", alpha, trimap, dataset=f"P3M-10k {split}", on_error=on_error)

