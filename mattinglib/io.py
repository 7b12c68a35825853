"""Reading and writing images, alphas and trimaps, with validation.

Conventions: images are returned as float32 ``(H, W, 3)`` RGB in [0, 1];
alphas as float32 ``(H, W)`` in [0, 1]; trimaps as uint8 ``(H, W)`` with values
{0, 128, 255} (checked, never rounded).

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.png")
>>> write_alpha(path, np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4))
>>> read_alpha(path).shape
(3, 4)
"""

from __future__ import annotations

import io as _bytes_io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ._checks import (
    InputTypeError,
    as_float01,
    check_int,
    check_names,
    check_shape,
    check_trimap_values,
    check_writable_file,
)

__all__ = [
    "read_image",
    "read_image_raw",
    "read_alpha",
    "read_trimap",
    "write_image",
    "write_alpha",
    "write_trimap",
    "to_uint8",
    "check_image_path",
    "MattingSample",
    "load_alphamatting",
    "ALPHAMATTING_NAMES",
]

#: The 27 low-resolution training images of the alphamatting.com benchmark.
ALPHAMATTING_NAMES = tuple(f"GT{i:02d}" for i in range(1, 28))


def _jpeg_truncated(data: np.ndarray) -> bool:
    """Whether JPEG bytes stop before the image data does.

    ``cv2.imread`` decodes a truncated JPEG without an error and fills the
    missing rows with grey (``cv2.imdecode`` refuses it, without saying why).
    A complete file ends with the end-of-image marker FF D9; only a
    file that does not (trailing bytes after the marker are allowed) is decoded
    once more by Pillow, which does report a premature end.
    """
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False  # not a JPEG
    tail = np.trim_zeros(data[-4096:], "b")
    if tail.size >= 2 and tail[-2] == 0xFF and tail[-1] == 0xD9:
        return False
    from PIL import Image

    try:
        with Image.open(_bytes_io.BytesIO(data.tobytes())) as im:
            im.load()
    except OSError as err:
        return "truncated" in str(err) or "premature" in str(err).lower()
    return False


def read_image_raw(path: str | os.PathLike, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """The file as OpenCV decodes it: BGR(A) channel order, the file's dtype, no conversion.

    What :func:`read_image`, :func:`read_alpha` and :func:`read_trimap` build on, for
    code that converts the pixels itself (e.g. a folder dataset that wants BGR). ``flags``
    are OpenCV's ``IMREAD_*`` flags. The file is read as bytes, so paths with any
    characters work.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a truncated JPEG, or bytes that are not an image OpenCV can decode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such image file: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    if _jpeg_truncated(data):
        raise ValueError(f"path: {path} is a truncated JPEG (the file ends before the image does; "
                         "the missing rows would read as grey): download or export it again")
    arr = cv2.imdecode(data, flags) if data.size else None
    if arr is None:
        raise ValueError(f"path: could not decode {path} as an image (corrupt or unsupported)")
    return arr


def to_uint8(x: np.ndarray, *, name: str = "image") -> np.ndarray:
    """float in [0, 1] -> uint8 with rounding (uint8 passes through).

    >>> to_uint8(np.array([0.0, 0.5, 1.0]))
    array([  0, 128, 255], dtype=uint8)
    """
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        return x
    f = as_float01(x, name=name)
    return np.round(f * 255.0).astype(np.uint8)


def read_image(path) -> np.ndarray:
    """An RGB image as float32 ``(H, W, 3)`` in [0, 1] (alpha channel dropped, grey expanded)."""
    arr = read_image_raw(path)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float32) / 65535.0)
    else:
        arr = arr.astype(np.float32) / 255.0
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    else:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(arr)


def read_alpha(path) -> np.ndarray:
    """An alpha matte as float32 ``(H, W)`` in [0, 1].

    Which channel holds the matte:

    * grey: the only one;
    * three channels: they must be identical (as the alphamatting.com ground
      truth stores them), and channel 0 is used; a colour image is an error;
    * RGBA: the alpha channel, unless it is opaque everywhere while the RGB
      channels are identical grey: then the matte was saved in RGB with an
      unused alpha channel, and the RGB channels are used. RGBA with an opaque
      alpha channel and colour in RGB is an error (a photo, not a matte).

    Raises:
        ValueError: naming the file, for a colour image, or an RGBA file whose
            alpha channel is opaque and whose RGB is colour.
    """
    arr = read_image_raw(path)
    if arr.ndim == 3:
        arr = _matte_channel(arr, path)
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    return np.ascontiguousarray(arr.astype(np.float32) / scale)


def _matte_channel(arr: np.ndarray, path) -> np.ndarray:
    colour, top = arr[:, :, :3], np.iinfo(arr.dtype).max if arr.dtype.kind == "u" else 1
    grey = colour.shape[2] == 1 or (np.array_equal(colour[:, :, 0], colour[:, :, 1])
                                    and np.array_equal(colour[:, :, 0], colour[:, :, 2]))
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3]
        if not (alpha == top).all():
            return alpha
        if grey:
            return colour[:, :, 0]
        raise ValueError(f"path: {path} is an RGBA colour image with an opaque alpha channel, not "
                         "an alpha matte (expected a grey image, identical RGB channels, or the "
                         "matte in the alpha channel)")
    if not grey:
        raise ValueError(f"path: {path} is a colour image (its channels differ), not an alpha "
                         "matte (expected a grey image or identical RGB channels)")
    return colour[:, :, 0]


def read_trimap(path) -> np.ndarray:
    """A trimap as uint8 ``(H, W)``; any value outside {0, 128, 255} is an error."""
    arr = read_image_raw(path, cv2.IMREAD_GRAYSCALE)
    try:
        return check_trimap_values(arr, name="trimap")
    except ValueError as err:
        raise ValueError(f"{err} (file {path})") from None


def check_image_path(path, *, name: str = "path") -> Path:
    """Check that an image can be written at ``path``: an extension OpenCV can
    write (``.png``, ``.jpg``, ...), and a writable folder (created when
    missing) with no file standing where a folder should be. Call it before
    long work whose result goes there.

    >>> try:
    ...     check_image_path("a.xyz", name="output")
    ... except ValueError as err:
    ...     print(err)
    output: no image writer for the extension '.xyz' of a.xyz (use .png, .jpg, .bmp, .tif or .webp)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{name}: expected a file path, got {type(path).__name__}")
    path = Path(path)
    if not path.suffix or not cv2.haveImageWriter(str(path)):
        ext = repr(path.suffix) if path.suffix else "(none)"
        raise ValueError(f"{name}: no image writer for the extension {ext} of {path} "
                         "(use .png, .jpg, .bmp, .tif or .webp)")
    return check_writable_file(path, name)


def _imwrite(path, arr: np.ndarray) -> None:
    path = check_image_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # imencode + tofile: OpenCV 5 raises on a failed write instead of returning False.
        ok, encoded = cv2.imencode(path.suffix, arr)
    except cv2.error as err:
        raise ValueError(f"path: could not encode an image for {path}: {err}") from None
    if not ok:
        raise ValueError(f"path: could not encode an image for {path}")
    encoded.tofile(path)


def write_image(path, image: np.ndarray) -> None:
    """Write an RGB ``(H, W, 3)`` image (float in [0, 1] or uint8)."""
    check_shape(image, "H,W,3", name="image")
    _imwrite(path, cv2.cvtColor(to_uint8(image, name="image"), cv2.COLOR_RGB2BGR))


def write_alpha(path, alpha: np.ndarray) -> None:
    """Write an ``(H, W)`` alpha (float in [0, 1] or uint8) as an 8-bit grey image."""
    check_shape(alpha, "H,W", name="alpha")
    _imwrite(path, to_uint8(alpha, name="alpha"))


def write_trimap(path, trimap: np.ndarray) -> None:
    """Write a validated uint8 trimap as a grey PNG (never JPEG: it would add values)."""
    check_trimap_values(trimap, name="trimap")
    if Path(path).suffix.lower() in {".jpg", ".jpeg"}:
        raise ValueError("path: a trimap must be stored losslessly (PNG); JPEG adds values "
                         "other than 0/128/255")
    _imwrite(path, trimap)


@dataclass
class MattingSample:
    """One benchmark image: ``image`` (H,W,3) float32, ``alpha`` (H,W) float32, ``trimap`` (H,W)
    uint8."""

    name: str
    image: np.ndarray
    alpha: np.ndarray
    trimap: np.ndarray


def _downscale(sample: MattingSample, max_side: int) -> MattingSample:
    h, w = sample.alpha.shape
    scale = max_side / max(h, w)
    if scale >= 1:
        return sample
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(sample.image, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(sample.alpha, size, interpolation=cv2.INTER_AREA)
    # Area averaging of an all-opaque block returns 0.99999994 in float32: snap
    # such rounding back so that "alpha == 1" still finds the solid foreground.
    alpha[alpha > 1 - 1e-5] = 1.0
    alpha[alpha < 1e-5] = 0.0
    # Nearest keeps the trimap's three values; the unknown band is widened by
    # one pixel so it still covers every fractional alpha after resampling.
    trimap = cv2.resize(sample.trimap, size, interpolation=cv2.INTER_NEAREST)
    frac = (alpha > 0) & (alpha < 1)
    trimap = trimap.copy()
    trimap[frac & (trimap != 128)] = 128
    return MattingSample(sample.name, np.clip(image, 0, 1), np.clip(alpha, 0, 1), trimap)


def load_alphamatting(
    root=None,
    *,
    trimap: str = "trimap1",
    names=None,
    max_side: int | None = None,
) -> list[MattingSample]:
    """Load the alphamatting.com low-resolution training images found under ``root``.

    Args:
        root: the folder with ``input/``, ``gt/``, ``trimap1/`` and ``trimap2/``
            (as written by ``data_scripts/download_alphamatting.py``). ``None``
            looks for ``alphamatting_lowres`` under :func:`mattinglib.config.data_root`.
        trimap: ``"trimap1"`` (fine) or ``"trimap2"`` (coarse).
        names: which images (e.g. ``["GT01", "GT04"]``); ``None`` = every one present.
        max_side: a positive int: downscale so that the longer side is at most this (area
            interpolation; the trimap's unknown band is kept covering every
            fractional alpha). ``None`` keeps the original size.

    Returns:
        a list of :class:`MattingSample`, sorted by name.

    Raises:
        FileNotFoundError: when the folder or a requested image is missing, with
            the command that downloads the data.
    """
    from .config import find_dataset

    if trimap not in ("trimap1", "trimap2"):
        raise ValueError(f"trimap: expected 'trimap1' or 'trimap2', got {trimap!r}")
    max_side = check_int(max_side, "max_side", minimum=1, optional=True)
    if names is not None:
        names = check_names(names, "names")
    if root is None:
        root = find_dataset("alphamatting_lowres")
        if root is None:
            raise FileNotFoundError(
                "alphamatting_lowres not found under MATTINGLIB_DATA (or <repo>/data). "
                "Download it with: python data_scripts/download_alphamatting.py"
            )
    root = Path(root)
    if names is None:
        names = sorted(p.stem for p in (root / "input").glob("GT*.png"))
        if not names:
            raise FileNotFoundError(f"root: no GT*.png images in {root / 'input'}")
    samples = []
    for name in names:
        sample = MattingSample(
            name=name,
            image=read_image(root / "input" / f"{name}.png"),
            alpha=read_alpha(root / "gt" / f"{name}.png"),
            trimap=read_trimap(root / trimap / f"{name}.png"),
        )
        if max_side is not None:
            sample = _downscale(sample, max_side)
        samples.append(sample)
    return samples
