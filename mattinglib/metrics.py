"""SAD, MSE, Gradient and Connectivity errors, equal to the official DIM evaluation.

Every matting paper since Deep Image Matting (Xu et al., CVPR 2017) reports the
four errors computed by the authors' MATLAB functions ``compute_sad_loss``,
``compute_mse_loss``, ``compute_gradient_loss`` and
``compute_connectivity_error`` (step 0.1). This module computes the same
numbers; the test-suite checks it against values produced by that code (run
under GNU Octave) on the alphamatting.com images, to a relative error of 1e-4.

Inputs (all four metrics): ``pred`` and ``target`` are ``(H, W)`` alpha mattes,
either uint8 in 0..255 (divided by 255, as the official code does) or float in
[0, 1]; ``trimap`` is ``(H, W)`` uint8 with values {0, 128, 255}. Only the
unknown region U (``trimap == 128``) is summed over.

Units, as the official evaluation script reports them (keys of :func:`evaluate`):

* ``sad``: sum over U of ``|pred - target|``, **divided by 1000**.
* ``mse``: sum over U of ``(pred - target)**2`` divided by ``|U|``, **raw**
  (papers often print it multiplied by 1e3; always say which).
* ``grad``: sum over U of ``(|G pred| - |G target|)**2``, **divided by 1000**.
* ``conn``: sum over U of ``|phi(pred) - phi(target)|``, **divided by 1000**.

Details of the official code that change the numbers, all reproduced here:

* Gradient: both mattes are first min-max normalised over the whole image
  (MATLAB ``mat2gray``, not a division by 255); ``G`` is a
  derivative-of-Gaussian filter with sigma 1.4, a 9x9 kernel
  ``gauss(row offset) * dgauss(column offset)`` scaled to unit L2 norm, and its
  transpose for the other axis, applied as a convolution with replicated
  borders. Computed in double precision.
* Connectivity: for each threshold t = 0.1, 0.2, ..., 1.0, Omega is the
  largest 4-connected component of ``(pred >= t) & (target >= t)``. The
  background label of the labelling is not a component: ports that let label 0
  win the ``argmax`` go wrong whenever the background outnumbers the object
  (61 of the 168 reference cases move, by up to 76 %). A pixel's level ``l``
  is the previous threshold at the first t where it lies outside Omega (1 if
  it never leaves); ``d = alpha - l`` and ``phi = 1 - d * [d >= 0.15]``. The
  official code works in single precision, and so does this one: it matters
  at the threshold 0.6, where ``153 / 255`` and ``6 * 0.1`` are equal in real
  arithmetic, but only the single-precision alpha reaches the double threshold
  (in double precision 140 of the 168 reference cases would be off). Among
  equally large components the first in column-major order wins, as MATLAB's
  ``max`` picks the first of ``bwconncomp``'s components.

Edge cases where the official code crashes or divides by zero, defined here:

* Connectivity, a threshold where the two mattes share no pixel (no component
  at all; the official code fails indexing an empty list): Omega is empty, so
  every pixel still at level "unset" leaves Omega at that threshold.
* MSE with no unknown pixel: the official code computes 0 / 0; the result here
  is NaN as well (the mean over an empty region is undefined), without a
  warning. SAD, Gradient and Connectivity are 0.0 in that case.
* Gradient of a constant matte: ``mat2gray`` cannot stretch it and returns it
  clipped to [0, 1]; its gradient is zero either way.

>>> import numpy as np
>>> trimap = np.full((4, 4), 128, np.uint8)
>>> target = np.zeros((4, 4)); pred = np.full((4, 4), 0.5)
>>> sad(pred, target, trimap)   # 16 pixels * 0.5, in thousands
0.008
>>> mse(pred, target, trimap)
0.25
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

import numpy as np
from scipy import ndimage

from ._checks import (
    InputTypeError,
    as_float01,
    check_not_empty,
    check_number,
    check_same_hw,
    check_trimap_values,
)

__all__ = [
    "sad",
    "mse",
    "gradient_error",
    "connectivity_error",
    "evaluate",
    "mean_metrics",
    "gaussian_gradient_kernel",
    "METRIC_KEYS",
    "SIGMA_RANGE",
]

#: The keys of :func:`evaluate`'s result, in the order papers print them.
METRIC_KEYS = ("sad", "mse", "grad", "conn")

_UNKNOWN = 128
# 4-connectivity, as ``bwconncomp(..., 4)``.
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


#: The range of ``sigma`` the official kernel formula supports: below 0.1 px the
#: derivative filter underflows to zero (the error would be NaN); at
#: ``100 / sqrt(2 pi)`` = 39.89 px its half-size formula takes the root of a
#: negative number.
SIGMA_RANGE = (0.1, 100.0 / math.sqrt(2.0 * math.pi))


def _matte(x, *, name: str) -> np.ndarray:
    arr = as_float01(x, name=name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape (H,W), got {arr.shape}")
    check_not_empty(arr, name=name, what="matte")
    return arr


def _checked(pred, target, trimap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float64 mattes in [0, 1] and the boolean unknown mask."""
    p = _matte(pred, name="pred")
    t = _matte(target, name="target")
    check_trimap_values(trimap, name="trimap")
    check_same_hw(pred=p, target=t, trimap=trimap)
    return p, t, trimap == _UNKNOWN


def _single(x: np.ndarray) -> np.ndarray:
    """A validated float64 matte in single precision, as the official code computes.

    For uint8 input ``float32(k / 255.0)`` equals MATLAB's ``single(k) / 255``
    for every k (checked in the tests), so ``pred`` and ``pred / 255.0`` score
    identically.
    """
    return x.astype(np.float32)


def sad(pred, target, trimap) -> float:
    """Sum of absolute differences over the unknown region, **divided by 1000**.

    Args:
        pred: ``(H, W)`` uint8 in 0..255 or float in [0, 1], the predicted alpha.
        target: ``(H, W)`` ground-truth alpha, same conventions.
        trimap: ``(H, W)`` uint8 in {0, 128, 255}; only pixels equal to 128 count.

    Returns:
        ``sum_U |pred - target| / 1000`` as a Python float (the unit of the
        papers' SAD column, e.g. 50.4 for DIM on Composition-1k).

    >>> import numpy as np
    >>> tri = np.array([[0, 128, 128]], np.uint8)
    >>> sad(np.array([[255, 255, 0]], np.uint8), np.zeros((1, 3), np.uint8), tri)
    0.001
    """
    return _sad(*_checked(pred, target, trimap))


def _sad(p: np.ndarray, t: np.ndarray, u: np.ndarray) -> float:
    return float(np.abs(p[u] - t[u]).sum() / 1000.0)


def mse(pred, target, trimap) -> float:
    """Mean squared error over the unknown region (**raw**, no scaling).

    Papers often print this number multiplied by 1e3: DIM's 0.014 on
    Composition-1k is this raw value, a table printing 14 for it uses x 1e3.
    Always say which.

    Args:
        pred: ``(H, W)`` uint8 in 0..255 or float in [0, 1], the predicted alpha.
        target: ``(H, W)`` ground-truth alpha, same conventions.
        trimap: ``(H, W)`` uint8 in {0, 128, 255}; only pixels equal to 128 count.

    Returns:
        ``sum_U (pred - target)**2 / |U|`` as a Python float; NaN when the
        trimap has no unknown pixel (the official code divides 0 by 0).

    >>> import numpy as np
    >>> tri = np.array([[0, 128, 128]], np.uint8)
    >>> mse(np.array([[1.0, 1.0, 0.0]]), np.zeros((1, 3)), tri)
    0.5
    """
    return _mse(*_checked(pred, target, trimap))


def _mse(p: np.ndarray, t: np.ndarray, u: np.ndarray) -> float:
    n = int(np.count_nonzero(u))
    if n == 0:
        return math.nan
    return float(np.square(p[u] - t[u]).sum() / n)


def gaussian_gradient_kernel(sigma: float = 1.4) -> np.ndarray:
    """The official 2-D derivative-of-Gaussian kernel along x (columns).

    ``h[i, j] = gauss(i - c) * dgauss(j - c)`` with ``dgauss(x) = -x / sigma**2
    * gauss(x)``, half size ``ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma 0.01)))``
    (4 for sigma 1.4, so 9x9), scaled to unit L2 norm. Its transpose is the
    y kernel. Used as a convolution kernel (MATLAB ``imfilter(..., 'conv')``).

    Args:
        sigma: Gaussian standard deviation in pixels, in [0.1, 39.89]
            (:data:`SIGMA_RANGE`; outside it the official formula breaks down).

    Returns:
        float64 ``(2 c + 1, 2 c + 1)`` array.

    >>> k = gaussian_gradient_kernel(1.4)
    >>> k.shape, round(float(np.sum(k ** 2)), 12)
    ((9, 9), 1.0)
    """
    gauss, dgauss = _gaussian_gradient_factors(sigma)
    return np.outer(gauss, dgauss)


def _gaussian_gradient_factors(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The two 1-D factors of :func:`gaussian_gradient_kernel`, each of unit L2 norm."""
    sigma = check_number(sigma, "sigma", minimum=SIGMA_RANGE[0], maximum=round(SIGMA_RANGE[1], 2))
    eps = 1e-2
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * eps)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(x**2) / (2.0 * sigma**2)) / (sigma * math.sqrt(2.0 * math.pi))
    dgauss = -x * gauss / sigma**2
    # The outer product of two unit vectors has unit Frobenius norm, so
    # normalising the factors normalises the 2-D kernel exactly as the official code.
    return gauss / np.linalg.norm(gauss), dgauss / np.linalg.norm(dgauss)


def _mat2gray(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        # MATLAB clips a constant image to [0, 1] instead of stretching it.
        return np.clip(x, 0.0, 1.0)
    return (x - lo) / (hi - lo)


def _gradient_magnitude(x: np.ndarray, gauss: np.ndarray, dgauss: np.ndarray) -> np.ndarray:
    # Separable form of imfilter(x, hx, 'replicate', 'conv') and of hx':
    # replicate padding commutes with the two 1-D passes, so this is exact.
    gx = ndimage.convolve1d(ndimage.convolve1d(x, gauss, axis=0, mode="nearest"),
                            dgauss, axis=1, mode="nearest")
    gy = ndimage.convolve1d(ndimage.convolve1d(x, dgauss, axis=0, mode="nearest"),
                            gauss, axis=1, mode="nearest")
    return np.hypot(gx, gy)


def gradient_error(pred, target, trimap, *, sigma: float = 1.4) -> float:
    """Gradient error over the unknown region, **divided by 1000**.

    Both mattes are min-max normalised over the whole image (``mat2gray``),
    filtered with the derivative-of-Gaussian pair of
    :func:`gaussian_gradient_kernel` (replicated borders), and the squared
    differences of the gradient magnitudes are summed over U.

    Args:
        pred: ``(H, W)`` uint8 in 0..255 or float in [0, 1], the predicted alpha.
        target: ``(H, W)`` ground-truth alpha, same conventions.
        trimap: ``(H, W)`` uint8 in {0, 128, 255}; only pixels equal to 128 count.
        sigma: filter scale in pixels (the official evaluation uses 1.4), in [0.1, 39.89].

    Returns:
        ``sum_U (|G pred| - |G target|)**2 / 1000`` as a Python float.

    >>> import numpy as np
    >>> ramp = np.tile(np.linspace(0, 1, 16), (16, 1))
    >>> gradient_error(ramp, ramp, np.full((16, 16), 128, np.uint8))
    0.0
    """
    return _gradient_error(*_checked(pred, target, trimap), sigma=sigma)


def _gradient_error(p: np.ndarray, t: np.ndarray, u: np.ndarray, *, sigma: float = 1.4) -> float:
    gauss, dgauss = _gaussian_gradient_factors(sigma)
    diff = _gradient_magnitude(_mat2gray(p), gauss, dgauss) - _gradient_magnitude(
        _mat2gray(t), gauss, dgauss)
    return float(np.square(diff)[u].sum() / 1000.0)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of ``mask`` (all False if there is none).

    Labelling the transpose numbers components in column-major order, so that
    ``argmax`` breaks ties the way MATLAB's ``max`` over ``bwconncomp`` does.
    """
    labels, count = ndimage.label(mask.T, structure=_FOUR_CONNECTED)
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    # Label 0 is the background, never a candidate (the known port bug).
    largest = 1 + int(np.argmax(sizes[1:]))
    return (labels == largest).T


def _thresholds(step: float) -> np.ndarray:
    step = check_number(step, "step", minimum=0, maximum=1, min_open=True)
    # Octave's range 0:step:1 evaluates base + i * step (so 6 * 0.1 > 0.6).
    count = int(math.floor(1.0 / step + 1e-10))
    return step * np.arange(count + 1, dtype=np.float64)


def connectivity_error(pred, target, trimap, *, step: float = 0.1) -> float:
    """Connectivity error (p = 1) over the unknown region, **divided by 1000**.

    For each threshold ``t`` in ``step, 2 step, ..., 1``, Omega is the largest
    4-connected component of ``(pred >= t) & (target >= t)``; a pixel's level
    ``l`` is the threshold before the first ``t`` at which it is outside Omega
    (1 if it never leaves). With ``d = alpha - l`` and
    ``phi = 1 - d * [d >= 0.15]``, the error is ``sum_U |phi(pred) - phi(target)|``.
    Computed in single precision like the official code (see the module notes,
    also for thresholds with no common pixel).

    Args:
        pred: ``(H, W)`` uint8 in 0..255 or float in [0, 1], the predicted alpha.
        target: ``(H, W)`` ground-truth alpha, same conventions.
        trimap: ``(H, W)`` uint8 in {0, 128, 255}; only pixels equal to 128 count.
        step: threshold step (the official evaluation uses 0.1).

    Returns:
        The connectivity error / 1000 as a Python float.

    >>> import numpy as np
    >>> target = np.zeros((5, 5)); target[1:4, 1:4] = 1.0
    >>> pred = target.copy(); pred[0, 0] = 1.0   # a detached blob: not in Omega
    >>> connectivity_error(pred, target, np.full((5, 5), 128, np.uint8)) * 1000
    1.0
    """
    return _connectivity_error(*_checked(pred, target, trimap), step=step)


def _connectivity_error(p: np.ndarray, t: np.ndarray, u: np.ndarray, *, step: float = 0.1) -> float:
    thresholds = _thresholds(step)
    pred32, target32 = _single(p), _single(t)
    # Both mattes reach a threshold exactly where their minimum does; the
    # official comparison is a single-precision alpha against a double threshold.
    both = np.minimum(pred32, target32).astype(np.float64)

    level = np.full(p.shape, -1.0)
    for previous, current in zip(thresholds[:-1], thresholds[1:]):
        omega = _largest_component(both >= current)
        level[(level == -1.0) & ~omega] = previous
    level[level == -1.0] = 1.0
    level_u = level[u].astype(np.float32)

    def phi(alpha: np.ndarray) -> np.ndarray:
        d = alpha[u] - level_u
        return np.float32(1) - d * (d >= np.float32(0.15))

    return float(np.abs(phi(pred32) - phi(target32)).sum(dtype=np.float64) / 1000.0)


def evaluate(pred, target, trimap) -> dict[str, float]:
    """All four official errors of one matte.

    Args:
        pred: ``(H, W)`` uint8 in 0..255 or float in [0, 1], the predicted alpha.
        target: ``(H, W)`` ground-truth alpha, same conventions.
        trimap: ``(H, W)`` uint8 in {0, 128, 255}.

    Returns:
        ``{"sad": SAD / 1000, "mse": raw MSE, "grad": Grad / 1000, "conn": Conn / 1000}``.

    >>> import numpy as np
    >>> a = np.linspace(0, 1, 64).reshape(8, 8)
    >>> evaluate(a, a, np.full((8, 8), 128, np.uint8))
    {'sad': 0.0, 'mse': 0.0, 'grad': 0.0, 'conn': 0.0}
    """
    checked = _checked(pred, target, trimap)
    return {
        "sad": _sad(*checked),
        "mse": _mse(*checked),
        "grad": _gradient_error(*checked),
        "conn": _connectivity_error(*checked),
    }


def mean_metrics(results: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per-key mean over images, as papers report a test set.

    Args:
        results: dicts with identical keys (typically from :func:`evaluate`).

    Returns:
        A dict with the same keys, each the mean of its values (NaN propagates,
        so an image whose MSE is undefined stays visible).

    >>> mean_metrics([{"sad": 1.0, "mse": 0.5}, {"sad": 3.0, "mse": 0.25}])
    {'sad': 2.0, 'mse': 0.375}
    """
    if isinstance(results, Mapping) or not isinstance(results, Iterable):
        raise InputTypeError(f"results: expected a list of dicts of metrics, got "
                             f"{type(results).__name__} (one image's metrics: wrap it in a list)")
    rows = list(results)
    if not rows:
        raise ValueError("results: expected at least one dict of metrics, got none")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputTypeError(f"results: item {i} is {type(row).__name__} {row!r}, "
                                 "expected a dict of metrics (as evaluate returns)")
    keys = list(rows[0].keys())
    for i, row in enumerate(rows):
        if set(row.keys()) != set(keys):
            raise ValueError(f"results: item {i} has keys {sorted(row.keys())}, "
                             f"expected {sorted(keys)} like item 0")
        for k, v in row.items():
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number)):
                raise InputTypeError(f"results: item {i}[{k!r}] is {type(v).__name__} {v!r}, "
                                     "expected a number")
    return {k: float(np.mean([float(row[k]) for row in rows])) for k in keys}
