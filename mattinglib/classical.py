"""Classical (non-learned) matting baselines that the chapters compare against.

* :func:`closed_form_matting` - Levin, Lischinski & Weiss, "A Closed-Form
  Solution to Natural Image Matting" (CVPR 2006 / TPAMI 2008), solved by
  pymatting's ``estimate_alpha_cf``.
* :func:`knn_matting` - Chen, Li & Tang, "KNN Matting" (CVPR 2012), pymatting's
  ``estimate_alpha_knn``.
* :func:`trimap_baseline` - no matting at all: the trimap's known regions and a
  constant in the unknown band. Any method must beat it.
* :func:`triangulation_matting` - Smith & Blinn, "Blue Screen Matting"
  (SIGGRAPH 1996): the same foreground shot over two known backgrounds gives
  alpha exactly, no trimap needed.

Inputs follow the library's conventions: ``image`` is ``(H, W, 3)`` RGB, uint8
or float in [0, 1]; ``trimap`` is ``(H, W)`` uint8 with values {0, 128, 255}.
Alphas come back as float32 ``(H, W)`` in [0, 1].

Memory: pymatting builds a sparse matting Laplacian over the whole image, about
25 non-zeros per pixel for the closed-form 3x3 windows (more for KNN), plus
the conjugate-gradient work vectors. A 320 px image needs tens of MB; a 12
megapixel photo needs several GB and can exhaust a laptop. ``max_side``
solves at a lower resolution and upsamples the unknown band, which is how the
chapters keep the solvers fast.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._checks import (
    as_float01,
    check_int,
    check_number,
    check_same_hw,
    check_shape,
    check_trimap_values,
)

__all__ = [
    "closed_form_matting",
    "knn_matting",
    "trimap_baseline",
    "triangulation_matting",
]


def _check_image(image, *, name: str = "image") -> np.ndarray:
    check_shape(image, "H,W,3", name=name)
    return as_float01(image, name=name)


def _known_alpha(trimap: np.ndarray) -> np.ndarray:
    return (trimap == 255).astype(np.float32)


def _downscale_for_solver(image: np.ndarray, trimap: np.ndarray, max_side: int):
    """Image and trimap at a lower resolution, the unknown band kept conservative.

    A low-resolution pixel is known only when every original pixel under it is
    known with the same label; anything mixed becomes unknown, so the band never
    loses a pixel the solver must estimate.
    """
    h, w = trimap.shape
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    fg = cv2.resize((trimap == 255).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    bg = cv2.resize((trimap == 0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small_trimap = np.full(fg.shape, 128, np.uint8)
    small_trimap[fg >= 1 - 1e-6] = 255
    small_trimap[bg >= 1 - 1e-6] = 0
    return np.clip(small_image, 0.0, 1.0), small_trimap


def _solve(solver, image, trimap, *, max_side, **kwargs) -> np.ndarray:
    img = _check_image(image)
    tri = check_trimap_values(trimap, name="trimap")
    check_same_hw(image=img, trimap=tri)
    max_side = check_int(max_side, "max_side", minimum=8, optional=True)

    unknown = tri == 128
    if not unknown.any():
        return _known_alpha(tri)
    has_fg, has_bg = (tri == 255).any(), (tri == 0).any()
    if not has_fg and not has_bg:
        raise ValueError("trimap: every pixel is unknown; the solver needs some known "
                         "foreground or background pixels")
    if not (has_fg and has_bg):
        # With one kind of constraint only, the smooth minimiser is that constant.
        return np.full(tri.shape, 1.0 if has_fg else 0.0, np.float32)

    h, w = tri.shape
    if max_side is not None and max(h, w) > max_side:
        small_image, small_trimap = _downscale_for_solver(img, tri, int(max_side))
        small_alpha = _solve(solver, small_image, small_trimap, max_side=None, **kwargs)
        alpha = cv2.resize(small_alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = np.clip(alpha, 0.0, 1.0)
        alpha[tri == 255] = 1.0
        alpha[tri == 0] = 0.0
        return alpha.astype(np.float32)

    # pymatting reads a float trimap: >= 0.9 foreground, <= 0.1 background.
    alpha = solver(np.ascontiguousarray(img, dtype=np.float64),
                   tri.astype(np.float64) / 255.0, **kwargs)
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    # The known pixels are constraints; make them exact, not merely close.
    alpha[tri == 255] = 1.0
    alpha[tri == 0] = 0.0
    return alpha


def closed_form_matting(image, trimap, *, max_side: int | None = None,
                        epsilon: float = 1e-7, radius: int = 1) -> np.ndarray:
    """Closed-form matting (Levin et al. 2008) with pymatting's solver.

    Args:
        image: ``(H, W, 3)`` RGB, uint8 or float in [0, 1].
        trimap: ``(H, W)`` uint8 with values {0, 128, 255}.
        max_side: when the longer side exceeds this, solve at that size
            (image area-averaged, unknown band kept conservative) and upsample
            the alpha bilinearly; the known regions stay exact. ``None`` solves
            at full resolution (see the module note on memory).
        epsilon: the Laplacian's regulariser (pymatting's default 1e-7).
        radius: the local window radius (1 = 3x3 windows, as in the paper).

    Returns:
        float32 ``(H, W)`` alpha in [0, 1], exactly 0 / 1 on the known regions.

    Example:
        >>> img = np.zeros((16, 16, 3)); img[:, 8:] = 1.0
        >>> tri = np.full((16, 16), 128, np.uint8); tri[:, :4] = 0; tri[:, 12:] = 255
        >>> a = closed_form_matting(img, tri)
        >>> a.shape, a.dtype, bool(a[:, 10].min() > 0.99)
        ((16, 16), dtype('float32'), True)
    """
    from pymatting import estimate_alpha_cf

    return _solve(estimate_alpha_cf, image, trimap, max_side=max_side,
                  laplacian_kwargs={"epsilon": float(epsilon), "radius": int(radius)})


def knn_matting(image, trimap, *, max_side: int | None = None, n_neighbors=(20, 10)) -> np.ndarray:
    """KNN matting (Chen et al. 2012) with pymatting's solver.

    Args:
        image: ``(H, W, 3)`` RGB, uint8 or float in [0, 1].
        trimap: ``(H, W)`` uint8 with values {0, 128, 255}.
        max_side: as in :func:`closed_form_matting`.
        n_neighbors: neighbours per pixel in the two feature spaces (pymatting's default).

    Returns:
        float32 ``(H, W)`` alpha in [0, 1], exactly 0 / 1 on the known regions.
    """
    from pymatting import estimate_alpha_knn

    return _solve(estimate_alpha_knn, image, trimap, max_side=max_side,
                  laplacian_kwargs={"n_neighbors": list(n_neighbors)})


def trimap_baseline(trimap, unknown_value: float = 0.5) -> np.ndarray:
    """The trimap read as an alpha: 0 and 1 where known, ``unknown_value`` in the band.

    Args:
        trimap: ``(H, W)`` uint8 with values {0, 128, 255}.
        unknown_value: the constant guessed for the unknown region, in [0, 1].

    Returns:
        float32 ``(H, W)`` in [0, 1].

    Example:
        >>> trimap_baseline(np.array([[0, 128, 255]], np.uint8))
        array([[0. , 0.5, 1. ]], dtype=float32)
    """
    tri = check_trimap_values(trimap, name="trimap")
    unknown_value = check_number(unknown_value, "unknown_value", minimum=0, maximum=1)
    alpha = _known_alpha(tri)
    alpha[tri == 128] = unknown_value
    return alpha


def triangulation_matting(image1, image2, background1, background2, *,
                          min_difference: float = 1e-3):
    """Alpha and foreground from one foreground over two known backgrounds (Smith & Blinn 1996).

    With ``I_k = a F + (1 - a) B_k`` for k = 1, 2, the difference
    ``I_1 - I_2 = (1 - a) (B_1 - B_2)`` holds in each of the three channels, so
    ``1 - a`` is the least-squares ratio
    ``sum_c (I_1 - I_2)(B_1 - B_2) / sum_c (B_1 - B_2)^2``: three equations,
    one unknown, exact when the images follow the compositing equation.

    Args:
        image1, image2: ``(H, W, 3)`` composites of the same foreground, float in [0, 1] or uint8.
        background1, background2: the two backgrounds, same shape and range.
        min_difference: where the backgrounds differ by less than this (Euclidean
            RGB distance) alpha is not determined; those pixels get alpha 1 (the
            images agree there, so the pixel is taken as foreground).

    Returns:
        ``(alpha, foreground)``: float32 ``(H, W)`` in [0, 1] (clipped, as noisy
        photos can overshoot), and float32 ``(H, W, 3)`` foreground colours in
        [0, 1] (0 where alpha is 0).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f, a = rng.random((4, 5, 3)), rng.random((4, 5))
        >>> b1, b2 = np.zeros((4, 5, 3)), np.ones((4, 5, 3))
        >>> i1, i2 = (a[..., None] * f + (1 - a[..., None]) * b for b in (b1, b2))
        >>> alpha, fg = triangulation_matting(i1, i2, b1, b2)
        >>> bool(np.abs(alpha - a).max() < 1e-5)
        True
    """
    arrays = {}
    for name, x in (("image1", image1), ("image2", image2),
                    ("background1", background1), ("background2", background2)):
        arrays[name] = _check_image(x, name=name)
    check_same_hw(**arrays)
    i1, i2, b1, b2 = arrays.values()

    db = b1 - b2
    denom = (db * db).sum(axis=2)
    determined = denom > min_difference ** 2
    one_minus_a = np.where(determined,
                           ((i1 - i2) * db).sum(axis=2) / np.where(determined, denom, 1.0), 0.0)
    alpha = np.clip(1.0 - one_minus_a, 0.0, 1.0)

    # a F from both equations, averaged: the noise of the two shots partly cancels.
    premult = 0.5 * ((i1 - (1 - alpha)[..., None] * b1) + (i2 - (1 - alpha)[..., None] * b2))
    with np.errstate(divide="ignore", invalid="ignore"):
        fg = np.where(alpha[..., None] > 1e-6, premult / alpha[..., None], 0.0)
    return alpha.astype(np.float32), np.clip(fg, 0.0, 1.0).astype(np.float32)
