"""Input checks shared by the whole library.

Every public function validates its inputs with these helpers, so that a bad
call fails early with a ``ValueError`` that names the argument and says what it
got, instead of producing a silently wrong matte.

>>> import numpy as np
>>> check_shape(np.zeros((2, 3, 4, 4)), "B,1,H,W", name="alpha")
Traceback (most recent call last):
...
ValueError: alpha: expected shape (B,1,H,W), got (2, 3, 4, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "check_shape",
    "check_same_hw",
    "check_range",
    "check_finite",
    "as_float01",
    "check_trimap_values",
    "check_int",
    "check_index",
    "shape_of",
]


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a numpy array or torch tensor as a plain tuple."""
    return tuple(int(s) for s in x.shape)


def check_int(value: Any, name: str, *, minimum: int, optional: bool = False) -> None:
    """Check that ``value`` is an int (not a bool) of at least ``minimum``, or ``None`` if ``optional``.

    >>> check_int(0, "batch_size", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: batch_size: expected an integer >= 1, got 0
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = " or None" if optional else ""
        raise ValueError(f"{name}: expected an integer >= {minimum}{extra}, got {value!r}")


def check_index(index: Any, length: int) -> int:
    """A dataset index: an int (numpy ints too, not a bool) in ``[0, length)``; raises IndexError.

    >>> check_index(np.int64(2), 3)
    2
    >>> check_index(3, 3)
    Traceback (most recent call last):
    ...
    IndexError: index: expected an int in [0, 3), got 3
    >>> check_index(True, 3)
    Traceback (most recent call last):
    ...
    IndexError: index: expected an int in [0, 3), got True
    """
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < length:
        raise IndexError(f"index: expected an int in [0, {length}), got {index!r}")
    return int(index)


def check_shape(x: Any, spec: str, *, name: str) -> dict[str, int]:
    """Check ``x.shape`` against a spec such as ``"B,1,H,W"`` or ``"H,W,3"``.

    Letters bind to sizes (the same letter must match everywhere), digits are
    exact sizes and ``*`` matches anything. Returns the bound letters.

    >>> check_shape(np.zeros((2, 1, 8, 6)), "B,1,H,W", name="alpha")
    {'B': 2, 'H': 8, 'W': 6}
    """
    if not hasattr(x, "shape"):
        raise ValueError(f"{name}: expected an array or tensor of shape ({spec}), got {type(x).__name__}")
    parts = [p.strip() for p in spec.split(",")]
    shape = shape_of(x)
    bound: dict[str, int] = {}
    ok = len(parts) == len(shape)
    if ok:
        for part, size in zip(parts, shape):
            if part == "*":
                continue
            if part.isdigit():
                ok = ok and int(part) == size
            elif part in bound:
                ok = ok and bound[part] == size
            else:
                bound[part] = size
    if not ok:
        raise ValueError(f"{name}: expected shape ({spec}), got {shape}")
    return bound


def check_same_hw(**arrays: Any) -> None:
    """Check that all given HxW[xC] numpy arrays share height and width.

    >>> check_same_hw(pred=np.zeros((4, 4)), target=np.zeros((4, 5)))
    Traceback (most recent call last):
    ...
    ValueError: target: expected height x width (4, 4) like pred, got (4, 5)
    """
    first_name, first = next(iter(arrays.items()))
    hw = shape_of(first)[:2]
    for name, arr in arrays.items():
        if shape_of(arr)[:2] != hw:
            raise ValueError(
                f"{name}: expected height x width {hw} like {first_name}, got {shape_of(arr)[:2]}"
            )


def check_finite(x: Any, *, name: str) -> None:
    """Reject NaN and infinity (numpy or torch)."""
    finite = np.isfinite(x).all() if isinstance(x, np.ndarray) else bool(x.detach().isfinite().all())
    if not finite:
        raise ValueError(f"{name}: contains NaN or infinite values")


def check_range(x: Any, lo: float, hi: float, *, name: str) -> None:
    """Reject values outside ``[lo, hi]`` (numpy or torch); NaN is rejected too."""
    check_finite(x, name=name)
    if not isinstance(x, np.ndarray):
        x = x.detach()
    xmin, xmax = float(x.min()), float(x.max())
    if xmin < lo or xmax > hi:
        raise ValueError(f"{name}: expected values in [{lo}, {hi}], got min {xmin:.4g}, max {xmax:.4g}")


def as_float01(x: Any, *, name: str) -> np.ndarray:
    """A numpy image as float64 in [0, 1].

    uint8 is divided by 255 (as the official evaluation does); a float array
    must already lie in [0, 1] and is not clipped. Anything else is an error.

    >>> as_float01(np.array([0, 255], dtype=np.uint8), name="alpha")
    array([0., 1.])
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if np.issubdtype(x.dtype, np.floating):
        check_range(x, 0.0, 1.0, name=name)
        return x.astype(np.float64, copy=False)
    if x.dtype == np.bool_:
        raise ValueError(f"{name}: expected uint8 in 0..255 or float in [0, 1], got a boolean mask; "
                         "convert it explicitly (mask.astype(np.float32))")
    raise ValueError(f"{name}: expected uint8 in 0..255 or float in [0, 1], got dtype {x.dtype}")


TRIMAP_VALUES = (0, 128, 255)


def check_trimap_values(trimap: Any, *, name: str = "trimap") -> np.ndarray:
    """Check that a trimap is an HxW uint8 array holding only 0, 128 and 255.

    Returns the array unchanged. Values such as 127 (a resized or JPEG trimap)
    are an error, never rounded silently.

    >>> check_trimap_values(np.array([[0, 127]], dtype=np.uint8))
    Traceback (most recent call last):
    ...
    ValueError: trimap: expected only the values {0, 128, 255}, got also [127]
    """
    if not isinstance(trimap, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(trimap).__name__}")
    if trimap.ndim != 2:
        raise ValueError(f"{name}: expected shape (H,W), got {trimap.shape}")
    if trimap.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8 with values {{0, 128, 255}}, got {trimap.dtype}")
    # bincount is ~3x faster than np.unique on a full-size trimap.
    present = np.flatnonzero(np.bincount(trimap.ravel(), minlength=256))
    bad = np.setdiff1d(present, TRIMAP_VALUES)
    if bad.size:
        shown = bad[:8].tolist()
        raise ValueError(f"{name}: expected only the values {{0, 128, 255}}, got also {shown}")
    return trimap
