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

__all__ = [
    "to_display",
    "show_images",
    "show_trimap",
    "trimap_overlay",
    "show_matte_comparison",
    "plot_curves",
    "error_map",
    "figure_to_png",
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
                    raise ValueError(f"{name}: expected one image (1,C,H,W), got a batch of shape {tuple(t.shape)}")
                t = t[0]
            if t.ndim == 3:
                if t.shape[0] not in (1, 3):
                    raise ValueError(f"{name}: expected (C,H,W) with C 1 or 3, got {tuple(t.shape)}")
                t = t.permute(1, 2, 0)
            x = t.numpy()
        else:
            raise ValueError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
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
            raise ValueError("titles: give titles either as the mapping's keys or as a list, not both")
        titles, images = list(images.keys()), list(images.values())
    images = list(images)
    if not images:
        raise ValueError("images: expected at least one image, got none")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles (one per image), got {len(titles)}")
    if cols < 1:
        raise ValueError(f"cols: expected a positive integer, got {cols}")
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
        raise ValueError(f"image: expected height x width {tri.shape} like trimap, got {base.shape[:2]}")
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
                raise ValueError(f"curves[{name!r}]: expected a non-empty 1-D sequence, got shape {ys.shape}")
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
