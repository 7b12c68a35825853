"""Training samples of Background Matting (Sengupta et al., CVPR 2020), supervised stage.

The generator of Background Matting sees four inputs besides the photo: the
captured background (shot without the subject, so slightly different from the
true one), a soft segmentation of the person, and a motion cue of four
neighbouring grey frames. For composited training data these are simulated
(as the authors' public data loader does, ``data_loader.py`` in
github.com/senguptaumd/Background-Matting):

* everything is resized to a square working size (800 px in the original) and
  flipped horizontally with probability 0.5;
* a trimap from alpha (:func:`mattinglib.trimap.trimap_from_alpha`) picks the crop
  centre: a random square of {576, 608, ..., 800} / 800 of the working size
  centred on an unknown pixel, resized to the training resolution (512);
* captured background: with probability 0.4 Gaussian noise (sigma in 2..5,
  mean in -7..6 grey levels, integers), otherwise a gamma change with
  gamma ~ N(1, 0.12) (:func:`simulate_captured_background`);
* soft segmentation: ``alpha > 0.5``, eroded 10..19 iterations of a 5x5 ellipse,
  dilated 15..29 iterations, 0..2 square holes of 15..45 px, Gaussian blur with
  a 21, 31 or 41 px kernel (:func:`fake_segmentation`);
* motion cue: four copies of the composite with the foreground jittered by a
  small random affine map (translation ~ N(0, 5) px, rotation ~ N(0, 7) degrees,
  scale and shear ~ N(0, 0.05)) over a freshly noised background, each turned
  grey (:func:`motion_cue`).

All pixel sizes (erosion and dilation iterations, holes, blur kernels,
translations) are given at the original working size of 800 px and scaled by
``working_size / 800``: the course's quick profile works at ``800 * 64 / 512 = 100``
px, where 19 erosions of a 5x5 kernel would erase the person. Iteration counts
and sizes are rounded and kept at least 1 (blur kernels odd, at least 3).

Every input and target is returned in the generator's [-1, 1] range
(``2 x - 1`` of the [0, 1] value), as the original model uses Tanh.

Reproducibility as in :mod:`mattinglib.data.composition`: sample ``i`` depends
only on ``(seed, epoch, i)``.

``augment_on="device"`` splits a sample in two: the dataset reads the sources,
resizes and flips them and draws every random choice
(:meth:`BGMCompositeDataset.device_sample`); the per-pixel work runs batched on
the training device (:func:`mattinglib.data.bgm_device.augment_bgm_batch`).

>>> ds = BGMSyntheticDataset(2, 32, seed=0)
>>> s = ds[0]
>>> for k, v in sorted(s.items()):
...     print(k, tuple(v.shape))
alpha (1, 32, 32)
bg (3, 32, 32)
bg_gt (3, 32, 32)
fg (3, 32, 32)
image (3, 32, 32)
multi_fr (4, 32, 32)
seg (1, 32, 32)
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import cv2
import numpy as np
import torch

from .._checks import check_index, check_int, check_number
from ..trimap import trimap_from_alpha
from .composition import (
    EpochDataset,
    check_source,
    crop_box,
    sample_raw,
    to_chw,
    unknown_centre,
)
from .pool import PooledSource
from .synthetic import (
    KINDS,
    SyntheticBackgrounds,
    SyntheticForegrounds,
    check_seed,
    from_u16,
    resize_u16,
    rng_for,
    to_u16,
)

__all__ = [
    "BGM_WORKING_SIZE",
    "BGM_TRAIN_SIZE",
    "BGMCompositeDataset",
    "BGMSyntheticDataset",
    "AUGMENT_ON",
    "DEVICE_PARAM_KEYS",
    "simulate_captured_background",
    "fake_segmentation",
    "segmentation_guide",
    "motion_cue",
    "to_bgm_range",
]

BGM_WORKING_SIZE = 800
BGM_TRAIN_SIZE = 512
STREAM_BGM = 4
#: Where :class:`BGMCompositeDataset` does its per-pixel augmentation.
AUGMENT_ON = ("worker", "device")
#: The keys of :meth:`BGMCompositeDataset.device_sample` (``stack`` and the drawn parameters).
DEVICE_PARAM_KEYS = (
    "stack",
    "plate_noise", "plate_sigma", "plate_mean", "plate_gamma", "plate_seed",
    "seg_erode", "seg_dilate", "seg_holes", "seg_hole_sides", "seg_hole_u", "seg_blur",
    "motion_matrices", "motion_sigma", "motion_mean", "motion_seed",
    "crop_side", "crop_u",
)
_SEED_HIGH = 2 ** 63 - 1
_MAX_HOLES = 2
_GREY = (np.float32(0.299), np.float32(0.587), np.float32(0.114))


def to_bgm_range(x: np.ndarray | torch.Tensor):
    """[0, 1] -> the generator's [-1, 1] (``2 x - 1``)."""
    return x * 2 - 1


def _scaled(value: float, scale: float, *, minimum: int = 1) -> int:
    return max(minimum, int(round(value * scale)))


def _odd(k: int) -> int:
    return max(3, k if k % 2 else k + 1)


def simulate_captured_background(bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The background as a camera would capture it a moment before or after.

    With probability 0.4, Gaussian noise with an integer sigma in 2..5 and an
    integer mean in -7..6 grey levels (of 255); otherwise a gamma change
    ``bg ** gamma`` with ``gamma ~ N(1, 0.12)``.

    Args:
        bg: float32 ``(H, W, 3)`` in [0, 1].
        rng: the random generator.

    Returns:
        float32 ``(H, W, 3)`` in [0, 1] (the noisy version is clipped: it is a
        simulated capture, not an input).
    """
    if rng.random() < 0.4:
        sigma = int(rng.integers(2, 6))
        mean = int(rng.integers(-7, 7))
        noise = (mean + sigma * rng.standard_normal(bg.shape, dtype=np.float32)) / np.float32(255.0)
        return np.clip(bg + noise, 0, 1).astype(np.float32)
    gamma = max(float(rng.normal(1.0, 0.12)), 0.1)  # a 7.5-sigma draw could reach 0
    return np.power(bg, np.float32(gamma)).astype(np.float32)


def fake_segmentation(alpha: np.ndarray, rng: np.random.Generator, *,
                      scale: float = 1.0) -> np.ndarray:
    """A coarse, blurred person mask like a segmentation network's (the authors'
    ``data_loader.py``).

    ``alpha > 0.5``, eroded 10..19 iterations and dilated 15..29 iterations of a
    5x5 ellipse, 0..2 square holes of 15..45 px punched inside the mask, then a
    Gaussian blur with a 21, 31 or 41 px kernel. Thin parts (hair, fingers) are
    lost by the erosion; the net dilation makes the mask larger than the person.

    Args:
        alpha: float32 ``(H, W)`` in [0, 1] at the working size.
        rng: the random generator.
        scale: working size / 800; multiplies every pixel size.

    Returns:
        float32 ``(H, W)`` in [0, 1].
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    mask = (alpha > 0.5).astype(np.uint8) * np.uint8(255)
    erode = _scaled(int(rng.integers(10, 20)), scale)
    dilate = _scaled(int(rng.integers(15, 30)), scale)
    mask = cv2.erode(mask, kernel, iterations=erode)
    mask = cv2.dilate(mask, kernel, iterations=dilate)
    inside = np.flatnonzero(mask)
    for _ in range(int(rng.integers(0, 3))):
        side = _scaled(int(rng.integers(15, 46)), scale)
        if not len(inside):
            break
        cy, cx = divmod(int(inside[rng.integers(len(inside))]), mask.shape[1])
        mask[max(0, cy - side // 2):cy - side // 2 + side,
             max(0, cx - side // 2):cx - side // 2 + side] = 0
    k = _odd(_scaled(int(rng.choice([21, 31, 41])), scale))
    # sigma from the kernel size as OpenCV derives it, passed explicitly so the
    # bit-exact 8-bit path is used on every machine.
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    mask = cv2.GaussianBlur(mask, (k, k), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101,
                            hint=cv2.ALGO_HINT_ACCURATE)
    return mask.astype(np.float32) / np.float32(255.0)


def segmentation_guide(mask: np.ndarray, rng: np.random.Generator, *,
                       scale: float = 1.0) -> np.ndarray:
    """The soft guide the generator sees, made from a segmentation network's mask.

    What the original's real-data loader feeds the network in place of the raw
    segmentation: the mask (values above 0.2 set to 1) eroded 10..19 iterations
    of a 3x3 ellipse, dilated 3..6 iterations of a 5x5 ellipse, then blurred
    with a 21, 31 or 41 px Gaussian (pixel sizes at 512 px, times ``scale``).
    The raw mask itself is kept as ``seg_gt``: the composition loss of the
    adversarial stage covers ``seg_gt > 0.95``.

    Args:
        mask: float32 ``(H, W)`` in [0, 1], e.g. DeepLab's soft person mask.
        rng: the random generator.
        scale: image size / 512.

    Returns:
        float32 ``(H, W)`` in [0, 1].

    >>> m = np.zeros((64, 64), np.float32); m[16:48, 20:44] = 1
    >>> g = segmentation_guide(m, np.random.default_rng(0), scale=0.125)
    >>> g.shape, bool(g[32, 32] > 0.9), float(g[0, 0])
    ((64, 64), True, 0.0)
    """
    binary = (np.asarray(mask, np.float32) > 0.2).astype(np.uint8) * np.uint8(255)
    erode = _scaled(int(rng.integers(10, 20)), scale)
    dilate = _scaled(int(rng.integers(3, 7)), scale)
    binary = cv2.erode(binary, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)),
                       iterations=erode)
    binary = cv2.dilate(binary, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)),
                        iterations=dilate)
    k = _odd(_scaled(int(rng.choice([21, 31, 41])), scale))
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    binary = cv2.GaussianBlur(binary, (k, k), sigma, sigmaY=sigma,
                              borderType=cv2.BORDER_REFLECT_101, hint=cv2.ALGO_HINT_ACCURATE)
    return binary.astype(np.float32) / np.float32(255.0)


def _jitter_matrix(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    tx, ty = rng.normal(0.0, 5.0 * scale, 2)
    angle = math.radians(rng.normal(0.0, 7.0))
    sx, sy = 1.0 + rng.normal(0.0, 0.05, 2)
    shear = rng.normal(0.0, 0.05)
    c, s = math.cos(angle), math.sin(angle)
    linear = np.array([[c, -s], [s, c]]) @ np.array([[sx, shear], [0.0, sy]])
    centre = np.array([w / 2.0, h / 2.0])
    offset = centre - linear @ centre + np.array([tx, ty])
    return np.concatenate([linear, offset[:, None]], axis=1)


def _warp_affine(layer: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Bilinear warp of a float (H, W, C) layer by the forward 2x3 affine ``matrix``, zero outside.

    Element-wise NumPy rather than ``cv2.warpAffine``, whose SIMD and scalar
    paths round multi-channel 16-bit images differently. Each of the four taps
    is one ``np.take`` of whole pixels (all channels) at flat indices.
    """
    h, w, c = layer.shape
    inverse = cv2.invertAffineTransform(matrix).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sx = inverse[0, 0] * xx + inverse[0, 1] * yy + inverse[0, 2]
    sy = inverse[1, 0] * xx + inverse[1, 1] * yy + inverse[1, 2]
    x0, y0 = np.floor(sx), np.floor(sy)
    tx, ty = (sx - x0)[..., None], (sy - y0)[..., None]
    # Positions in the layer padded by one zero pixel; anything further out reads that border.
    xs = [np.clip(x0 + k, 0, w + 1).astype(np.intp) for k in (1, 2)]
    ys = [np.clip(y0 + k, 0, h + 1).astype(np.intp) * (w + 2) for k in (1, 2)]
    flat = np.pad(layer, ((1, 1), (1, 1), (0, 0))).reshape(-1, c)

    def tap(row, col):
        return np.take(flat, row + col, axis=0)

    top = tap(ys[0], xs[0]) * (1 - tx) + tap(ys[0], xs[1]) * tx
    bottom = tap(ys[1], xs[0]) * (1 - tx) + tap(ys[1], xs[1]) * tx
    return top * (1 - ty) + bottom * ty


def motion_cue(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray, rng: np.random.Generator, *,
               scale: float = 1.0, frames: int = 4) -> np.ndarray:
    """Simulated neighbouring video frames: the subject moves a little, the sensor is noisy.

    Each frame warps the foreground and alpha by a small random affine map
    (translation ~ N(0, 5) px times ``scale``, rotation ~ N(0, 7) degrees, scale
    and shear ~ N(0, 0.05)), composes them over ``bg`` plus fresh Gaussian noise
    (as in :func:`simulate_captured_background`), and converts to grey
    (ITU-R 601 weights).

    Args:
        fg, bg: float32 ``(H, W, 3)`` in [0, 1]; alpha: float32 ``(H, W)`` in [0, 1].
        rng: the random generator.
        scale: working size / 800.
        frames: how many frames (4 in the original).

    Returns:
        float32 ``(H, W, frames)`` in [0, 1].
    """
    h, w = alpha.shape
    # Grey is linear and the bilinear warp mixes all channels of a pixel with the same
    # weights, so warping grey(fg) equals taking the grey of the warped fg: two channels
    # to warp instead of four (equal up to float32 rounding).
    layer = np.stack([_grey(fg), alpha], axis=2).astype(np.float32)
    out = np.empty((h, w, frames), np.float32)
    for f in range(frames):
        moved = _warp_affine(layer, _jitter_matrix(rng, h, w, scale))
        sigma = int(rng.integers(2, 6))
        mean = int(rng.integers(-7, 7))
        noisy = np.clip(bg + (mean + sigma * rng.standard_normal(bg.shape, dtype=np.float32))
                        / np.float32(255.0), 0, 1)
        a = moved[..., 1]
        out[..., f] = a * moved[..., 0] + (1 - a) * _grey(noisy)
    return np.clip(out, 0, 1)


def _grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of a float32 ``(H, W, 3)`` image."""
    return rgb[..., 0] * _GREY[0] + rgb[..., 1] * _GREY[1] + rgb[..., 2] * _GREY[2]


def _working_stack(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray, n: int) -> np.ndarray:
    """uint16 ``(n, n, 7)``: foreground, alpha and background resized to the working square.

    Foreground and background may differ in size (a real foreground keeps its
    photo's aspect); each is then resized on its own, which gives every channel
    the values a joint resize would.
    """
    layer = np.concatenate([to_u16(fg), to_u16(alpha)[..., None]], axis=2)
    if layer.shape[:2] == bg.shape[:2]:
        return resize_u16(np.concatenate([layer, to_u16(bg)], axis=2), n, n)
    return np.concatenate([resize_u16(layer, n, n), resize_u16(to_u16(bg), n, n)], axis=2)


def _stack_chw(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray, n: int, flip: bool) -> np.ndarray:
    """uint16 ``(7, n, n)``: the working-size stack of :meth:`BGMCompositeDataset.arrays`, CHW.

    Sources already at the working size are rounded in place and cast straight
    into the channels-first array: the values of :func:`to_u16` (the same
    product, ``rint`` and cast), without the worker's concatenate, ``resize_u16``
    copy and transpose, at a third of the cost.
    """
    if alpha.shape[:2] != (n, n) or bg.shape[:2] != (n, n) or alpha.dtype == np.uint16:
        stack = _working_stack(fg, alpha, bg, n)
        return np.ascontiguousarray((stack[:, ::-1] if flip else stack).transpose(2, 0, 1))
    cols = slice(None, None, -1) if flip else slice(None)
    out = np.empty((7, n, n), np.uint16)
    for channels, x in ((slice(0, 3), fg), (slice(3, 4), alpha[..., None]), (slice(4, 7), bg)):
        scaled = x * np.float32(65535)
        np.rint(scaled, out=scaled)
        out[channels] = scaled[:, cols].transpose(2, 0, 1)
    return out


class BGMCompositeDataset(EpochDataset):
    """Background Matting supervised-stage samples from foreground and background sources.

    Args:
        foregrounds: a source with ``len()`` and ``sample(i) -> (fg, alpha, tag)``
            (synthetic or :class:`~mattinglib.data.folders.FolderForegrounds`).
        backgrounds: a source with ``len()`` and ``sample(i) -> (bg, tag)``;
            composite ``i`` uses background ``i mod len(backgrounds)``.
        size: training resolution (512 in the original).
        working_size: the square size everything is first resized to; default
            ``round(800 * size / 512)`` (800 at 512). Pixel sizes of the recipe scale
            with ``working_size / 800``.
        backgrounds_per_fg: composites per foreground (100 in the original).
        seed: non-negative int.
        length: override the length (default ``len(foregrounds) * backgrounds_per_fg``).
        augment_on: ``"worker"`` (default): ``dataset[i]`` is the finished sample
            below. ``"device"``: ``dataset[i]`` is :meth:`device_sample`, the resized
            sources and the drawn parameters, finished batched on the training device
            by :func:`mattinglib.data.bgm_device.augment_bgm_batch`.

    Returns (``dataset[i]``, ``augment_on="worker"``):
        a dict of float32 tensors in [-1, 1]: ``image (3, S, S)`` the composite,
        ``bg (3, S, S)`` the simulated captured background, ``seg (1, S, S)``,
        ``multi_fr (4, S, S)``, and the targets ``alpha (1, S, S)``,
        ``fg (3, S, S)``, ``bg_gt (3, S, S)`` (the true background); ``S = size``.
        ``image`` equals ``alpha F + (1 - alpha) bg_gt`` in [0, 1] before the mapping.
    """

    def __init__(self, foregrounds, backgrounds, *, size: int = BGM_TRAIN_SIZE,
                 working_size: int | None = None, backgrounds_per_fg: int = 1,
                 seed: int = 0, length: int | None = None, augment_on: str = "worker"):
        if augment_on not in AUGMENT_ON:
            raise ValueError(f"augment_on: expected one of {AUGMENT_ON}, got {augment_on!r}")
        self.augment_on = augment_on
        check_source(foregrounds, "foregrounds")
        check_source(backgrounds, "backgrounds")
        self.foregrounds = foregrounds
        self.backgrounds = backgrounds
        self.size = check_int(size, "size", minimum=1)
        self.working_size = (round(BGM_WORKING_SIZE * self.size / BGM_TRAIN_SIZE)
                             if working_size is None
                             else check_int(working_size, "working_size", minimum=1))
        if self.working_size < 16:
            raise ValueError(f"working_size: expected at least 16 pixels, got {self.working_size}")
        self.scale = self.working_size / BGM_WORKING_SIZE
        self.crop_sizes = tuple(max(1, round(c * self.scale)) for c in range(576, 801, 32))
        self.backgrounds_per_fg = check_int(backgrounds_per_fg, "backgrounds_per_fg", minimum=1)
        self.seed = check_seed(seed)
        self.length = (len(foregrounds) * self.backgrounds_per_fg if length is None
                       else check_int(length, "length", minimum=1))
        self.epoch = 0

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """Sample ``index`` as float32 NumPy arrays in [0, 1] (H, W, C) / (H, W), before the
        [-1, 1] mapping."""
        index = check_index(index, len(self))
        rng = rng_for(self.seed, STREAM_BGM, self.epoch, index)
        n = self.working_size
        fg_index = (index // self.backgrounds_per_fg) % len(self.foregrounds)
        fg, alpha, _ = self.foregrounds.sample(fg_index)
        bg, _ = self.backgrounds.sample(index % len(self.backgrounds))
        stack = _working_stack(fg, alpha, bg, n)
        if rng.random() < 0.5:
            stack = stack[:, ::-1]
        work = from_u16(np.ascontiguousarray(stack))
        fg_w, alpha_w, bg_w = work[..., :3], np.ascontiguousarray(work[..., 3]), work[..., 4:]
        trimap = trimap_from_alpha(alpha_w)
        captured = simulate_captured_background(bg_w, rng)
        seg = fake_segmentation(alpha_w, rng, scale=self.scale)
        frames = motion_cue(fg_w, alpha_w, bg_w, rng, scale=self.scale)
        side = self.crop_sizes[int(rng.integers(len(self.crop_sizes)))]
        centre = unknown_centre((trimap == 128).astype(np.float32) * np.float32(0.5), rng)
        box = crop_box(n, n, centre, side)
        # Everything goes through the same exact uint16 crop and resize.
        crop = np.concatenate([to_u16(fg_w), to_u16(alpha_w)[..., None], to_u16(bg_w),
                               to_u16(captured), to_u16(seg)[..., None], to_u16(frames)],
                              axis=2)[box]
        out = from_u16(resize_u16(np.ascontiguousarray(crop), self.size, self.size))
        fg_c, alpha_c, bg_c = out[..., :3], out[..., 3], out[..., 4:7]
        image = alpha_c[..., None] * fg_c + (1 - alpha_c[..., None]) * bg_c
        return {"image": image, "bg": out[..., 7:10], "seg": out[..., 10],
                "multi_fr": out[..., 11:15], "alpha": alpha_c, "fg": fg_c, "bg_gt": bg_c}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.augment_on == "device":
            return self.device_sample(index)
        return {k: to_bgm_range(to_chw(v)) for k, v in self.arrays(index).items()}

    def device_sample(self, index: int) -> dict[str, torch.Tensor]:
        """Sample ``index`` for the device path: the working-size sources and every random draw.

        The sources are read, converted, resized (:func:`resize_u16`) and flipped
        exactly as in :meth:`arrays` (the flip is the first draw of the same
        stream, so it is the same flip). The remaining draws, in this order,
        replace the worker path's (which interleaves whole noise images and
        data-dependent picks, so the two paths agree in distribution, not draw
        for draw):

        1. captured plate: ``random() < 0.4`` picks noise (sigma ``integers(2, 6)``,
           mean ``integers(-7, 7)``) over gamma (``max(normal(1, 0.12), 0.1)``); then
           the noise seed ``integers(2**63 - 1)``;
        2. segmentation: erosion ``integers(10, 20)``, dilation ``integers(15, 30)``,
           hole count ``integers(0, 3)``, per hole its side ``integers(15, 46)`` and a
           uniform ``random()`` (the hole centre is the ``floor(u * count)``-th mask
           pixel in raster order), the blur kernel ``choice([21, 31, 41])``;
        3. motion cue: per frame the jitter matrix (as :func:`motion_cue` draws it),
           noise sigma ``integers(2, 6)`` and mean ``integers(-7, 7)``; then the noise
           seed ``integers(2**63 - 1)``;
        4. crop: the side ``integers(len(crop_sizes))`` and a uniform ``random()`` (the
           centre is the ``floor(u * count)``-th unknown trimap pixel in raster order,
           any pixel when there is none), as :func:`~mattinglib.data.composition.crop_box`
           and :func:`~mattinglib.data.composition.unknown_centre` use them.

        Pixel sizes are already scaled by ``working_size / 800``.

        Returns:
            a dict (keys :data:`DEVICE_PARAM_KEYS`) of tensors; ``N = working_size``:
            ``stack`` uint16 ``(7, N, N)`` (fg RGB, alpha, bg RGB; 65535 = 1);
            ``plate_noise`` bool ``()``; ``plate_sigma``, ``plate_mean`` (grey levels of
            255), ``plate_gamma`` float32 ``()``; ``seg_erode``, ``seg_dilate``,
            ``seg_holes``, ``seg_blur`` (odd kernel side) int64 ``()``;
            ``seg_hole_sides`` int64 ``(2,)`` and ``seg_hole_u`` float64 ``(2,)`` (unused
            holes 0); ``motion_matrices`` float64 ``(4, 2, 3)`` (forward affine maps);
            ``motion_sigma``, ``motion_mean`` float32 ``(4,)``; ``crop_side`` int64 ``()``;
            ``crop_u`` float64 ``()``; ``plate_seed``, ``motion_seed`` int64 ``()``.

        >>> ds = BGMSyntheticDataset(2, 32, seed=0, augment_on="device")
        >>> p = ds[0]
        >>> p["stack"].dtype, tuple(p["stack"].shape), tuple(p["motion_matrices"].shape)
        (torch.uint16, (7, 50, 50), (4, 2, 3))
        """
        index = check_index(index, len(self))
        rng = rng_for(self.seed, STREAM_BGM, self.epoch, index)
        n = self.working_size
        fg_index = (index // self.backgrounds_per_fg) % len(self.foregrounds)
        fg, alpha, _ = sample_raw(self.foregrounds, fg_index)
        bg, _ = sample_raw(self.backgrounds, index % len(self.backgrounds))
        flip = rng.random() < 0.5
        out = {"stack": torch.from_numpy(_stack_chw(fg, alpha, bg, n, flip))}
        out.update(self._plate_params(rng))
        out.update(self._segmentation_params(rng))
        out.update(self._motion_params(rng))
        side = self.crop_sizes[int(rng.integers(len(self.crop_sizes)))]
        out["crop_side"] = torch.tensor(side, dtype=torch.int64)
        out["crop_u"] = torch.tensor(rng.random(), dtype=torch.float64)
        return out

    @staticmethod
    def _plate_params(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        noise = bool(rng.random() < 0.4)
        sigma, mean, gamma = 0, 0, 1.0
        if noise:
            sigma = int(rng.integers(2, 6))
            mean = int(rng.integers(-7, 7))
        else:
            gamma = max(float(rng.normal(1.0, 0.12)), 0.1)
        return {"plate_noise": torch.tensor(noise),
                "plate_sigma": torch.tensor(sigma, dtype=torch.float32),
                "plate_mean": torch.tensor(mean, dtype=torch.float32),
                "plate_gamma": torch.tensor(gamma, dtype=torch.float32),
                "plate_seed": torch.tensor(int(rng.integers(_SEED_HIGH)), dtype=torch.int64)}

    def _segmentation_params(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        erode = _scaled(int(rng.integers(10, 20)), self.scale)
        dilate = _scaled(int(rng.integers(15, 30)), self.scale)
        holes = int(rng.integers(0, 3))
        sides, us = [0] * _MAX_HOLES, [0.0] * _MAX_HOLES
        for h in range(holes):
            sides[h] = _scaled(int(rng.integers(15, 46)), self.scale)
            us[h] = float(rng.random())
        blur = _odd(_scaled(int(rng.choice([21, 31, 41])), self.scale))
        return {"seg_erode": torch.tensor(erode, dtype=torch.int64),
                "seg_dilate": torch.tensor(dilate, dtype=torch.int64),
                "seg_holes": torch.tensor(holes, dtype=torch.int64),
                "seg_hole_sides": torch.tensor(sides, dtype=torch.int64),
                "seg_hole_u": torch.tensor(us, dtype=torch.float64),
                "seg_blur": torch.tensor(blur, dtype=torch.int64)}

    def _motion_params(self, rng: np.random.Generator, frames: int = 4) -> dict[str, torch.Tensor]:
        n = self.working_size
        matrices, sigmas, means = [], [], []
        for _ in range(frames):
            matrices.append(_jitter_matrix(rng, n, n, self.scale))
            sigmas.append(int(rng.integers(2, 6)))
            means.append(int(rng.integers(-7, 7)))
        return {"motion_matrices": torch.from_numpy(np.stack(matrices)),
                "motion_sigma": torch.tensor(sigmas, dtype=torch.float32),
                "motion_mean": torch.tensor(means, dtype=torch.float32),
                "motion_seed": torch.tensor(int(rng.integers(_SEED_HIGH)), dtype=torch.int64)}


class BGMSyntheticDataset(BGMCompositeDataset):
    """Background Matting training samples from synthetic foregrounds and backgrounds, in one line.

    Args:
        num_samples: the dataset's length.
        size: training resolution.
        seed: non-negative int.
        kinds: synthetic foreground kinds.
        background_folder: optional folder of photos to mix with procedural backgrounds.
        procedural_pool: 0: every foreground and background is generated afresh;
            ``n > 0``: drawn from ``n`` of each, made once per process and shared by
            the loader's workers (:mod:`mattinglib.data.pool`).
        real_fraction: share of composites whose foreground is a real one, the
            alphamatting.com training images GT01-GT10 at longer side ``working_size``
            (:class:`~mattinglib.data.real.AlphamattingForegrounds`, mixed by
            :class:`~mattinglib.data.real.MixedForegrounds`); when none is on disk, a
            warning says so and every foreground is generated.
        real_root: their ``alphamatting_lowres`` folder (``None``: under the data root).
        **kwargs: the other options of :class:`BGMCompositeDataset` (``augment_on``).

    Attributes:
        source_description: which foregrounds are used.
    """

    def __init__(self, num_samples: int, size: int = BGM_TRAIN_SIZE, seed: int = 0, *,
                 kinds: Sequence[str] = KINDS, background_folder=None, procedural_pool: int = 0,
                 real_fraction: float = 0.0, real_root=None, **kwargs):
        num_samples = check_int(num_samples, "num_samples", minimum=1)
        size = check_int(size, "size", minimum=1)
        seed = check_seed(seed)
        working = (kwargs.pop("working_size", None)
                   or round(BGM_WORKING_SIZE * size / BGM_TRAIN_SIZE))
        fgs = SyntheticForegrounds(working, seed, kinds=kinds, length=num_samples)
        bgs = SyntheticBackgrounds(working, seed, photos=background_folder, length=num_samples)
        if check_int(procedural_pool, "procedural_pool", minimum=0):
            fgs = PooledSource(fgs, min(procedural_pool, num_samples))
            bgs = PooledSource(bgs, min(procedural_pool, num_samples))
        check_number(real_fraction, "real_fraction", minimum=0, maximum=1)
        self.source_description = "generated foregrounds"
        if real_fraction > 0:
            fgs = self._with_real(fgs, real_fraction, real_root, working, seed, num_samples)
        super().__init__(fgs, bgs, size=size, working_size=working, seed=seed,
                         length=num_samples, **kwargs)

    def _with_real(self, generated, real_fraction: float, root, working: int, seed: int,
                   length: int):
        from .real import AlphamattingForegrounds, MixedForegrounds

        try:
            real = AlphamattingForegrounds(root, max_side=working)
        except FileNotFoundError as err:
            warnings.warn(f"real_fraction={real_fraction}: {err}; training on generated "
                          "foregrounds only", stacklevel=3)
            self.source_description = "generated foregrounds only (no real training image found)"
            return generated
        self.source_description = (f"{real_fraction:.0%} real foregrounds ({', '.join(real.names)}"
                                   f"), the others generated")
        return MixedForegrounds(real, generated, synthetic_fraction=1 - real_fraction, seed=seed,
                                length=length)
