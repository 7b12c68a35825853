"""Background Matting on a real photo: align, segment, crop, run, uncrop, compose.

The authors' test script (senguptaumd/Background-Matting,
``test_background-matting_image.py`` after ``test_pre_process.py``) turns a
photo and a hand-held plate of the empty scene into a matte in these steps,
which :func:`matte_photo` follows:

1. register the plate to the photo (:func:`~mattinglib.inference.align.align_background`);
2. segment the person softly (:func:`~mattinglib.inference.segment.soft_segmentation`);
3. crop a square around the person (the mask's bounding box plus a margin),
   so the network sees the person large whatever the photo's size, and
   resize it to the network's resolution (512 in the paper);
4. build the motion cue of a still photo: its grey version four times (there
   are no neighbouring frames);
5. run the generator in ``[-1, 1]`` (eval mode, no gradients, on ``device``);
6. resize the alpha and foreground back and paste them into the full frame
   (alpha 0 outside the crop); compose onto a new background.

Memory does not grow with the photo: the network always runs on a
``size x size`` crop, alignment works at a long side of 1000 pixels and the
segmentation at 512 (USERS: CUDA out of memory at high resolution).

The official weights cannot be downloaded automatically; :func:`predict_bgm`
refuses to run without them unless ``allow_random_weights=True`` (a demo that
exercises the pipeline and produces a meaningless matte).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from .._checks import as_float01, check_int, check_number, check_range, check_shape
from ..compositing import checkerboard, compose
from ..config import get_device
from ..models.bgm import (
    OFFICIAL_WEIGHTS_HELP,
    RandomWeightsWarning,
    bgm_generator,
    from_model_range,
    to_model_range,
)
from .align import AlignResult, align_background
from .segment import find_deeplab_weights, soft_segmentation

__all__ = [
    "BGMResult",
    "matte_photo",
    "predict_bgm",
    "square_crop_box",
    "crop_square",
    "uncrop_square",
    "still_motion_cue",
    "RandomWeightsWarning",
]

#: Luma weights of OpenCV's ``BGR2GRAY``, which the original applies to make the motion frames.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class BGMResult:
    """The outputs of :func:`matte_photo`, all in the photo's ``H x W`` frame.

    Attributes:
        alpha: float32 ``(H, W)`` in [0, 1]; exactly 0 outside ``crop_box``.
        fg: float32 ``(H, W, 3)`` in [0, 1] (the network's foreground,
            clipped to [0, 1] for display: it has no output activation); 0 outside the crop.
        composite: float32 ``(H, W, 3)`` in [0, 1] over the target background,
            or ``None`` when none was given.
        crop_box: ``(x0, y0, x1, y1)``, the square the network saw, in photo
            pixels (x1, y1 exclusive). It leaves the image only when the person
            is larger than the photo's short side; that part was reflection-padded.
        alignment: the :class:`~mattinglib.inference.align.AlignResult`, or
            ``None`` when ``align=False``.
        segmentation_method: how the person mask was made
            (``"deeplabv3_resnet101"``, ``"background_difference"``, ``"given"``, ...).
        segmentation: float32 ``(H, W)`` in [0, 1], the soft person mask used.
    """

    alpha: np.ndarray
    fg: np.ndarray
    composite: np.ndarray | None
    crop_box: tuple[int, int, int, int]
    alignment: AlignResult | None
    segmentation_method: str
    segmentation: np.ndarray


# --------------------------------------------------------------------------- crop / uncrop


def square_crop_box(mask: np.ndarray, *, margin: float = 0.1,
                    threshold: float = 0.5) -> tuple[int, int, int, int]:
    """The square around the person: the bounding box of ``mask >= threshold``, plus a margin.

    The side is the box's longer side times ``1 + 2 margin``, reduced when
    needed to the image's shorter side (but never below the box itself), and
    the square is shifted to lie inside the image where it fits.

    Args:
        mask: float ``(H, W)`` in [0, 1].
        margin: fraction of the box's longer side added on each side.
        threshold: mask level that counts as the person.

    Returns:
        ``(x0, y0, x1, y1)`` with ``x1 - x0 == y1 - y0``; outside ``[0, W] x [0, H]``
        only when the person is larger than the short side.

    Raises:
        ValueError: the mask has no pixel at or above ``threshold``.

    >>> m = np.zeros((100, 200), np.float32); m[40:60, 50:70] = 1
    >>> square_crop_box(m, margin=0.5)
    (40, 30, 80, 70)
    """
    check_shape(mask, "H,W", name="mask")
    check_range(mask, 0.0, 1.0, name="mask")
    margin = check_number(margin, "margin", minimum=0)
    H, W = mask.shape
    rows = np.flatnonzero((mask >= threshold).any(axis=1))
    cols = np.flatnonzero((mask >= threshold).any(axis=0))
    if rows.size == 0:
        raise ValueError(f"mask: no pixel reaches {threshold}: no person was found "
                         "(is the plate really the same scene without the person?)")
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box_side = max(x1 - x0, y1 - y0)
    side = max(box_side, min(math.ceil(box_side * (1 + 2 * margin)), min(H, W)))

    def place(lo: int, hi: int, extent: int) -> int:
        start = int(round((lo + hi) / 2 - side / 2))
        if side <= extent:
            return min(max(start, 0), extent - side)
        return (extent - side) // 2  # larger than the image: centred, padded on both sides

    sx, sy = place(x0, x1, W), place(y0, y1, H)
    return sx, sy, sx + side, sy + side


def crop_square(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Cut ``box`` out of ``image`` (``(H, W)`` or ``(H, W, C)``), reflecting at the borders.

    >>> crop_square(np.arange(4.0).reshape(1, 4), (2, -1, 5, 2))
    array([[2., 3., 2.],
           [2., 3., 2.],
           [2., 3., 2.]])
    """
    x0, y0, x1, y1 = box
    H, W = image.shape[:2]
    pad = ([(max(0, -y0), max(0, y1 - H)), (max(0, -x0), max(0, x1 - W))]
           + [(0, 0)] * (image.ndim - 2))
    inner = image[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]
    if any(p for pair in pad for p in pair):
        # numpy's "reflect" (no edge repeat, as OpenCV's REFLECT_101) also
        # handles pads wider than the image by reflecting repeatedly.
        inner = np.pad(inner, pad, mode="reflect")
    return inner


def uncrop_square(patch: np.ndarray, box: tuple[int, int, int, int],
                  frame_hw: tuple[int, int]) -> np.ndarray:
    """Resize ``patch`` to the box and paste it into a zero frame of ``frame_hw``.

    The resize is done in float64, so a constant patch stays exactly constant
    in float32 (bilinear weights that sum to 1 up to rounding).

    Args:
        patch: float ``(S, S)`` or ``(S, S, C)``.
        box: ``(x0, y0, x1, y1)`` as :func:`square_crop_box` returns.
        frame_hw: ``(H, W)`` of the output.

    Returns:
        float32 ``(H, W)`` or ``(H, W, C)``, zero outside the box.
    """
    x0, y0, x1, y1 = box
    H, W = frame_hw
    side = x1 - x0
    big = patch.astype(np.float64)
    if big.shape[0] != side:
        interp = cv2.INTER_AREA if big.shape[0] > side else cv2.INTER_LINEAR
        big = cv2.resize(big, (side, side), interpolation=interp)
    big = big.astype(np.float32)
    out = np.zeros((H, W) + patch.shape[2:], dtype=np.float32)
    ya, yb, xa, xb = max(0, y0), min(H, y1), max(0, x0), min(W, x1)
    out[ya:yb, xa:xb] = big[ya - y0:yb - y0, xa - x0:xb - x0]
    return out


def still_motion_cue(image: np.ndarray) -> np.ndarray:
    """The motion input for a still photo: its grey version as four identical frames.

    Args:
        image: float ``(H, W, 3)`` in [0, 1].

    Returns:
        float32 ``(H, W, 4)`` in [0, 1].

    >>> still_motion_cue(np.ones((2, 3, 3), np.float32)).shape
    (2, 3, 4)
    """
    grey = image.astype(np.float32) @ _LUMA
    return np.repeat(grey[:, :, None], 4, axis=2)


# --------------------------------------------------------------------------- pipeline


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    out = cv2.resize(image, (size, size), interpolation=interp)
    return out if out.ndim == image.ndim else out[:, :, None]


def _to_model(x: np.ndarray, device: torch.device) -> torch.Tensor:
    x = np.clip(x, 0.0, 1.0)  # resampling overshoot only (inputs were checked in [0, 1])
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]
    return to_model_range(t.to(device))


def _segmentation_arg(segmentation, hw: tuple[int, int]) -> np.ndarray | str:
    if isinstance(segmentation, np.ndarray):
        check_shape(segmentation, f"{hw[0]},{hw[1]}", name="segmentation")
        return as_float01(segmentation, name="segmentation").astype(np.float32)
    if segmentation not in ("auto", "deeplab", "background"):
        raise ValueError("segmentation: expected 'auto', 'deeplab', 'background' or an (H,W) mask, "
                         f"got {segmentation!r}")
    return segmentation


@contextlib.contextmanager
def _named_seg_weights():
    """Errors about the segmentation's ``weights`` name the argument given here, ``seg_weights``."""
    try:
        yield
    except (ValueError, FileNotFoundError) as err:
        text = str(err)
        if not text.startswith("weights:"):
            raise
        raise type(err)("seg_weights:" + text[len("weights:"):]) from None


def matte_photo(photo: np.ndarray, plate: np.ndarray, generator: nn.Module, *,
                target_background: np.ndarray | None = None, size: int = 512, device: str = "auto",
                align: bool = True, segmentation: str | np.ndarray = "auto", seg_weights=None,
                margin: float = 0.1) -> BGMResult:
    """Matte a person in a photo with Background Matting, given a plate of the empty scene.

    Args:
        photo: RGB ``(H, W, 3)``, uint8 or float in [0, 1].
        plate: RGB of the same scene without the person, same dtype rules;
            any size when ``align`` (it is registered to the photo), else ``(H, W, 3)``.
        generator: a :class:`~mattinglib.models.bgm.BackgroundMattingGenerator`
            (or any module with its call signature). It is moved to ``device``
            and switched to eval mode.
        target_background: optional RGB ``(h, w, 3)`` to compose onto; resized
            (stretched) to ``H x W``.
        size: side of the square the network runs at (the paper: 512); a
            multiple of 4, at least 8.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
        align: register the plate first (turn off only for a plate that is
            already aligned, e.g. from a tripod).
        segmentation: ``"auto"``, ``"deeplab"`` or ``"background"`` (see
            :func:`~mattinglib.inference.segment.soft_segmentation`), or a
            float ``(H, W)`` soft mask in [0, 1] to use as is.
        seg_weights: DeepLabV3 checkpoint path (else the torch hub cache).
        margin: extra border around the person's box, as a fraction of its longer side.

    Returns:
        A :class:`BGMResult` (alpha, fg, composite, crop_box, alignment, segmentation_method,
        segmentation).

    Raises:
        ValueError: bad arguments (named), or no person found.
        ~mattinglib.inference.align.AlignmentError: the plate cannot be aligned.
    """
    check_shape(photo, "H,W,3", name="photo")
    photo = as_float01(photo, name="photo").astype(np.float32)
    H, W = photo.shape[:2]
    check_shape(plate, "*,*,3" if align else f"{H},{W},3", name="plate")
    plate = as_float01(plate, name="plate").astype(np.float32)
    if target_background is not None:
        check_shape(target_background, "*,*,3", name="target_background")
        target_background = as_float01(target_background,
                                       name="target_background").astype(np.float32)
    if not isinstance(generator, nn.Module):
        raise ValueError(f"generator: expected a torch.nn.Module, got {type(generator).__name__}")
    size = check_int(size, "size", minimum=8)
    if size % 4:
        raise ValueError(f"size: expected a multiple of 4 (two stride-2 stages), got {size}")
    dev = get_device(device)
    seg_choice = _segmentation_arg(segmentation, (H, W))

    seg = None
    with _named_seg_weights():
        if isinstance(seg_choice, np.ndarray):
            seg_mask, seg_method = seg_choice, "given"
        elif seg_choice == "deeplab" or (seg_choice == "auto"
                                         and find_deeplab_weights(seg_weights)):
            # With a semantic segmentation first, alignment can ignore the person.
            seg = soft_segmentation(photo, method="deeplab", weights=seg_weights, device=device)
            seg_mask, seg_method = seg.mask, seg.method
        else:
            seg_mask = seg_method = None

        alignment = None
        if align:
            alignment = align_background(photo, plate, mask=seg_mask)
            plate = alignment.plate
        if seg_mask is None:
            seg = soft_segmentation(photo, plate=plate, method=seg_choice, weights=seg_weights,
                                    device=device)
            seg_mask, seg_method = seg.mask, seg.method

    box = square_crop_box(seg_mask, margin=margin)
    crops = [_resize(crop_square(x, box), size) for x in (photo, plate, seg_mask[:, :, None])]
    image_t, back_t, seg_t = (_to_model(c, dev) for c in crops)
    multi_t = _to_model(still_motion_cue(np.clip(crops[0], 0.0, 1.0)), dev)

    generator = generator.to(dev).eval()
    with torch.no_grad():
        outputs = generator(image_t, back_t, seg_t, multi_t)
    if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2):
        raise ValueError("generator: expected it to return (alpha, fg)")
    alpha_t, fg_t = outputs
    if tuple(alpha_t.shape) != (1, 1, size, size) or tuple(fg_t.shape) != (1, 3, size, size):
        raise ValueError(f"generator: expected alpha (1,1,{size},{size}) and fg "
                         f"(1,3,{size},{size}), got {tuple(alpha_t.shape)} and {tuple(fg_t.shape)}")
    # Tanh keeps alpha inside [0, 1] after the mapping; fg has no activation.
    alpha_crop = from_model_range(alpha_t)[0, 0].clamp(0, 1).cpu().numpy()
    fg_crop = from_model_range(fg_t)[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()

    alpha = np.clip(uncrop_square(alpha_crop, box, (H, W)), 0.0, 1.0)
    fg = np.clip(uncrop_square(fg_crop, box, (H, W)), 0.0, 1.0)
    composite = None
    if target_background is not None:
        bg = target_background
        if bg.shape[:2] != (H, W):
            interp = cv2.INTER_AREA if bg.shape[0] * bg.shape[1] > H * W else cv2.INTER_LINEAR
            bg = np.clip(cv2.resize(bg, (W, H), interpolation=interp), 0.0, 1.0)
        composite = compose(fg, bg, alpha).astype(np.float32)
    return BGMResult(alpha=alpha, fg=fg, composite=composite, crop_box=box, alignment=alignment,
                     segmentation_method=seg_method, segmentation=seg_mask.astype(np.float32))


# --------------------------------------------------------------------------- files and CLI


def predict_bgm(photo_path, plate_path, *, out_dir, weights=None, target=None, size: int = 512,
                device: str = "auto", align: bool = True, segmentation: str = "auto",
                seg_weights=None, allow_random_weights: bool = False, seed: int = 0,
                generator_config: dict | None = None, generator=None) -> dict[str, Path]:
    """Matte one photo file and write ``<name>_matte.png``, ``<name>_fg.png``,
    ``<name>_composite.png``.

    ``<name>`` is the photo's file name without extension. The composite is
    over ``target`` when given, else over a grey checkerboard (a preview of
    the cut-out).

    Args:
        photo_path, plate_path: image files (the photo with the person, the empty scene).
        out_dir: folder for the outputs (created).
        weights: local path of the official generator checkpoint.
        target: optional new background image file.
        size, device, align, segmentation, seg_weights: as :func:`matte_photo`.
        allow_random_weights: without ``weights``, run a randomly initialised
            generator (``seed``) instead of failing: a labelled demo of the
            pipeline whose matte is meaningless.
        seed: seed of the random generator in that demo mode.
        generator_config: arguments of :func:`~mattinglib.models.bgm.bgm_generator`
            (the defaults are the official configuration).
        generator: a generator already loaded (e.g. a run trained with this library,
            :func:`mattinglib.train.runs.load_bgm_generator`), instead of ``weights``.

    Returns:
        ``{"matte": path, "fg": path, "composite": path}``.

    Raises:
        ValueError: no ``weights`` and not ``allow_random_weights`` (with where to get them).
        FileNotFoundError: an input file is missing.
    """
    from .._checks import check_writable_dir
    from ..io import read_image, write_alpha, write_image

    check_writable_dir(out_dir, "out_dir")  # before the long work, not after it
    config = dict(generator_config or {})
    if generator is not None:
        if weights is not None:
            raise ValueError("weights: give either weights or generator, not both")
        if not isinstance(generator, torch.nn.Module):
            raise TypeError(f"generator: expected a Background Matting generator (nn.Module), "
                            f"got {type(generator).__name__}")
    elif weights is None:
        if not allow_random_weights:
            raise ValueError(
                "weights: Background Matting needs the official generator weights to produce a "
                f"real matte. {OFFICIAL_WEIGHTS_HELP} Then run with --weights PATH "
                "(weights=PATH). To only exercise the pipeline with a random, untrained "
                "generator, pass --allow-random-weights (allow_random_weights=True): the matte "
                "will be meaningless.")
        warnings.warn("predict_bgm: DEMO MODE with a randomly initialised generator (no weights): "
                      "the outputs only show that the pipeline runs; the matte is meaningless",
                      RandomWeightsWarning, stacklevel=2)
        generator = bgm_generator(seed=seed, **config)
    else:
        generator = bgm_generator(weights=weights, **config)

    photo = read_image(photo_path)
    plate = read_image(plate_path)
    background = read_image(target) if target is not None else None
    result = matte_photo(photo, plate, generator, target_background=background, size=size,
                         device=device, align=align, segmentation=segmentation,
                         seg_weights=seg_weights)
    composite = result.composite
    if composite is None:
        board = checkerboard(*result.alpha.shape, tile=max(8, max(result.alpha.shape) // 60))
        composite = compose(result.fg, board, result.alpha).astype(np.float32)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = Path(photo_path).stem
    paths = {"matte": out / f"{name}_matte.png", "fg": out / f"{name}_fg.png",
             "composite": out / f"{name}_composite.png"}
    write_alpha(paths["matte"], result.alpha)
    write_image(paths["fg"], result.fg)
    write_image(paths["composite"], np.clip(composite, 0.0, 1.0))
    return paths
