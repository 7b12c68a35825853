"""Input checks shared by the whole library.

Every public function validates its inputs with these helpers, so that a bad
call fails early with an error that names the argument and says what it got,
instead of producing a silently wrong matte: ``ValueError`` for a bad value,
``TypeError`` for a wrong type (:class:`InputTypeError`, also a ``ValueError``
so that ``except ValueError`` still catches every bad input), ``IndexError``
for a dataset index out of range (:class:`InputIndexError`, also a ``ValueError``).

>>> import numpy as np
>>> check_shape(np.zeros((2, 3, 4, 4)), "B,1,H,W", name="alpha")
Traceback (most recent call last):
...
ValueError: alpha: expected shape (B,1,H,W), got (2, 3, 4, 4)
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "value_checks",
    "value_checks_enabled",
    "InputTypeError",
    "InputIndexError",
    "RANGE_TOLERANCE",
    "check_shape",
    "check_same_hw",
    "check_range",
    "check_finite",
    "as_float01",
    "check_trimap_values",
    "check_int",
    "check_bool",
    "is_int",
    "check_index",
    "check_number",
    "check_names",
    "check_not_empty",
    "check_float_input",
    "check_writable_file",
    "check_writable_dir",
    "shape_of",
]

#: Values this close outside a range still pass :func:`check_range` (and
#: :func:`as_float01` clips them): float32 resizing leaves 1.0000001 behind an
#: all-opaque area, which is 1 in every sense that matters; 1e-5 is 4e-3 of an
#: 8-bit step, far below anything a matte can show.
RANGE_TOLERANCE = 1e-5


class InputTypeError(TypeError, ValueError):
    """An argument of the wrong type. A ``TypeError``; also a ``ValueError``, so that
    callers catching every bad input with ``except ValueError`` keep working."""


class InputIndexError(IndexError, ValueError):
    """An index out of range. An ``IndexError`` (so ``for x in dataset`` stops at
    the end, as the sequence protocol requires); also a ``ValueError``."""


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), booleans excluded.

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a numpy array or torch tensor as a plain tuple."""
    return tuple(int(s) for s in x.shape)


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
              optional: bool = False) -> int | None:
    """Check that ``value`` is an integer (NumPy integers too, not a bool) in
    ``[minimum, maximum]``, or ``None`` if ``optional``; returns it as an ``int``.

    >>> check_int(np.int64(3), "batch_size", minimum=1)
    3
    >>> check_int(0, "batch_size", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: batch_size: expected an integer >= 1, got 0
    >>> check_int(2.0, "batch_size", minimum=1)
    Traceback (most recent call last):
    ...
    mattinglib._checks.InputTypeError: batch_size: expected an integer >= 1, got 2.0
    """
    if value is None and optional:
        return None
    bounds = _bounds_text(minimum, maximum, integer=True) + (" or None" if optional else "")
    if not is_int(value):
        raise InputTypeError(f"{name}: expected an integer{bounds}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name}: expected an integer{bounds}, got {value!r}")
    return int(value)


def _bounds_text(minimum, maximum, *, integer: bool, min_open: bool = False,
                 max_open: bool = False) -> str:
    if minimum is not None and maximum is not None:
        return f" in {'(' if min_open else '['}{minimum}, {maximum}{')' if max_open else ']'}"
    if minimum is not None:
        return f" {'>' if min_open else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if max_open else '<='} {maximum}"
    return ""


def check_number(value: Any, name: str, *, minimum: float | None = None,
                 maximum: float | None = None, min_open: bool = False, max_open: bool = False,
                 optional: bool = False) -> float | None:
    """Check that ``value`` is a finite real number (int, float, NumPy scalar; not a bool)
    within the bounds (``min_open``/``max_open`` exclude a bound); returns it as a ``float``.

    >>> check_number(0.5, "sigma", minimum=0, min_open=True)
    0.5
    >>> check_number(float("nan"), "sigma", minimum=0, min_open=True)
    Traceback (most recent call last):
    ...
    ValueError: sigma: expected a finite number > 0, got nan
    >>> check_number("1", "sigma")
    Traceback (most recent call last):
    ...
    mattinglib._checks.InputTypeError: sigma: expected a finite number, got str '1'
    """
    if value is None and optional:
        return None
    bounds = _bounds_text(minimum, maximum, integer=False, min_open=min_open, max_open=max_open)
    bounds += " or None" if optional else ""
    if not _is_real(value):
        raise InputTypeError(f"{name}: expected a finite number{bounds}, "
                             f"got {type(value).__name__} {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    bad = bad or (minimum is not None and (v <= minimum if min_open else v < minimum))
    bad = bad or (maximum is not None and (v >= maximum if max_open else v > maximum))
    if bad:
        raise ValueError(f"{name}: expected a finite number{bounds}, got {value!r}")
    return v


def check_bool(value: Any, name: str, *, optional: bool = False,
               none_means: str = "") -> bool | None:
    """Check that ``value`` is ``True`` or ``False`` (or ``None`` if ``optional``); returns it.

    A NumPy bool is accepted (as a ``bool``); ``1``, ``"yes"`` are not. ``none_means``
    says in the error what ``None`` stands for (e.g. ``"automatic"``).

    >>> check_bool(np.True_, "amp")
    True
    >>> check_bool(1, "amp")
    Traceback (most recent call last):
    ...
    mattinglib._checks.InputTypeError: amp: expected True or False, got 1
    >>> check_bool("no", "amp", optional=True, none_means="automatic")
    Traceback (most recent call last):
    ...
    mattinglib._checks.InputTypeError: amp: expected True, False or None (automatic), got 'no'
    """
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if optional else "True or False"
        meaning = f" ({none_means})" if optional and none_means else ""
        raise InputTypeError(f"{name}: expected {allowed}{meaning}, got {value!r}")
    return bool(value)


def check_index(index: Any, length: int, *, name: str = "index") -> int:
    """A dataset index: an int (numpy ints too, not a bool) in ``[0, length)``.

    Out of range raises :class:`InputIndexError` (an ``IndexError``, which ends a
    ``for`` loop over the dataset); a wrong type raises :class:`InputTypeError`.

    >>> check_index(np.int64(2), 3)
    2
    >>> check_index(3, 3)
    Traceback (most recent call last):
    ...
    mattinglib._checks.InputIndexError: index: expected an int in [0, 3), got 3
    >>> check_index(True, 3)
    Traceback (most recent call last):
    ...
    mattinglib._checks.InputTypeError: index: expected an int in [0, 3), got bool True
    """
    if not is_int(index):
        raise InputTypeError(f"{name}: expected an int in [0, {length}), "
                             f"got {type(index).__name__} {index!r}")
    if not 0 <= index < length:
        raise InputIndexError(f"{name}: expected an int in [0, {length}), got {index!r}")
    return int(index)


def check_names(names: Any, name: str = "names") -> list[str]:
    """A list of strings from any iterable of strings; a single string is refused
    (iterating it would give its characters).

    >>> check_names(("GT01", "GT02"))
    ['GT01', 'GT02']
    >>> try:
    ...     check_names("GT01")
    ... except InputTypeError as err:
    ...     print(err)
    names: expected a list of names, got the single string 'GT01' (write ['GT01'])
    """
    if isinstance(names, (str, bytes)):
        raise InputTypeError(f"{name}: expected a list of names, got the single string {names!r} "
                             f"(write [{names!r}])")
    try:
        items = list(names)
    except TypeError:
        raise InputTypeError(f"{name}: expected a list of names, "
                             f"got {type(names).__name__}") from None
    bad = [n for n in items if not isinstance(n, str)]
    if bad:
        raise InputTypeError(f"{name}: expected names as strings, got {bad[0]!r} "
                             f"({type(bad[0]).__name__})")
    return items


def check_float_input(x: Any, *, name: str, dtype: Any) -> None:
    """Check that a network input is a tensor of the dtype of the network's weights.

    Under ``torch.autocast`` any floating dtype is accepted (autocast casts the
    input of every layer itself).

    >>> import torch
    >>> try:
    ...     check_float_input(torch.zeros(1, dtype=torch.float64), name="x", dtype=torch.float32)
    ... except InputTypeError as err:
    ...     print(*str(err).split("; "), sep=";\\n")
    x: expected a torch.float32 tensor (the dtype of the model's weights), got torch.float64;
    convert it with x.float() (or the model with model.to(dtype))
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype == dtype:
        return
    if x.is_floating_point() and torch.is_autocast_enabled(x.device.type):
        return
    convert = {torch.float32: ".float()", torch.float64: ".double()",
               torch.float16: ".half()", torch.bfloat16: ".bfloat16()"}.get(dtype, f".to({dtype})")
    extra = " (a uint8 image: divide by 255 first)" if x.dtype == torch.uint8 else ""
    raise InputTypeError(f"{name}: expected a {dtype} tensor (the dtype of the model's weights), "
                         f"got {x.dtype}{extra}; convert it with {name}{convert} "
                         f"(or the model with model.to(dtype))")


def check_shape(x: Any, spec: str, *, name: str) -> dict[str, int]:
    """Check ``x.shape`` against a spec such as ``"B,1,H,W"`` or ``"H,W,3"``.

    Letters bind to sizes (the same letter must match everywhere), digits are
    exact sizes and ``*`` matches anything. Returns the bound letters.

    >>> check_shape(np.zeros((2, 1, 8, 6)), "B,1,H,W", name="alpha")
    {'B': 2, 'H': 8, 'W': 6}
    """
    if not hasattr(x, "shape"):
        raise InputTypeError(f"{name}: expected an array or tensor of shape ({spec}), "
                             f"got {type(x).__name__}")
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


def _numel(x: Any, name: str = "x") -> int:
    if isinstance(x, np.ndarray):
        return int(x.size)
    if not hasattr(x, "numel"):
        raise InputTypeError(f"{name}: expected a numpy array or torch tensor, "
                             f"got {type(x).__name__}")
    return int(x.numel())


def check_not_empty(x: Any, *, name: str, what: str = "array") -> None:
    """Reject an array or tensor without elements (a side of size 0), where an answer needs pixels.

    >>> check_not_empty(np.zeros((0, 4)), name="pred", what="matte")
    Traceback (most recent call last):
    ...
    ValueError: pred: expected a non-empty matte, got shape (0, 4)
    """
    if _numel(x, name) == 0:
        raise ValueError(f"{name}: expected a non-empty {what}, got shape {shape_of(x)}")


def check_finite(x: Any, *, name: str) -> None:
    """Reject NaN and infinity (numpy or torch)."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise InputTypeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        finite = x.dtype.kind != "f" or bool(np.isfinite(x).all())
    else:
        finite = bool(x.detach().isfinite().all())
    if not finite:
        raise ValueError(f"{name}: contains NaN or infinite values")


def _min_max(x: Any, name: str) -> tuple[float, float]:
    """``(min, max)`` as Python floats, NaN when there is one (a single device sync for torch)."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise InputTypeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        return float(x.min()), float(x.max())
    import torch

    x = x.detach()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if x.is_complex():
        raise InputTypeError(f"{name}: expected a real tensor, got dtype {x.dtype}")
    lo, hi = torch.aminmax(x)
    xmin, xmax = torch.stack([lo.double(), hi.double()]).tolist()
    return xmin, xmax


_VALUE_CHECKS = threading.local()


def value_checks_enabled() -> bool:
    """Whether the networks check their inputs' *values* (on by default).

    A value check (inputs in ``[0, 1]``, finite) reads the tensor's extremes back
    into Python: on a GPU, a wait for the device at every forward. The trainers
    switch them off for their training steps (:func:`value_checks`), where the data
    pipeline made the inputs; shapes and dtypes are always checked, they cost nothing.
    """
    return getattr(_VALUE_CHECKS, "enabled", True)


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Switch the networks' value checks on or off inside a ``with`` block (this thread).

    >>> with value_checks(False):
    ...     value_checks_enabled()
    False
    >>> value_checks_enabled()
    True
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled: expected True or False, got {enabled!r}")
    before = value_checks_enabled()
    _VALUE_CHECKS.enabled = enabled
    try:
        yield
    finally:
        _VALUE_CHECKS.enabled = before


def check_range(x: Any, lo: float, hi: float, *, name: str, tol: float = RANGE_TOLERANCE) -> None:
    """Reject values outside ``[lo, hi]`` by more than ``tol`` (numpy or torch); NaN and
    infinity are rejected too, an empty array passes.

    The tolerance lets float rounding through (``1.0000001`` after a float32
    resize); the message prints the extremes with 9 significant digits, so a
    value that is only just outside is visible as such.

    >>> check_range(np.array([0.0, 1.0000001]), 0.0, 1.0, name="alpha")
    >>> check_range(np.array([0.0, 1.001]), 0.0, 1.0, name="alpha")
    Traceback (most recent call last):
    ...
    ValueError: alpha: expected values in [0.0, 1.0], got min 0, max 1.001
    """
    if _numel(x, name) == 0:
        return
    xmin, xmax = _min_max(x, name)
    if not (math.isfinite(xmin) and math.isfinite(xmax)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if xmin < lo - tol or xmax > hi + tol:
        raise ValueError(f"{name}: expected values in [{float(lo)}, {float(hi)}], "
                         f"got min {xmin:.9g}, max {xmax:.9g}")


def as_float01(x: Any, *, name: str) -> np.ndarray:
    """A numpy image as float64 in [0, 1].

    uint8 is divided by 255 (as the official evaluation does); a float array
    must lie in [0, 1] up to :data:`RANGE_TOLERANCE` (float rounding), and such
    rounding is clipped away. Anything else is an error.

    >>> as_float01(np.array([0, 255], dtype=np.uint8), name="alpha")
    array([0., 1.])
    >>> as_float01(np.array([0.0, 1.0000001], dtype=np.float32), name="alpha")
    array([0., 1.])
    """
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if np.issubdtype(x.dtype, np.floating):
        check_range(x, 0.0, 1.0, name=name)
        out = x.astype(np.float64, copy=False)
        if out.size and (out.min() < 0.0 or out.max() > 1.0):
            out = np.clip(out, 0.0, 1.0)
        return out
    if x.dtype == np.bool_:
        raise InputTypeError(f"{name}: expected uint8 in 0..255 or float in [0, 1], got a boolean "
                             "mask; convert it explicitly (mask.astype(np.float32))")
    raise InputTypeError(f"{name}: expected uint8 in 0..255 or float in [0, 1], "
                         f"got dtype {x.dtype}")


def _first_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(path: Any, name: str) -> Path:
    """Check that the folder ``path`` can be written to (created when missing), before any
    long work starts. Nothing is created: a probe file is written and removed again in the
    nearest existing folder.

    Raises:
        ValueError: naming ``name``: a file stands where the folder (or one of its
            parents) should be, or the nearest existing folder is not writable.

    >>> import tempfile
    >>> check_writable_dir(Path(tempfile.mkdtemp()) / "new" / "run", "out").name
    'run'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{name}: expected a path, got {type(path).__name__}")
    path = Path(path)
    existing = _first_existing(path)
    if not existing.is_dir():
        where = "" if existing == path else f" (cannot create {path})"
        raise ValueError(f"{name}: {existing} is a file, not a folder{where}")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{name}: cannot write to the folder {existing} "
                         f"({err.strerror or err})") from None
    return path


def check_writable_file(path: Any, name: str) -> Path:
    """Check that a file can be written at ``path`` (its folder created when missing).

    >>> check_writable_file(__file__, "output").suffix
    '.py'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{name}: expected a file path, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a folder; expected a file name")
    check_writable_dir(path.parent, name)
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{name}: the file {path} exists and is read-only")
    return path


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
        raise InputTypeError(f"{name}: expected a numpy array, got {type(trimap).__name__}")
    if trimap.ndim != 2:
        raise ValueError(f"{name}: expected shape (H,W), got {trimap.shape}")
    if trimap.dtype != np.uint8:
        raise InputTypeError(f"{name}: expected dtype uint8 with values {{0, 128, 255}}, "
                             f"got {trimap.dtype}")
    # bincount is ~3x faster than np.unique on a full-size trimap.
    present = np.flatnonzero(np.bincount(trimap.ravel(), minlength=256))
    bad = np.setdiff1d(present, TRIMAP_VALUES)
    if bad.size:
        shown = bad[:8].tolist()
        raise ValueError(f"{name}: expected only the values {{0, 128, 255}}, got also {shown}")
    return trimap
