"""Background Matting training samples finished batched on the training device.

:class:`~mattinglib.data.bgm.BGMCompositeDataset` with ``augment_on="device"``
leaves only the cheap part of a sample to the data-loader worker: reading the
sources, resizing them to the working size, the flip and every random draw
(:meth:`~mattinglib.data.bgm.BGMCompositeDataset.device_sample`). The per-pixel
work (trimap, captured plate, fake segmentation, motion cue, crop and resize)
runs here, on a collated batch already moved to the device (CUDA on a GPU
machine, the CPU in tests), as batched torch operations:

>>> from torch.utils.data import default_collate
>>> from mattinglib.data.bgm import BGMSyntheticDataset
>>> ds = BGMSyntheticDataset(2, 32, seed=0, augment_on="device")
>>> out = augment_bgm_batch(default_collate([ds[0], ds[1]]), size=32)
>>> [(k, out[k].shape[1]) for k in sorted(out)]
[('alpha', 1), ('bg', 3), ('bg_gt', 3), ('fg', 3), ('image', 3), ('multi_fr', 4), ('seg', 1)]
>>> tuple(out["image"].shape)
(2, 3, 32, 32)

Sample ``i`` of the two paths shares the working-size sources and the flip
(the first draw of the same stream); the other draws come from the same
stream in another order (documented in ``device_sample``), so they differ
between the paths, and follow the same distributions. Given the same
parameters, each step matches the worker path:

* exactly: the trimap (:func:`trimap_batch` equals
  :func:`mattinglib.trimap.trimap_from_alpha`), the binary erosion and
  dilation of the segmentation (max-pooling over the ellipse's rows and
  columns, OpenCV's border convention), the hole squares, the crop box
  (:func:`crop_origins` equals :func:`~mattinglib.data.composition.crop_box`
  at the ``floor(u * count)``-th unknown pixel);
* to float rounding: the gamma plate; the motion warps (``grid_sample``
  against the worker's NumPy bilinear warp; its float32 sampling grid is
  rounded: about 1e-5 at 64 px and 1e-4 at 800 px on a layer of random
  values, less on photos); the segmentation blur (a float Gaussian against
  OpenCV's 8-bit fixed-point one, both rounded to 1/255: at most one grey
  level apart); the crop resize (OpenCV's area weights as a float32 matrix
  product against OpenCV's 16-bit area resize: about 1e-5, or about 1e-3
  where TF32 matrix products are switched on; PyTorch leaves them off);
* in distribution only: the Gaussian noise of the plate and of the motion
  frames (a ``torch.Generator`` per sample seeded with the drawn seed, in
  place of NumPy's stream; the CPU and CUDA generators give different
  numbers for one seed), and which pixel the holes and the crop centre pick
  (the worker draws an index after its noise images, the device path a
  uniform number up front).

One generator per sample keeps each sample's noise independent of the batch
it lands in.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import InputTypeError, check_int
from .bgm import DEVICE_PARAM_KEYS, to_bgm_range

__all__ = [
    "augment_bgm_batch",
    "dilate_ellipse",
    "erode_ellipse",
    "trimap_batch",
    "captured_plate_batch",
    "fake_segmentation_batch",
    "warp_affine_batch",
    "motion_cue_batch",
    "crop_origins",
    "area_weights",
    "resize_crops",
]

_U16 = 65535.0
_GREY = (0.299, 0.587, 0.114)
# Per key: the shape after the batch dimension and the dtype kind ("f" float, "i" int, "b" bool).
_PARAM_SPECS = {
    "plate_noise": ((), "b"), "plate_sigma": ((), "f"), "plate_mean": ((), "f"),
    "plate_gamma": ((), "f"), "plate_seed": ((), "i"),
    "seg_erode": ((), "i"), "seg_dilate": ((), "i"), "seg_holes": ((), "i"),
    "seg_hole_sides": ((2,), "i"), "seg_hole_u": ((2,), "f"), "seg_blur": ((), "i"),
    "motion_matrices": ((4, 2, 3), "f"), "motion_sigma": ((4,), "f"), "motion_mean": ((4,), "f"),
    "motion_seed": ((), "i"), "crop_side": ((), "i"), "crop_u": ((), "f"),
}
_KIND_NAMES = {"f": "a float", "i": "an integer", "b": "a bool"}


def _kind(t: torch.Tensor) -> str:
    if t.dtype == torch.bool:
        return "b"
    return "f" if t.dtype.is_floating_point else "i"


def _check_batch(batch: Any) -> tuple[int, int]:
    """Reject anything that is not a collated :meth:`device_sample` batch; return ``(B, N)``."""
    if not isinstance(batch, Mapping):
        raise InputTypeError(f"batch: expected a dict of tensors, got {type(batch).__name__}")
    missing = [k for k in DEVICE_PARAM_KEYS if k not in batch]
    if missing:
        raise ValueError(f"batch: missing keys {missing} (expected a collated "
                         "BGMCompositeDataset(augment_on='device') batch)")
    stack = batch["stack"]
    if not isinstance(stack, torch.Tensor) or stack.dtype != torch.uint16:
        got = stack.dtype if isinstance(stack, torch.Tensor) else type(stack).__name__
        raise InputTypeError(f"batch['stack']: expected a torch.uint16 tensor, got {got}")
    square = stack.ndim == 4 and stack.shape[1] == 7 and stack.shape[2] == stack.shape[3]
    if not square or stack.shape[2] < 16:
        raise ValueError(f"batch['stack']: expected shape (B, 7, N, N) with N >= 16, "
                         f"got {tuple(stack.shape)}")
    b = stack.shape[0]
    for key, (shape, kind) in _PARAM_SPECS.items():
        t = batch[key]
        if not isinstance(t, torch.Tensor):
            raise InputTypeError(f"batch[{key!r}]: expected a tensor, got {type(t).__name__}")
        if _kind(t) != kind:
            raise InputTypeError(f"batch[{key!r}]: expected {_KIND_NAMES[kind]} tensor, "
                                 f"got {t.dtype}")
        if tuple(t.shape) != (b, *shape):
            raise ValueError(f"batch[{key!r}]: expected shape {(b, *shape)}, got {tuple(t.shape)}")
        if t.device != stack.device:
            raise ValueError(f"batch[{key!r}]: on {t.device}, expected the stack's device "
                             f"{stack.device}")
    return b, stack.shape[2]


# --- binary morphology ------------------------------------------------------------------


def _pool(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    return F.max_pool2d(x, (kh, kw), stride=1, padding=(kh // 2, kw // 2))


def _dilate_once(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    # OpenCV's 3x3 ellipse is a cross; its 5x5 ellipse is rows -1..1 full width plus
    # the centre column. max_pool2d pads with -inf, which is OpenCV's default border
    # for morphology: pixels outside the image never win.
    if kernel_size == 3:
        return torch.maximum(_pool(x, 1, 3), _pool(x, 3, 1))
    return torch.maximum(_pool(x, 3, 5), _pool(x, 5, 1))


def _iterate(x: torch.Tensor, counts: torch.Tensor | int, step) -> torch.Tensor:
    if isinstance(counts, int):
        for _ in range(counts):
            x = step(x)
        return x
    if not counts.numel():
        return x
    low, high = (int(v) for v in torch.aminmax(counts))
    counts = counts.view(-1, 1, 1, 1)
    for t in range(high):  # every sample takes the first ``low`` steps
        x = step(x) if t < low else torch.where(counts > t, step(x), x)
    return x


def _mask_dtype(device: torch.device) -> torch.dtype:
    # 0 and 1 are exact in half precision, which halves the memory traffic of the
    # morphology on a GPU; CPU kernels are faster in float32.
    return torch.float16 if device.type == "cuda" else torch.float32


def _check_mask(mask: Any, kernel_size: Any) -> None:
    if not isinstance(mask, torch.Tensor) or not mask.dtype.is_floating_point or mask.ndim != 4:
        what = getattr(mask, "dtype", type(mask).__name__)
        raise ValueError(f"mask: expected a float tensor (B, C, H, W), got {what} "
                         f"{tuple(getattr(mask, 'shape', ()))}")
    if kernel_size not in (3, 5):
        raise ValueError(f"kernel_size: expected 3 or 5, got {kernel_size!r}")


def dilate_ellipse(mask: torch.Tensor, iterations: torch.Tensor | int, *,
                   kernel_size: int = 5) -> torch.Tensor:
    """Binary dilation by OpenCV's ``kernel_size`` ellipse, like ``cv2.dilate`` with ``iterations``.

    Args:
        mask: float ``(B, C, H, W)`` in {0, 1}.
        iterations: an int, or int64 ``(B,)``: one count per sample.
        kernel_size: 3 or 5.

    Returns:
        float ``(B, C, H, W)`` in {0, 1}.

    >>> m = torch.zeros(1, 1, 5, 7); m[0, 0, 2, 3] = 1
    >>> print(dilate_ellipse(m, 1)[0, 0].int().numpy())
    [[0 0 0 1 0 0 0]
     [0 1 1 1 1 1 0]
     [0 1 1 1 1 1 0]
     [0 1 1 1 1 1 0]
     [0 0 0 1 0 0 0]]
    """
    _check_mask(mask, kernel_size)
    return _iterate(mask, iterations, lambda x: _dilate_once(x, kernel_size))


def erode_ellipse(mask: torch.Tensor, iterations: torch.Tensor | int, *,
                  kernel_size: int = 5) -> torch.Tensor:
    """Binary erosion by OpenCV's ``kernel_size`` ellipse, like ``cv2.erode`` with ``iterations``.

    Outside the image counts as set (OpenCV's default border), so a mask that
    touches the border is not eroded from there.

    Args:
        mask: float ``(B, C, H, W)`` in {0, 1}.
        iterations: an int, or int64 ``(B,)``: one count per sample.
        kernel_size: 3 or 5.

    Returns:
        float ``(B, C, H, W)`` in {0, 1}.
    """
    _check_mask(mask, kernel_size)
    return _iterate(mask, iterations, lambda x: 1 - _dilate_once(1 - x, kernel_size))


def trimap_batch(alpha: torch.Tensor, *, iterations: int = 5) -> torch.Tensor:
    """Trimaps as :func:`mattinglib.trimap.trimap_from_alpha` makes them (3x3 ellipse, 5 times).

    Args:
        alpha: float ``(B, 1, H, W)`` in [0, 1].
        iterations: dilations of ``alpha > 0`` and erosions of ``alpha == 1``.

    Returns:
        uint8 ``(B, 1, H, W)`` in {0, 128, 255}.
    """
    dtype = _mask_dtype(alpha.device)
    grown = dilate_ellipse((alpha > 0).to(dtype), iterations, kernel_size=3) > 0
    core = erode_ellipse((alpha == 1).to(dtype), iterations, kernel_size=3) > 0
    trimap = torch.zeros(alpha.shape, dtype=torch.uint8, device=alpha.device)
    trimap[grown] = 128
    trimap[core] = 255
    return trimap


# --- captured plate ----------------------------------------------------------------------


def _normal(seed: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return torch.randn(shape, generator=generator, device=device, dtype=torch.float32)


def captured_plate_batch(bg: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor,
                         mean: torch.Tensor, gamma: torch.Tensor,
                         seed: torch.Tensor) -> torch.Tensor:
    """The captured background plate, as :func:`~mattinglib.data.bgm.simulate_captured_background`.

    Where ``noise``: ``clip(bg + (mean + sigma z) / 255, 0, 1)`` with ``z`` standard
    normal from a generator seeded with ``seed``; elsewhere ``bg ** gamma``.

    Args:
        bg: float32 ``(B, 3, H, W)`` in [0, 1].
        noise: bool ``(B,)``; sigma, mean (grey levels of 255), gamma: float ``(B,)``;
        seed: int64 ``(B,)``.

    Returns:
        float32 ``(B, 3, H, W)`` in [0, 1].
    """
    out = bg.pow(gamma.to(bg.dtype).view(-1, 1, 1, 1))
    seeds = seed.tolist()  # one transfer, not one per sample
    for b in torch.nonzero(noise).flatten().tolist():
        z = _normal(seeds[b], tuple(bg.shape[1:]), bg.device)
        shift = (mean[b].to(bg.dtype) + sigma[b].to(bg.dtype) * z) / 255.0
        out[b] = torch.clamp(bg[b] + shift, 0, 1)
    return out


# --- fake segmentation -------------------------------------------------------------------


def _kth_set_pixel(mask: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Flat index of the ``floor(u * count)``-th set pixel of each ``(B, N)`` row in raster order.

    Rows without a set pixel get ``floor(u * N)`` (any pixel). ``u``: float ``(B,)`` in [0, 1).
    """
    count = mask.sum(1)
    cumulative = mask.to(torch.int64).cumsum(1)
    k = torch.floor(u.to(torch.float64) * count).to(torch.int64)
    k = torch.minimum(k, (count - 1).clamp(min=0))
    picked = torch.searchsorted(cumulative, (k + 1).view(-1, 1)).flatten()
    anywhere = torch.floor(u.to(torch.float64) * mask.shape[1]).to(torch.int64)
    anywhere = anywhere.clamp(max=mask.shape[1] - 1)
    return torch.where(count > 0, picked, anywhere)


def _holes(mask: torch.Tensor, holes: torch.Tensor, sides: torch.Tensor,
           us: torch.Tensor) -> torch.Tensor:
    b, _, h, w = mask.shape
    flat = mask.flatten(1) > 0
    present = flat.any(1)
    rows = torch.arange(h, device=mask.device).view(1, h)
    cols = torch.arange(w, device=mask.device).view(1, w)
    keep = torch.ones_like(mask, dtype=torch.bool)
    for i in range(sides.shape[1]):
        # Every hole picks among the pixels of the mask before any hole, as the worker does.
        centre = _kth_set_pixel(flat, us[:, i])
        cy, cx = torch.div(centre, w, rounding_mode="floor"), centre % w
        side = sides[:, i]
        y0 = (cy - torch.div(side, 2, rounding_mode="floor")).view(b, 1)
        x0 = (cx - torch.div(side, 2, rounding_mode="floor")).view(b, 1)
        inside = (((rows >= y0) & (rows < y0 + side.view(b, 1))).view(b, h, 1)
                  & ((cols >= x0) & (cols < x0 + side.view(b, 1))).view(b, 1, w))
        active = (present & (holes > i)).view(b, 1, 1)
        keep &= ~(inside & active).view(b, 1, h, w)
    return mask * keep


def _gaussian_kernels(sizes: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, int]:
    """Normalised 1-D Gaussians ``(B, K)`` of odd sizes, centred, zero-padded to the largest."""
    ks = sizes.to(torch.float64)
    big = int(sizes.max())
    sigma = 0.3 * ((ks - 1) * 0.5 - 1) + 0.8
    x = torch.arange(big, device=device, dtype=torch.float64) - big // 2
    weights = torch.exp(-(x ** 2) / (2 * sigma.view(-1, 1) ** 2))
    weights = weights * (x.abs().view(1, -1) <= (ks.view(-1, 1) - 1) / 2)
    return (weights / weights.sum(1, keepdim=True)).to(torch.float32), big


def gaussian_blur_batch(x: torch.Tensor, kernel_sizes: torch.Tensor) -> torch.Tensor:
    """Gaussian blur of each ``(1, H, W)`` sample by its own odd kernel, OpenCV's sigma and border.

    ``sigma = 0.3 ((k - 1) / 2 - 1) + 0.8`` and reflect-101 border, as
    :func:`~mattinglib.data.bgm.fake_segmentation` passes them to ``cv2.GaussianBlur``.

    Args:
        x: float32 ``(B, 1, H, W)``.
        kernel_sizes: int64 ``(B,)``, odd, each below ``2 min(H, W)``.

    Returns:
        float32 ``(B, 1, H, W)``.
    """
    b, _, h, w = x.shape
    weights, big = _gaussian_kernels(kernel_sizes, x.device)
    pad = big // 2
    y = F.pad(x.reshape(1, b, h, w), (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, weights.view(b, 1, big, 1), groups=b)
    y = F.conv2d(y, weights.view(b, 1, 1, big), groups=b)
    return y.view(b, 1, h, w)


def fake_segmentation_batch(alpha: torch.Tensor, erode: torch.Tensor, dilate: torch.Tensor,
                            holes: torch.Tensor, hole_sides: torch.Tensor, hole_u: torch.Tensor,
                            blur: torch.Tensor) -> torch.Tensor:
    """Coarse blurred person masks, as :func:`~mattinglib.data.bgm.fake_segmentation`.

    ``alpha > 0.5`` eroded ``erode`` and dilated ``dilate`` times by the 5x5
    ellipse, up to two square holes (side ``hole_sides``, centred on the
    ``floor(u * count)``-th mask pixel in raster order), blurred with a ``blur``
    px Gaussian and rounded to 1/255 like the worker's 8-bit mask.

    Args:
        alpha: float32 ``(B, 1, H, W)`` in [0, 1].
        erode, dilate, holes, blur: int64 ``(B,)``; hole_sides: int64 ``(B, 2)``;
        hole_u: float ``(B, 2)`` in [0, 1).

    Returns:
        float32 ``(B, 1, H, W)`` in [0, 1].
    """
    mask = (alpha > 0.5).to(_mask_dtype(alpha.device))
    mask = dilate_ellipse(erode_ellipse(mask, erode), dilate)
    mask = _holes(mask, holes, hole_sides, hole_u).to(torch.float32)
    return torch.round(gaussian_blur_batch(mask, blur).clamp(0, 1) * 255) / 255


# --- motion cue --------------------------------------------------------------------------


def _invert_affine(m: torch.Tensor) -> torch.Tensor:
    """Inverse of forward 2x3 maps ``(..., 2, 3)`` in float64, as ``cv2.invertAffineTransform``."""
    m = m.to(torch.float64)
    d = m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
    d = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    a11, a22 = m[..., 1, 1] * d, m[..., 0, 0] * d
    a12, a21 = -m[..., 0, 1] * d, -m[..., 1, 0] * d
    b1 = -a11 * m[..., 0, 2] - a12 * m[..., 1, 2]
    b2 = -a21 * m[..., 0, 2] - a22 * m[..., 1, 2]
    return torch.stack([torch.stack([a11, a12, b1], -1), torch.stack([a21, a22, b2], -1)], -2)


def warp_affine_batch(layer: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Bilinear warp of each sample by its forward 2x3 affine map, zero outside.

    The convention of the worker's ``_warp_affine``: output pixel ``(x, y)``
    reads the layer at the inverse map of ``(x, y)`` (pixel centres at integer
    coordinates), bilinearly, with zeros beyond the edge (``grid_sample`` with
    ``align_corners=True`` and zero padding).

    Args:
        layer: float32 ``(B, C, H, W)``.
        matrices: float ``(B, 2, 3)``, forward maps in pixels (float64 is best).

    Returns:
        float32 ``(B, C, H, W)``.
    """
    b, _, h, w = layer.shape
    inverse = _invert_affine(matrices).to(torch.float32).view(b, 2, 3, 1, 1)
    yy, xx = torch.meshgrid(torch.arange(h, device=layer.device, dtype=torch.float32),
                            torch.arange(w, device=layer.device, dtype=torch.float32),
                            indexing="ij")
    sx = inverse[:, 0, 0] * xx + inverse[:, 0, 1] * yy + inverse[:, 0, 2]
    sy = inverse[:, 1, 0] * xx + inverse[:, 1, 1] * yy + inverse[:, 1, 2]
    grid = torch.stack([sx * (2.0 / (w - 1)) - 1, sy * (2.0 / (h - 1)) - 1], dim=-1)
    return F.grid_sample(layer, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _grey(rgb: torch.Tensor, dim: int) -> torch.Tensor:
    r, g, b = rgb.unbind(dim)
    return r * _GREY[0] + g * _GREY[1] + b * _GREY[2]


def motion_cue_batch(fg: torch.Tensor, alpha: torch.Tensor, bg: torch.Tensor,
                     matrices: torch.Tensor, sigma: torch.Tensor, mean: torch.Tensor,
                     seed: torch.Tensor) -> torch.Tensor:
    """Simulated neighbouring grey frames, as :func:`~mattinglib.data.bgm.motion_cue`.

    Frame ``f``: ``grey(fg)`` and alpha warped by ``matrices[:, f]`` and composed
    over ``grey(clip(bg + (mean_f + sigma_f z) / 255, 0, 1))``, ``z`` standard normal
    from a generator seeded with ``seed``.

    Args:
        fg, bg: float32 ``(B, 3, H, W)`` in [0, 1]; alpha: float32 ``(B, 1, H, W)``.
        matrices: float ``(B, F, 2, 3)``; sigma, mean: float ``(B, F)``; seed: int64 ``(B,)``.

    Returns:
        float32 ``(B, F, H, W)`` in [0, 1].
    """
    b, frames = matrices.shape[:2]
    h, w = alpha.shape[-2:]
    layer = torch.cat([_grey(fg, 1).unsqueeze(1), alpha], dim=1)
    moved = warp_affine_batch(layer.repeat_interleave(frames, 0),
                              matrices.reshape(b * frames, 2, 3))
    moved = moved.view(b, frames, 2, h, w)
    sigma = sigma.to(torch.float32).view(b, frames, 1, 1, 1)
    mean = mean.to(torch.float32).view(b, frames, 1, 1, 1)
    behind = torch.empty(b, frames, h, w, device=fg.device, dtype=torch.float32)
    seeds = seed.tolist()
    for i in range(b):  # one generator per sample: its noise does not depend on the batch
        z = _normal(seeds[i], (frames, 3, h, w), fg.device)
        noisy = torch.clamp(bg[i].unsqueeze(0) + (mean[i] + sigma[i] * z) / 255.0, 0, 1)
        behind[i] = _grey(noisy, 1)
    a = moved[:, :, 1]
    return torch.clamp(a * moved[:, :, 0] + (1 - a) * behind, 0, 1)


# --- crop and resize ---------------------------------------------------------------------


def crop_origins(unknown: torch.Tensor, side: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Top-left corners of the square crops, as ``crop_box(H, W, centre, side)``.

    The centre is the ``floor(u * count)``-th unknown pixel in raster order (any
    pixel, ``floor(u * H W)``, when there is none), the choice
    :func:`~mattinglib.data.composition.unknown_centre` makes with its own draw.

    Args:
        unknown: bool ``(B, H, W)``.
        side: int64 ``(B,)``; u: float ``(B,)`` in [0, 1).

    Returns:
        int64 ``(B, 2)``: ``(row, col)``; the crop side is ``min(side, H, W)``.

    >>> unknown = torch.ones(1, 10, 8, dtype=torch.bool)
    >>> crop_origins(unknown, torch.tensor([4]), torch.tensor([7 / 80]))
    tensor([[0, 4]])
    """
    b, h, w = unknown.shape
    flat = _kth_set_pixel(unknown.reshape(b, h * w), u)
    cy, cx = torch.div(flat, w, rounding_mode="floor"), flat % w
    side = torch.clamp(side, max=min(h, w))
    half = torch.div(side, 2, rounding_mode="floor")
    y = torch.minimum(torch.clamp(cy - half, min=0), h - side)
    x = torch.minimum(torch.clamp(cx - half, min=0), w - side)
    return torch.stack([y, x], dim=1)


@functools.lru_cache(maxsize=64)
def area_weights(src: int, dst: int) -> np.ndarray:
    """The ``(dst, src)`` matrix of OpenCV's ``INTER_AREA`` resize along one axis (float64).

    Shrinking: each output pixel averages the source cells it covers, partly
    covered cells by their fraction (slivers under 1e-3 dropped, as OpenCV
    does). Enlarging: OpenCV's area mode is a linear interpolation whose weight
    snaps to the nearer pixel except across a cell edge.

    >>> area_weights(3, 2).round(4).tolist()
    [[0.6667, 0.3333, 0.0], [0.0, 0.3333, 0.6667]]
    """
    out = np.zeros((dst, src))
    scale = src / dst
    if scale >= 1:
        for d in range(dst):
            f1, f2 = d * scale, d * scale + scale
            cell = min(scale, src - f1)
            s1, s2 = math.ceil(f1), min(math.floor(f2), src - 1)
            s1 = min(s1, s2)
            if s1 - f1 > 1e-3:
                out[d, s1 - 1] += (s1 - f1) / cell
            out[d, s1:s2] += 1 / cell
            if f2 - s2 > 1e-3:
                out[d, s2] += min(min(f2 - s2, 1.0), cell) / cell
        return out
    inv = dst / src
    for d in range(dst):
        s = math.floor(d * scale)
        fx = (d + 1) - (s + 1) * inv
        fx = 0.0 if fx <= 0 else fx - math.floor(fx)
        if s >= src - 1:
            s, fx = src - 1, 0.0
        out[d, s] += 1 - fx
        if fx:
            out[d, s + 1] += fx
    return out


def resize_crops(x: torch.Tensor, origins: torch.Tensor, sides: torch.Tensor,
                 size: int) -> torch.Tensor:
    """Square crops of each sample resized to ``size`` with OpenCV's area weights.

    The crop and the resize are one matrix product per axis: the
    :func:`area_weights` of the crop placed at its offset in a ``(size, N)``
    matrix.

    Args:
        x: float32 ``(B, C, N, N)``.
        origins: int64 ``(B, 2)`` (row, col); sides: int64 ``(B,)``, the crop sides.
        size: the output side.

    Returns:
        float32 ``(B, C, size, size)``.
    """
    b, _, n, _ = x.shape
    rows = torch.zeros(b, size, n, device=x.device, dtype=torch.float32)
    cols = torch.zeros(b, size, n, device=x.device, dtype=torch.float32)
    weights = {}
    for i, ((y0, x0), side) in enumerate(zip(origins.tolist(), sides.tolist())):
        if side not in weights:
            weights[side] = torch.from_numpy(area_weights(side, size)).to(x.device, torch.float32)
        rows[i, :, y0:y0 + side] = weights[side]
        cols[i, :, x0:x0 + side] = weights[side]
    return rows.unsqueeze(1) @ x @ cols.unsqueeze(1).transpose(-1, -2)


# --- the whole sample --------------------------------------------------------------------


def augment_bgm_batch(batch: Mapping[str, torch.Tensor], *, size: int) -> dict[str, torch.Tensor]:
    """Finish a collated batch of ``augment_on="device"`` BGM samples on its device.

    Args:
        batch: the collated :meth:`~mattinglib.data.bgm.BGMCompositeDataset.device_sample`
            dicts (keys :data:`~mattinglib.data.bgm.DEVICE_PARAM_KEYS`), already on
            the device: ``stack`` uint16 ``(B, 7, N, N)`` and the drawn parameters.
        size: the training resolution ``S`` (the dataset's ``size``).

    Returns:
        what the worker path returns, batched: float32 tensors in [-1, 1] on the
        batch's device, ``image (B, 3, S, S)`` the composite, ``bg (B, 3, S, S)``
        the captured plate, ``seg (B, 1, S, S)``, ``multi_fr (B, 4, S, S)``,
        ``alpha (B, 1, S, S)``, ``fg (B, 3, S, S)``, ``bg_gt (B, 3, S, S)``;
        ``image`` is ``alpha fg + (1 - alpha) bg_gt`` in [0, 1] before the mapping.

    Raises:
        ValueError: a missing key, a wrong shape or device (``InputTypeError``,
            also a ``TypeError``, for a wrong type or dtype), a bad ``size``.
    """
    size = check_int(size, "size", minimum=1)
    b, n = _check_batch(batch)
    p = batch
    work = p["stack"].to(torch.float32) / _U16
    fg, alpha, bg = work[:, :3], work[:, 3:4], work[:, 4:]
    unknown = trimap_batch(alpha)[:, 0] == 128
    plate = captured_plate_batch(bg, p["plate_noise"], p["plate_sigma"], p["plate_mean"],
                                 p["plate_gamma"], p["plate_seed"])
    seg = fake_segmentation_batch(alpha, p["seg_erode"], p["seg_dilate"], p["seg_holes"],
                                  p["seg_hole_sides"], p["seg_hole_u"], p["seg_blur"])
    frames = motion_cue_batch(fg, alpha, bg, p["motion_matrices"], p["motion_sigma"],
                              p["motion_mean"], p["motion_seed"])
    side = torch.clamp(p["crop_side"], max=n)
    origins = crop_origins(unknown, side, p["crop_u"])
    layers = torch.cat([fg, alpha, bg, plate, seg, frames], dim=1)
    out = resize_crops(layers, origins, side, int(size))
    out = out.clamp(0, 1)
    fg_c, alpha_c, bg_c = out[:, :3], out[:, 3:4], out[:, 4:7]
    image = alpha_c * fg_c + (1 - alpha_c) * bg_c
    result = {"image": image, "bg": out[:, 7:10], "seg": out[:, 10:11], "multi_fr": out[:, 11:15],
              "alpha": alpha_c, "fg": fg_c, "bg_gt": bg_c}
    return {k: to_bgm_range(v) for k, v in result.items()}
