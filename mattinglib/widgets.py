"""ipywidgets explorers used by the chapters.

* :class:`CompositingExplorer` - drag alpha, swap the background, look at the
  straight and the premultiplied foreground, or replace the matte by a binary
  mask to see what a segmentation loses.
* :class:`TrimapBandExplorer` - choose the structuring element and the number
  of iterations, see the trimap, the closed-form matting result and its errors
  (results are cached, so going back to a setting is instant).

Both are :class:`ipywidgets.VBox` subclasses: the last expression of a cell
displays them in JupyterLab. Pictures are PNG bytes in :class:`ipywidgets.Image`
widgets and numbers are :class:`ipywidgets.HTML`, so they update from Python
alone (a test sets a control's ``value`` and reads the new picture) without a
browser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import cv2
import ipywidgets as widgets
import numpy as np

from ._checks import as_float01, check_shape

__all__ = ["CompositingExplorer", "TrimapBandExplorer", "compositing_explorer",
           "trimap_band_explorer", "png_bytes"]


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of an ``(H, W)`` or ``(H, W, 3)`` float image in [0, 1] (RGB)."""
    arr = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:  # pragma: no cover - encoding a valid uint8 array does not fail
        raise RuntimeError("could not encode the picture as PNG")
    return buf.tobytes()


def _panel(title: str, width: int) -> tuple[widgets.VBox, widgets.Image, widgets.HTML]:
    label = widgets.HTML(f"<b>{title}</b>")
    image = widgets.Image(format="png", width=width)
    return widgets.VBox([label, image]), image, label


def _alpha2d(alpha, *, name: str = "alpha") -> np.ndarray:
    a = as_float01(alpha, name=name)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    check_shape(a, "H,W", name=name)
    return a


class CompositingExplorer(widgets.VBox):
    """Sliders over ``I = alpha F + (1 - alpha) B``.

    Args:
        fg: ``(H, W, 3)`` straight (not premultiplied) foreground colours, uint8 or float in [0, 1].
        alpha: ``(H, W)`` matte, uint8 or float in [0, 1].
        backgrounds: ``name -> (H, W, 3)`` backgrounds; a checkerboard is always offered too.
        width: display width of each picture in pixels.

    Attributes:
        alpha_scale, background, view, binary: the controls (set their ``value``
            to drive the explorer from code).
        composite_image, view_image: the two :class:`ipywidgets.Image` panels.
        info: an :class:`ipywidgets.HTML` line with numbers about the current view.
    """

    VIEWS = ("straight F", "premultiplied alpha*F", "alpha")

    def __init__(self, fg, alpha, backgrounds: Mapping[str, np.ndarray] | None = None, *,
                 width: int = 320):
        from .compositing import checkerboard

        self._fg = as_float01(fg, name="fg")
        check_shape(self._fg, "H,W,3", name="fg")
        self._alpha = _alpha2d(alpha)
        h, w = self._alpha.shape
        if self._fg.shape[:2] != (h, w):
            raise ValueError(f"alpha: expected height x width {self._fg.shape[:2]} like fg, got {(h, w)}")
        self._backgrounds = {"checkerboard": checkerboard(h, w).astype(np.float64)}
        for name, bg in (backgrounds or {}).items():
            b = as_float01(bg, name=f"backgrounds[{name!r}]")
            check_shape(b, f"{h},{w},3", name=f"backgrounds[{name!r}]")
            self._backgrounds[name] = b

        self.alpha_scale = widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05,
                                               description="alpha x", readout_format=".2f")
        self.background = widgets.Dropdown(options=list(self._backgrounds), description="background")
        self.view = widgets.ToggleButtons(options=self.VIEWS, value=self.VIEWS[0], description="show")
        self.binary = widgets.Checkbox(value=False, description="binary mask (alpha > 0.5) instead of the matte",
                                       indent=False)
        box_c, self.composite_image, _ = _panel("composite I = aF + (1-a)B", width)
        box_v, self.view_image, self._view_label = _panel(self.VIEWS[0], width)
        self.info = widgets.HTML()
        for control in (self.alpha_scale, self.background, self.view, self.binary):
            control.observe(self._on_change, names="value")
        super().__init__([
            widgets.HBox([self.alpha_scale, self.background]),
            self.view, self.binary,
            widgets.HBox([box_c, box_v]),
            self.info,
        ])
        self.render()

    def _on_change(self, _change=None) -> None:
        self.render()

    def current_alpha(self) -> np.ndarray:
        """The matte in use: the (optionally binarised) alpha times the slider's scale."""
        a = (self._alpha > 0.5).astype(np.float64) if self.binary.value else self._alpha
        return a * float(self.alpha_scale.value)

    def render(self) -> None:
        """Recompute both pictures and the numbers from the controls' values."""
        from .compositing import compose, premultiply

        a = self.current_alpha()
        bg = self._backgrounds[self.background.value]
        composite = compose(self._fg, bg, a)
        self.composite_image.value = png_bytes(composite)
        view = self.view.value
        if view == self.VIEWS[0]:
            shown = self._fg
        elif view == self.VIEWS[1]:
            shown = premultiply(self._fg, a)
        else:
            shown = a
        self.view_image.value = png_bytes(shown)
        self._view_label.value = f"<b>{view}</b>"
        fractional = float(((a > 0) & (a < 1)).mean())
        lost = float(np.abs(a - self._alpha).sum())
        self.info.value = (
            f"mean alpha {a.mean():.3f} &middot; fractional pixels {fractional:.1%} &middot; "
            f"sum |alpha used - true alpha| = {lost:.0f} px"
            + (" &middot; <i>the binary mask drops every partial pixel: hair and edges turn hard</i>"
               if self.binary.value else "")
        )


class TrimapBandExplorer(widgets.VBox):
    """Kernel size and iterations -> trimap -> matting result and its errors.

    Args:
        image: ``(H, W, 3)`` photo, uint8 or float in [0, 1].
        alpha: ``(H, W)`` ground-truth matte (the trimaps are generated from it
            with :func:`mattinglib.trimap.trimap_from_alpha`).
        solver: ``solver(image, trimap) -> alpha``; default
            :func:`mattinglib.classical.closed_form_matting`.
        kernel_sizes: the structuring-element sizes offered.
        max_iterations: the largest iteration count of the slider.
        width: display width of each picture in pixels.

    The errors are given twice: over the trimap's own unknown region (what a
    paper reports for that trimap) and over one common region, the unknown band
    of the widest setting, so that settings can be compared with each other.

    Attributes:
        kernel_size, iterations: the controls.
        trimap_image, alpha_image, error_image: the three picture panels.
        info: an :class:`ipywidgets.HTML` table of band width and errors.
        results: the cache ``(kernel_size, iterations) -> (trimap, alpha, metrics)``.
    """

    def __init__(self, image, alpha, *, solver: Callable | None = None,
                 kernel_sizes=(3, 5, 7, 9), max_iterations: int = 20, width: int = 280):
        from .classical import closed_form_matting
        from .trimap import trimap_from_alpha

        self._image = as_float01(image, name="image")
        check_shape(self._image, "H,W,3", name="image")
        self._alpha = _alpha2d(alpha)
        if self._alpha.shape != self._image.shape[:2]:
            raise ValueError(f"alpha: expected height x width {self._image.shape[:2]} like image, "
                             f"got {self._alpha.shape}")
        kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if not kernel_sizes or any(k < 3 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes: expected odd sizes >= 3, got {kernel_sizes}")
        if int(max_iterations) < 1:
            raise ValueError(f"max_iterations: expected a positive integer, got {max_iterations!r}")
        self._solver = solver or closed_form_matting
        self.results: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, dict]] = {}
        # Every band nests inside the widest one (larger kernel, more iterations),
        # so its unknown region is a fair common ground for all settings.
        self.common_trimap = trimap_from_alpha(self._alpha, kernel_size=max(kernel_sizes),
                                               iterations=int(max_iterations))

        self.kernel_size = widgets.Dropdown(options=kernel_sizes, value=kernel_sizes[0],
                                            description="kernel")
        self.iterations = widgets.IntSlider(value=min(5, int(max_iterations)), min=1,
                                            max=int(max_iterations), description="iterations",
                                            continuous_update=False)
        box_t, self.trimap_image, _ = _panel("trimap over the image", width)
        box_a, self.alpha_image, self._alpha_label = _panel("closed-form alpha", width)
        box_e, self.error_image, _ = _panel("|alpha - gt| (0..1)", width)
        self.info = widgets.HTML()
        for control in (self.kernel_size, self.iterations):
            control.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.kernel_size, self.iterations]),
                          widgets.HBox([box_t, box_a, box_e]), self.info])
        self.render()

    def _on_change(self, _change=None) -> None:
        self.render()

    def result(self, kernel_size: int, iterations: int):
        """``(trimap, alpha, metrics)`` for one setting, computed once and cached.

        ``metrics`` has ``"own"`` (errors over this trimap's unknown region) and
        ``"common"`` (over the widest setting's unknown region).
        """
        from .metrics import evaluate
        from .trimap import trimap_from_alpha

        key = (int(kernel_size), int(iterations))
        if key not in self.results:
            tri = trimap_from_alpha(self._alpha, kernel_size=key[0], iterations=key[1])
            pred = self._solver(self._image, tri)
            metrics = {"own": evaluate(pred, self._alpha, tri),
                       "common": evaluate(pred, self._alpha, self.common_trimap)}
            self.results[key] = (tri, pred, metrics)
        return self.results[key]

    def render(self) -> None:
        """Recompute (or fetch from the cache) and redraw for the current controls."""
        from matplotlib import colormaps

        from .trimap import band_width
        from .viz import trimap_overlay

        k, it = int(self.kernel_size.value), int(self.iterations.value)
        tri, pred, metrics = self.result(k, it)
        self.trimap_image.value = png_bytes(trimap_overlay(tri, self._image))
        self.alpha_image.value = png_bytes(pred)
        err = np.abs(pred - self._alpha)
        err = np.where(tri == 128, err, err / 3.0)
        self.error_image.value = png_bytes(colormaps["inferno"](err)[..., :3])
        own, common = metrics["own"], metrics["common"]
        rows = "".join(
            f"<tr><td>{label}</td><td>{m['sad']:.3f}</td><td>{m['mse']:.5f}</td>"
            f"<td>{m['grad']:.3f}</td><td>{m['conn']:.3f}</td></tr>"
            for label, m in (("this trimap's unknown region", own),
                             ("common (widest) region", common)))
        self.info.value = (
            f"band: {band_width(k, it)} px beyond the soft edge on each side &middot; "
            f"unknown {float((tri == 128).mean()):.1%} of the image<br>"
            "<table><tr><th>errors over</th><th>SAD</th><th>MSE</th><th>Grad</th><th>Conn</th></tr>"
            f"{rows}</table>"
        )


def compositing_explorer(fg, alpha, backgrounds=None, **kwargs) -> CompositingExplorer:
    """Build a :class:`CompositingExplorer` (the last expression of a cell shows it)."""
    return CompositingExplorer(fg, alpha, backgrounds, **kwargs)


def trimap_band_explorer(image, alpha, **kwargs) -> TrimapBandExplorer:
    """Build a :class:`TrimapBandExplorer` (the last expression of a cell shows it)."""
    return TrimapBandExplorer(image, alpha, **kwargs)
