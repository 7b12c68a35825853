"""Trimaps: the three-region hint (background, unknown, foreground) a matting network reads.

A trimap is a uint8 ``(H, W)`` array holding only ``0`` (background), ``128``
(unknown) and ``255`` (foreground). Any other value (``127`` from a resized or
JPEG-compressed trimap, say) is an error and is never rounded silently.

The class order used by every network that predicts or reads a 3-class trimap
(SHM's T-Net, its fusion ``alpha = F + U * alpha_r``) is written down once, in
:data:`CLASS_ORDER`: channel 0 is background, 1 unknown, 2 foreground. Public
re-implementations of SHM swapped foreground and unknown by splitting the
softmax in a different order than the labels were encoded; reading the order
from here avoids that.

Trimaps from a ground-truth alpha follow Deep Image Matting (Xu et al., 2017):
unknown = dilate(alpha > 0) minus erode(alpha == 1). The iteration count is
always passed to OpenCV by keyword: ``cv2.dilate(src, kernel, n)`` would bind
``n`` to the ``dst`` argument and run a single iteration, a bug found in public
DIM data loaders.

>>> import numpy as np
>>> alpha = np.zeros((1, 9), dtype=np.float32); alpha[0, 4:] = 1.0  # a hard edge
>>> trimap_from_alpha(alpha, kernel_size=3, iterations=2)
array([[  0,   0, 128, 128, 128, 128, 255, 255, 255]], dtype=uint8)
>>> CLASS_ORDER
('background', 'unknown', 'foreground')
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from ._checks import (
    InputTypeError,
    as_float01,
    check_bool,
    check_finite,
    check_int,
    check_not_empty,
    check_shape,
    check_trimap_values,
    is_int,
)

__all__ = [
    "BACKGROUND",
    "UNKNOWN",
    "FOREGROUND",
    "CLASS_ORDER",
    "CLASS_VALUES",
    "validate_trimap",
    "unknown_mask",
    "band_width",
    "trimap_from_alpha",
    "trimap_from_mask",
    "sample_trimap_params",
    "random_trimap",
    "trimap_to_classes",
    "trimap_to_onehot",
    "onehot_to_trimap",
]

BACKGROUND, UNKNOWN, FOREGROUND = 0, 128, 255

#: Class index -> region name, for every 3-channel trimap (one-hot, logits, softmax).
CLASS_ORDER = ("background", "unknown", "foreground")

_VALUE_OF_CLASS = {"background": BACKGROUND, "unknown": UNKNOWN, "foreground": FOREGROUND}
#: Class index -> trimap value, derived from :data:`CLASS_ORDER` (``(0, 128, 255)``).
CLASS_VALUES = tuple(_VALUE_OF_CLASS[c] for c in CLASS_ORDER)


def _check_kernel_size(kernel_size: Any, name: str = "kernel_size") -> int:
    kernel_size = check_int(kernel_size, name, minimum=1)
    # Even OpenCV ellipses are anchored off-centre, which would make the band lopsided.
    if kernel_size % 2 == 0:
        raise ValueError(f"{name}: expected an odd integer >= 1, got {kernel_size}")
    return kernel_size


def validate_trimap(trimap: Any, *, name: str = "trimap") -> np.ndarray:
    """Check a numpy trimap and return it unchanged.

    Args:
        trimap: uint8 ``(H, W)`` array with values in {0, 128, 255}.
        name: the argument name used in the error message.

    Returns:
        the same array.

    Raises:
        ValueError: wrong type, shape or dtype, or any value other than 0, 128, 255.

    >>> validate_trimap(np.array([[0, 128, 255]], dtype=np.uint8)).dtype
    dtype('uint8')
    >>> validate_trimap(np.array([[0, 127]], dtype=np.uint8))
    Traceback (most recent call last):
    ...
    ValueError: trimap: expected only the values {0, 128, 255}, got also [127]
    """
    return check_trimap_values(trimap, name=name)


def unknown_mask(trimap: np.ndarray) -> np.ndarray:
    """The pixels labelled unknown (128), where matting and the metrics happen.

    Args:
        trimap: uint8 ``(H, W)`` in {0, 128, 255}.

    Returns:
        bool ``(H, W)``.

    >>> unknown_mask(np.array([[0, 128, 255]], dtype=np.uint8))
    array([[False,  True, False]])
    """
    return validate_trimap(trimap) == UNKNOWN


def band_width(kernel_size: int, iterations: int) -> int:
    """How far (pixels) the unknown band reaches past the fractional alpha on each side.

    Every iteration of an OpenCV ellipse of odd size ``k`` moves an edge by
    ``k // 2`` pixels along the image axes, so the band reaches
    ``iterations * (kernel_size // 2)`` pixels into the background and the same
    distance into the foreground (measured along a row or column across a
    straight edge).

    >>> band_width(3, 5), band_width(7, 10), band_width(1, 20)
    (5, 30, 0)
    """
    return check_int(iterations, "iterations", minimum=0) * (_check_kernel_size(kernel_size) // 2)


def _ellipse(kernel_size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))


def _trimap_from_regions(any_fg: np.ndarray, opaque: np.ndarray, kernel_size: int,
                         iterations: int) -> np.ndarray:
    """Trimap from ``alpha > 0`` and ``alpha == 1`` masks (bool ``(H, W)``)."""
    kernel = _ellipse(kernel_size)
    # iterations by keyword: positionally it would land in OpenCV's ``dst``.
    grown = cv2.dilate(any_fg.astype(np.uint8), kernel, iterations=iterations).astype(bool)
    # OpenCV's default border value leaves the image edge alone, so a matte that
    # touches the border is not eroded from there.
    core = cv2.erode(opaque.astype(np.uint8), kernel, iterations=iterations).astype(bool)
    trimap = np.full(any_fg.shape, BACKGROUND, dtype=np.uint8)
    trimap[grown] = UNKNOWN
    trimap[core] = FOREGROUND
    return trimap


def trimap_from_alpha(alpha: np.ndarray, *, kernel_size: int = 3,
                      iterations: int = 5) -> np.ndarray:
    """A trimap from a ground-truth alpha matte, Deep Image Matting style.

    unknown = dilate(alpha > 0) minus erode(alpha == 1), with an elliptical
    ``kernel_size`` structuring element applied ``iterations`` times;
    foreground = the eroded ``alpha == 1`` region; background elsewhere. Every
    pixel with ``0 < alpha < 1`` is therefore unknown, and the band reaches
    :func:`band_width` pixels past the fractional region on each side.

    Args:
        alpha: ``(H, W)`` uint8 in 0..255, float in [0, 1], or uint16 fixed point
            (0..65535, the data pipeline's working format).
        kernel_size: odd size of the elliptical kernel (1 = no growth).
        iterations: how often to dilate and erode (0 = unknown is exactly the
            fractional region).

    Returns:
        uint8 ``(H, W)`` trimap in {0, 128, 255}.

    Raises:
        ValueError: on a wrong shape, dtype, range, NaN, or a bad kernel/iteration count.

    >>> a = np.array([[0, 0, 0, 0.5, 1, 1, 1]])
    >>> trimap_from_alpha(a, kernel_size=3, iterations=1)
    array([[  0,   0, 128, 128, 128, 255, 255]], dtype=uint8)
    """
    kernel_size = _check_kernel_size(kernel_size)
    iterations = check_int(iterations, "iterations", minimum=0)
    check_shape(alpha, "H,W", name="alpha")
    check_not_empty(alpha, name="alpha", what="matte")
    if isinstance(alpha, np.ndarray) and alpha.dtype == np.uint16:  # fixed point, 65535 = 1
        return _trimap_from_regions(alpha > 0, alpha == 65535, kernel_size, iterations)
    a = as_float01(alpha, name="alpha")
    return _trimap_from_regions(a > 0, a == 1, kernel_size, iterations)


def _binary_mask(mask: Any, *, name: str = "mask") -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise InputTypeError(f"{name}: expected a numpy array, got {type(mask).__name__}")
    check_shape(mask, "H,W", name=name)
    check_not_empty(mask, name=name, what="mask")
    if mask.dtype == np.bool_:
        return mask
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise ValueError(f"{name}: expected a bool, integer or float mask, got dtype {mask.dtype}")
    if np.issubdtype(mask.dtype, np.floating):
        check_finite(mask, name=name)
    values = np.unique(mask)
    for allowed in ((0, 1), (0, 255)):
        if np.isin(values, allowed).all():
            return mask != 0
    raise ValueError(f"{name}: expected a binary mask (bool, {{0, 1}} or {{0, 255}}), "
                     f"got values {values[:8].tolist()}")


def trimap_from_mask(mask: np.ndarray, *, kernel_size: int = 3, iterations: int = 5) -> np.ndarray:
    """A trimap whose unknown band straddles the border of a binary mask.

    Useful when only a hard segmentation is known (a person mask): the band
    reaches :func:`band_width` pixels outside and inside the mask border.

    Args:
        mask: ``(H, W)`` bool, or numbers that are all in {0, 1} or all in {0, 255}.
        kernel_size: odd size of the elliptical kernel.
        iterations: how often to dilate and erode.

    Returns:
        uint8 ``(H, W)`` trimap in {0, 128, 255}.

    >>> m = np.array([[0, 0, 0, 255, 255, 255]], dtype=np.uint8)
    >>> trimap_from_mask(m, kernel_size=3, iterations=1)
    array([[  0,   0, 128, 128, 255, 255]], dtype=uint8)
    """
    kernel_size = _check_kernel_size(kernel_size)
    iterations = check_int(iterations, "iterations", minimum=0)
    m = _binary_mask(mask)
    return _trimap_from_regions(m, m, kernel_size, iterations)


def sample_trimap_params(
    rng: np.random.Generator,
    *,
    kernel_sizes: tuple[int, ...] = (3, 5, 7),
    iterations_range: tuple[int, int] = (1, 20),
) -> tuple[int, int]:
    """Draw ``(kernel_size, iterations)`` as :func:`random_trimap` does.

    Args:
        rng: the random generator (``np.random.default_rng(seed)``).
        kernel_sizes: odd kernel sizes to choose from, uniformly.
        iterations_range: ``(low, high)``, both inclusive.

    Returns:
        ``(kernel_size, iterations)`` as Python ints.

    >>> sample_trimap_params(np.random.default_rng(0), kernel_sizes=(5,), iterations_range=(4, 4))
    (5, 4)
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    sizes = tuple(kernel_sizes) if isinstance(kernel_sizes, (tuple, list)) else ()
    if not sizes:
        raise ValueError(f"kernel_sizes: expected a non-empty tuple of odd sizes, "
                         f"got {kernel_sizes!r}")
    for i, k in enumerate(sizes):
        _check_kernel_size(k, name=f"kernel_sizes[{i}]")
    if (not isinstance(iterations_range, (tuple, list)) or len(iterations_range) != 2
            or not all(is_int(i) and i >= 0 for i in iterations_range)
            or iterations_range[0] > iterations_range[1]):
        raise ValueError(f"iterations_range: expected (low, high) with 0 <= low <= high, "
                         f"got {iterations_range!r}")
    kernel_size = int(sizes[int(rng.integers(len(sizes)))])
    low, high = iterations_range
    iterations = int(rng.integers(low, high, endpoint=True))
    return kernel_size, iterations


def random_trimap(
    alpha: np.ndarray,
    *,
    rng: np.random.Generator,
    kernel_sizes: tuple[int, ...] = (3, 5, 7),
    iterations_range: tuple[int, int] = (1, 20),
) -> np.ndarray:
    """A training trimap with a freshly drawn band width (DIM-style augmentation).

    Deep Image Matting draws a new dilation for every training sample so the
    network does not learn one band width. Each call draws a kernel size from
    ``kernel_sizes`` and an iteration count from ``iterations_range``
    (inclusive) with :func:`sample_trimap_params`, then calls
    :func:`trimap_from_alpha`. With the defaults the band reaches 1 to 60
    pixels past the fractional alpha.

    Args:
        alpha: ``(H, W)`` uint8 or float in [0, 1].
        rng: the random generator; the same seed gives the same trimaps.
        kernel_sizes: odd kernel sizes to choose from.
        iterations_range: ``(low, high)`` iteration counts, inclusive.

    Returns:
        uint8 ``(H, W)`` trimap in {0, 128, 255}.

    >>> a = np.zeros((64, 64), dtype=np.float32); a[16:48, 16:48] = 1
    >>> t = random_trimap(a, rng=np.random.default_rng(0), iterations_range=(1, 5))
    >>> t.dtype, sorted(np.unique(t).tolist())
    (dtype('uint8'), [0, 128, 255])
    >>> same = random_trimap(a, rng=np.random.default_rng(0), iterations_range=(1, 5))
    >>> bool((t == same).all())
    True
    """
    kernel_size, iterations = sample_trimap_params(
        rng, kernel_sizes=kernel_sizes, iterations_range=iterations_range)
    return trimap_from_alpha(alpha, kernel_size=kernel_size, iterations=iterations)


_FLOAT_VALUES = "trimap: expected only the values {0, 128/255, 1} (a uint8 trimap / 255)"


def _classes_from_torch(trimap: torch.Tensor, check_values: bool = True) -> torch.Tensor:
    check_shape(trimap, "B,1,H,W", name="trimap")
    if trimap.dtype == torch.uint8:
        levels = trimap.to(torch.int64)
    elif trimap.dtype in (torch.float32, torch.float64):
        if check_values:
            check_finite(trimap, name="trimap")
        scaled = trimap * 255
        levels = scaled.round()
        # A float trimap is a uint8 trimap divided by 255: allow only the
        # representation error of that division, not a nearby value.
        if check_values and bool(((scaled - levels).abs() > 1e-3).any()):
            off = trimap[(scaled - levels).abs() > 1e-3].unique()[:8]
            raise ValueError(f"{_FLOAT_VALUES}, got also {[round(float(v), 6) for v in off]}")
        levels = levels.to(torch.int64)
    else:
        raise ValueError(f"trimap: expected dtype uint8, float32 or float64, got {trimap.dtype}")
    # masked_fill, not ``classes[mask] = index``: no data-dependent indexing, so no device sync.
    classes = torch.full_like(levels, -1)
    for index, value in enumerate(CLASS_VALUES):
        classes = classes.masked_fill(levels == value, index)
    if check_values and bool((classes < 0).any()):
        bad = levels[classes < 0].unique()[:8].tolist()
        if trimap.dtype == torch.uint8:
            raise ValueError(f"trimap: expected only the values {{0, 128, 255}}, got also {bad}")
        raise ValueError(f"{_FLOAT_VALUES}, got also {[f'{v}/255' for v in bad]}")
    return classes[:, 0]


def trimap_to_classes(trimap: np.ndarray | torch.Tensor, *,
                      check_values: bool = True) -> np.ndarray | torch.Tensor:
    """Class indices (see :data:`CLASS_ORDER`) of a trimap, e.g. for a cross-entropy target.

    Args:
        trimap: numpy uint8 ``(H, W)`` in {0, 128, 255}; or a torch tensor
            ``(B, 1, H, W)``, either uint8 in {0, 128, 255} or float32/float64
            in {0, 128/255, 1} (a uint8 trimap divided by 255).
        check_values: for a torch tensor, check that every value is one of the three
            (reading the result back: a device synchronisation on a GPU). A training
            loop whose trimaps come from the library's datasets, checked when they were
            made, passes ``False``; a value outside the three then gets the class -1.
            Shapes and dtypes are always checked; numpy input is always checked.

    Returns:
        numpy int64 ``(H, W)`` or torch long ``(B, H, W)`` with 0 = background,
        1 = unknown, 2 = foreground (same device as the input).

    Raises:
        ValueError: any other value, shape or dtype.

    >>> trimap_to_classes(np.array([[0, 128, 255]], dtype=np.uint8))
    array([[0, 1, 2]])
    >>> trimap_to_classes(torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 1, 1, 3))
    tensor([[[0, 1, 2]]])
    >>> trimap_to_classes(torch.tensor([0, 127, 255], dtype=torch.uint8).view(1, 1, 1, 3),
    ...                   check_values=False)
    tensor([[[ 0, -1,  2]]])
    """
    check_values = check_bool(check_values, "check_values")
    if isinstance(trimap, torch.Tensor):
        return _classes_from_torch(trimap, check_values)
    t = validate_trimap(trimap)
    lookup = np.zeros(256, dtype=np.int64)
    for index, value in enumerate(CLASS_VALUES):
        lookup[value] = index
    return lookup[t]


def trimap_to_onehot(trimap: np.ndarray | torch.Tensor, *,
                     check_values: bool = True) -> np.ndarray | torch.Tensor:
    """One-hot trimap with channels in :data:`CLASS_ORDER` (e.g. an SHM M-Net input).

    Args:
        trimap: as for :func:`trimap_to_classes`.
        check_values: as for :func:`trimap_to_classes` (``False``: no device
            synchronisation; a pixel of another value is all zeros).

    Returns:
        numpy float32 ``(3, H, W)`` or torch float32 ``(B, 3, H, W)`` (same
        device), channel 0 = background, 1 = unknown, 2 = foreground.

    >>> trimap_to_onehot(np.array([[0, 128, 255]], dtype=np.uint8))[:, 0]
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    classes = trimap_to_classes(trimap, check_values=check_values)
    n = len(CLASS_ORDER)
    if isinstance(classes, torch.Tensor):
        # A comparison, not F.one_hot, which reads the classes' range back from the device.
        channels = torch.arange(n, device=classes.device).view(1, n, 1, 1)
        return (classes.unsqueeze(1) == channels).to(torch.float32)
    return (classes[None] == np.arange(n)[:, None, None]).astype(np.float32)


def onehot_to_trimap(probs: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """The trimap of per-class scores: argmax over the channels of :data:`CLASS_ORDER`.

    Args:
        probs: numpy ``(3, H, W)`` or torch ``(B, 3, H, W)`` class scores:
            one-hot, softmax probabilities or logits (the argmax is the same).
            A tie goes to the earlier class (background before unknown before
            foreground).

    Returns:
        numpy uint8 ``(H, W)`` in {0, 128, 255}; or torch float32
        ``(B, 1, H, W)`` in {0, 128/255, 1} (uint8 / 255), on the input's device.

    >>> p = np.zeros((3, 1, 3), dtype=np.float32); p[[0, 1, 2], 0, [0, 1, 2]] = 1
    >>> onehot_to_trimap(p)
    array([[  0, 128, 255]], dtype=uint8)
    """
    if isinstance(probs, torch.Tensor):
        check_shape(probs, "B,3,H,W", name="probs")
        if not probs.is_floating_point():
            raise ValueError(f"probs: expected a floating tensor, got {probs.dtype}")
        check_finite(probs, name="probs")
        values = torch.tensor(CLASS_VALUES, dtype=torch.uint8, device=probs.device)
        return (values[probs.argmax(dim=1, keepdim=True)].to(torch.float32) / 255)
    if not isinstance(probs, np.ndarray):
        raise ValueError(f"probs: expected a numpy array or torch tensor, "
                         f"got {type(probs).__name__}")
    check_shape(probs, "3,H,W", name="probs")
    if not (np.issubdtype(probs.dtype, np.floating) or np.issubdtype(probs.dtype, np.integer)):
        raise ValueError(f"probs: expected numbers, got dtype {probs.dtype}")
    check_finite(probs, name="probs")
    return np.asarray(CLASS_VALUES, dtype=np.uint8)[probs.argmax(axis=0)]

