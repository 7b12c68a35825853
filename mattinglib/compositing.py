"""The compositing equation ``I = alpha * F + (1 - alpha) * B`` and what follows from it.

Matting inverts this equation: from an image ``I`` recover the opacity
``alpha`` and the foreground colour ``F`` so the subject can be placed over a
new background ``B'``. Everything here works on both numpy arrays and torch
tensors (the type of the first argument picks the path, and the result has the
same type):

* numpy: images ``(H, W, 3)`` and alpha ``(H, W)`` or ``(H, W, 1)``, uint8 in
  0..255 or float in [0, 1] (uint8 is divided by 255). Results are float32,
  or float64 when an input is float64; arithmetic is done in float64.
* torch: images ``(B, 3, H, W)`` and alpha ``(B, 1, H, W)``, floating in
  [0, 1]; a background of batch size 1 is broadcast over the batch. Results
  keep the promoted input dtype and device and are differentiable.

Values outside [0, 1], NaN, wrong shapes and mismatched sizes raise a
``ValueError`` naming the argument; nothing is clipped silently.

>>> import numpy as np, torch
>>> fg, bg = np.ones((2, 2, 3)), np.zeros((2, 2, 3))
>>> compose(fg, bg, np.full((2, 2), 0.25))[0, 0]
array([0.25, 0.25, 0.25])
>>> compose(torch.ones(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), torch.full((1, 1, 8, 8), 0.5)).shape
torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._checks import (
    InputTypeError,
    as_float01,
    check_int,
    check_number,
    check_range,
    check_same_hw,
    check_shape,
    shape_of,
)

__all__ = [
    "compose",
    "composition_residual",
    "premultiply",
    "unpremultiply",
    "estimate_foreground",
    "recompose",
    "checkerboard",
    "preview",
]

Array = Any  # np.ndarray or torch.Tensor

#: 8-bit premultiplied colours are rounded independently of alpha, so they may
#: exceed alpha by up to one level; more than this means the input was not premultiplied.
_PREMULTIPLY_SLACK = 1.0 / 255.0


# --------------------------------------------------------------------------- validation


def _first_kind(x: Any, name: str) -> str:
    if isinstance(x, torch.Tensor):
        return "torch"
    if isinstance(x, np.ndarray):
        return "numpy"
    raise InputTypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")


def _same_kind(x: Any, kind: str, name: str, like: str) -> None:
    ok = isinstance(x, torch.Tensor) if kind == "torch" else isinstance(x, np.ndarray)
    if not ok:
        wanted = "a torch tensor" if kind == "torch" else "a numpy array"
        raise InputTypeError(f"{name}: expected {wanted} like {like}, got {type(x).__name__}")


def _np_out_dtype(*arrays: np.ndarray) -> type:
    return np.float64 if any(a.dtype == np.float64 for a in arrays) else np.float32


def _np_image(x: np.ndarray, name: str) -> np.ndarray:
    check_shape(x, "H,W,3", name=name)
    return x


def _np_alpha(x: np.ndarray, name: str = "alpha") -> np.ndarray:
    """Shape-check an ``(H, W)`` / ``(H, W, 1)`` alpha; returns it as ``(H, W, 1)``."""
    if x.ndim == 2:
        return x[:, :, None]
    if x.ndim == 3 and x.shape[2] == 1:
        return x
    raise ValueError(f"{name}: expected shape (H,W) or (H,W,1), got {shape_of(x)}")


def _torch_tensor(x: torch.Tensor, spec: str, name: str, check_values: bool) -> None:
    if not x.is_floating_point():
        raise InputTypeError(f"{name}: expected a floating-point tensor in [0, 1], got "
                             f"dtype {x.dtype}")
    check_shape(x, spec, name=name)
    if check_values:
        check_range(x.detach(), 0.0, 1.0, name=name)


def _torch_like(x: torch.Tensor, ref: torch.Tensor, channels: int, name: str, like: str,
                check_values: bool, broadcast_batch: bool = False) -> None:
    """Check ``x`` is ``(B, channels, H, W)`` with B, H, W taken from ``ref``."""
    _torch_tensor(x, f"B,{channels},H,W", name, check_values=False)
    b, _, h, w = shape_of(ref)
    xb, _, xh, xw = shape_of(x)
    if (xh, xw) != (h, w) or (xb != b and not (broadcast_batch and xb == 1)):
        batch = f"{b} or 1" if broadcast_batch and b != 1 else f"{b}"
        raise ValueError(f"{name}: expected shape (B,{channels},H,W) with B={batch}, H={h}, W={w} "
                         f"like {like}, got {shape_of(x)}")
    if check_values:
        check_range(x.detach(), 0.0, 1.0, name=name)


# --------------------------------------------------------------------------- compositing


def _compose_np(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Validated float64 composite (the shared core of compose and the residual)."""
    _np_image(fg, "fg")
    _same_kind(bg, "numpy", "bg", "fg")
    _np_image(bg, "bg")
    _same_kind(alpha, "numpy", "alpha", "fg")
    a = _np_alpha(alpha)
    check_same_hw(fg=fg, bg=bg, alpha=alpha)
    f = as_float01(fg, name="fg")
    b = as_float01(bg, name="bg")
    a = as_float01(a, name="alpha")
    return a * f + (1.0 - a) * b


def _compose_torch(fg: torch.Tensor, bg: torch.Tensor, alpha: torch.Tensor,
                   check_values: bool) -> torch.Tensor:
    _torch_tensor(fg, "B,3,H,W", "fg", check_values)
    _same_kind(bg, "torch", "bg", "fg")
    _torch_like(bg, fg, 3, "bg", "fg", check_values, broadcast_batch=True)
    _same_kind(alpha, "torch", "alpha", "fg")
    _torch_like(alpha, fg, 1, "alpha", "fg", check_values)
    return alpha * fg + (1 - alpha) * bg


def compose(fg: Array, bg: Array, alpha: Array, *, check_values: bool = True) -> Array:
    """Composite a foreground over a background: ``I = alpha * F + (1 - alpha) * B``.

    Args:
        fg: foreground colour ``F``.
        bg: background ``B`` (torch: batch size B or 1, broadcast over the batch).
        alpha: opacity.
        check_values: torch only: also check that every value is finite and in
            [0, 1]. Costs a device sync; turn it off inside a training loss
            whose predictions may leave [0, 1]. Shapes are always checked.

    Returns:
        the composite ``I``, same type as ``fg``.

    Shape:
        numpy: fg, bg ``(H, W, 3)``, alpha ``(H, W)`` or ``(H, W, 1)`` -> ``(H, W, 3)``.
        torch: fg ``(B, 3, H, W)``, bg ``(B or 1, 3, H, W)``, alpha ``(B, 1, H, W)``
        -> ``(B, 3, H, W)``.

    Raises:
        ValueError: naming the argument with a wrong type, shape, size, dtype,
            range, or NaN.

    >>> fg = np.zeros((1, 2, 3), dtype=np.uint8); fg[..., 0] = 255  # red
    >>> compose(fg, np.zeros((1, 2, 3), np.float32), np.array([[1.0, 0.5]], np.float32))
    array([[[1. , 0. , 0. ],
            [0.5, 0. , 0. ]]], dtype=float32)
    """
    if _first_kind(fg, "fg") == "torch":
        return _compose_torch(fg, bg, alpha, check_values)
    return _compose_np(fg, bg, alpha).astype(_np_out_dtype(fg, bg, alpha))


def composition_residual(image: Array, fg: Array, bg: Array, alpha: Array, *,
                         check_values: bool = True) -> float:
    """How far ``(fg, bg, alpha)`` is from explaining ``image``: ``max |I - compose(F, B, alpha)|``.

    Zero (up to float rounding) for a composite made by :func:`compose`; a
    quick check that a data set's foregrounds, backgrounds and mattes agree.

    Args:
        image: the composite ``I``, same layout as ``fg``.
        fg, bg, alpha, check_values: as for :func:`compose`.

    Returns:
        the largest absolute difference over all pixels, channels (and batch
        items) as a Python float, in the [0, 1] scale (numpy: computed in float64).

    >>> fg, bg = np.ones((4, 4, 3)), np.zeros((4, 4, 3))
    >>> alpha = np.full((4, 4), 0.5)
    >>> composition_residual(np.full((4, 4, 3), 0.6), fg, bg, alpha)
    0.09999999999999998
    """
    if _first_kind(image, "image") == "torch":
        _torch_tensor(image, "B,3,H,W", "image", check_values)
        _same_kind(fg, "torch", "fg", "image")
        _torch_like(fg, image, 3, "fg", "image", check_values=False)
        return float((image - _compose_torch(fg, bg, alpha, check_values)).abs().max())
    _np_image(image, "image")
    _same_kind(fg, "numpy", "fg", "image")
    check_same_hw(image=image, fg=fg)
    composite = _compose_np(fg, bg, alpha)
    return float(np.abs(as_float01(image, name="image") - composite).max())


# --------------------------------------------------------------------------- premultiplied alpha


def premultiply(fg: Array, alpha: Array, *, check_values: bool = True) -> Array:
    """Premultiplied colour ``alpha * F`` (the part of the composite the foreground contributes).

    Args:
        fg: foreground colour.
        alpha: opacity.
        check_values: torch only, as for :func:`compose`.

    Returns:
        ``alpha * F``, same type and layout as ``fg``.

    Shape:
        numpy: fg ``(H, W, 3)``, alpha ``(H, W)`` or ``(H, W, 1)`` -> ``(H, W, 3)``.
        torch: fg ``(B, 3, H, W)``, alpha ``(B, 1, H, W)`` -> ``(B, 3, H, W)``.

    >>> premultiply(np.full((1, 1, 3), 0.5), np.array([[0.5]]))
    array([[[0.25, 0.25, 0.25]]])
    """
    if _first_kind(fg, "fg") == "torch":
        _torch_tensor(fg, "B,3,H,W", "fg", check_values)
        _same_kind(alpha, "torch", "alpha", "fg")
        _torch_like(alpha, fg, 1, "alpha", "fg", check_values)
        return alpha * fg
    _np_image(fg, "fg")
    _same_kind(alpha, "numpy", "alpha", "fg")
    a = _np_alpha(alpha)
    check_same_hw(fg=fg, alpha=alpha)
    out = as_float01(a, name="alpha") * as_float01(fg, name="fg")
    return out.astype(_np_out_dtype(fg, alpha))


def unpremultiply(premultiplied: Array, alpha: Array, *, eps: float = 1e-6,
                  check_values: bool = True) -> Array:
    """Foreground colour ``F = P / alpha`` from premultiplied colour ``P``.

    Where ``alpha <= eps`` the colour is undefined (nothing of the foreground
    is visible) and the result is 0 (black), never a division by ~0. Elsewhere
    the quotient is clipped to [0, 1]: 8-bit premultiplied colours are rounded
    on their own and may exceed alpha by up to one level (1/255), which would
    give ``F > 1``. A larger excess means the input is not premultiplied by
    this alpha and raises ``ValueError``.

    Args:
        premultiplied: ``P = alpha * F``.
        alpha: opacity.
        eps: alphas at or below this count as fully transparent (``>= 0``).
        check_values: torch only, as for :func:`compose` (also skips the
            ``P <= alpha + 1/255`` check).

    Returns:
        ``F``, same type and layout as ``premultiplied``.

    Shape:
        numpy: premultiplied ``(H, W, 3)``, alpha ``(H, W)`` or ``(H, W, 1)`` -> ``(H, W, 3)``.
        torch: premultiplied ``(B, 3, H, W)``, alpha ``(B, 1, H, W)`` -> ``(B, 3, H, W)``.

    >>> p = np.array([[[0.25] * 3, [0.0] * 3]])  # premultiplied by alpha 0.5 and 0
    >>> unpremultiply(p, np.array([[0.5, 0.0]]))[0, :, 0]
    array([0.5, 0. ])
    """
    eps = check_number(eps, "eps", minimum=0, maximum=1, max_open=True)
    if _first_kind(premultiplied, "premultiplied") == "torch":
        _torch_tensor(premultiplied, "B,3,H,W", "premultiplied", check_values)
        _same_kind(alpha, "torch", "alpha", "premultiplied")
        _torch_like(alpha, premultiplied, 1, "alpha", "premultiplied", check_values)
        if check_values:
            _check_premultiplied(float((premultiplied - alpha).detach().max()))
        visible = alpha > eps
        # clamp_min keeps the unused branch finite, so gradients stay finite too.
        quotient = premultiplied / alpha.clamp_min(max(eps, torch.finfo(alpha.dtype).tiny))
        return torch.where(visible, quotient.clamp(0, 1), torch.zeros_like(quotient))
    _np_image(premultiplied, "premultiplied")
    _same_kind(alpha, "numpy", "alpha", "premultiplied")
    a = _np_alpha(alpha)
    check_same_hw(premultiplied=premultiplied, alpha=alpha)
    p = as_float01(premultiplied, name="premultiplied")
    a = as_float01(a, name="alpha")
    _check_premultiplied(float((p - a).max()))
    visible = a > eps
    out = np.zeros_like(p)
    np.divide(p, a, out=out, where=np.broadcast_to(visible, p.shape))
    return np.clip(out, 0.0, 1.0).astype(_np_out_dtype(premultiplied, alpha))


def _check_premultiplied(max_excess: float) -> None:
    if max_excess > _PREMULTIPLY_SLACK + 1e-12:
        raise ValueError("premultiplied: expected values <= alpha (colour premultiplied by alpha), "
                         f"got values exceeding alpha by up to {max_excess:.4g}")


# --------------------------------------------------------------------------- new backgrounds


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, *, method: str = "ml",
                        **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background colours that explain ``image`` under ``alpha``.

    Uses the multi-level method of Germer et al., "Fast Multi-Level Foreground
    Estimation" (ICPR 2020), as implemented by
    ``pymatting.estimate_foreground_ml``. The image's colour at a
    semi-transparent pixel mixes foreground and background; recompositing with
    the image itself as ``F`` would carry the old background along (a halo).
    The estimate is smooth, clipped to [0, 1] by pymatting, and satisfies the
    compositing equation closely where 0 < alpha < 1.

    Args:
        image: ``(H, W, 3)`` uint8 or float in [0, 1].
        alpha: ``(H, W)`` or ``(H, W, 1)`` uint8 or float in [0, 1].
        method: ``"ml"`` (the only one so far).
        **kwargs: passed to ``estimate_foreground_ml`` (``regularization``,
            ``n_small_iterations``, ``n_big_iterations``, ``small_size``,
            ``gradient_weight``).

    Returns:
        ``(fg, bg)``, each float32 ``(H, W, 3)`` in [0, 1] (pymatting works in float32).

    Raises:
        ValueError: on torch tensors (convert with ``.cpu().numpy()`` and
            move to ``(H, W, 3)``), bad shapes, ranges or an unknown method.
    """
    if isinstance(image, torch.Tensor):
        raise ValueError("image: expected a numpy (H,W,3) array; estimate_foreground runs on the "
                         "CPU with pymatting: pass image[0].permute(1, 2, 0).cpu().numpy()")
    if method != "ml":
        raise ValueError(f"method: expected 'ml', got {method!r}")
    if "return_background" in kwargs:
        raise ValueError("return_background: not an option here; estimate_foreground always "
                         "returns (fg, bg)")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image: expected a numpy array, got {type(image).__name__}")
    _np_image(image, "image")
    _same_kind(alpha, "numpy", "alpha", "image")
    a = _np_alpha(alpha)
    check_same_hw(image=image, alpha=alpha)
    threads = torch.get_num_threads()  # numba's OpenMP start-up resets torch's thread count
    try:
        from pymatting import estimate_foreground_ml  # imported late: loads numba

        fg, bg = estimate_foreground_ml(as_float01(image, name="image"),
                                        as_float01(a, name="alpha")[:, :, 0],
                                        return_background=True, **kwargs)
    finally:
        torch.set_num_threads(threads)
    return fg.astype(np.float32, copy=False), bg.astype(np.float32, copy=False)


def recompose(image: Array, alpha: Array, new_background: Array, *, fg: Array | None = None,
              check_values: bool = True) -> Array:
    """Place the subject of ``image`` over ``new_background``.

    ``compose(fg, new_background, alpha)``, where ``fg`` is estimated from
    the image with :func:`estimate_foreground` when not given (numpy only).

    Args:
        image: the photo the alpha belongs to.
        alpha: its matte.
        new_background: the background to place the subject over (torch:
            batch size B or 1).
        fg: a known (or predicted) foreground; required for torch tensors.
        check_values: torch only, as for :func:`compose`.

    Returns:
        the new composite, same type and layout as ``image``.

    Shape:
        numpy: ``(H, W, 3)`` images, alpha ``(H, W)`` or ``(H, W, 1)`` -> ``(H, W, 3)``.
        torch: ``(B, 3, H, W)`` images, alpha ``(B, 1, H, W)`` -> ``(B, 3, H, W)``.

    >>> image = np.full((1, 2, 3), 0.5); fg = np.ones((1, 2, 3)); alpha = np.array([[1.0, 0.5]])
    >>> recompose(image, alpha, np.zeros((1, 2, 3)), fg=fg)[..., 0]
    array([[1. , 0.5]])
    """
    if _first_kind(image, "image") == "torch":
        _torch_tensor(image, "B,3,H,W", "image", check_values)
        if fg is None:
            raise ValueError("fg: required for torch tensors (estimate_foreground works on numpy "
                             "arrays)")
        _same_kind(fg, "torch", "fg", "image")
        _torch_like(fg, image, 3, "fg", "image", check_values=False)
        return _compose_over(fg, new_background, alpha, "new_background", check_values)
    _np_image(image, "image")
    _same_kind(alpha, "numpy", "alpha", "image")
    _same_kind(new_background, "numpy", "new_background", "image")
    _np_image(new_background, "new_background")
    check_same_hw(image=image, alpha=_np_alpha(alpha), new_background=new_background)
    if fg is None:
        fg, _ = estimate_foreground(image, alpha)
    else:
        _same_kind(fg, "numpy", "fg", "image")
        _np_image(fg, "fg")
        check_same_hw(image=image, fg=fg)
    return _compose_over(fg, new_background, alpha, "new_background", check_values)


def _compose_over(fg: Array, bg: Array, alpha: Array, bg_name: str, check_values: bool) -> Array:
    """:func:`compose`, with errors about ``bg`` reported under the caller's name."""
    try:
        return compose(fg, bg, alpha, check_values=check_values)
    except ValueError as err:
        text = str(err)
        if text.startswith("bg:"):
            raise ValueError(bg_name + ":" + text[3:]) from None
        raise


# --------------------------------------------------------------------------- previews


def checkerboard(height: int, width: int, *, tile: int = 16,
                 colors: tuple[Any, Any] = (0.8, 0.6)) -> np.ndarray:
    """The grey checkerboard drawing programs show behind transparent pixels.

    Args:
        height, width: size in pixels (positive).
        tile: side of one square in pixels (positive).
        colors: ``(top-left colour, other colour)``, each a grey level or an
            RGB triple in [0, 1].

    Returns:
        float32 ``(height, width, 3)`` in [0, 1].

    >>> checkerboard(2, 4, tile=2, colors=(1.0, 0.0))[..., 0]
    array([[1., 1., 0., 0.],
           [1., 1., 0., 0.]], dtype=float32)
    """
    height = check_int(height, "height", minimum=1)
    width = check_int(width, "width", minimum=1)
    tile = check_int(tile, "tile", minimum=1)
    if not isinstance(colors, (tuple, list)) or len(colors) != 2:
        raise ValueError(f"colors: expected two colours (grey levels or RGB triples), "
                         f"got {colors!r}")
    try:
        palette = np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (3,)) for c in colors])
    except (ValueError, TypeError):
        raise ValueError(f"colors: expected two colours (grey levels or RGB triples), "
                         f"got {colors!r}") from None
    check_range(palette, 0.0, 1.0, name="colors")
    rows = np.arange(height)[:, None] // tile
    cols = np.arange(width)[None, :] // tile
    return palette[(rows + cols) % 2].astype(np.float32)


def preview(fg: Array, alpha: Array, *, background: Array | None = None, tile: int = 16) -> Array:
    """The foreground over a checkerboard (or ``background``), to look at a matte.

    Args:
        fg: foreground colour (or the image itself, for a quick look).
        alpha: opacity.
        background: what to show behind; ``None`` = :func:`checkerboard`.
        tile: checkerboard square size in pixels.

    Returns:
        the composite, same type and layout as ``fg`` (torch: on ``fg``'s
        device and dtype).

    Shape:
        numpy: fg ``(H, W, 3)``, alpha ``(H, W)`` or ``(H, W, 1)`` -> ``(H, W, 3)``.
        torch: fg ``(B, 3, H, W)``, alpha ``(B, 1, H, W)`` -> ``(B, 3, H, W)``.

    >>> fg = np.ones((4, 4, 3), dtype=np.float32)
    >>> preview(fg, np.zeros((4, 4), dtype=np.float32), tile=2)[:, :, 0]  # transparent
    array([[0.8, 0.8, 0.6, 0.6],
           [0.8, 0.8, 0.6, 0.6],
           [0.6, 0.6, 0.8, 0.8],
           [0.6, 0.6, 0.8, 0.8]], dtype=float32)
    """
    if background is None:
        if _first_kind(fg, "fg") == "torch":
            check_shape(fg, "B,3,H,W", name="fg")
            h, w = shape_of(fg)[2:]
            board = torch.from_numpy(checkerboard(h, w, tile=tile)).permute(2, 0, 1)[None]
            background = board.to(device=fg.device, dtype=fg.dtype if fg.is_floating_point()
                                  else torch.float32)
        else:
            check_shape(fg, "H,W,3", name="fg")
            background = checkerboard(fg.shape[0], fg.shape[1], tile=tile)
    return _compose_over(fg, background, alpha, "background", check_values=True)
