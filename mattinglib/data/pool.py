"""A fixed pool of generated training layers, made once and shared by the loader's workers.

Generating a procedural foreground or background costs 20-100 ms of CPU at the
full profile's sizes (480 px layers for Deep Image Matting, 800 px for Background
Matting), several times what the rest of a training sample costs. A GPU step
consumes hundreds of samples per second, so a loader that generates every layer
afresh cannot keep up (``benchmarks/data_keeps_up.py``).

The papers' own data are a finite set of layers reused many times: Deep Image
Matting composes each of 431 foregrounds over 100 backgrounds (Xu et al., CVPR
2017, section 4), each time with a fresh crop, flip and trimap. A
:class:`PooledSource` does the same with generated layers: item ``i`` of the pool
is item ``i mod pool_size`` of the wrapped source, so only ``pool_size`` distinct
layers exist, and every sample still gets its own crop, flip, trimap and partner.

**Made once, shared.** :func:`prepare_pools` makes every missing layer (in
``num_workers`` processes) before a ``DataLoader`` starts its workers; forked
workers then read the parent's arrays without copying them. Items asked for
before that are made on first use in the asking process (a loader with
``num_workers=0`` needs nothing else). Layers are stored in the uint16 fixed
point of :mod:`mattinglib.data.synthetic` (half the memory of float32; the
samples are cropped and resized in that format anyway), so a pooled layer equals
the generated one up to 1/65535.

Memory: about ``pool_size * H * W * C * 2`` bytes per pooled source and process
(512 foregrounds of 480 px with alpha: 0.9 GB); under ``torchrun`` every
process holds its own pool.

>>> from mattinglib.data.synthetic import SyntheticForegrounds
>>> pooled = PooledSource(SyntheticForegrounds(24, seed=0, length=100), 3)
>>> len(pooled), pooled.made
(100, 0)
>>> fg, alpha, tag = pooled.sample(4)          # item 4 is layer 4 mod 3 = 1
>>> fg.dtype, fg.shape, pooled.made
(dtype('float32'), (24, 24, 3), 1)
>>> bool(np.array_equal(pooled.sample(1)[1], alpha))
True
>>> pooled.sample_raw(4)[1].dtype                 # the stored fixed point, no conversion
dtype('uint16')
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from .._checks import check_index, check_int
from .._progress import progress_bar
from .synthetic import from_u16, to_u16

__all__ = ["PooledSource", "prepare_pools", "find_pools"]


def _pack(item: Any) -> tuple:
    """A source item with its float arrays in [0, 1] turned into uint16 fixed point (read-only)."""
    parts = item if isinstance(item, tuple) else (item,)
    packed = []
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype.kind == "f":
            part = to_u16(part)
            part.flags.writeable = False
        packed.append(part)
    return tuple(packed)


def _unpack(packed: tuple) -> tuple:
    return tuple(from_u16(p) if isinstance(p, np.ndarray) and p.dtype == np.uint16 else p
                 for p in packed)


class _Layers(Dataset):
    """Layers ``indices`` of a source, packed, for making a pool in worker processes."""

    def __init__(self, source, indices: list[int]):
        self.source, self.indices = source, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        k = self.indices[i]
        return k, _pack(self.source.sample(k))


def _as_is(item):
    return item


class PooledSource:
    """``pool_size`` distinct layers of ``source``, each made once per process.

    Args:
        source: a foreground or background source (``len()`` and ``sample(i)``
            returning float arrays in [0, 1] and tags), e.g.
            :class:`~mattinglib.data.synthetic.SyntheticForegrounds`.
        pool_size: how many distinct layers (at most ``len(source)``).

    ``len()`` is the source's; ``sample(i)`` returns layer ``i mod pool_size`` as
    the source returns it (float32 arrays, up to uint16 rounding, and its tags);
    ``sample_raw(i)`` returns the stored uint16 arrays themselves (read-only, no
    conversion), which the datasets of :mod:`mattinglib.data` prefer.
    """

    def __init__(self, source, pool_size: int):
        if not (hasattr(source, "sample") and hasattr(source, "__len__")) or len(source) < 1:
            raise ValueError(f"source: expected a non-empty source with len() and sample(i), "
                             f"got {type(source).__name__}")
        self.source = source
        self.pool_size = check_int(pool_size, "pool_size", minimum=1, maximum=len(source))
        self._layers: list[tuple | None] = [None] * self.pool_size

    def __len__(self) -> int:
        return len(self.source)

    @property
    def made(self) -> int:
        """How many of the pool's layers this process holds."""
        return sum(layer is not None for layer in self._layers)

    def sample_raw(self, index: int):
        """Layer ``index mod pool_size`` in uint16 fixed point (read-only arrays) with its tags."""
        index = check_index(index, len(self))
        k = index % self.pool_size
        if self._layers[k] is None:
            self._layers[k] = _pack(self.source.sample(k))
        item = self._layers[k]
        return item if len(item) > 1 else item[0]

    def sample(self, index: int):
        item = self.sample_raw(index)
        item = _unpack(item if isinstance(item, tuple) else (item,))
        return item if len(item) > 1 else item[0]

    __getitem__ = sample

    def make_all(self, num_workers: int = 0, *, progress: bool = False) -> int:
        """Make every missing layer, in ``num_workers`` processes (0: here); returns how many
        were made."""
        check_int(num_workers, "num_workers", minimum=0)
        missing = [k for k, layer in enumerate(self._layers) if layer is None]
        if not missing:
            return 0
        loader = DataLoader(_Layers(self.source, missing), batch_size=None, shuffle=False,
                            num_workers=num_workers, collate_fn=_as_is)
        if progress:
            loader = progress_bar(loader, total=len(missing),
                                  desc=f"pool of {self.pool_size} layers", leave=False)
        for k, packed in loader:
            for part in packed:
                if isinstance(part, np.ndarray):
                    part.flags.writeable = False
            self._layers[k] = packed
        return len(missing)


def find_pools(obj: Any, *, depth: int = 3) -> list[PooledSource]:
    """Every :class:`PooledSource` reachable from ``obj`` through attributes (``depth`` levels)."""
    found: list[PooledSource] = []

    def visit(o: Any, level: int) -> None:
        if isinstance(o, PooledSource):
            if all(o is not p for p in found):
                found.append(o)
            return
        if level == 0 or not hasattr(o, "__dict__") or isinstance(o, (np.ndarray, type)):
            return
        for value in vars(o).values():
            if (hasattr(value, "__dict__") and not callable(value)
                    or isinstance(value, PooledSource)):
                visit(value, level - 1)

    visit(obj, depth)
    return found


def prepare_pools(dataset: Any, num_workers: int = 0, *, progress: bool = False) -> int:
    """Make every pooled layer a dataset reads, before a ``DataLoader`` forks its workers.

    Args:
        dataset: a training dataset (its sources are searched for :class:`PooledSource`).
        num_workers: processes that make the layers (0: this one).
        progress: a progress bar per pool.

    Returns:
        how many layers were made (0 when every pool was ready or there is none).
    """
    return sum(pool.make_all(num_workers, progress=progress) for pool in find_pools(dataset))
