"""Real foregrounds and offline real backgrounds for the Deep Image Matting recipe.

Generated foregrounds (:mod:`~mattinglib.data.synthetic`) teach a network the
shapes of hair, glass and motion blur, but not the colours and textures of
photographs. The alphamatting.com benchmark (Rhemann et al., CVPR 2009)
publishes 27 low-resolution *training* images with ground-truth alpha; this
module turns them into a foreground source (GT alpha, foreground colours
estimated by the multi-level method of Germer et al., ICPR 2020).

**The split, fixed for every user and enforced here.** GT01-GT10 are the only
images a training source may read (:data:`TRAIN_NAMES`); GT11-GT27 are the
held-out evaluation set (:data:`HELDOUT_NAMES`), never trained on, not even as
backgrounds. :func:`check_training_names` refuses a held-out name wherever a
training source is built. With the full download a model is evaluated on 17
photos; with fewer, on those present.

**Working scale.** Foregrounds are loaded with their longer side at most
``max_side`` (320 by default, area interpolation), the scale at which the
course evaluates on the held-out photos, so that hair strands and the unknown
band of a training crop have the widths the network meets at evaluation.

**Backgrounds** (:func:`offline_backgrounds`), in this order:

1. COCO / VOC photos when the data root has them (``backgrounds/coco/train2014``,
   ``backgrounds/voc2012/JPEGImages``, as ``data_scripts/download_backgrounds.py``
   writes them; the paper's source);
2. otherwise real photos available offline: the training photos GT01-GT10
   themselves (cluttered real scenes) and the Background Matting sample's plate
   and target backgrounds (``bgm_sample/``) when present;
3. otherwise procedural textures only.

A share of procedural backgrounds is always mixed in (``procedural_fraction``).
The chosen source is described in the dataset's ``source_description``.

>>> check_training_names(["GT01", "GT10"])
('GT01', 'GT10')
>>> try:
...     check_training_names(["GT11"])
... except ValueError as err:
...     print(*str(err).split("; "), sep=";\\n")
names: GT11 belongs to the held-out evaluation set (GT11-GT27) and may never be trained on;
training sources may only use GT01-GT10
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .._checks import check_index, check_int, check_number, is_int
from ..config import data_root, find_dataset
from .composition import DIM_TRAIN_SIZE, CompositionDataset, check_source, sample_raw
from .folders import FolderBackgrounds, list_images
from .pool import PooledSource
from .synthetic import (
    KINDS,
    SyntheticBackgrounds,
    SyntheticForegrounds,
    check_seed,
    rng_for,
)

__all__ = [
    "TRAIN_NAMES",
    "HELDOUT_NAMES",
    "check_training_names",
    "heldout_names_present",
    "AlphamattingForegrounds",
    "PhotoBackgrounds",
    "MixedForegrounds",
    "offline_backgrounds",
    "RealMattingDataset",
]

#: The alphamatting.com training images a model may be trained on.
TRAIN_NAMES = tuple(f"GT{i:02d}" for i in range(1, 11))
#: The held-out evaluation images: never read by a training source.
HELDOUT_NAMES = tuple(f"GT{i:02d}" for i in range(11, 28))

STREAM_MIX = 11
STREAM_PHOTO = 12

# Where the background downloads put COCO and VOC, relative to the data root.
_PHOTO_FOLDERS = ("backgrounds/coco/train2014", "backgrounds/voc2012/JPEGImages")

# Foreground estimates are slow (about a second per image): one per (file, scale) per process.
_FG_CACHE: dict[tuple[str, str, int | None], tuple[np.ndarray, np.ndarray]] = {}


def check_training_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple, refusing any held-out (or unknown) alphamatting name."""
    if isinstance(names, str):
        raise TypeError(f"names: expected a sequence of names such as ('GT01', 'GT02'), "
                        f"got the string {names!r}")
    out = tuple(names)
    for name in out:
        if name in HELDOUT_NAMES:
            raise ValueError(f"names: {name} belongs to the held-out evaluation set "
                             "(GT11-GT27) and may never be trained on; training sources may only "
                             "use GT01-GT10")
        if name not in TRAIN_NAMES:
            raise ValueError(f"names: expected alphamatting training names GT01-GT10, got {name!r}")
    if not out:
        raise ValueError("names: expected at least one training name")
    return out


def _alphamatting_root(root) -> Path | None:
    if root is not None:
        return Path(root)
    return find_dataset("alphamatting_lowres")


def _present(root: Path | None, names: Sequence[str]) -> tuple[str, ...]:
    if root is None:
        return ()
    return tuple(n for n in names if (root / "input" / f"{n}.png").is_file()
                 and (root / "gt" / f"{n}.png").is_file())


def heldout_names_present(root=None) -> tuple[str, ...]:
    """The held-out evaluation names (GT11-GT27) whose photo and alpha are on disk."""
    return _present(_alphamatting_root(root), HELDOUT_NAMES)


class AlphamattingForegrounds:
    """The alphamatting.com training images as a foreground source (GT01-GT10 only).

    Args:
        root: the ``alphamatting_lowres`` folder; ``None`` looks under the data root.
        names: training names to use (default: every one of :data:`TRAIN_NAMES`
            present); a held-out name raises ``ValueError``.
        max_side: the working scale: longer side at most this (``None``: full size).

    ``sample(i)`` returns ``(fg, alpha, tag)``: fg float32 ``(H, W, 3)`` estimated
    with :func:`mattinglib.compositing.estimate_foreground`, alpha float32
    ``(H, W)`` the ground truth, tag ``"alphamatting:GTnn"``.

    Raises:
        FileNotFoundError: when no training image is on disk (with the download command).
    """

    def __init__(self, root=None, *, names: Sequence[str] | None = None,
                 max_side: int | None = DIM_TRAIN_SIZE):
        from ..compositing import estimate_foreground
        from ..io import load_alphamatting

        wanted = TRAIN_NAMES if names is None else check_training_names(names)
        base = _alphamatting_root(root)
        present = _present(base, wanted)
        if not present:
            raise FileNotFoundError(
                "no alphamatting.com training image (GT01-GT10) found"
                + (f" in {base}" if base is not None else " under the data root")
                + "; download them with: python data_scripts/download_alphamatting.py")
        self.root, self.names, self.max_side = base, present, max_side
        self._items = []
        for sample in load_alphamatting(base, names=list(present), max_side=max_side):
            key = (str(base.resolve()), sample.name, max_side)
            if key not in _FG_CACHE:
                fg, _ = estimate_foreground(sample.image, sample.alpha)
                _FG_CACHE[key] = (fg, sample.image)
            self._items.append((_FG_CACHE[key][0], sample.alpha.astype(np.float32), sample.name))

    def __len__(self) -> int:
        return len(self._items)

    def photos(self) -> list[tuple[np.ndarray, str]]:
        """The training photos themselves (float32 RGB, name): cluttered real scenes."""
        return [(_FG_CACHE[(str(self.root.resolve()), n, self.max_side)][1], n) for n in self.names]

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        fg, alpha, name = self._items[check_index(index, len(self))]
        return fg, alpha, f"alphamatting:{name}"

    __getitem__ = sample


class MixedForegrounds:
    """Real foregrounds with a fixed share of generated ones mixed in.

    Item ``i`` is generated with probability ``synthetic_fraction`` (decided by
    ``(seed, i)``, so the mix is the same in every worker), otherwise it is real
    foreground ``i mod len(real)``.

    Args:
        real: a foreground source (``len()`` and ``sample(i)``).
        synthetic: another source, e.g. :class:`~mattinglib.data.synthetic.SyntheticForegrounds`.
        synthetic_fraction: in [0, 1].
        seed: non-negative int.
        length: the nominal number of items.
    """

    def __init__(self, real, synthetic, *, synthetic_fraction: float, seed: int = 0,
                 length: int = 100_000):
        check_source(real, "real")
        check_source(synthetic, "synthetic")
        check_number(synthetic_fraction, "synthetic_fraction", minimum=0, maximum=1)
        self.real, self.synthetic = real, synthetic
        self.synthetic_fraction = float(synthetic_fraction)
        self.seed = check_seed(seed)
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int):
        return self._sample(index, raw=False)

    __getitem__ = sample

    def sample_raw(self, index: int):
        """Item ``index`` as its source holds it (see
        :func:`~mattinglib.data.composition.sample_raw`)."""
        return self._sample(index, raw=True)

    def _sample(self, index: int, *, raw: bool):
        index = check_index(index, len(self))
        if rng_for(self.seed, STREAM_MIX, index).random() < self.synthetic_fraction:
            source, k = self.synthetic, index % len(self.synthetic)
        else:
            source, k = self.real, index % len(self.real)
        return sample_raw(source, k) if raw else source.sample(k)


def _random_photo_crop(photo: np.ndarray, height: int, width: int,
                       rng: np.random.Generator) -> np.ndarray:
    """A random crop (40-100% of the largest one of the target's aspect), resized, maybe flipped."""
    ph, pw = photo.shape[:2]
    scale = min(ph / height, pw / width) * float(rng.uniform(0.4, 1.0))
    ch, cw = max(1, min(ph, round(height * scale))), max(1, min(pw, round(width * scale)))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(photo[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


class PhotoBackgrounds:
    """Backgrounds from photos held in memory or in a folder, mixed with procedural ones.

    Background ``i`` depends only on ``(seed, i)``: with probability
    ``procedural_fraction`` a procedural texture, otherwise a random crop of a
    photo (40-100% of its largest crop of the target shape, random flip),
    resized to ``size``.

    Args:
        photos: a list of ``(uint8 (H, W, 3) RGB, name)`` pairs, or a
            :class:`~mattinglib.data.folders.FolderBackgrounds` (read lazily;
            unreadable files are reported and replaced).
        size: ``int`` or ``(height, width)`` of the backgrounds.
        seed: non-negative int.
        procedural_fraction: share of procedural textures, in [0, 1].
        length: the nominal number of backgrounds.
        procedural: the source of the procedural textures (``sample(i) -> (bg, tag)``);
            default: texture ``i`` generated from ``(seed, i)``
            (:class:`~mattinglib.data.synthetic.SyntheticBackgrounds`).
    """

    def __init__(self, photos, size, seed: int = 0, *, procedural_fraction: float = 0.25,
                 length: int = 100_000, procedural=None):
        if is_int(size):
            size = (int(size), int(size))
        self.height, self.width = int(size[0]), int(size[1])
        if not isinstance(photos, FolderBackgrounds):
            photos = list(photos)
            if not photos:
                raise ValueError("photos: expected at least one photo")
            for arr, name in photos:
                if not (isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.ndim == 3
                        and arr.shape[2] == 3):
                    raise ValueError(f"photos: {name}: expected uint8 (H, W, 3), got "
                                     f"{getattr(arr, 'dtype', type(arr))} "
                                     f"{getattr(arr, 'shape', '')}")
        self.photos = photos
        check_number(procedural_fraction, "procedural_fraction", minimum=0, maximum=1)
        self.procedural_fraction = float(procedural_fraction)
        self.seed = check_seed(seed)
        self.length = int(length)
        self.procedural = (SyntheticBackgrounds((self.height, self.width), self.seed)
                           if procedural is None else procedural)
        check_source(self.procedural, "procedural")

    def __len__(self) -> int:
        return self.length

    def _photo(self, k: int) -> tuple[np.ndarray, str]:
        if isinstance(self.photos, FolderBackgrounds):
            return self.photos.sample_uint8(k)
        return self.photos[k]

    def sample(self, index: int) -> tuple[np.ndarray, str]:
        return self._sample(index, raw=False)

    __getitem__ = sample

    def sample_raw(self, index: int) -> tuple[np.ndarray, str]:
        """Background ``index`` in uint16 fixed point (photos: ``8-bit value * 257``,
        exactly what ``to_u16`` makes of ``sample(index)``) or as the procedural source holds it."""
        return self._sample(index, raw=True)

    def _sample(self, index: int, *, raw: bool) -> tuple[np.ndarray, str]:
        index = check_index(index, len(self))
        rng = rng_for(self.seed, STREAM_PHOTO, index)
        if rng.random() < self.procedural_fraction:
            k = index % len(self.procedural)
            return sample_raw(self.procedural, k) if raw else self.procedural.sample(k)
        photo, name = self._photo(int(rng.integers(len(self.photos))))
        crop = _random_photo_crop(photo, self.height, self.width, rng)
        if raw:
            return crop.astype(np.uint16) * np.uint16(257), name
        return crop.astype(np.float32) / np.float32(255.0), name


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _bgm_sample_photos(max_side: int) -> list[tuple[np.ndarray, str]]:
    """The Background Matting sample's plate and target backgrounds (no person), if present."""
    from ..io import read_image

    root = find_dataset("bgm_sample")
    if root is None:
        return []
    targets = root / "target_backgrounds"
    paths = sorted(targets.glob("*.*")) if targets.is_dir() else []
    plate = root / "input" / "background_plate.png"
    if plate.is_file():
        paths.append(plate)
    out = []
    for path in paths:
        try:
            image = read_image(path)
        except (ValueError, OSError):
            continue
        scale = min(1.0, max_side / max(image.shape[:2]))
        if scale < 1.0:
            image = cv2.resize(image,
                               (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
        out.append((_to_uint8(image), f"bgm_sample:{path.stem}"))
    return out


def offline_backgrounds(size, seed: int = 0, *,
                        training_photos: Sequence[tuple[np.ndarray, str]] = (),
                        procedural_fraction: float = 0.25, max_side: int = DIM_TRAIN_SIZE,
                        procedural_pool: int = 0):
    """The best background source available offline, and a sentence describing it.

    Order: COCO / VOC folders under the data root; else the given training
    photos plus the Background Matting sample's backgrounds; else procedural
    textures only (see the module docstring). ``procedural_pool > 0`` draws every
    background (photo crop or texture) from that many, made once
    (:mod:`mattinglib.data.pool`): a fixed set of backgrounds, as the paper's is.

    Returns:
        ``(source, description)``; ``source.sample(i) -> (bg, tag)``.
    """
    source, text = _offline_backgrounds(size, seed, training_photos, procedural_fraction, max_side)
    if check_int(procedural_pool, "procedural_pool", minimum=0):
        source = PooledSource(source, min(procedural_pool, len(source)))
        text += f"; a pool of {source.pool_size} of them"
    return source, text


def _offline_backgrounds(size, seed, training_photos, procedural_fraction, max_side):
    for rel in _PHOTO_FOLDERS:
        folder = data_root() / rel
        if folder.is_dir() and any(True for _ in list_images(folder).items()):
            return (PhotoBackgrounds(FolderBackgrounds(folder), size, seed,
                                     procedural_fraction=procedural_fraction),
                    f"photos from {folder} ({procedural_fraction:.0%} procedural)")
    photos = [(_to_uint8(p) if p.dtype != np.uint8 else p, n) for p, n in training_photos]
    photos += _bgm_sample_photos(max_side)
    if photos:
        names = ", ".join(n for _, n in photos)
        return (PhotoBackgrounds(photos, size, seed, procedural_fraction=procedural_fraction),
                f"{len(photos)} offline real photos ({names}) and {procedural_fraction:.0%} "
                f"procedural textures")
    return SyntheticBackgrounds(size, seed), "procedural textures only (no real photo found)"


class RealMattingDataset(CompositionDataset):
    """Deep Image Matting samples from real foregrounds (GT01-GT10) at the evaluation scale.

    The DIM recipe of :class:`~mattinglib.data.composition.CompositionDataset`
    with three choices made for real photos evaluated at ``max_side``:

    - foregrounds: :class:`AlphamattingForegrounds` at ``max_side``, with a
      share ``synthetic_fraction`` of generated ones (glass, fur, motion blur,
      ...) for variety (:class:`MixedForegrounds`); without real data, generated
      ones only, with a warning;
    - crops of ``size * s`` pixels for ``s`` in ``crop_scales`` (around 1: the
      scale of the evaluation), centred on an unknown pixel, resized to ``size``;
    - trimaps dilated ``trimap_iterations`` times with a 3x3 kernel, the band
      of the evaluation trimaps at that scale (fractional alpha plus 1-2 px).

    Args:
        num_samples: the dataset's length.
        size: the training crop (a multiple of 16 for M-Net).
        seed: non-negative int.
        root: the ``alphamatting_lowres`` folder (``None``: under the data root).
        max_side: the working scale of the real foregrounds.
        synthetic_fraction: share of generated foregrounds.
        procedural_fraction: share of procedural backgrounds.
        crop_scales: crop sides as multiples of ``size``.
        trimap_iterations: ``(low, high)`` dilation iterations, not rescaled.
        procedural_pool: 0: every generated foreground and procedural background is
            made afresh; ``n > 0``: drawn from ``n`` of each, made once per process and
            shared by the loader's workers (:mod:`mattinglib.data.pool`; the full
            profile's loaders need it to keep a GPU busy).
        **kwargs: other options of :class:`CompositionDataset` (``flip``, ``compose``).

    Attributes:
        source_description: which foregrounds and backgrounds are used.
    """

    def __init__(self, num_samples: int, size: int, seed: int = 0, *, root=None,
                 max_side: int = DIM_TRAIN_SIZE, synthetic_fraction: float = 0.25,
                 procedural_fraction: float = 0.25,
                 crop_scales: Sequence[float] = (0.75, 1.0, 1.25),
                 trimap_iterations: tuple[int, int] = (1, 3), procedural_pool: int = 0,
                 **kwargs: Any):
        seed = check_seed(seed)
        synthetic = SyntheticForegrounds(round(1.5 * size), seed, kinds=KINDS,
                                         length=max(num_samples, 1))
        if check_int(procedural_pool, "procedural_pool", minimum=0):
            synthetic = PooledSource(synthetic, min(procedural_pool, len(synthetic)))
        try:
            real = AlphamattingForegrounds(root, max_side=max_side)
        except FileNotFoundError as err:
            warnings.warn(f"{err}; training on generated foregrounds only", stacklevel=2)
            real = None
        if real is None:
            fgs, fg_text = synthetic, "generated foregrounds only (no real training image found)"
            photos: list = []
        else:
            fgs = MixedForegrounds(real, synthetic, synthetic_fraction=synthetic_fraction,
                                   seed=seed, length=max(num_samples, 1))
            fg_text = (f"{len(real)} real foregrounds ({', '.join(real.names)}) at longer side "
                       f"{max_side} px, {synthetic_fraction:.0%} generated"
                       + (f" (a pool of {synthetic.pool_size})" if procedural_pool else ""))
            photos = [(_to_uint8(p), n) for p, n in real.photos()]
        bgs, bg_text = offline_backgrounds(max_side, seed, training_photos=photos,
                                           procedural_fraction=procedural_fraction,
                                           max_side=max_side,
                                           procedural_pool=min(procedural_pool,
                                                               max(num_samples, 1)))
        lo, hi = trimap_iterations
        if not (is_int(lo) and is_int(hi) and 1 <= lo <= hi):
            raise ValueError("trimap_iterations: expected ints 1 <= low <= high, "
                             f"got {trimap_iterations!r}")
        scales = tuple(float(s) for s in crop_scales)
        if not scales or any(not (0 < s < math.inf) for s in scales):
            raise ValueError(f"crop_scales: expected positive numbers, got {crop_scales!r}")
        super().__init__(fgs, bgs, size=size, seed=seed, length=num_samples,
                         trimap_kernel_sizes=(3,), **kwargs)
        # At the working scale: crops and band widths are not rescaled by size / 320.
        self.crop_sizes = tuple(max(1, round(size * s)) for s in scales)
        self.trimap_iterations = (int(lo), int(hi))
        self.source_description = f"foregrounds: {fg_text}; backgrounds: {bg_text}"
