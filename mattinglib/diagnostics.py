"""Diagnostics for a matte that went wrong on a real photo.

Three failures are common when a matting method meets a photo of one's own,
and each has a number that shows it:

* **the unknown band misses the soft pixels** (hair, fur, a veil):
  :func:`missed_soft_pixels` marks the partly transparent pixels that the trimap
  declares known, where no method can recover them; :func:`sad_by_band` sweeps
  the band's width around a rough mask and scores each matte on one common
  region, so that the widths can be compared (a too wide band costs too: the
  solver has to guess more pixels from less certain neighbours);
* **the subject is too small in the frame**: :func:`matte_at_scale` mattes a
  downscaled copy and brings the alpha back, which is what a photo with the
  subject a few times smaller gives you: fewer pixels across every strand;
* **the background plate does not match the photo** (Background Matting):
  :func:`plate_difference` measures ``|photo - plate|`` away from the person,
  which a well-aligned plate keeps near the noise level.

>>> import numpy as np
>>> alpha = np.array([[0, 0.5, 1, 1]], np.float32)
>>> trimap = np.array([[0, 0, 255, 255]], np.uint8)
>>> missed_soft_pixels(trimap, alpha)
array([[False,  True, False, False]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ._checks import as_float01, check_int, check_number, check_shape, check_trimap_values

__all__ = ["rough_mask_from_alpha", "missed_soft_pixels", "common_trimap", "sad_by_band",
           "matte_at_scale", "plate_difference"]


def _alpha(alpha, hw=None, name: str = "alpha") -> np.ndarray:
    a = as_float01(alpha, name=name).astype(np.float32)
    check_shape(a, "H,W" if hw is None else f"{hw[0]},{hw[1]}", name=name)
    return a


def _bands(bands) -> list[int]:
    if not isinstance(bands, Sequence) or not bands:
        raise ValueError(f"bands: expected a non-empty sequence of integers >= 1, got {bands!r}")
    return [check_int(b, f"bands[{i}]", minimum=1) for i, b in enumerate(bands)]


def rough_mask_from_alpha(alpha: np.ndarray, *, smooth: float = 0.02) -> np.ndarray:
    """A segmentation-like mask of a matte: its outline right, its border smooth, its strands gone.

    ``alpha >= 0.5``, then opened and closed with a disc of radius ``smooth``
    times the longer side: what a person-segmentation network returns for a
    subject with hair, and a stand-in for one when no segmentation weights are at hand.

    Args:
        alpha: ``(H, W)`` matte, float in [0, 1] or uint8.
        smooth: the disc's radius as a fraction of the longer side, in [0, 0.5).

    Returns:
        bool ``(H, W)``.

    >>> a = np.zeros((40, 40), np.float32)
    >>> a[10:30, 10:30] = 1; a[0:10, 19] = 0.8   # a square and a strand
    >>> m = rough_mask_from_alpha(a, smooth=0.05); bool(m[20, 20]), bool(m[5, 19])
    (True, False)
    """
    a = _alpha(alpha)
    smooth = check_number(smooth, "smooth", minimum=0, maximum=0.5, max_open=True)
    mask = (a >= 0.5).astype(np.uint8)
    radius = round(smooth * max(a.shape))
    if radius > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disc)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disc)
    return mask.astype(bool)


def missed_soft_pixels(trimap: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """bool ``(H, W)``: pixels with ``0 < alpha < 1`` that the trimap calls background or
    foreground.

    Args:
        trimap: uint8 ``(H, W)`` in {0, 128, 255}.
        alpha: the true matte ``(H, W)``, float in [0, 1] or uint8.
    """
    tri = check_trimap_values(trimap, name="trimap")
    a = _alpha(alpha, tri.shape)
    return (a > 0) & (a < 1) & (tri != 128)


def common_trimap(mask: np.ndarray, alpha: np.ndarray, band: int, *,
                  kernel_size: int = 3) -> np.ndarray:
    """One evaluation region for every band up to ``band``: that band's unknown region plus every
    soft pixel.

    Every narrower band around the same mask lies inside it, so SAD over this
    trimap compares bands on the same pixels (SAD over each trimap's own region
    would reward a narrow band for not counting the pixels it gets wrong).

    Args:
        mask: ``(H, W)`` rough foreground (bool, {0, 1} or {0, 255}).
        alpha: the true matte ``(H, W)``.
        band: iterations of :func:`mattinglib.trimap.trimap_from_mask`.
        kernel_size: its kernel.

    Returns:
        uint8 ``(H, W)`` trimap in {0, 128, 255}.
    """
    from .trimap import UNKNOWN, trimap_from_mask

    tri = trimap_from_mask(mask, kernel_size=kernel_size, iterations=band)
    a = _alpha(alpha, tri.shape)
    tri[(a > 0) & (a < 1)] = UNKNOWN
    return tri


def sad_by_band(image: np.ndarray, alpha: np.ndarray, mask: np.ndarray, bands, *,
                solver: Callable | None = None, kernel_size: int = 3) -> dict[str, list]:
    """Matte a photo with trimaps of growing band width around a rough mask, and score each.

    Args:
        image: ``(H, W, 3)`` photo, float in [0, 1] or uint8.
        alpha: its true matte ``(H, W)``.
        mask: ``(H, W)`` rough foreground (a segmentation, a drawn mask).
        bands: iteration counts of :func:`mattinglib.trimap.trimap_from_mask`, e.g. ``(1, 3, 6)``.
        solver: ``solver(image, trimap) -> alpha``; default
            :func:`mattinglib.classical.closed_form_matting`.
        kernel_size: the kernel of the band.

    Returns:
        ``{"band", "sad", "sad_own", "missed", "unknown"}``, one list entry per
        band: SAD over :func:`common_trimap` of the widest band (comparable
        across bands), SAD over the band's own unknown region (as a paper would
        report it), the soft pixels the band misses, and its unknown pixels.
    """
    from .classical import closed_form_matting
    from .metrics import sad
    from .trimap import trimap_from_mask

    bands = _bands(bands)
    solver = closed_form_matting if solver is None else solver
    common = common_trimap(mask, alpha, max(bands), kernel_size=kernel_size)
    out = {"band": [], "sad": [], "sad_own": [], "missed": [], "unknown": []}
    for band in bands:
        tri = trimap_from_mask(mask, kernel_size=kernel_size, iterations=band)
        pred = solver(image, tri)
        out["band"].append(band)
        out["sad"].append(sad(pred, alpha, common))
        out["sad_own"].append(sad(pred, alpha, tri) if (tri == 128).any() else 0.0)
        out["missed"].append(int(missed_soft_pixels(tri, alpha).sum()))
        out["unknown"].append(int((tri == 128).sum()))
    return out


def matte_at_scale(image: np.ndarray, trimap: np.ndarray, scale: float, *,
                   solver: Callable | None = None) -> np.ndarray:
    """The matte of a downscaled copy of the photo, brought back to full size.

    Matting a photo at ``scale`` (0.25: a quarter of the width) is what a photo
    of the subject four times smaller in the frame gives: each strand of hair
    covers fewer pixels, and thin ones fall below one pixel. The trimap is
    downscaled without ever turning a mixed pixel into a known one
    (:func:`mattinglib.inference.matting.downscale_trimap`); the alpha is
    upscaled bilinearly and the full-size trimap's known pixels pasted back.

    Args:
        image: ``(H, W, 3)`` photo.
        trimap: uint8 ``(H, W)`` in {0, 128, 255}.
        scale: in (0, 1].
        solver: as for :func:`sad_by_band`.

    Returns:
        float32 ``(H, W)`` alpha in [0, 1].

    >>> img = np.zeros((8, 8, 3), np.float32); tri = np.zeros((8, 8), np.uint8); tri[:, 4:] = 255
    >>> matte_at_scale(img, tri, 0.5)[0]
    array([0., 0., 0., 0., 1., 1., 1., 1.], dtype=float32)
    """
    from .classical import closed_form_matting
    from .inference.matting import downscale_trimap

    tri = check_trimap_values(trimap, name="trimap")
    img = as_float01(image, name="image").astype(np.float32)
    check_shape(img, f"{tri.shape[0]},{tri.shape[1]},3", name="image")
    scale = check_number(scale, "scale", minimum=0, maximum=1, min_open=True)
    solver = closed_form_matting if solver is None else solver
    h, w = tri.shape
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    small_tri = downscale_trimap(tri, sh, sw)
    small = np.asarray(solver(cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA), small_tri),
                       np.float32)
    alpha = np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
    return np.where(tri == 128, alpha, (tri == 255).astype(np.float32)).astype(np.float32)


def plate_difference(photo: np.ndarray, plate: np.ndarray, *, person: np.ndarray | None = None,
                     valid: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``|photo - plate|`` per pixel, and its mean away from the person.

    A plate registered well to the photo differs from it only by noise (and
    exposure, if not corrected) wherever the person is not; a misaligned plate
    leaves the scene's edges twice, as bright lines in this map, and
    Background Matting reads those as foreground.

    Args:
        photo, plate: ``(H, W, 3)``, float in [0, 1] or uint8 (the plate already in the
            photo's frame).
        person: optional ``(H, W)`` mask of the person (bool, or float ``>= 0.5``), left out
            of the mean.
        valid: optional bool ``(H, W)``, the pixels the plate covers (``AlignResult.valid``).

    Returns:
        ``(difference, mean)``: the difference ``(H, W)`` float32 in [0, 1] (mean over RGB),
        and its mean over the scene in grey levels 0..255.

    >>> p = np.zeros((4, 4, 3), np.float32); q = p.copy(); q[0, 0] = 1.0
    >>> d, m = plate_difference(p, q); float(d[0, 0]), m
    (1.0, 15.9375)
    """
    a = as_float01(photo, name="photo").astype(np.float32)
    check_shape(a, "H,W,3", name="photo")
    b = as_float01(plate, name="plate").astype(np.float32)
    check_shape(b, f"{a.shape[0]},{a.shape[1]},3", name="plate")
    diff = np.abs(a - b).mean(axis=2)
    scene = np.ones(diff.shape, bool)
    if person is not None:
        check_shape(person, f"{a.shape[0]},{a.shape[1]}", name="person")
        scene &= ~(person if person.dtype == np.bool_ else as_float01(person, name="person") >= 0.5)
    if valid is not None:
        check_shape(valid, f"{a.shape[0]},{a.shape[1]}", name="valid")
        scene &= valid.astype(bool)
    if not scene.any():
        raise ValueError("person: covers every pixel the plate covers; nothing left to compare")
    return diff, float(diff[scene].mean() * 255)
