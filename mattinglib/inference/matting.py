"""Predict an alpha matte from an image and a trimap, at any size.

The trimap-based networks of the course (SHM's M-Net, Deep Image Matting) only
accept heights and widths that are multiples of their pooling factor (16 for
M-Net, 32 for DIM), and run out of GPU memory on large photos. Their
predictor, :func:`predict_alpha`, hides both:

- **Any size.** The image is reflect-padded on the bottom and right to the
  next multiple, the trimap is padded with the *same* reflection (so the
  network sees a consistent image/trimap pair there), the network runs, and
  the padding is cut off again.
- **Large images.** ``max_side`` downscales the input so that its longer
  side is at most that many pixels (area interpolation for the image; a
  pixel of the small trimap is known only when every full-resolution pixel it
  covers has the same known label, otherwise it is unknown); the alpha is
  upscaled bilinearly. ``tile`` runs the network on overlapping tiles and
  blends them (see :func:`tile_starts`), which bounds memory at full resolution
  (out-of-memory at high resolution is the most reported problem of matting
  code on GPUs).
- **Known regions are kept exactly.** The trimap is a hard constraint: the
  returned alpha is exactly 1 where the trimap is 255 and exactly 0 where it
  is 0, at full resolution, whatever the network predicts there. This is
  SHM's fusion ``alpha = F + U * alpha_r`` with a one-hot trimap, and the
  convention of the DIM evaluation, which only scores the unknown region.
- **Inference mode.** The model runs in ``eval()`` mode (BatchNorm uses its
  running statistics) under ``torch.no_grad()``; its previous training mode
  is restored afterwards. Device ``"auto"`` is CUDA when available; nothing is
  moved to a GPU that is not there.

Networks plug in through :func:`~mattinglib.models.alpha.model_alpha`, which
knows two input kinds: ``"mnet"`` (RGB + the one-hot trimap in
``mattinglib.trimap.CLASS_ORDER``, 6 channels, multiples of 16; also used for
an ``SHM`` model, whose M-Net then reads the given trimap instead of T-Net's)
and ``"dim"`` (image and trimap as separate tensors, the refined ``"alpha"``
output, multiples of 32).

>>> import numpy as np
>>> from mattinglib.models.mnet import MNet
>>> image = np.random.default_rng(0).random((37, 53, 3)).astype(np.float32)
>>> trimap = np.full((37, 53), 128, np.uint8); trimap[:, :10] = 0; trimap[:, -10:] = 255
>>> alpha = predict_alpha(MNet(width=0.25), image, trimap, device="cpu")
>>> alpha.shape, alpha.dtype, float(alpha[:, :10].max()), float(alpha[:, -10:].min())
((37, 53), dtype('float32'), 0.0, 1.0)
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from .._checks import as_float01, check_int, check_same_hw, check_shape
from ..config import get_device
from ..models.alpha import INPUT_KINDS, input_kind_of, model_alpha
from ..trimap import BACKGROUND, FOREGROUND, UNKNOWN, validate_trimap

__all__ = [
    "pad_to_multiple",
    "downscale_trimap",
    "tile_starts",
    "predict_alpha",
]

def pad_to_multiple(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad an ``(H, W[, C])`` array on the bottom and right to multiples of ``multiple``.

    NumPy's reflection repeats itself, so even an image smaller than the
    padding is padded (a 5x5 trimap becomes 16x16).

    Returns:
        ``(padded, (H, W))``, the original size to crop back to.

    >>> a = np.arange(3)[None].repeat(2, 0)
    >>> pad_to_multiple(a, 4)[0]
    array([[0, 1, 2, 1],
           [0, 1, 2, 1],
           [0, 1, 2, 1],
           [0, 1, 2, 1]])
    """
    h, w = x.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (x.ndim - 2)
    return (np.pad(x, widths, mode="reflect") if ph or pw else x), (h, w)


def downscale_trimap(trimap: np.ndarray, height: int, width: int) -> np.ndarray:
    """A smaller trimap that never claims a pixel is known when part of it is not.

    A small pixel is foreground (background) only when every full-resolution
    pixel it covers is foreground (background); any mixture is unknown. Nearest
    neighbour resizing would instead drop thin unknown bands, and the network
    would never be asked about them.

    >>> t = np.array([[0, 0, 128, 255]] * 2, np.uint8)
    >>> downscale_trimap(t, 1, 2)
    array([[  0, 128]], dtype=uint8)
    """
    validate_trimap(trimap)
    area = cv2.resize(trimap.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    out = np.full((height, width), UNKNOWN, np.uint8)
    # Area averages of pure regions are exact in float32 (0 stays 0, 255 stays 255 up to rounding).
    out[area <= 1e-3] = BACKGROUND
    out[area >= 255 - 1e-3] = FOREGROUND
    return out


def tile_starts(size: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``size`` pixels.

    Starts are multiples of ``multiple``, so every tile sees the pooling grid
    of the whole image (max-pooling windows line up), consecutive tiles
    overlap by at least ``overlap`` pixels, and the last tile ends at ``size``.

    >>> tile_starts(160, 64, 32, 16)
    [0, 32, 64, 96]
    >>> tile_starts(48, 64, 32, 16)
    [0]
    """
    if tile >= size:
        return [0]
    step = (tile - overlap) // multiple * multiple
    starts = list(range(0, size - tile, step)) + [size - tile]
    return starts


def _blend_weights(length: int, start: int, total: int, overlap: int) -> np.ndarray:
    """1-D weights of one tile: 0 within ``overlap // 4`` of an inner edge, then a linear ramp.

    The zero margin keeps each tile's border pixels, whose receptive field is
    cut by the tile, out of the result; edges on the image border keep weight 1.
    """
    margin = overlap // 4
    ramp = max(overlap - 2 * margin, 1)
    d = np.arange(length, dtype=np.float64)
    w = np.ones(length)
    if start > 0:
        w = np.minimum(w, np.clip((d - margin + 1) / (ramp + 1), 0, 1))
    if start + length < total:
        w = np.minimum(w, np.clip((length - 1 - d - margin + 1) / (ramp + 1), 0, 1))
    return w


def _run_padded(model, image: np.ndarray, trimap: np.ndarray, kind: str, device,
                tile: int | None, overlap: int) -> np.ndarray:
    """Alpha of an image of any size: pad, run whole or in tiles, crop."""
    multiple = INPUT_KINDS[kind]
    image_p, (h, w) = pad_to_multiple(image, multiple)
    trimap_p, _ = pad_to_multiple(trimap, multiple)
    hp, wp = trimap_p.shape

    def run(y0: int, x0: int, th: int, tw: int) -> np.ndarray:
        patch = image_p[y0:y0 + th, x0:x0 + tw]
        img = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1)))
        tri = torch.from_numpy(np.ascontiguousarray(trimap_p[y0:y0 + th, x0:x0 + tw]))
        alpha = model_alpha(model, img[None].to(device), tri[None, None].to(device),
                            input_kind=kind)
        return alpha[0, 0].cpu().numpy().astype(np.float64)

    if tile is None or (tile >= hp and tile >= wp):
        return run(0, 0, hp, wp)[:h, :w]
    acc = np.zeros((hp, wp))
    weight = np.zeros((hp, wp))
    th, tw = min(tile, hp), min(tile, wp)
    for y0 in tile_starts(hp, th, overlap, multiple):
        wy = _blend_weights(th, y0, hp, overlap)
        for x0 in tile_starts(wp, tw, overlap, multiple):
            wxy = wy[:, None] * _blend_weights(tw, x0, wp, overlap)[None, :]
            acc[y0:y0 + th, x0:x0 + tw] += wxy * run(y0, x0, th, tw)
            weight[y0:y0 + th, x0:x0 + tw] += wxy
    return (acc / weight)[:h, :w]


def predict_alpha(model: nn.Module, image: np.ndarray, trimap: np.ndarray, *,
                  device: str | torch.device = "auto", max_side: int | None = None,
                  tile: int | None = None, overlap: int = 32,
                  input_kind: str | None = None) -> np.ndarray:
    """The alpha matte of one image of any size, given its trimap.

    Args:
        model: an ``MNet``, ``SHM`` (its M-Net reads the given trimap), ``DIM``,
            or a module fed like one of them (``input_kind``). It is moved to
            ``device``, run in eval mode without gradients, and its training
            mode is restored afterwards.
        image: ``(H, W, 3)`` RGB, float in [0, 1] or uint8; any H and W.
        trimap: ``(H, W)`` uint8 with values in {0, 128, 255}.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        max_side: when the longer side exceeds this, run at a downscaled size
            whose longer side is ``max_side`` and upscale the alpha (bilinear).
        tile: run the network on ``tile`` x ``tile`` tiles (a multiple of the
            network's multiple, 16 for M-Net and 32 for DIM) instead of the
            whole (padded) image, and blend them; bounds memory.
        overlap: pixels shared by neighbouring tiles (at least; the tile grid
            is aligned to the network's multiple). Each tile ignores the outer
            ``overlap // 4`` pixels of its inner edges and fades in linearly
            over the next ``overlap // 2``. A network whose receptive field
            reaches at most ``overlap // 4`` pixels gives exactly the untiled
            result; deep networks see further, so use a generous overlap.
        input_kind: ``"mnet"`` or ``"dim"``; ``None`` tells it from the model's type.

    Returns:
        float32 ``(H, W)`` alpha in [0, 1]: exactly 1 where ``trimap == 255``
        and exactly 0 where ``trimap == 0`` (the full-resolution trimap is
        pasted back after any downscaling); a trimap without unknown pixels
        is returned as the alpha directly, without running the network.

    Raises:
        ValueError: a wrong shape or dtype, an image outside [0, 1] or with
            NaN/inf, trimap values other than 0/128/255, sizes that differ,
            or bad ``max_side`` / ``tile`` / ``overlap`` / ``input_kind``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    kind = input_kind_of(model, input_kind)
    multiple = INPUT_KINDS[kind]
    check_shape(image, "H,W,3", name="image")
    image01 = as_float01(image, name="image").astype(np.float32)
    validate_trimap(trimap)
    check_same_hw(image=image, trimap=trimap)
    max_side = check_int(max_side, "max_side", minimum=multiple, optional=True)
    tile = check_int(tile, "tile", minimum=multiple, optional=True)
    if tile is not None and tile % multiple:
        raise ValueError(f"tile: expected a multiple of {multiple} for a {kind!r} "
                         f"network, got {tile}")
    overlap = check_int(overlap, "overlap", minimum=0, optional=True)
    if overlap is None or (tile is not None and overlap > tile - multiple):
        raise ValueError(f"overlap: expected an integer in [0, tile - {multiple}], got {overlap!r}")
    dev = get_device(device)

    known = np.where(trimap == FOREGROUND, np.float32(1), np.float32(0))
    if not (trimap == UNKNOWN).any():
        return known

    h, w = trimap.shape
    small_image, small_trimap = image01, trimap
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small_image = cv2.resize(image01, (sw, sh), interpolation=cv2.INTER_AREA)
        small_trimap = downscale_trimap(trimap, sh, sw)

    was_training = model.training
    model.to(dev)
    model.eval()
    try:
        with torch.no_grad():
            alpha = _run_padded(model, small_image, small_trimap, kind, dev, tile, overlap)
    finally:
        model.train(was_training)

    alpha = alpha.astype(np.float32)
    if alpha.shape != (h, w):
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    # The network (and bilinear upscaling) may stray a hair outside [0, 1]; the matte may not.
    alpha = np.clip(alpha, 0.0, 1.0)
    return np.where(trimap == UNKNOWN, alpha, known).astype(np.float32)
