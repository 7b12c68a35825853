"""A soft segmentation of the person, the third input of Background Matting.

The authors ran DeepLabv3+ (TensorFlow) on the photo and softened its person
mask; here torchvision's DeepLabV3 does the same in PyTorch (one framework,
no cuDNN clashes). Pretrained weights cannot be downloaded by this library:
they are used when a local copy exists (the torch hub cache, where torchvision
puts them, or a given path).

Without them the library says so (a :class:`SegmentationFallbackWarning`) and
uses a background-difference mask instead: the photo minus the *aligned*
plate, thresholded (Otsu, with a floor), cleaned by morphology (open, close,
keep the large connected components, fill holes) and softened by a blur. It
is cruder where the person's colours equal the scene behind them, which is
exactly where the matting network needs the segmentation least: there it
relies on the background input anyway.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> plate = rng.random((120, 160, 3)).astype(np.float32)
>>> photo = plate.copy(); photo[40:110, 60:100] = 0.5
>>> seg = soft_segmentation(photo, plate=plate, method="background")
>>> seg.method, seg.mask.shape, bool(seg.mask[75, 80] > 0.99), bool(seg.mask[5, 5] < 0.01)
('background_difference', (120, 160), True, True)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .._checks import as_float01, check_shape

__all__ = [
    "SegmentationResult",
    "SegmentationFallbackWarning",
    "soft_segmentation",
    "background_difference_mask",
    "find_deeplab_weights",
    "DEEPLAB_FILES",
    "PERSON_CLASS",
]

#: Index of "person" among the 21 Pascal VOC classes torchvision's DeepLabV3 predicts.
PERSON_CLASS = 15

#: File names torchvision gives the COCO-with-VOC-labels DeepLabV3 checkpoints in
#: the torch hub cache, in the order they are preferred.
DEEPLAB_FILES = {
    "deeplabv3_resnet101": "deeplabv3_resnet101_coco-586e9e4e.pth",
    "deeplabv3_resnet50": "deeplabv3_resnet50_coco-cd0a2569.pth",
    "deeplabv3_mobilenet_v3_large": "deeplabv3_mobilenet_v3_large-fc3c493d.pth",
}

_HOW_TO_GET = (
    "This library never downloads weights. On a machine with internet access run `python -c "
    "\"import torchvision; "
    "torchvision.models.segmentation.deeplabv3_resnet101(weights='DEFAULT')\"`, which stores "
    "{file} in the torch hub cache ($TORCH_HOME/hub/checkpoints, by default "
    "~/.cache/torch/hub/checkpoints); copy that file to the same folder here, or pass its "
    "path as weights=."
)


class SegmentationFallbackWarning(UserWarning):
    """DeepLabV3 weights were unavailable; the background-difference mask was used instead."""


@dataclass
class SegmentationResult:
    """A soft person mask and how it was made.

    Attributes:
        mask: float32 ``(H, W)`` in [0, 1], 1 on the person.
        method: ``"deeplabv3_resnet101"`` (or another architecture name),
            ``"background_difference"`` or ``"given"``.
        note: why the fallback was used, or ``""``.
    """

    mask: np.ndarray
    method: str
    note: str = ""


# --------------------------------------------------------------------------- mask clean-up


def _ellipse(radius: int) -> np.ndarray:
    radius = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _clean(binary: np.ndarray, *, min_fraction: float = 0.2) -> np.ndarray:
    """Open, close, keep the components at least ``min_fraction`` of the largest, fill holes.

    Works on a uint8 0/1 mask at the analysis resolution; radii are relative to its size.
    """
    side = max(binary.shape)
    mask = cv2.morphologyEx(binary, cv2.MORPH_OPEN, _ellipse(round(0.006 * side)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _ellipse(round(0.015 * side)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= min_fraction * areas.max()) + 1
    mask = np.isin(labels, keep).astype(np.uint8)
    # A hole is a background component that does not touch the image border
    # (a person cut by the frame keeps the gaps that open onto the border).
    count, labels = cv2.connectedComponents(1 - mask, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = ~np.isin(labels, border) & (mask == 0)
    mask[holes] = 1
    return mask


def _soften(binary: np.ndarray, out_hw: tuple[int, int], *, grow: float, blur: float) -> np.ndarray:
    """Dilate by ``grow`` and blur by ``blur`` (fractions of the long side), upsample to
    ``out_hw``."""
    side = max(binary.shape)
    if grow > 0:
        binary = cv2.dilate(binary, _ellipse(round(grow * side)))
    soft = binary.astype(np.float32)
    if blur > 0:
        soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=blur * side)
    soft = cv2.resize(soft, (out_hw[1], out_hw[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(soft, 0.0, 1.0)


def _analysis_size(hw: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(hw))
    return max(1, round(hw[1] * scale)), max(1, round(hw[0] * scale))


# --------------------------------------------------------------------------- fallback


def background_difference_mask(photo: np.ndarray, plate: np.ndarray, *, min_threshold: float = 0.08,
                               grow: float = 0.01, blur: float = 0.01,
                               max_side: int = 512) -> np.ndarray:
    """A soft person mask from the colour difference between the photo and the aligned plate.

    The Euclidean RGB distance (after a light blur that forgives sub-pixel
    misalignment and sensor noise) is thresholded with Otsu's method, but
    never below ``min_threshold`` (so a photo without a person gives an empty
    mask rather than thresholded noise); morphology removes specks and thin
    parallax edges, keeps the large components, fills holes; the mask is then
    grown and blurred, like the original's dilated, blurred DeepLab mask.

    Args:
        photo: RGB ``(H, W, 3)``, uint8 or float in [0, 1].
        plate: the background plate **aligned** to the photo, same shape and dtype rules.
        min_threshold: lowest colour distance (in [0, sqrt 3]) that counts as different.
        grow: dilation radius as a fraction of the long side.
        blur: Gaussian sigma as a fraction of the long side.
        max_side: the analysis runs at this long side (the mask is upsampled).

    Returns:
        float32 ``(H, W)`` in [0, 1].
    """
    check_shape(photo, "H,W,3", name="photo")
    dims = check_shape(plate, "H,W,3", name="plate")
    if (dims["H"], dims["W"]) != photo.shape[:2]:
        raise ValueError(f"plate: expected the photo's size {photo.shape[:2]} (align it first), "
                         f"got {plate.shape[:2]}")
    size = _analysis_size(photo.shape[:2], max_side)
    a = cv2.resize(as_float01(photo, name="photo").astype(np.float32), size,
                   interpolation=cv2.INTER_AREA)
    b = cv2.resize(as_float01(plate, name="plate").astype(np.float32), size,
                   interpolation=cv2.INTER_AREA)
    sigma = 0.002 * max(size) + 0.5
    distance = np.linalg.norm(cv2.GaussianBlur(a - b, (0, 0), sigma), axis=2)
    level = np.round(np.clip(distance / np.sqrt(3.0), 0.0, 1.0) * 255).astype(np.uint8)
    otsu, _ = cv2.threshold(level, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = max(otsu / 255 * np.sqrt(3.0), min_threshold)
    binary = _clean((distance > threshold).astype(np.uint8))
    return _soften(binary, photo.shape[:2], grow=grow, blur=blur)


# --------------------------------------------------------------------------- DeepLabV3


def _hub_checkpoints() -> Path:
    """Where torchvision caches downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    from ..weights import hub_checkpoint_dir

    return hub_checkpoint_dir()


def find_deeplab_weights(weights: str | os.PathLike | None = None) -> Path | None:
    """Where usable DeepLabV3 weights are: ``weights`` itself, or a file in the torch hub cache.

    Nothing is downloaded.

    Args:
        weights: a local checkpoint path, or ``None`` to look in
            ``torch.hub.get_dir()/checkpoints`` for the files of :data:`DEEPLAB_FILES`.

    Returns:
        The path, or ``None`` when nothing is found.

    Raises:
        FileNotFoundError: ``weights`` is given but does not exist.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights: {path} does not exist. "
                                    + _HOW_TO_GET.format(file=DEEPLAB_FILES["deeplabv3_resnet101"]))
        return path
    cache = _hub_checkpoints()
    for name in DEEPLAB_FILES.values():
        if (cache / name).is_file():
            return cache / name
    return None


def _deeplab_from_state_dict(path: Path):
    """Build the torchvision DeepLabV3 whose architecture the checkpoint's keys describe."""
    from torchvision.models import segmentation

    from ..weights import load_state_dict, torchvision_hash_prefix

    # torchvision's own file names carry the first digits of the file's SHA-256: check them.
    known = torchvision_hash_prefix(path) if path.name in DEEPLAB_FILES.values() else None
    state = load_state_dict(path, name="weights", sha256_prefix=known)
    if any(k.startswith("backbone.layer4") for k in state):
        blocks = sum(1 for k in state if k.startswith("backbone.layer3.")
                     and k.endswith(".conv1.weight"))
        arch = "deeplabv3_resnet101" if blocks == 23 else "deeplabv3_resnet50"
    elif "backbone.0.0.weight" in state:
        arch = "deeplabv3_mobilenet_v3_large"
    else:
        raise ValueError(f"weights: {path} is not a torchvision DeepLabV3 checkpoint "
                         "(expected ResNet-50/101 or MobileNetV3-Large backbone keys)")
    aux = any(k.startswith("aux_classifier.") for k in state)
    model = getattr(segmentation, arch)(weights=None, weights_backbone=None, num_classes=21,
                                        aux_loss=aux)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # mis-shaped or missing keys: torch's message lists them
        raise ValueError(f"weights: {path} does not fit torchvision's {arch}: "
                         f"{' '.join(str(err).split())[:300]}") from None
    return model.eval(), arch


def _deeplab_mask(photo: np.ndarray, path: Path, device: str, *, grow: float, blur: float,
                  short_side: int = 520) -> tuple[np.ndarray, str]:
    import torch

    from ..config import get_device

    dev = get_device(device)
    model, arch = _deeplab_from_state_dict(path)
    model = model.to(dev).eval()
    # torchvision's preset for these weights: short side 520, ImageNet mean and std.
    scale = min(1.0, short_side / min(photo.shape[:2]))
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    x = torch.from_numpy(((small - mean) / std).transpose(2, 0, 1).copy())[None].to(dev)
    with torch.no_grad():
        logits = model(x)["out"]
    person = logits.argmax(dim=1)[0] == PERSON_CLASS
    binary = _clean(person.cpu().numpy().astype(np.uint8))
    return _soften(binary, photo.shape[:2], grow=grow, blur=blur), arch


# --------------------------------------------------------------------------- public entry


def soft_segmentation(photo: np.ndarray, *, plate: np.ndarray | None = None, method: str = "auto",
                      weights: str | os.PathLike | None = None, device: str = "auto",
                      grow: float = 0.01, blur: float = 0.01) -> SegmentationResult:
    """A soft person mask of the photo, from DeepLabV3 or (labelled) from the background plate.

    Args:
        photo: RGB ``(H, W, 3)``, uint8 or float in [0, 1].
        plate: the background plate aligned to the photo (same shape); needed
            by the background-difference method.
        method: ``"auto"`` (DeepLabV3 when weights are found, else the
            fallback with a :class:`SegmentationFallbackWarning`),
            ``"deeplab"`` (fails without weights) or ``"background"`` (the
            background difference, asked for explicitly: no warning).
        weights: path of a torchvision DeepLabV3 state dict (ResNet-101,
            ResNet-50 or MobileNetV3-Large, COCO with VOC labels); ``None``
            looks in the torch hub cache. Never downloaded.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` for DeepLabV3.
        grow, blur: dilation radius and blur sigma of the soft edge, as
            fractions of the long side.

    Returns:
        A :class:`SegmentationResult` (``mask`` float32 ``(H, W)`` in [0, 1], ``method``, ``note``).

    Raises:
        ValueError: bad arguments, or neither DeepLabV3 weights nor a plate.
        FileNotFoundError: ``method="deeplab"`` without weights (with how to get them).
    """
    check_shape(photo, "H,W,3", name="photo")
    photo = as_float01(photo, name="photo").astype(np.float32)
    if method not in ("auto", "deeplab", "background"):
        raise ValueError(f"method: expected 'auto', 'deeplab' or 'background', got {method!r}")
    if plate is not None:
        check_shape(plate, f"{photo.shape[0]},{photo.shape[1]},3", name="plate")
    note = ""
    if method in ("auto", "deeplab"):
        path = find_deeplab_weights(weights)
        if path is not None:
            mask, arch = _deeplab_mask(photo, path, device, grow=grow, blur=blur)
            return SegmentationResult(mask, arch)
        note = (f"no DeepLabV3 weights in the torch hub cache ({_hub_checkpoints()}) "
                "and none given. "
                + _HOW_TO_GET.format(file=DEEPLAB_FILES["deeplabv3_resnet101"]))
        if method == "deeplab":
            raise FileNotFoundError(f"weights: {note}")
        if plate is None:
            raise ValueError("plate: needed for the background-difference segmentation, "
                             f"because {note}")
        warnings.warn("soft_segmentation: using the background-difference fallback, not "
                      f"DeepLabV3: {note}", SegmentationFallbackWarning, stacklevel=2)
    elif plate is None:
        raise ValueError("plate: the background-difference segmentation needs the aligned plate")
    mask = background_difference_mask(photo, plate, grow=grow, blur=blur)
    return SegmentationResult(mask, "background_difference", note)
