"""Figures the chapters share: image grids, trimaps, matte comparisons, curves, error maps.

Every helper accepts NumPy arrays ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``
(uint8 0..255 or float in [0, 1]) and torch tensors ``(H, W)``, ``(C, H, W)``
or ``(1, C, H, W)`` with C = 1 or 3 (float in [0, 1]), and returns the
matplotlib :class:`~matplotlib.figure.Figure` so a notebook can show it and a
test can close it. Image panels have their axes switched off; greyscale mattes
are drawn with a fixed 0..1 range so two mattes are comparable by eye.

>>> import numpy as np, matplotlib.pyplot as plt
>>> fig = show_images([np.zeros((4, 4)), np.ones((4, 4, 3))], titles=["a", "b"])
>>> len(fig.axes)
2
>>> plt.close(fig)
"""

from __future__ import annotations

import io as _io
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ._checks import check_int, check_number

__all__ = [
    "to_display",
    "show_images",
    "show_trimap",
    "trimap_overlay",
    "show_matte_comparison",
    "zoom_window",
    "plot_curves",
    "error_map",
    "figure_to_png",
    "degraded_mattes",
    "show_metric_examples",
    "shm_pipeline_diagram",
    "bgm_generator_diagram",
    "diagram_labels",
]

#: Colours of the three trimap classes in :func:`trimap_overlay` (RGB in [0, 1]).
TRIMAP_COLOURS = {0: (0.15, 0.25, 0.85), 128: (1.0, 0.8, 0.0), 255: (0.1, 0.75, 0.2)}


def to_display(x, *, name: str = "image") -> np.ndarray:
    """An array matplotlib can show: float ``(H, W)`` or ``(H, W, 3)`` in [0, 1].

    Accepts NumPy ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` uint8 or float, and
    torch tensors ``(H, W)``, ``(C, H, W)``, ``(1, C, H, W)`` with C in {1, 3}
    (moved to the CPU and detached). Float values outside [0, 1] are an error
    rather than being clipped silently: a matte that overshoots is worth seeing.

    >>> to_display(np.array([[0, 255]], np.uint8))
    array([[0., 1.]], dtype=float32)
    """
    if not isinstance(x, np.ndarray):
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            torch = None
        if torch is not None and isinstance(x, torch.Tensor):
            t = x.detach().to("cpu", torch.float32)
            if t.ndim == 4:
                if t.shape[0] != 1:
                    raise ValueError(f"{name}: expected one image (1,C,H,W), got a batch of shape "
                                     f"{tuple(t.shape)}")
                t = t[0]
            if t.ndim == 3:
                if t.shape[0] not in (1, 3):
                    raise ValueError(f"{name}: expected (C,H,W) with C 1 or 3, got "
                                     f"{tuple(t.shape)}")
                t = t.permute(1, 2, 0)
            x = t.numpy()
        else:
            raise ValueError(f"{name}: expected a numpy array or torch tensor, got "
                             f"{type(x).__name__}")
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 3)):
        raise ValueError(f"{name}: expected shape (H,W), (H,W,1) or (H,W,3), got {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name}: expected uint8, bool or float values, got dtype {x.dtype}")
    x = x.astype(np.float32)
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{name}: expected values in [0, 1], got min {lo:.4g}, max {hi:.4g}")
    # float32 round-off of a [0, 1] computation, not a range violation.
    return np.clip(x, 0.0, 1.0)


def _image_axis(ax, image: np.ndarray, title: str | None = None, *, cmap: str = "gray") -> None:
    if image.ndim == 2:
        ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def _new_figure(rows: int, cols: int, *, size: float, aspect: float):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows * aspect + 0.4 * rows),
                             squeeze=False, layout="constrained")
    return fig, axes


def show_images(images, titles: Sequence[str] | None = None, *, cols: int = 4, size: float = 3.0,
                suptitle: str | None = None, cmap: str = "gray"):
    """A grid of images.

    Args:
        images: a sequence of images (see :func:`to_display` for the accepted
            shapes), or a mapping ``title -> image``.
        titles: one title per image (not with a mapping).
        cols: images per row.
        size: width of one panel in inches.
        suptitle: a title over the whole figure.
        cmap: colour map of single-channel images (drawn on a fixed 0..1 scale).

    Returns:
        the :class:`matplotlib.figure.Figure`.
    """
    if isinstance(images, Mapping):
        if titles is not None:
            raise ValueError("titles: give titles either as the mapping's keys or as "
                             "a list, not both")
        titles, images = list(images.keys()), list(images.values())
    images = list(images)
    if not images:
        raise ValueError("images: expected at least one image, got none")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles (one per image), "
                         f"got {len(titles)}")
    cols = check_int(cols, "cols", minimum=1)
    shown = [to_display(im, name=f"images[{i}]") for i, im in enumerate(images)]
    cols = min(cols, len(shown))
    rows = math.ceil(len(shown) / cols)
    aspect = max(im.shape[0] / im.shape[1] for im in shown)
    fig, axes = _new_figure(rows, cols, size=size, aspect=aspect)
    for i, ax in enumerate(axes.flat):
        if i < len(shown):
            _image_axis(ax, shown[i], titles[i] if titles else None, cmap=cmap)
        else:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def trimap_overlay(trimap, image=None, *, opacity: float = 0.45) -> np.ndarray:
    """An RGB picture of a trimap: background blue, unknown yellow, foreground green.

    With ``image`` the colours are blended over the photo (``opacity`` of the
    colour), so one sees which part of the scene each class covers.

    Returns:
        float32 ``(H, W, 3)`` in [0, 1].
    """
    from ._checks import check_trimap_values

    tri = check_trimap_values(trimap, name="trimap")
    colours = np.zeros(tri.shape + (3,), np.float32)
    for value, colour in TRIMAP_COLOURS.items():
        colours[tri == value] = colour
    if image is None:
        return colours
    base = to_display(image, name="image")
    if base.ndim == 2:
        base = np.repeat(base[:, :, None], 3, axis=2)
    if base.shape[:2] != tri.shape:
        raise ValueError(f"image: expected height x width {tri.shape} like trimap, got "
                         f"{base.shape[:2]}")
    return (1 - opacity) * base + opacity * colours


def show_trimap(trimap, image=None, *, title: str | None = None, size: float = 4.0):
    """The trimap in grey (0 / 128 / 255) and, with ``image``, overlaid in colour on the photo.

    The titles give the share of each class, and the legend names the colours.

    Returns:
        the :class:`matplotlib.figure.Figure`.
    """
    from matplotlib.patches import Patch

    from ._checks import check_trimap_values

    tri = check_trimap_values(trimap, name="trimap")
    shares = {v: float((tri == v).mean()) for v in (0, 128, 255)}
    summary = (f"background {shares[0]:.0%}, unknown {shares[128]:.0%}, "
               f"foreground {shares[255]:.0%}")
    panels = [tri.astype(np.float32) / 255.0]
    names = [title or "trimap"]
    if image is not None:
        panels.append(trimap_overlay(tri, image))
        names.append("over the image")
    aspect = tri.shape[0] / tri.shape[1]
    fig, axes = _new_figure(1, len(panels), size=size, aspect=aspect)
    for ax, panel, name in zip(axes.flat, panels, names):
        _image_axis(ax, panel, name)
    handles = [Patch(color=TRIMAP_COLOURS[v], label=f"{label} ({v})")
               for v, label in ((0, "background"), (128, "unknown"), (255, "foreground"))]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle(summary, fontsize=9)
    return fig


def _metric_line(values: Mapping[str, float], keys: Sequence[str]) -> str:
    labels = {"sad": "SAD", "mse": "MSE", "grad": "Grad", "conn": "Conn"}
    parts = []
    for key in keys:
        value = values[key]
        parts.append(f"{labels.get(key, key)} {value:.4f}" if key == "mse" else
                     f"{labels.get(key, key)} {value:.2f}")
    return " ".join(parts)


def show_matte_comparison(image, preds: Mapping[str, object], gt, trimap, *,
                          metrics: Sequence[str] = ("sad", "mse"), show_errors: bool = True,
                          size: float = 3.0):
    """Image, trimap, ground truth and each prediction, with the official errors in the titles.

    Args:
        image: the photo ``(H, W, 3)``.
        preds: ``name -> predicted alpha`` (each ``(H, W)``).
        gt: the ground-truth alpha ``(H, W)``.
        trimap: ``(H, W)`` uint8 {0, 128, 255}; the errors count its unknown region only.
        metrics: which of ``"sad"``, ``"mse"``, ``"grad"``, ``"conn"`` to print
            (SAD, Grad and Conn divided by 1000; MSE raw, as the official evaluation).
        show_errors: add a second row with each prediction's :func:`error_map`.

    Returns:
        the :class:`matplotlib.figure.Figure`; ``fig.metrics`` holds the full
        ``name -> evaluate(...)`` dictionaries.
    """
    from ._checks import check_trimap_values
    from .metrics import evaluate

    if not preds:
        raise ValueError("preds: expected at least one prediction, got none")
    tri = check_trimap_values(trimap, name="trimap")
    gt_d = to_display(gt, name="gt")
    results = {}
    for name, pred in preds.items():
        p = to_display(pred, name=f"preds[{name!r}]")
        if p.shape != gt_d.shape:
            raise ValueError(f"preds[{name!r}]: expected shape {gt_d.shape} like gt, got {p.shape}")
        results[name] = (p, evaluate(p, gt_d, tri))
    unknown = [k for k in metrics if k not in ("sad", "mse", "grad", "conn")]
    if unknown:
        raise ValueError(f"metrics: expected names among sad, mse, grad, conn, got {unknown}")

    cols = 3 + len(preds)
    rows = 2 if show_errors else 1
    aspect = gt_d.shape[0] / gt_d.shape[1]
    fig, axes = _new_figure(rows, cols, size=size, aspect=aspect)
    _image_axis(axes[0, 0], to_display(image, name="image"), "image")
    _image_axis(axes[0, 1], tri.astype(np.float32) / 255.0, "trimap")
    _image_axis(axes[0, 2], gt_d, "ground truth")
    for j, (name, (p, m)) in enumerate(results.items(), start=3):
        _image_axis(axes[0, j], p, f"{name}\n{_metric_line(m, metrics)}")
    if show_errors:
        for ax in axes[1, :3]:
            ax.set_axis_off()
        axes[1, 2].text(0.5, 0.5, "|pred - gt| in the\nunknown region\n(0 .. 1, brighter = worse)",
                        ha="center", va="center", fontsize=9, transform=axes[1, 2].transAxes)
        for j, (name, (p, _)) in enumerate(results.items(), start=3):
            error_map(p, gt_d, tri, ax=axes[1, j], title=f"{name}: error", colorbar=False)
    fig.metrics = {name: m for name, (_, m) in results.items()}
    return fig


def zoom_window(alpha, size: int = 64) -> tuple[slice, slice]:
    """The ``size`` x ``size`` window holding the most fractional alpha (0 < alpha < 1).

    Where the matte is fractional is where matting is hard (hair, fur, thin
    strands); crop there to compare methods by eye. Ties go to the first window
    in row-major order.

    Args:
        alpha: an alpha matte, ``(H, W)`` in [0, 1] (array or tensor, see :func:`to_display`).
        size: the window's side in pixels, from 1 to ``min(H, W)``.

    Returns:
        ``(rows, cols)`` slices, so ``image[window]`` and ``alpha[window]`` are the crops.

    >>> a = np.zeros((10, 10), np.float32); a[6:9, 1:4] = 0.5
    >>> zoom_window(a, 4)
    (slice(5, 9, None), slice(0, 4, None))
    >>> float(((a[zoom_window(a, 4)] > 0) & (a[zoom_window(a, 4)] < 1)).sum())
    9.0
    """
    a = to_display(alpha, name="alpha")
    if a.ndim != 2:
        raise ValueError(f"alpha: expected a single-channel matte (H, W), got shape {a.shape}")
    size = check_int(size, "size", minimum=1)
    if size > min(a.shape):
        raise ValueError(f"size: expected at most {min(a.shape)}, the shorter side of the "
                         f"{a.shape[0]}x{a.shape[1]} matte, got {size}")
    fractional = ((a > 0) & (a < 1)).astype(np.int64)
    table = np.zeros((a.shape[0] + 1, a.shape[1] + 1), np.int64)  # summed-area table
    table[1:, 1:] = fractional.cumsum(0).cumsum(1)
    counts = (table[size:, size:] - table[:-size, size:]
              - table[size:, :-size] + table[:-size, :-size])
    y, x = np.unravel_index(int(np.argmax(counts)), counts.shape)
    return slice(int(y), int(y) + size), slice(int(x), int(x) + size)


def plot_curves(curves: Mapping[str, object], *, x=None, xlabel: str = "step",
                ylabel: str | None = None, title: str | None = None, subplots: bool = False,
                logy: bool = False, marker: str | None = None, size: float = 3.5):
    """Line plots of named series: training losses, or a metric against a parameter.

    Args:
        curves: ``name -> values``, or ``name -> {label: values}`` for several
            lines under one name (with ``subplots``, one panel per name holding
            its labelled lines, e.g. ``{"SAD": {"own region": ..., "common region": ...}}``).
        x: the x values: ``None`` (0, 1, 2, ...), one sequence shared by every
            line, or a mapping ``name -> sequence``.
        xlabel, ylabel, title: axis labels and the figure title.
        subplots: one panel per name (each with its own y scale, titled by the
            name) instead of every line on one axis with a legend.
        logy: logarithmic y axis.
        marker: a matplotlib marker (``"o"``) for short series.
        size: panel width in inches.

    Returns:
        the :class:`matplotlib.figure.Figure`.
    """
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("curves: expected at least one named series, got none")
    panels: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for name, value in curves.items():
        lines = value.items() if isinstance(value, Mapping) else [(name, value)]
        if isinstance(x, Mapping) and name not in x:
            raise ValueError(f"x: no x values for curve {name!r}")
        xv = x[name] if isinstance(x, Mapping) else x
        panels[name] = []
        for label, ys in lines:
            ys = np.asarray(ys, dtype=np.float64)
            if ys.ndim != 1 or ys.size == 0:
                raise ValueError(f"curves[{name!r}]: expected a non-empty 1-D sequence, got "
                                 f"shape {ys.shape}")
            xs = np.arange(ys.size) if xv is None else np.asarray(xv, dtype=np.float64)
            if xs.shape != ys.shape:
                raise ValueError(f"x: expected {ys.size} values for curve {name!r}, got {xs.size}")
            panels[name].append((str(label), xs, ys))

    n = len(panels) if subplots else 1
    fig, axes = plt.subplots(1, n, figsize=(size * n + 0.5, size * 0.75), squeeze=False,
                             layout="constrained")
    for i, (name, lines) in enumerate(panels.items()):
        ax = axes[0, i if subplots else 0]
        for label, xs, ys in lines:
            shown = label if subplots or label == name else f"{name}: {label}"
            ax.plot(xs, ys, marker=marker, label=shown)
        if subplots:
            ax.set_title(name)
            if ylabel:
                ax.set_ylabel(ylabel)
            if len(lines) > 1:
                ax.legend(fontsize=8)
    for ax in axes.flat:
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        if logy:
            ax.set_yscale("log")
    if not subplots:
        if ylabel:
            axes[0, 0].set_ylabel(ylabel)
        if sum(len(lines) for lines in panels.values()) > 1:
            axes[0, 0].legend()
    if title:
        fig.suptitle(title)
    return fig


def error_map(pred, gt, trimap=None, *, ax=None, title: str | None = None, colorbar: bool = True):
    """``|pred - gt|`` as a heat map; outside the trimap's unknown region it is shown dimmed.

    Args:
        pred, gt: ``(H, W)`` alphas (uint8 or float in [0, 1]).
        trimap: optional ``(H, W)`` uint8 {0, 128, 255}; the metrics only count
            its unknown region, so the known regions are drawn at a third of
            their brightness.
        ax: draw into this axis instead of a new figure.
        title: the panel title (default: the SAD over the unknown region).
        colorbar: add a colour bar (0 .. 1).

    Returns:
        the :class:`matplotlib.figure.Figure` that holds the axis.
    """
    import matplotlib.pyplot as plt

    p, g = to_display(pred, name="pred"), to_display(gt, name="gt")
    if p.ndim != 2 or g.ndim != 2:
        raise ValueError(f"pred: expected single-channel (H,W) alphas, got {p.shape} and {g.shape}")
    if p.shape != g.shape:
        raise ValueError(f"gt: expected shape {p.shape} like pred, got {g.shape}")
    err = np.abs(p - g)
    region = np.ones_like(err, dtype=bool)
    if trimap is not None:
        from ._checks import check_trimap_values

        tri = check_trimap_values(trimap, name="trimap")
        if tri.shape != err.shape:
            raise ValueError(f"trimap: expected shape {err.shape} like pred, got {tri.shape}")
        region = tri == 128
    shown = np.where(region, err, err / 3.0)
    if ax is None:
        h, w = err.shape
        fig, ax = plt.subplots(figsize=(4.5, 4.5 * h / w + 0.3), layout="constrained")
    else:
        fig = ax.figure
    im = ax.imshow(shown, cmap="inferno", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title if title is not None else
                 f"|pred - gt| (SAD {err[region].sum() / 1000:.3f} over the unknown region)")
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    return fig


def figure_to_png(fig, *, close: bool = True, dpi: int | None = None) -> bytes:
    """The figure rendered as PNG bytes (for ipywidgets ``Image``); closes it by default."""
    import matplotlib.pyplot as plt

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------- measuring a matte


def degraded_mattes(gt, trimap, *, blur_sigma: float = 2.0, shift: int = 2,
                    hole_side: int | None = None) -> dict[str, np.ndarray]:
    """Three typical failures of a matte, each made from the ground truth, for comparing the
    metrics.

    * ``"blurred"``: a Gaussian blur (sigma ``blur_sigma``): values near right, edges smeared;
    * ``"shifted"``: the matte moved ``shift`` pixels right and down (edges repeated):
      sharp edges in the wrong place;
    * ``"hole"``: a square of alpha 0 (side ``hole_side``, default a tenth of the
      shorter side, at least 3) centred on the unknown pixel with the most covered
      unknown pixels around it: a piece missing inside the soft region.

    Args:
        gt: ``(H, W)`` ground-truth alpha, uint8 or float in [0, 1].
        trimap: ``(H, W)`` uint8 {0, 128, 255} with at least one unknown pixel.

    Returns:
        ``name -> (H, W) float32`` matte in [0, 1].

    >>> a = np.zeros((20, 20)); a[5:15, 5:15] = 1; a[4, 5:15] = 0.5
    >>> t = np.where(a > 0, 128, 0).astype(np.uint8)
    >>> sorted(degraded_mattes(a, t))
    ['blurred', 'hole', 'shifted']
    """
    import cv2

    from ._checks import check_trimap_values

    g = to_display(gt, name="gt")
    if g.ndim != 2:
        raise ValueError(f"gt: expected a single-channel (H, W) alpha, got shape {g.shape}")
    tri = check_trimap_values(trimap, name="trimap")
    if tri.shape != g.shape:
        raise ValueError(f"trimap: expected shape {g.shape} like gt, got {tri.shape}")
    unknown = tri == 128
    if not unknown.any():
        raise ValueError("trimap: expected at least one unknown (128) pixel, got none")
    blur_sigma = check_number(blur_sigma, "blur_sigma", minimum=0, min_open=True)
    shift = check_int(shift, "shift", minimum=1)
    h, w = g.shape
    side = hole_side if hole_side is not None else max(3, min(h, w) // 10)
    k = int(2 * math.ceil(3 * blur_sigma) + 1)
    blurred = cv2.GaussianBlur(g, (k, k), blur_sigma, borderType=cv2.BORDER_REPLICATE)
    padded = np.pad(g, ((shift, 0), (shift, 0)), mode="edge")
    shifted = padded[:h, :w]
    # centre: the unknown pixel with the most covered unknown pixels around it (inside the soft
    # region)
    density = cv2.blur(np.where(unknown, g, 0.0).astype(np.float32), (side, side))
    cy, cx = np.unravel_index(int(np.argmax(np.where(unknown, density, -1.0))), g.shape)
    hole = g.copy()
    hole[max(0, cy - side // 2): cy - side // 2 + side,
         max(0, cx - side // 2): cx - side // 2 + side] = 0.0
    return {"blurred": np.clip(blurred, 0, 1).astype(np.float32),
            "shifted": shifted.astype(np.float32),
            "hole": hole.astype(np.float32)}


def show_metric_examples(gt, trimap, preds: Mapping[str, object], *, size: float = 2.6):
    """What each official error punishes: the mattes, their errors, and the four numbers side by
    side.

    Row 1: the ground truth and each prediction; row 2: the trimap and each
    prediction's ``|pred - gt|`` (dimmed outside the unknown region, which the
    errors ignore); row 3: one bar chart per metric (SAD, MSE, Grad, Conn), with
    the values written on the bars (SAD, Grad, Conn divided by 1000; MSE raw).

    Returns:
        the :class:`matplotlib.figure.Figure`; ``fig.metrics`` holds
        ``name -> evaluate(pred, gt, trimap)``.
    """
    import matplotlib.pyplot as plt

    from ._checks import check_trimap_values
    from .metrics import METRIC_KEYS, evaluate

    if not preds:
        raise ValueError("preds: expected at least one prediction, got none")
    g = to_display(gt, name="gt")
    tri = check_trimap_values(trimap, name="trimap")
    if tri.shape != g.shape:
        raise ValueError(f"trimap: expected shape {g.shape} like gt, got {tri.shape}")
    mattes = {}
    for name, pred in preds.items():
        p = to_display(pred, name=f"preds[{name!r}]")
        if p.shape != g.shape:
            raise ValueError(f"preds[{name!r}]: expected shape {g.shape} like gt, got {p.shape}")
        mattes[name] = p
    results = {name: evaluate(p, g, tri) for name, p in mattes.items()}

    cols = max(1 + len(mattes), 4)
    aspect = g.shape[0] / g.shape[1]
    fig = plt.figure(figsize=(size * cols, size * (2 * aspect + 1.1)), layout="constrained")
    grid = fig.add_gridspec(3, cols, height_ratios=[aspect, aspect, 1.1])
    _image_axis(fig.add_subplot(grid[0, 0]), g, "ground truth")
    _image_axis(fig.add_subplot(grid[1, 0]), trimap_overlay(tri), "trimap (yellow: unknown)")
    for j, (name, p) in enumerate(mattes.items(), start=1):
        _image_axis(fig.add_subplot(grid[0, j]), p, name)
        error_map(p, g, tri, ax=fig.add_subplot(grid[1, j]), title=f"{name}: |error|",
                  colorbar=False)
    labels = {"sad": "SAD / 1000", "mse": "MSE (raw)", "grad": "Grad / 1000", "conn": "Conn / 1000"}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = list(mattes)
    for j, key in enumerate(METRIC_KEYS):
        ax = fig.add_subplot(grid[2, j])
        values = [results[n][key] for n in names]
        bars = ax.bar(range(len(names)), values,
                      color=[colours[i % len(colours)] for i in range(len(names))])
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_title(labels[key])
        for bar, v in zip(bars, values):
            ax.annotate(f"{v:.4f}" if key == "mse" else f"{v:.3f}",
                        (bar.get_x() + bar.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=7)
        ax.margins(y=0.2)
    fig.metrics = results
    return fig


# --------------------------------------------------------------------------- architecture diagrams


def _diagram(boxes: Mapping[str, tuple[float, float, str]], arrows: Sequence[tuple], *,
             title: str, width: float, height: float, box_size: tuple[float, float] = (2.0, 0.8),
             colours: Mapping[str, str] | None = None):
    """Boxes (``key -> (x, y, label)``, centres in data units) joined by arrows.

    An arrow is ``(from, to[, label[, line style[, curvature]]])``.

    Each box is a rounded rectangle with its label as a text artist whose
    ``gid`` is the box's key, so tests can find the boxes by name.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    bw, bh = box_size
    colours = colours or {}
    for key, (x, y, label) in boxes.items():
        ax.add_patch(FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh, boxstyle="round,pad=0.05",
                                    facecolor=colours.get(key, "#e8eef7"), edgecolor="#333333",
                                    lw=1.0))
        ax.text(x, y, label, ha="center", va="center", fontsize=8, gid=key)
    for arrow in arrows:
        src, dst = arrow[0], arrow[1]
        label = arrow[2] if len(arrow) > 2 else None
        style = arrow[3] if len(arrow) > 3 else "-"
        rad = arrow[4] if len(arrow) > 4 else 0.0
        (x0, y0, _), (x1, y1, _) = boxes[src], boxes[dst]
        dx, dy = x1 - x0, y1 - y0
        # leave and enter the boxes at their edges (plus the rounding pad)
        t = min((bw / 2 + 0.08) / abs(dx) if dx else math.inf,
                (bh / 2 + 0.08) / abs(dy) if dy else math.inf)
        ax.add_patch(FancyArrowPatch((x0 + t * dx, y0 + t * dy), (x1 - t * dx, y1 - t * dy),
                                     arrowstyle="-|>", mutation_scale=10, shrinkA=0, shrinkB=0,
                                     connectionstyle=f"arc3,rad={rad}", lw=1.0, ls=style,
                                     color="#333333"))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, label, ha="center", va="bottom",
                    fontsize=7, color="#444444", style="italic")
    xs = [x for x, _, _ in boxes.values()]
    ys = [y for _, y, _ in boxes.values()]
    ax.set_xlim(min(xs) - bw, max(xs) + bw)
    ax.set_ylim(min(ys) - bh * 1.5, max(ys) + bh * 1.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return fig


def diagram_labels(fig) -> dict[str, str]:
    """``box key -> label`` of a diagram drawn by :func:`shm_pipeline_diagram` or
    :func:`bgm_generator_diagram`."""
    return {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid()}


def shm_pipeline_diagram():
    """Semantic Human Matting (Chen et al. 2018) as boxes and arrows.

    The photo goes to T-Net, whose softmax gives three class probabilities in
    :data:`mattinglib.trimap.CLASS_ORDER` (background Bs, unknown Us,
    foreground Fs); M-Net reads the 6-channel RGB + (Bs, Us, Fs) input and
    predicts a raw alpha; the fusion gives ``alpha = Fs + Us * alpha_r``.

    Returns:
        the :class:`matplotlib.figure.Figure` (box labels: :func:`diagram_labels`).

    >>> import matplotlib.pyplot as plt
    >>> fig = shm_pipeline_diagram()
    >>> diagram_labels(fig)["fusion"]
    'fusion\\nalpha = Fs + Us * alpha_r'
    >>> plt.close(fig)
    """
    from .trimap import CLASS_ORDER

    short = {"background": "Bs", "unknown": "Us", "foreground": "Fs"}
    probs = ", ".join(f"{short[c]} ({c})" for c in CLASS_ORDER)
    boxes = {
        "image": (0.0, 2.0, "image\nRGB, 3 channels"),
        "tnet": (3.0, 3.2, "T-Net\n(PSPNet-50)"),
        "probs": (6.0, 3.2, "softmax: 3 class\nprobabilities"),
        "mnet": (6.0, 0.8, "M-Net\n6-channel input:\nRGB + Bs, Us, Fs"),
        "alpha_r": (9.0, 0.8, "alpha_r\n(raw alpha)"),
        "fusion": (9.0, 3.2, "fusion\nalpha = Fs + Us * alpha_r"),
        "alpha": (12.0, 3.2, "alpha"),
    }
    arrows = [("image", "tnet"), ("tnet", "probs"), ("image", "mnet", "RGB"),
              ("probs", "mnet", probs.replace(", ", "\n")), ("mnet", "alpha_r"),
              ("alpha_r", "fusion"), ("probs", "fusion", "Fs, Us"), ("fusion", "alpha")]
    colours = {"tnet": "#fde7c8", "mnet": "#fde7c8", "fusion": "#d9f0d3", "alpha": "#d9f0d3"}
    return _diagram(boxes, arrows, title="Semantic Human Matting: T-Net, M-Net and the fusion",
                    width=11.0, height=4.2, box_size=(2.4, 1.1), colours=colours)


def bgm_generator_diagram(*, use_motion_features: bool = False):
    """The context-switching generator of Background Matting (Sengupta et al. 2020) as boxes and
    arrows.

    Four encoders (image, captured background, soft segmentation, motion
    frames; each to 256 x H/4 x W/4), three selectors (1x1 convolutions on
    concat(image feature, other feature)), the fusion (1x1 convolution to 256
    and 7 ResNet blocks), and the alpha head (3 ResNet blocks, two upsamplings,
    Tanh) and foreground head (3 ResNet blocks, upsampling with the image
    encoder's H/2 feature as a skip connection). With
    ``use_motion_features=False`` (the released code) ``comb_multi`` reads the
    background feature and the motion encoder's output is drawn dashed, unused.

    Returns:
        the :class:`matplotlib.figure.Figure` (box labels: :func:`diagram_labels`).

    >>> import matplotlib.pyplot as plt
    >>> fig = bgm_generator_diagram()
    >>> sorted(k for k in diagram_labels(fig) if k.startswith("comb"))
    ['comb_back', 'comb_multi', 'comb_seg']
    >>> plt.close(fig)
    """
    rows = {"image": 6.0, "back": 4.0, "seg": 2.0, "multi": 0.0}
    names = {"image": "image\n(3 channels)", "back": "captured background\n(3 channels)",
             "seg": "soft segmentation\n(1 channel)",
             "multi": "motion: 4 grey\nframes (4 channels)"}
    boxes = {f"in_{k}": (0.0, y, names[k]) for k, y in rows.items()}
    encoders = {"image": "image encoder\nmodel_enc1 + enc2",
                "back": "background encoder\nmodel_enc_back",
                "seg": "segmentation encoder\nmodel_enc_seg",
                "multi": "motion encoder\nmodel_enc_multi"}
    boxes |= {f"enc_{k}": (3.2, y, encoders[k] + "\n-> 256 x H/4 x W/4") for k, y in rows.items()}
    boxes |= {
        "comb_back": (6.6, 4.0, "comb_back\n1x1 conv 512 -> 64"),
        "comb_seg": (6.6, 2.0, "comb_seg\n1x1 conv 512 -> 64"),
        "comb_multi": (6.6, 0.0, "comb_multi\n1x1 conv 512 -> 64"),
        "fusion": (9.9, 3.6, "fusion: concat 448 ch,\n1x1 conv -> 256,\n7 ResNet blocks"),
        "alpha_head": (13.2, 4.4, "alpha head: 3 ResNet\nblocks, 2 x upsample,\n7x7 conv, Tanh"),
        "fg_head": (13.2, 1.2,
                    "foreground head: 3 ResNet\nblocks, upsample, + image\nH/2 feature "
                    "(skip, dashed),\n7x7 conv"),
        "alpha": (16.2, 4.4, "alpha\n1 x H x W"),
        "fg": (16.2, 1.2, "foreground F\n3 x H x W"),
    }
    third = "enc_multi" if use_motion_features else "enc_back"
    arrows = [(f"in_{k}", f"enc_{k}") for k in rows]
    arrows += [("enc_image", "comb_back"), ("enc_back", "comb_back"), ("enc_image", "comb_seg"),
               ("enc_seg", "comb_seg"), ("enc_image", "comb_multi"),
               (third, "comb_multi")]
    if not use_motion_features:
        arrows.append(("enc_multi", "comb_multi", "output unused\n(released code)", ":"))
    arrows += [("comb_back", "fusion"), ("comb_seg", "fusion"), ("comb_multi", "fusion"),
               ("enc_image", "fusion", "image feature"), ("fusion", "alpha_head"),
               ("fusion", "fg_head"), ("enc_image", "fg_head", None, "--", -0.45),
               ("alpha_head", "alpha"), ("fg_head", "fg")]
    colours = {k: "#fde7c8" for k in ("comb_back", "comb_seg", "comb_multi")}
    colours |= {"alpha": "#d9f0d3", "fg": "#d9f0d3"}
    if not use_motion_features:
        colours["enc_multi"] = "#eeeeee"
    wiring = "paper wiring (motion features used)" if use_motion_features else \
        "released wiring: comb_multi reads the background feature"
    return _diagram(boxes, arrows,
                    title=f"Background Matting's context-switching generator ({wiring})",
                    width=15.0, height=6.0, box_size=(2.8, 1.25), colours=colours)
