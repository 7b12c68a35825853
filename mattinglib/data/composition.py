"""The Deep Image Matting training recipe as a PyTorch dataset, and the Composition-1k test set.

Training samples (Xu et al., CVPR 2017, section 4 of the paper):

1. a foreground (F, alpha) and a background; each foreground is used with
   ``backgrounds_per_fg`` different backgrounds (100 in the paper); the
   background is scaled to cover the foreground and randomly cropped to its size;
2. a square crop of 320, 480 or 640 pixels centred on a random unknown pixel
   (``0 < alpha < 1``), clamped inside the image (and shrunk to the image's
   shorter side when larger), resized to the training size (320);
3. a random horizontal flip;
4. a fresh random trimap from the final alpha
   (:func:`mattinglib.trimap.random_trimap`), so the unknown band covers every
   fractional pixel of the sample actually returned;
5. the composite ``I = alpha F + (1 - alpha) B`` computed from the returned
   crops, so the composition residual of every sample is zero.

Smaller training sizes (the course's quick profile) scale the crop sizes and the
trimap's iteration range by ``size / 320``: at 64 px the crops are 64, 96 and 128
pixels and the band still covers a comparable fraction of the image.

Reproducibility: sample ``i`` is drawn from ``default_rng([seed, 3, epoch, i])``
and from the foreground/background sources, which are themselves indexed, so a
sample depends only on ``(seed, epoch, i)``. It is the same with any number of
DataLoader workers and under ``DistributedSampler`` (which only decides which
indices a process sees). Call :meth:`CompositionDataset.set_epoch` before each
epoch for fresh crops and trimaps (workers are re-created each epoch unless
``persistent_workers=True``, which would keep the old epoch: do not combine the two).
:func:`make_loader` builds a DataLoader whose shuffling comes from its own seeded
``torch.Generator`` and whose workers seed the global generators.

On a GPU, ``compose=False`` leaves the composite out of the workers and
:func:`compose_batch` composes whole batches on the device.

>>> ds = SyntheticMattingDataset(4, 32, seed=0)
>>> s = ds[0]
>>> sorted(s), tuple(s["image"].shape), tuple(s["trimap"].shape)
(['alpha', 'bg', 'fg', 'image', 'trimap'], (3, 32, 32), (1, 32, 32))
>>> bool(torch.equal(ds[0]["alpha"], s["alpha"]))
True
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .._checks import check_index, check_int, is_int
from ..compositing import compose
from ..io import read_alpha, read_image, read_trimap
from ..trimap import random_trimap
from .folders import FolderBackgrounds, FolderForegrounds
from .synthetic import (
    KINDS,
    SyntheticBackgrounds,
    SyntheticForegrounds,
    check_seed,
    check_size,
    from_u16,
    match_background_colour,
    resize_u16,
    rng_for,
    to_u16,
)

__all__ = [
    "DIM_CROP_SIZES",
    "EpochDataset",
    "CompositionDataset",
    "SyntheticMattingDataset",
    "Composition1kDataset",
    "compose_batch",
    "compose_on_device",
    "make_loader",
    "sample_raw",
    "seed_worker",
    "to_chw",
    "unknown_centre",
]

#: Crop sizes of Deep Image Matting at its training size of 320 px.
DIM_CROP_SIZES = (320, 480, 640)
DIM_TRAIN_SIZE = 320
STREAM_COMPOSITION = 3


def check_source(src: Any, name: str) -> None:
    """Reject anything that is not a non-empty sample source (``len()`` and ``sample(i)``)."""
    if not (hasattr(src, "sample") and hasattr(src, "__len__")) or len(src) < 1:
        raise ValueError(f"{name}: expected a non-empty source with len() and sample(i), "
                         f"got {type(src).__name__}")


def sample_raw(source: Any, index: int):
    """Item ``index`` of a foreground or background source in the cheapest form it has.

    A source may offer ``sample_raw(i)``: the same item with its arrays in uint16
    fixed point when it holds them that way (a pool, 8-bit photos), saving a
    float round trip of the whole layer; otherwise ``sample(i)`` (float32).
    The datasets here accept both.
    """
    raw = getattr(source, "sample_raw", None)
    return raw(index) if raw is not None else source.sample(index)


def _as_float(x: np.ndarray) -> np.ndarray:
    return from_u16(x) if x.dtype == np.uint16 else x


def unknown_centre(alpha: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A random ``(row, col)`` with ``0 < alpha < 1`` (any pixel when there is none).

    Args:
        alpha: ``(H, W)`` float in [0, 1] or uint16 fixed point (0..65535).
        rng: the random generator.
    """
    top = 65535 if alpha.dtype == np.uint16 else 1
    candidates = np.flatnonzero((alpha > 0) & (alpha < top))
    if len(candidates) == 0:
        flat = int(rng.integers(alpha.size))
    else:
        flat = int(candidates[rng.integers(len(candidates))])
    return divmod(flat, alpha.shape[1])


def crop_box(h: int, w: int, centre: tuple[int, int], side: int) -> tuple[slice, slice]:
    """The square crop of side ``min(side, h, w)`` centred on ``centre``, moved inside the image.

    >>> crop_box(10, 8, (0, 7), 4)
    (slice(0, 4, None), slice(4, 8, None))
    """
    side = min(side, h, w)
    y = min(max(centre[0] - side // 2, 0), h - side)
    x = min(max(centre[1] - side // 2, 0), w - side)
    return slice(y, y + side), slice(x, x + side)


def _cover(bg: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Scale a uint16 background to cover (h, w) and take a random crop of that size."""
    bh, bw = bg.shape[:2]
    scale = max(h / bh, w / bw)
    if scale != 1.0:
        bh, bw = max(h, math.ceil(bh * scale)), max(w, math.ceil(bw * scale))
        bg = resize_u16(bg, bh, bw)
    y = int(rng.integers(0, bh - h + 1))
    x = int(rng.integers(0, bw - w + 1))
    return bg[y:y + h, x:x + w]


def to_chw(x: np.ndarray) -> torch.Tensor:
    """An ``(H, W, C)`` or ``(H, W)`` array as a ``(C, H, W)`` tensor (same dtype, one copy).

    How the datasets hand their arrays to PyTorch.

    >>> to_chw(np.zeros((4, 5, 3), np.float32)).shape, to_chw(np.zeros((4, 5), np.uint8)).shape
    (torch.Size([3, 4, 5]), torch.Size([1, 4, 5]))
    """
    if x.ndim == 2:
        x = x[..., None]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


class EpochDataset(Dataset):
    """A dataset of ``self.length`` samples whose random draws depend on ``(seed, epoch, index)``.

    Subclasses set ``length`` and ``epoch`` (0); :meth:`set_epoch` moves to
    fresh draws, like ``DistributedSampler.set_epoch``.
    """

    length: int
    epoch: int

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw fresh crops, flips and trimaps (all random choices) for ``epoch``."""
        self.epoch = check_int(epoch, "epoch", minimum=0)


class CompositionDataset(EpochDataset):
    """Deep Image Matting training samples composed on the fly (see the module docstring).

    Args:
        foregrounds: a source with ``len()`` and ``sample(i) -> (fg, alpha, tag)``,
            fg float32 (H, W, 3) and alpha float32 (H, W) in [0, 1]
            (:class:`~mattinglib.data.synthetic.SyntheticForegrounds` or
            :class:`~mattinglib.data.folders.FolderForegrounds`).
        backgrounds: a source with ``len()`` and ``sample(i) -> (bg, tag)``.
            Composite ``i`` uses background ``i mod len(backgrounds)``, so with
            enough backgrounds every composite has its own, as in the paper.
        size: training size (square), 320 in the paper.
        backgrounds_per_fg: composites per foreground (the dataset's length is
            ``len(foregrounds) * backgrounds_per_fg`` unless ``length`` is given).
        crop_sizes: crop sides at the reference size 320, scaled by
            ``min(1, size / 320)``.
        flip: random horizontal flips.
        trimap_kernel_sizes, trimap_iterations: passed to
            :func:`~mattinglib.trimap.random_trimap`; the iteration range is scaled
            like the crops (at least 1).
        compose: include ``image``; with ``False`` the batch is composed later by
            :func:`compose_batch` (on the GPU).
        fixed_point: with ``compose=False``, return ``fg``, ``bg``, ``alpha`` as
            uint16 fixed point (65535 = 1) and ``trimap`` as uint8: half the bytes
            to collate and copy, no float conversion in the worker;
            :func:`compose_on_device` converts and composes on the device.
        seed: non-negative int.
        length: override the dataset's length (indices wrap over the foregrounds).

    Returns (``dataset[i]``):
        a dict of float32 tensors: ``image (3, H, W)``, ``fg (3, H, W)``,
        ``bg (3, H, W)``, ``alpha (1, H, W)`` in [0, 1], and ``trimap (1, H, W)``
        with values exactly 0, 128/255 and 1 (uint8 / 255).
    """

    def __init__(self, foregrounds, backgrounds, *, size: int = DIM_TRAIN_SIZE,
                 backgrounds_per_fg: int = 1, crop_sizes: Sequence[int] = DIM_CROP_SIZES,
                 flip: bool = True, trimap_kernel_sizes: Sequence[int] = (3, 5, 7),
                 trimap_iterations: tuple[int, int] = (1, 20), compose: bool = True,
                 seed: int = 0, length: int | None = None, fixed_point: bool = False):
        check_source(foregrounds, "foregrounds")
        check_source(backgrounds, "backgrounds")
        self.foregrounds = foregrounds
        self.backgrounds = backgrounds
        self.size = check_int(size, "size", minimum=1)
        self.backgrounds_per_fg = check_int(backgrounds_per_fg, "backgrounds_per_fg", minimum=1)
        if not crop_sizes or any(not is_int(c) or c < 1 for c in crop_sizes):
            raise ValueError(f"crop_sizes: expected positive ints, got {crop_sizes!r}")
        self.scale = min(1.0, self.size / DIM_TRAIN_SIZE)
        self.crop_sizes = tuple(max(1, round(c * self.scale)) for c in crop_sizes)
        lo, hi = trimap_iterations
        if not (1 <= lo <= hi):
            raise ValueError("trimap_iterations: expected 1 <= low <= high, "
                             f"got {trimap_iterations!r}")
        self.trimap_iterations = (max(1, round(lo * self.scale)), max(1, round(hi * self.scale)))
        self.trimap_kernel_sizes = tuple(trimap_kernel_sizes)
        self.flip = bool(flip)
        self.compose = bool(compose)
        self.fixed_point = bool(fixed_point)
        if self.fixed_point and self.compose:
            raise ValueError("fixed_point: needs compose=False (the composite is made on the "
                             "device from the fixed-point layers, see compose_on_device)")
        self.seed = check_seed(seed)
        self.length = (len(foregrounds) * self.backgrounds_per_fg if length is None
                       else check_int(length, "length", minimum=1))
        self.epoch = 0

    @classmethod
    def from_folders(cls, fg_dir, alpha_dir, bg_dir, **kwargs) -> "CompositionDataset":
        """The recipe on real data: foregrounds/alphas and backgrounds read from folders
        (see :mod:`mattinglib.data.folders`; unreadable files are skipped and reported)."""
        return cls(FolderForegrounds(fg_dir, alpha_dir), FolderBackgrounds(bg_dir), **kwargs)

    def _background_box(self, index: int, h: int, w: int, box, rng) -> np.ndarray:
        """The crop ``box`` of a background scaled to cover (h, w) at a random offset, uint16."""
        bg, _ = sample_raw(self.backgrounds, index % len(self.backgrounds))
        bh, bw = bg.shape[:2]
        if (bh, bw) == (h, w):
            return to_u16(bg[box])
        return _cover(to_u16(bg), h, w, rng)[box]

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """Sample ``index`` as NumPy arrays: fg, bg (H, W, 3), alpha (H, W) float32 and
        trimap (H, W) uint8; the same values as ``dataset[index]`` before stacking."""
        fg, bg, alpha, trimap = self._fixed_point(index)
        return {"fg": from_u16(fg), "bg": from_u16(bg), "alpha": from_u16(alpha), "trimap": trimap}

    def _fixed_point(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """fg, bg (H, W, 3), alpha (H, W) uint16 fixed point and the uint8 trimap of sample
        ``index``."""
        index = check_index(index, len(self))
        rng = rng_for(self.seed, STREAM_COMPOSITION, self.epoch, index)
        fg_index = (index // self.backgrounds_per_fg) % len(self.foregrounds)
        fg, alpha, tag = sample_raw(self.foregrounds, fg_index)
        h, w = alpha.shape
        side = self.crop_sizes[int(rng.integers(len(self.crop_sizes)))]
        box = crop_box(h, w, unknown_centre(alpha, rng), side)
        bg16 = self._background_box(index, h, w, box, rng)
        fg_box, alpha_box = fg[box], alpha[box]
        if tag == "low_contrast":
            bg16 = to_u16(match_background_colour(from_u16(bg16), _as_float(fg_box),
                                                  _as_float(alpha_box), rng))
        # Only the crop is converted and resized. Geometry runs on uint16 fixed
        # point: OpenCV's integer paths are exact on every CPU, its float paths are not.
        layer = resize_u16(np.concatenate([to_u16(fg_box), to_u16(alpha_box)[..., None]], axis=2),
                           self.size, self.size)
        bg16 = resize_u16(np.ascontiguousarray(bg16), self.size, self.size)
        if self.flip and rng.random() < 0.5:
            layer, bg16 = layer[:, ::-1], bg16[:, ::-1]
        alpha16 = np.ascontiguousarray(layer[..., 3])
        # The fixed-point alpha gives the trimap of its float value (0 and 65535 are 0 and 1).
        trimap = random_trimap(alpha16, rng=rng, kernel_sizes=self.trimap_kernel_sizes,
                               iterations_range=self.trimap_iterations)
        return layer[..., :3], bg16, alpha16, trimap

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.fixed_point:
            fg, bg, alpha, trimap = self._fixed_point(index)
            return {"fg": to_chw(fg), "bg": to_chw(bg), "alpha": to_chw(alpha),
                    "trimap": to_chw(trimap)}
        fg16, bg16, alpha16, trimap = self._fixed_point(index)
        # Channels first while still uint16 (one cheap copy), then float: the values of
        # arrays(), laid out for the network.
        fg, bg = (from_u16(np.ascontiguousarray(x.transpose(2, 0, 1))) for x in (fg16, bg16))
        alpha = from_u16(alpha16)[None]
        sample = {"fg": torch.from_numpy(fg), "bg": torch.from_numpy(bg),
                  "alpha": torch.from_numpy(alpha),
                  "trimap": torch.from_numpy(trimap[None]).float() / 255.0}
        if self.compose:  # the float32 operations of compose(), in the same order
            sample["image"] = torch.from_numpy(alpha * fg + (1 - alpha) * bg)
        return sample


class SyntheticMattingDataset(CompositionDataset):
    """Offline training data in one line: synthetic foregrounds on procedural (or photo)
    backgrounds through the Deep Image Matting recipe.

    Args:
        num_samples: the dataset's length.
        size: training size (square).
        seed: non-negative int; foregrounds, backgrounds and crops use separate streams of it.
        kinds: foreground kinds (see :data:`mattinglib.data.synthetic.KINDS`).
        backgrounds_per_fg: composites per generated foreground (1: every sample
            has its own foreground; generation is cheap, so diversity is free).
        source_size: side of the generated foregrounds and backgrounds; default
            ``1.5 * size``, so the largest crops see a downscaled scene (thinner
            strands) and the smallest a 1:1 one.
        background_folder: a folder of photos to mix with procedural backgrounds.
        photo_fraction: share of photo backgrounds when a folder is given.
        **kwargs: the other options of :class:`CompositionDataset`.

    >>> ds = SyntheticMattingDataset(8, 32, seed=1, kinds=("hair", "solid"))
    >>> len(ds), ds[3]["fg"].dtype
    (8, torch.float32)
    """

    def __init__(self, num_samples: int, size: int, seed: int = 0, *, kinds: Sequence[str] = KINDS,
                 backgrounds_per_fg: int = 1, source_size: int | None = None,
                 background_folder=None, photo_fraction: float = 0.5, **kwargs):
        num_samples = check_int(num_samples, "num_samples", minimum=1)
        size = check_int(size, "size", minimum=1)
        seed = check_seed(seed)
        per_fg = check_int(backgrounds_per_fg, "backgrounds_per_fg", minimum=1)
        source = round(1.5 * size) if source_size is None else source_size
        check_size(source, name="source_size")
        fgs = SyntheticForegrounds(source, seed, kinds=kinds,
                                   length=math.ceil(num_samples / per_fg))
        bgs = SyntheticBackgrounds(source, seed, photos=background_folder,
                                   photo_fraction=photo_fraction, length=max(num_samples, 1))
        super().__init__(fgs, bgs, size=size, backgrounds_per_fg=per_fg, seed=seed,
                         length=num_samples, **kwargs)


def compose_batch(batch: dict[str, torch.Tensor], device="auto", *,
                  non_blocking: bool = True) -> dict[str, torch.Tensor]:
    """Move a batch to ``device`` and add its composite ``image`` there.

    Use with ``compose=False`` datasets so that workers only crop and the
    compositing (and any later augmentation) runs batched on the GPU.

    Args:
        batch: dict with ``fg (B, 3, H, W)``, ``bg (B, 3, H, W)``, ``alpha (B, 1, H, W)``
            float32 in [0, 1] (other entries are moved along).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ... or a ``torch.device``.
        non_blocking: asynchronous host-to-device copies (with pinned memory).

    Returns:
        a new dict on ``device`` with ``image = alpha * fg + (1 - alpha) * bg``.

    >>> b = {"fg": torch.ones(2, 3, 4, 4), "bg": torch.zeros(2, 3, 4, 4),
    ...      "alpha": torch.full((2, 1, 4, 4), 0.25)}
    >>> compose_batch(b, "cpu")["image"][0, :, 0, 0]
    tensor([0.2500, 0.2500, 0.2500])
    """
    from ..config import get_device

    for key in ("fg", "bg", "alpha"):
        if key not in batch:
            raise ValueError(f"batch: expected the keys 'fg', 'bg' and 'alpha', missing {key!r}")
    dev = get_device(device)
    out = {k: (v.to(dev, non_blocking=non_blocking) if torch.is_tensor(v) else v)
           for k, v in batch.items()}
    out["image"] = compose(out["fg"], out["bg"], out["alpha"], check_values=False)
    return out


def compose_on_device(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``batch`` with its composite ``image`` added where the batch is (a trainer's
    ``device_transform`` for datasets built with ``compose=False``).

    A batch of a ``fixed_point=True`` dataset (uint16 layers, uint8 trimap) is first
    converted to float32 in [0, 1] (``/ 65535`` and ``/ 255``): the values the
    float dataset would have given.

    >>> b = {"fg": torch.ones(1, 3, 2, 2), "bg": torch.zeros(1, 3, 2, 2),
    ...      "alpha": torch.full((1, 1, 2, 2), 0.5)}
    >>> compose_on_device(b)["image"].flatten().tolist()[:2]
    [0.5, 0.5]
    """
    if "alpha" not in batch:
        raise ValueError("batch: expected the keys 'fg', 'bg' and 'alpha', missing 'alpha'")
    batch = dict(batch)
    for key in ("fg", "bg", "alpha"):
        if torch.is_tensor(batch.get(key)) and batch[key].dtype == torch.uint16:
            batch[key] = batch[key].to(torch.float32) / 65535.0
    if torch.is_tensor(batch.get("trimap")) and batch["trimap"].dtype == torch.uint8:
        batch["trimap"] = batch["trimap"].to(torch.float32) / 255.0
    return compose_batch(batch, batch["alpha"].device)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seeds the global ``random`` and NumPy generators.

    The datasets here draw all randomness from per-index generators, so their
    samples do not depend on this; it keeps third-party code that uses the
    global generators reproducible too (PyTorch gives each worker
    ``base_seed + worker_id`` as ``torch.initial_seed()``). It deliberately does
    not call ``cv2.setNumThreads``: in a forked worker of a parent that already
    used OpenCV's thread pool, that call deadlocks.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool = True, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False, sampler=None,
                pin_memory: bool | None = None) -> DataLoader:
    """A DataLoader with reproducible shuffling and correctly initialised workers.

    Args:
        dataset: any map-style dataset (typically one of this module's).
        batch_size: samples per batch.
        shuffle: shuffle with a ``torch.Generator`` seeded by ``seed`` (ignored with ``sampler``).
        seed: non-negative int; also the base seed of the workers.
        num_workers: worker processes (0 in notebooks: safe on every platform).
        drop_last: drop the last incomplete batch.
        sampler: e.g. a ``DistributedSampler`` (call its ``set_epoch`` and the
            dataset's each epoch).
        pin_memory: default: True when CUDA is available.
    """
    generator = torch.Generator().manual_seed(check_seed(seed))
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return DataLoader(dataset, batch_size=check_int(batch_size, "batch_size", minimum=1),
                      shuffle=shuffle if sampler is None else False, sampler=sampler,
                      num_workers=num_workers, drop_last=drop_last, generator=generator,
                      worker_init_fn=seed_worker, pin_memory=pin_memory,
                      persistent_workers=False)


class Composition1kDataset(Dataset):
    """The Composition-1k test set (50 foregrounds x 20 backgrounds, fixed trimaps) from disk.

    Reads the folders written by the preparation script::

        root/
          merged/<fg>_<k>.png    composite of foreground <fg> on its k-th background
          alpha/<fg>.png         ground-truth alpha, one per foreground
          trimaps/<fg>_<k>.png   the fixed trimap of that composite
                                 (or trimaps/<fg>.png, one per foreground)
          fg/<fg>.png            foreground colours (optional)
          bg/<fg>_<k>.png        the background used (optional)

    The foreground name is the composite's stem without its last ``_<k>``.
    Images keep their size (batch size 1, or crop yourself); nothing is resized,
    as the official evaluation runs at full resolution.

    Returns (``dataset[i]``):
        a dict with ``image (3, H, W)``, ``alpha (1, H, W)`` float32 in [0, 1],
        ``trimap (1, H, W)`` float32 in {0, 128/255, 1}, ``fg``/``bg (3, H, W)``
        when those folders exist, and ``name`` (the composite's stem).
    """

    def __init__(self, root):
        self.root = Path(root)
        merged = self.root / "merged"
        if not merged.is_dir():
            raise ValueError(f"root: no merged/ folder in {self.root} "
                             "(run the Composition-1k preparation script)")
        self.names = sorted(p.stem for p in merged.glob("*.png"))
        if not self.names:
            raise ValueError(f"root: no PNG composites in {merged}")
        for name in self.names:
            fg_name = self.foreground_name(name)
            if not (self.root / "alpha" / f"{fg_name}.png").is_file():
                raise ValueError(f"root: missing alpha/{fg_name}.png for composite {name}")
            if self._trimap_path(name) is None:
                raise ValueError(f"root: missing trimaps/{name}.png (or trimaps/{fg_name}.png)")

    @staticmethod
    def foreground_name(name: str) -> str:
        """``"hair_12_7"`` -> ``"hair_12"``: the composite's stem without ``_<k>``."""
        stem, sep, k = name.rpartition("_")
        return stem if sep and k.isdigit() else name

    def _trimap_path(self, name: str) -> Path | None:
        for candidate in (name, self.foreground_name(name)):
            path = self.root / "trimaps" / f"{candidate}.png"
            if path.is_file():
                return path
        return None

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.names[check_index(index, len(self))]
        fg_name = self.foreground_name(name)
        image = read_image(self.root / "merged" / f"{name}.png")
        alpha = read_alpha(self.root / "alpha" / f"{fg_name}.png")
        trimap = read_trimap(self._trimap_path(name))
        if alpha.shape != image.shape[:2] or trimap.shape != image.shape[:2]:
            raise ValueError(f"root: sizes differ for {name}: merged {image.shape[:2]}, "
                             f"alpha {alpha.shape}, trimap {trimap.shape}")
        sample: dict[str, Any] = {"image": to_chw(image), "alpha": to_chw(alpha),
                                  "trimap": to_chw(trimap).float() / 255.0, "name": name}
        for key, stem in (("fg", fg_name), ("bg", name)):
            path = self.root / key / f"{stem}.png"
            if path.is_file():
                sample[key] = to_chw(read_image(path))
        return sample
