"""Synthetic foregrounds and backgrounds whose F and alpha are known exactly.

Matting has almost no freely licensed training data (the Adobe set of Deep
Image Matting is shared only on request). This module draws foreground layers
whose colour ``F`` and opacity ``alpha`` are known exactly, covering what makes
matting hard:

========================  ===================================================
kind                      what it draws
========================  ===================================================
``"hair"``                hundreds of long, thin, curved strands (cubic Bezier
                          curves, anti-aliased with sub-pixel coordinates),
                          several opacity layers, optionally growing from a
                          solid head
``"fur"``                 a solid body fringed by many short strands
``"motion_blur"``         solid shapes smeared along a line (premultiplied, so
                          ``F`` is the blurred colour, not the sharp one)
``"defocus"``             solid shapes blurred by a Gaussian point spread
``"transparent"``         glass, smoke or a veil: alpha well inside (0, 1) over
                          large areas
``"solid"``               opaque shapes with sharp, anti-aliased edges
``"holes"``               perforated shapes, rings and nets
``"low_contrast"``        a solid or furry object meant to be composited on a
                          background of nearly its own colour (the dataset
                          shifts the background with :func:`match_background_colour`)
========================  ===================================================

Backgrounds are procedural (smooth gradients, noise at several scales,
stripes, checks, blurred blobs) or real photos from a folder.

Reproducibility: sample ``i`` of generator ``seed`` is drawn from
``np.random.default_rng([seed, stream, i])``, so it depends on nothing else
(not on the order of calls, the worker process or the thread count).
The pixel work is either element-wise NumPy arithmetic or OpenCV operations
that have integer, bit-exact implementations (drawing with fixed-point
coordinates, ``uint16`` Gaussian blur with ``ALGO_HINT_ACCURATE``, ``uint16``
area resize and warps); OpenCV's floating-point filters are avoided because
their SIMD and scalar code paths round differently. The tests check that
samples are identical with OpenCV's optimisations switched off.

>>> gen = SyntheticForegrounds(64, seed=0)
>>> fg, alpha, kind = gen.sample(0)
>>> fg.shape, fg.dtype, alpha.shape, alpha.dtype, kind
((64, 64, 3), dtype('float32'), (64, 64), dtype('float32'), 'hair')
>>> bool(np.array_equal(alpha, gen.sample(0)[1]))
True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from .._checks import check_index, check_int, check_number, is_int

__all__ = [
    "KINDS",
    "BACKGROUND_KINDS",
    "SyntheticForegrounds",
    "SyntheticBackgrounds",
    "procedural_background",
    "match_background_colour",
]

KINDS = ("hair", "fur", "motion_blur", "defocus", "transparent", "solid", "holes", "low_contrast")
BACKGROUND_KINDS = ("gradient", "noise", "stripes", "checks", "blobs")

# Independent random streams of one seed: a foreground, a background and a
# dataset sample with the same index must not share random numbers.
STREAM_FOREGROUND = 1
STREAM_BACKGROUND = 2

_SHIFT = 4  # fractional bits of the fixed-point coordinates given to OpenCV drawing
_ONE = 1 << _SHIFT
_U16 = 65535.0


# --------------------------------------------------------------------------
# Small deterministic building blocks (also used by composition.py and bgm.py)
# --------------------------------------------------------------------------

def check_size(size: Any, *, name: str = "size") -> tuple[int, int]:
    """``size`` as ``(height, width)``: an int (square) or a pair of positive ints."""
    if is_int(size):
        size = (int(size), int(size))
    if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(map(is_int, size)):
        raise ValueError(f"{name}: expected an int or a (height, width) pair of ints, got {size!r}")
    h, w = int(size[0]), int(size[1])
    if h < 8 or w < 8:
        raise ValueError(f"{name}: expected at least 8 pixels per side, got {(h, w)}")
    return h, w


def check_seed(seed: Any, *, name: str = "seed") -> int:
    """``seed`` as an int >= 0 (NumPy integers too)."""
    return check_int(seed, name, minimum=0)


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one item: NumPy's SeedSequence hashes ``(seed, *keys)``
    the same way on every platform, so this is the same stream everywhere."""
    return np.random.default_rng([int(seed), *(int(k) for k in keys)])


def to_u16(x: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint16 fixed point (the exact-arithmetic working format).

    An array that is uint16 already is returned as it is (not copied)."""
    if x.dtype == np.uint16:
        return x
    return np.rint(x * np.float32(_U16)).astype(np.uint16)


def from_u16(x: np.ndarray) -> np.ndarray:
    """uint16 fixed point -> float32 in [0, 1]."""
    return x.astype(np.float32) / np.float32(_U16)


def resize_u16(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a uint16 image with OpenCV's area interpolation.

    Area interpolation on 16-bit data is integer arithmetic in OpenCV (its
    SIMD and scalar paths agree bit for bit), unlike bilinear on floats. It
    averages when shrinking, which keeps thin hair from aliasing.
    """
    if x.shape[:2] == (height, width):
        return x.copy()
    if x.ndim == 3 and x.shape[2] > 4:  # OpenCV resizes at most 4 channels at a time
        parts = [resize_u16(np.ascontiguousarray(x[..., i:i + 4]), height, width)
                 for i in range(0, x.shape[2], 4)]
        return np.concatenate([p if p.ndim == 3 else p[..., None] for p in parts], axis=2)
    return cv2.resize(x, (width, height), interpolation=cv2.INTER_AREA)


def gaussian_blur_u16(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a uint16 image with OpenCV's bit-exact fixed-point kernel."""
    if sigma <= 0:
        return x.copy()
    k = 2 * int(math.ceil(3.0 * sigma)) + 1
    return cv2.GaussianBlur(x, (k, k), sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT_101, hint=cv2.ALGO_HINT_ACCURATE)


def blur01(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float image in [0, 1], through uint16 so that it is bit-exact."""
    return from_u16(gaussian_blur_u16(to_u16(x), sigma))


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points, dtype=np.float64) * _ONE).astype(np.int32)


def _fill_polygons(h: int, w: int, polygons: Sequence[np.ndarray]) -> np.ndarray:
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [_fixed(p).reshape(-1, 1, 2) for p in polygons], 255, cv2.LINE_AA, _SHIFT)
    return canvas


def _strokes(h: int, w: int, curves: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Anti-aliased polylines ``curves`` (N, T, 2) on a uint8 canvas."""
    canvas = np.zeros((h, w), np.uint8)
    if len(curves):
        pts = _fixed(curves).reshape(len(curves), -1, 1, 2)
        cv2.polylines(canvas, list(pts), False, 255, thickness, cv2.LINE_AA, _SHIFT)
    return canvas


def _ellipse_ring(h: int, w: int, centre, axes, angle: float, thickness: int = -1) -> np.ndarray:
    canvas = np.zeros((h, w), np.uint8)
    c = tuple(int(v) for v in _fixed(centre))
    a = tuple(max(1, int(v)) for v in _fixed(axes))
    cv2.ellipse(canvas, c, a, float(angle), 0.0, 360.0, 255, thickness, cv2.LINE_AA, _SHIFT)
    return canvas


def _u8_to01(canvas: np.ndarray) -> np.ndarray:
    return canvas.astype(np.float32) / np.float32(255.0)


def _upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear (corner-aligned) upsampling of a small (gh, gw, C) grid, element-wise NumPy."""
    gh, gw = grid.shape[:2]
    y = np.linspace(0.0, gh - 1.0, h).astype(np.float32)
    x = np.linspace(0.0, gw - 1.0, w).astype(np.float32)
    y0 = np.minimum(y.astype(np.int64), gh - 2)
    x0 = np.minimum(x.astype(np.int64), gw - 2)
    ty = (y - y0.astype(np.float32))[:, None, None]
    tx = (x - x0.astype(np.float32))[None, :, None]
    rows = grid[y0] + (grid[y0 + 1] - grid[y0]) * ty
    step = rows[:, 1:] - rows[:, :-1]
    return rows[:, x0] + step[:, x0] * tx


def smooth_noise(h: int, w: int, rng: np.random.Generator, *, channels: int = 1,
                 octaves: Sequence[int] = (2, 4, 8), persistence: float = 0.5) -> np.ndarray:
    """Noise at several scales, float32 (H, W, C) in [0, 1] (min-max normalised)."""
    fine = max(octaves) + 1
    acc = np.zeros((fine, fine, channels), np.float32)
    amp = np.float32(1.0)
    for cells in sorted(octaves):
        grid = rng.random((cells + 1, cells + 1, channels), dtype=np.float32)
        acc += amp * _upsample(grid, fine, fine)
        amp *= np.float32(persistence)
    out = _upsample(acc, h, w)
    lo, hi = out.min(), out.max()
    return ((out - lo) / max(hi - lo, np.float32(1e-6))).astype(np.float32)


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :])


def _triangle(u: np.ndarray) -> np.ndarray:
    """A triangle wave in [0, 1] with period 1 (no transcendental functions, so exact)."""
    return np.abs(np.mod(u, np.float32(1.0)) - np.float32(0.5)) * np.float32(2.0)


def _random_colour(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    return (lo + (hi - lo) * rng.random(3)).astype(np.float32)


def _colour_field(h: int, w: int, rng: np.random.Generator, base: np.ndarray,
                  amount: float = 0.15) -> np.ndarray:
    """``base`` colour with a low-frequency variation, float32 (H, W, 3) in [0, 1]."""
    var = smooth_noise(h, w, rng, channels=3, octaves=(2, 4))
    return np.clip(base + np.float32(amount) * (var - np.float32(0.5)), 0, 1).astype(np.float32)


def _over(layers: Sequence[tuple[np.ndarray, np.ndarray]], base: np.ndarray):
    """Stack (alpha, colour) layers bottom to top with the over operator.

    Returns ``(F, alpha)`` where F is the un-premultiplied colour of the
    stack; where nothing is drawn F is ``base`` (any value is valid there).
    Each layer only touches the bounding box of its non-zero alpha, which is
    what keeps strand-heavy samples fast.
    """
    h, w = base.shape[:2]
    acc_a = np.zeros((h, w), np.float32)
    acc_p = np.zeros((h, w, 3), np.float32)
    for a, colour in layers:
        rows = np.flatnonzero(a.any(axis=1))
        if not len(rows):
            continue
        cols = np.flatnonzero(a.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        ab = a[box]
        cb = colour[box] if colour.ndim == 3 else colour
        keep = 1 - ab
        acc_p[box] *= keep[..., None]
        acc_p[box] += cb * ab[..., None]
        # 1 - (1-A)(1-a) rather than a + A(1-a): stays exactly 1 where A is 1.
        acc_a[box] = 1 - (1 - acc_a[box]) * keep
    fg = acc_p
    fg /= np.maximum(acc_a, np.float32(1e-12))[..., None]
    np.copyto(fg, base, where=(acc_a == 0)[..., None])
    np.clip(fg, 0, 1, out=fg)
    np.clip(acc_a, 0, 1, out=acc_a)
    return fg, acc_a


def _blob_polygon(rng: np.random.Generator, centre, radius: float, n: int,
                  jag: float) -> np.ndarray:
    angles = np.sort(rng.random(n)) * 2 * np.pi
    radii = radius * (1 - jag * rng.random(n))
    return np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)


def _smooth_blob(rng: np.random.Generator, centre, radius: float, points: int = 64):
    """A smooth star-shaped outline ``r(phi)`` (a few random harmonics) and its radius function."""
    k = np.arange(1, 5)
    amp = rng.normal(0, 0.12, 4) / k
    phase = rng.random(4) * 2 * np.pi

    def r_of(phi):
        phi = np.asarray(phi, dtype=np.float64)
        return radius * (1 + (amp * np.cos(np.multiply.outer(phi, k) + phase)).sum(-1))

    phi = np.linspace(0, 2 * np.pi, points, endpoint=False)
    r = r_of(phi)
    poly = np.stack([centre[0] + r * np.cos(phi), centre[1] + r * np.sin(phi)], 1)
    return poly, r_of


def _bezier(p0, p1, p2, p3, steps: int) -> np.ndarray:
    """Points of cubic Bezier curves; p* are (N, 2) arrays -> (N, steps, 2)."""
    t = np.linspace(0, 1, steps)[None, :, None]
    s = 1 - t
    return (s ** 3 * p0[:, None] + 3 * s * s * t * p1[:, None]
            + 3 * s * t * t * p2[:, None] + t ** 3 * p3[:, None])


def _shifted_mean(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean of copies of ``x`` (H, W, C) shifted by integer (dy, dx) offsets, zero outside."""
    h, w = x.shape[:2]
    pad = int(np.abs(offsets).max()) if len(offsets) else 0
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    acc = np.zeros_like(x)
    for dy, dx in offsets:
        acc += padded[pad - dy:pad - dy + h, pad - dx:pad - dx + w]
    return acc / np.float32(len(offsets))


# --------------------------------------------------------------------------
# Foregrounds
# --------------------------------------------------------------------------

def _hair(h: int, w: int, rng: np.random.Generator, *, fur: bool = False):
    s = float(min(h, w))
    hue = _random_colour(rng, 0.05, 0.95)
    base = _colour_field(h, w, rng, hue, 0.2)
    layers = []
    centre = np.array([w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)])
    if fur:
        radius = s * rng.uniform(0.18, 0.32)
        body, r_of = _smooth_blob(rng, centre, radius)
        layers.append((_u8_to01(_fill_polygons(h, w, [body])), base))
        n = int(rng.uniform(3.0, 6.0) * 2 * np.pi * radius)
        phi = rng.random(n) * 2 * np.pi
        start_r = r_of(phi) * rng.uniform(0.8, 1.0, n)
        p0 = centre + np.stack([np.cos(phi), np.sin(phi)], 1) * start_r[:, None]
        comb = rng.normal(0, 0.6)
        direction = phi + comb * 0.5 + rng.normal(0, 0.3, n)
        length = s * rng.uniform(0.03, 0.11, n)
        steps = 6
    else:
        if rng.random() < 0.6:
            head, _ = _smooth_blob(rng, centre, s * rng.uniform(0.12, 0.22))
            layers.append((_u8_to01(_fill_polygons(h, w, [head])), base))
        n = int(s * rng.uniform(0.4, 1.0))
        theta = rng.uniform(0, 2 * np.pi)
        spread = s * rng.uniform(0.15, 0.45)
        along = rng.normal(0, 0.5, n) * spread
        normal = np.array([-np.sin(theta), np.cos(theta)])
        p0 = centre + along[:, None] * normal + rng.normal(0, 0.03 * s, (n, 2))
        direction = theta + rng.normal(0, 0.25, n) + along / max(spread, 1) * rng.uniform(0, 0.5)
        length = s * rng.uniform(0.25, 0.8, n)
        steps = 14
    d = np.stack([np.cos(direction), np.sin(direction)], 1)
    perp = np.stack([-d[:, 1], d[:, 0]], 1)
    bend = rng.normal(0, 0.18, (n, 3)) * length[:, None]
    p1 = p0 + d * (length / 3)[:, None] + perp * bend[:, :1]
    p2 = p0 + d * (2 * length / 3)[:, None] + perp * bend[:, 1:2]
    p3 = p0 + d * length[:, None] + perp * bend[:, 2:3]
    curves = _bezier(p0, p1, p2, p3, steps)
    groups = rng.integers(0, 4, n)
    for g in range(4):
        chosen = curves[groups == g]
        if not len(chosen):
            continue
        opacity = np.float32(rng.uniform(0.35, 1.0))
        thickness = 2 if (g == 0 and s >= 200 and rng.random() < 0.5) else 1
        colour = np.clip(base * np.float32(rng.uniform(0.7, 1.3)), 0, 1)
        layers.append((_u8_to01(_strokes(h, w, chosen, thickness)) * opacity, colour))
    return _over(layers, base)


def _solid_shapes(h: int, w: int, rng: np.random.Generator, count: tuple[int, int] = (1, 3)):
    s = float(min(h, w))
    layers = []
    # One shared variation field tinted per shape: cheaper than a field per shape.
    var = smooth_noise(h, w, rng, channels=3, octaves=(2, 4)) - np.float32(0.5)
    base = np.clip(_random_colour(rng) + np.float32(0.2) * var, 0, 1)
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        centre = np.array([w * rng.uniform(0.25, 0.75), h * rng.uniform(0.25, 0.75)])
        radius = s * rng.uniform(0.18, 0.4)
        choice = rng.random()
        if choice < 0.35:
            poly = _blob_polygon(rng, centre, radius, int(rng.integers(3, 9)), 0.5)
            canvas = _fill_polygons(h, w, [poly])
        elif choice < 0.7:
            poly, _ = _smooth_blob(rng, centre, radius)
            canvas = _fill_polygons(h, w, [poly])
        else:
            axes = radius * rng.uniform(0.4, 1.0, 2)
            canvas = _ellipse_ring(h, w, centre, axes, rng.uniform(0, 180))
        colour = np.clip(_random_colour(rng) + np.float32(0.3) * var, 0, 1)
        if rng.random() < 0.3:  # a printed pattern, so F is not always smooth
            yy, xx = _coords(h, w)
            period = np.float32(rng.uniform(4, 0.1 * s + 5))
            stripes = _triangle((xx + yy * np.float32(rng.uniform(-1, 1))) / period)
            colour = np.clip(colour
                             * (np.float32(0.75) + np.float32(0.25) * stripes[..., None]), 0, 1)
        layers.append((_u8_to01(canvas), colour))
    return layers, base


def _solid(h, w, rng):
    layers, base = _solid_shapes(h, w, rng)
    return _over(layers, base)


def _motion_blur(h, w, rng):
    s = float(min(h, w))
    layers, base = _solid_shapes(h, w, rng, (1, 2))
    fg0, a0 = _over(layers, base)
    length = s * rng.uniform(0.02, 0.12)
    angle = rng.uniform(0, np.pi)
    k = max(2, int(length) + 1)
    t = np.linspace(-0.5, 0.5, k) * length
    offsets = np.rint(np.stack([t * np.sin(angle), t * np.cos(angle)], 1)).astype(np.int64)
    # Blur premultiplied colour and alpha together: a moving object's F is the
    # time average of its colour weighted by its coverage.
    stack = np.concatenate([fg0 * a0[..., None], a0[..., None]], axis=2)
    blurred = _shifted_mean(stack, offsets)
    alpha = np.clip(blurred[..., 3], 0, 1)
    fg = np.where(alpha[..., None] > 1e-4,
                  blurred[..., :3] / np.maximum(alpha, 1e-4)[..., None], fg0)
    return np.clip(fg, 0, 1).astype(np.float32), alpha.astype(np.float32)


def _defocus(h, w, rng):
    s = float(min(h, w))
    layers, base = _solid_shapes(h, w, rng, (1, 2))
    fg0, a0 = _over(layers, base)
    sigma = rng.uniform(0.8, 0.015 * s + 1.5)
    premult = np.concatenate([fg0 * a0[..., None], a0[..., None]], axis=2)
    blurred = blur01(premult, sigma)
    alpha = blurred[..., 3]
    fg = np.where(alpha[..., None] > 1e-3,
                  blurred[..., :3] / np.maximum(alpha, 1e-3)[..., None], fg0)
    return np.clip(fg, 0, 1).astype(np.float32), alpha.astype(np.float32)


def _transparent(h, w, rng):
    s = float(min(h, w))
    centre = np.array([w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)])
    variant = rng.integers(0, 3)
    if variant == 0:  # veil: a large soft sheet with folds
        poly, _ = _smooth_blob(rng, centre, s * rng.uniform(0.3, 0.45))
        region = blur01(_u8_to01(_fill_polygons(h, w, [poly])), rng.uniform(0.5, 3.0))
        yy, xx = _coords(h, w)
        slant = np.float32(rng.uniform(-1, 1))
        folds = _triangle((xx * slant + yy) / np.float32(rng.uniform(8, 0.2 * s + 9)))
        level = np.float32(rng.uniform(0.25, 0.7))
        vary = smooth_noise(h, w, rng, octaves=(2, 4))[..., 0]
        fold_gain = np.float32(0.75) + np.float32(0.25) * folds
        alpha = region * level * fold_gain * (np.float32(0.8) + np.float32(0.4) * vary)
        layers = [(np.clip(alpha, 0, 1),
                   _colour_field(h, w, rng, _random_colour(rng, 0.4, 1.0), 0.15))]
    elif variant == 1:  # smoke: thresholded multi-scale noise inside a soft envelope
        n = smooth_noise(h, w, rng, octaves=(2, 4, 8, 16))[..., 0]
        t = np.float32(rng.uniform(0.2, 0.5))
        density = np.clip((n - t) / (1 - t), 0, 1)
        yy, xx = _coords(h, w)
        ay, ax = s * rng.uniform(0.25, 0.45, 2)
        dx = (xx - np.float32(centre[0])) / np.float32(ax)
        dy = (yy - np.float32(centre[1])) / np.float32(ay)
        d = dx ** 2 + dy ** 2
        envelope = np.clip((np.float32(1.3) - d) / np.float32(0.8), 0, 1)
        alpha = np.clip(density * envelope * np.float32(rng.uniform(0.4, 0.9)), 0, 1)
        grey = np.float32(rng.uniform(0.5, 0.95))
        layers = [(alpha, _colour_field(h, w, rng, np.full(3, grey, np.float32), 0.1))]
    else:  # glass: a faint body, a stronger rim and a bright highlight
        axes = s * rng.uniform(0.15, 0.35, 2)
        angle = rng.uniform(0, 180)
        tint = _random_colour(rng, 0.5, 1.0)
        body = _u8_to01(_ellipse_ring(h, w, centre, axes, angle))
        body = body * np.float32(rng.uniform(0.08, 0.35))
        rim_t = max(1, int(s * rng.uniform(0.005, 0.02)))
        rim = _u8_to01(_ellipse_ring(h, w, centre, axes, angle, rim_t))
        rim = rim * np.float32(rng.uniform(0.5, 0.9))
        arc = np.linspace(rng.uniform(0, np.pi), 0, 8)
        arc_points = np.stack([np.cos(arc) * axes[0] * 0.7, -np.sin(arc) * axes[1] * 0.7], 1)
        hl = (centre + arc_points)[None]
        highlight = blur01(_u8_to01(_strokes(h, w, hl, max(1, rim_t))), 0.7)
        highlight = highlight * np.float32(rng.uniform(0.6, 1.0))
        white = np.ones((h, w, 3), np.float32)
        layers = [(body, np.broadcast_to(tint, (h, w, 3))),
                  (rim, np.broadcast_to(tint * np.float32(0.6), (h, w, 3))),
                  (highlight, white)]
    return _over(layers, _colour_field(h, w, rng, _random_colour(rng), 0.1))


def _holes(h, w, rng):
    s = float(min(h, w))
    centre = np.array([w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)])
    poly, _ = _smooth_blob(rng, centre, s * rng.uniform(0.25, 0.42))
    region = _u8_to01(_fill_polygons(h, w, [poly]))
    variant = rng.integers(0, 3)
    if variant == 0:  # perforated: many round holes
        n = int(rng.integers(3, 25))
        holes = np.zeros((h, w), np.uint8)
        for _ in range(n):
            c = centre + rng.normal(0, 0.2 * s, 2)
            r = s * rng.uniform(0.015, 0.07)
            ring = _ellipse_ring(h, w, c, (r, r * rng.uniform(0.6, 1.0)), rng.uniform(0, 180))
            holes = np.maximum(holes, ring)
        alpha = region * (1 - _u8_to01(holes))
    elif variant == 1:  # ring
        inner = _ellipse_ring(h, w, centre, s * rng.uniform(0.06, 0.18, 2), rng.uniform(0, 180))
        alpha = region * (1 - _u8_to01(inner))
    else:  # net: a grid of thin threads clipped to the region
        spacing = s * rng.uniform(0.03, 0.08)
        theta = rng.uniform(0, np.pi / 2)
        d = np.array([np.cos(theta), np.sin(theta)])
        p = np.array([-d[1], d[0]])
        k = np.arange(-int(s / spacing) - 2, int(s / spacing) + 3)
        lines = []
        for u, v in ((d, p), (p, d)):
            origin = centre + np.multiply.outer(k * spacing, v)
            lines.append(np.stack([origin - 2 * s * u, origin + 2 * s * u], 1))
        thread = max(1, int(rng.integers(1, 4) * s / 320))
        alpha = region * _u8_to01(_strokes(h, w, np.concatenate(lines), thread))
    colour = _colour_field(h, w, rng, _random_colour(rng), 0.25)
    return _over([(alpha.astype(np.float32), colour)], colour)


_DRAW = {
    "hair": lambda h, w, rng: _hair(h, w, rng),
    "fur": lambda h, w, rng: _hair(h, w, rng, fur=True),
    "motion_blur": _motion_blur,
    "defocus": _defocus,
    "transparent": _transparent,
    "solid": _solid,
    "holes": _holes,
    "low_contrast": lambda h, w, rng: (_hair(h, w, rng, fur=True) if rng.random() < 0.5
                                       else _solid(h, w, rng)),
}


def _check_kinds(kinds: Any, known: Sequence[str], *, name: str = "kinds") -> tuple[str, ...]:
    if isinstance(kinds, str) or not isinstance(kinds, (tuple, list)) or not kinds:
        raise ValueError(f"{name}: expected a non-empty tuple of names from {list(known)}, "
                         f"got {kinds!r}")
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise ValueError(f"{name}: unknown kinds {unknown}; known: {list(known)}")
    return tuple(kinds)


class SyntheticForegrounds:
    """An index-addressable source of synthetic foregrounds with exact F and alpha.

    Sample ``i`` depends only on ``(seed, i)``; its kind is
    ``kinds[i % len(kinds)]``, so every kind is equally frequent.

    Args:
        size: ``int`` or ``(height, width)`` of the generated layers.
        seed: non-negative int.
        kinds: which kinds to draw, a subset of :data:`KINDS`.
        length: the nominal number of foregrounds (``len()``); ``sample`` accepts
            any non-negative index.

    A 320x320 sample takes a few milliseconds to about 20 ms on one CPU core.

    >>> gen = SyntheticForegrounds((48, 64), seed=3, kinds=("transparent",))
    >>> fg, alpha, kind = gen.sample(5)
    >>> fg.shape, kind, bool(0 <= alpha.min() and alpha.max() <= 1)
    ((48, 64, 3), 'transparent', True)
    """

    def __init__(self, size, seed: int = 0, *, kinds: Sequence[str] = KINDS, length: int = 10_000):
        self.height, self.width = check_size(size)
        self.seed = check_seed(seed)
        self.kinds = _check_kinds(kinds, KINDS)
        self.length = check_int(length, "length", minimum=1)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """Foreground ``index``.

        Returns:
            ``(fg, alpha, kind)``: fg float32 ``(H, W, 3)`` in [0, 1], alpha
            float32 ``(H, W)`` in [0, 1], and the kind's name.
        """
        index = check_int(index, "index", minimum=0)
        kind = self.kinds[int(index) % len(self.kinds)]
        rng = rng_for(self.seed, STREAM_FOREGROUND, index)
        fg, alpha = _DRAW[kind](self.height, self.width, rng)
        return fg, alpha, kind

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, str]:
        """``sample(index)`` for ``index`` in ``[0, len)``; ``IndexError`` past the end, so
        that ``for fg, alpha, kind in source`` stops after ``len(source)`` items."""
        return self.sample(check_index(index, len(self)))


# --------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------

def _bg_gradient(h, w, rng):
    yy, xx = _coords(h, w)
    c0, c1 = _random_colour(rng), _random_colour(rng)
    if rng.random() < 0.5:
        theta = rng.uniform(0, 2 * np.pi)
        u = xx * np.float32(np.cos(theta)) + yy * np.float32(np.sin(theta))
    else:
        cy, cx = np.float32(h * rng.random()), np.float32(w * rng.random())
        u = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    u = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    return c0 + (c1 - c0) * u[..., None].astype(np.float32)


def _bg_noise(h, w, rng):
    octaves = tuple(int(o)
                    for o in rng.choice([2, 3, 4, 6, 8, 12, 16, 24, 32], size=3, replace=False))
    n = smooth_noise(h, w, rng, channels=3, octaves=octaves, persistence=rng.uniform(0.4, 0.8))
    c0 = _random_colour(rng)
    return np.clip(c0 + np.float32(rng.uniform(0.3, 1.0)) * (n - np.float32(0.5)), 0, 1)


def _soft_wave(u: np.ndarray, softness: float) -> np.ndarray:
    return np.clip((_triangle(u) - np.float32(0.5)) / np.float32(max(softness, 1e-3))
                   + np.float32(0.5), 0, 1)


def _bg_stripes(h, w, rng, checks: bool = False):
    s = float(min(h, w))
    yy, xx = _coords(h, w)
    theta = rng.uniform(0, np.pi)
    ct, st = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    period = np.float32(rng.uniform(4, 0.3 * s + 5))
    soft = rng.uniform(0.02, 0.6)
    m = _soft_wave((xx * ct + yy * st) / period, soft)
    if checks:
        m2 = _soft_wave((-xx * st + yy * ct) / period, soft)
        m = m * m2 + (1 - m) * (1 - m2)
    c0, c1 = _random_colour(rng), _random_colour(rng)
    return c0 + (c1 - c0) * m[..., None]


def _bg_blobs(h, w, rng):
    s = float(min(h, w))
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = np.rint(_random_colour(rng) * 255).astype(np.uint8)
    for _ in range(int(rng.integers(5, 30))):
        c = tuple(int(v) for v in _fixed([w * rng.random(), h * rng.random()]))
        axes = tuple(max(1, int(v)) for v in _fixed(s * rng.uniform(0.02, 0.25, 2)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.ellipse(canvas, c, axes, float(rng.uniform(0, 180)), 0.0, 360.0, colour,
                    -1, cv2.LINE_AA, _SHIFT)
    img = canvas.astype(np.uint16) * np.uint16(257)
    return from_u16(gaussian_blur_u16(img, rng.uniform(0, 0.04 * s)))


_BACKGROUNDS = {
    "gradient": _bg_gradient,
    "noise": _bg_noise,
    "stripes": _bg_stripes,
    "checks": lambda h, w, rng: _bg_stripes(h, w, rng, checks=True),
    "blobs": _bg_blobs,
}


def procedural_background(size, rng: np.random.Generator, *,
                          kinds: Sequence[str] = BACKGROUND_KINDS) -> np.ndarray:
    """A random procedural background texture.

    One or two textures from ``kinds`` (smooth gradients, noise at several
    scales, stripes, checks, blurred blobs), blended through a smooth random
    mask when two, plus faint sensor-like grain.

    Args:
        size: ``int`` or ``(height, width)``.
        rng: ``np.random.Generator``; the same state gives the same texture.
        kinds: the textures to choose from, a subset of :data:`BACKGROUND_KINDS`.

    Returns:
        float32 ``(H, W, 3)`` in [0, 1].

    >>> bg = procedural_background(32, np.random.default_rng(0))
    >>> bg.shape, bg.dtype, bool(bg.min() >= 0 and bg.max() <= 1)
    ((32, 32, 3), dtype('float32'), True)
    """
    h, w = check_size(size)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    kinds = _check_kinds(kinds, BACKGROUND_KINDS)
    first = kinds[int(rng.integers(len(kinds)))]
    bg = _BACKGROUNDS[first](h, w, rng).astype(np.float32)
    if len(kinds) > 1 and rng.random() < 0.5:
        second = kinds[int(rng.integers(len(kinds)))]
        other = _BACKGROUNDS[second](h, w, rng).astype(np.float32)
        mask = smooth_noise(h, w, rng, octaves=(2, 3))
        bg = bg * (1 - mask) + other * mask
    grain = rng.uniform(0.0, 0.03)
    if grain > 0.005:
        bg = bg + np.float32(grain) * rng.standard_normal(bg.shape, dtype=np.float32)
    return np.clip(bg, 0, 1).astype(np.float32)


def random_crop_resize(image: np.ndarray, height: int, width: int, rng: np.random.Generator,
                       *, min_fraction: float = 0.5) -> np.ndarray:
    """A random crop with the target aspect ratio (covering at least ``min_fraction``
    of the shorter fitting side) resized to ``(height, width)``; uint8 or uint16 in, same out."""
    ih, iw = image.shape[:2]
    scale = min(ih / height, iw / width) * rng.uniform(min_fraction, 1.0)
    ch, cw = max(1, min(ih, int(round(height * scale)))), max(1, min(iw, int(round(width * scale))))
    y = int(rng.integers(0, ih - ch + 1))
    x = int(rng.integers(0, iw - cw + 1))
    crop = image[y:y + ch, x:x + cw]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


class SyntheticBackgrounds:
    """An index-addressable source of backgrounds: procedural, or photos from a folder.

    Background ``i`` depends only on ``(seed, i)``.

    Args:
        size: ``int`` or ``(height, width)``.
        seed: non-negative int.
        kinds: procedural textures to use (see :func:`procedural_background`).
        photos: a folder of photos (or a :class:`~mattinglib.data.folders.FolderBackgrounds`);
            when given, a fraction ``photo_fraction`` of the backgrounds are random
            crops of these photos (unreadable files are skipped and reported).
        photo_fraction: share of photo backgrounds when ``photos`` is given.
        length: the nominal number of backgrounds (``len()``).

    >>> bgs = SyntheticBackgrounds(32, seed=1)
    >>> bg, tag = bgs.sample(7)
    >>> bg.shape, tag
    ((32, 32, 3), 'procedural')
    """

    def __init__(self, size, seed: int = 0, *, kinds: Sequence[str] = BACKGROUND_KINDS,
                 photos=None, photo_fraction: float = 0.5, length: int = 100_000):
        from .folders import FolderBackgrounds

        self.height, self.width = check_size(size)
        self.seed = check_seed(seed)
        self.kinds = _check_kinds(kinds, BACKGROUND_KINDS)
        self.photo_fraction = check_number(photo_fraction, "photo_fraction", minimum=0, maximum=1)
        if photos is not None and not isinstance(photos, FolderBackgrounds):
            photos = FolderBackgrounds(Path(photos))
        self.photos = photos
        self.length = check_int(length, "length", minimum=1)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> tuple[np.ndarray, str]:
        """Background ``index``: ``(float32 (H, W, 3) in [0, 1], tag)``, the tag
        ``"procedural"`` or the photo's file name."""
        index = check_int(index, "index", minimum=0)
        rng = rng_for(self.seed, STREAM_BACKGROUND, index)
        if self.photos is not None and rng.random() < self.photo_fraction:
            photo, name = self.photos.sample_uint8(int(rng.integers(len(self.photos))))
            crop = random_crop_resize(photo, self.height, self.width, rng)
            return crop.astype(np.float32) / np.float32(255.0), name
        return procedural_background((self.height, self.width), rng, kinds=self.kinds), "procedural"

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        """``sample(index)`` for ``index`` in ``[0, len)``; ``IndexError`` past the end
        (the sequence protocol: a ``for`` loop stops after ``len(source)`` items)."""
        return self.sample(check_index(index, len(self)))


def match_background_colour(bg: np.ndarray, fg: np.ndarray, alpha: np.ndarray,
                            rng: np.random.Generator, *, max_offset: float = 0.08) -> np.ndarray:
    """Shift a background's colours towards the foreground's (a camouflage composite).

    The background keeps its texture, but its mean colour behind the object
    becomes the object's mean colour plus a small random offset (at most
    ``max_offset`` per channel), so foreground and background are hard to tell
    apart by colour alone. The result is clipped to [0, 1] (it is a new,
    generated background, not a modified input).

    Args:
        bg: float32 ``(H, W, 3)`` in [0, 1]. fg: float32 ``(H, W, 3)`` in [0, 1].
        alpha: float32 ``(H, W)`` in [0, 1]. rng: the random generator.

    Returns:
        float32 ``(H, W, 3)`` in [0, 1].
    """
    weight = alpha[..., None]
    total = max(float(alpha.sum()), 1e-6)
    fg_mean = (fg * weight).sum((0, 1)) / total
    bg_mean = (bg * weight).sum((0, 1)) / total
    offset = rng.uniform(-max_offset, max_offset, 3)
    shift = (fg_mean + offset - bg_mean).astype(np.float32)
    return np.clip(bg + shift, 0, 1).astype(np.float32)
