"""ipywidgets explorers used by the chapters.

* :class:`CompositingExplorer` - drag alpha, swap the background, look at the
  straight and the premultiplied foreground, or replace the matte by a binary
  mask to see what a segmentation loses.
* :class:`TrimapBandExplorer` - choose the structuring element and the number
  of iterations, see the trimap, the closed-form matting result and its errors
  (results are cached, so going back to a setting is instant).
* :class:`TrimapPainter` - draw a rough trimap on your own photo: rectangles
  added to or cut from a rough mask, marked unknown, a band grown or shrunk,
  and the matte of the result at the press of a button.

All are :class:`ipywidgets.VBox` subclasses: the last expression of a cell
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

from ._checks import as_float01, check_int, check_shape

__all__ = ["CompositingExplorer", "TrimapBandExplorer", "TrimapPainter", "compositing_explorer",
           "trimap_band_explorer", "trimap_painter", "png_bytes"]


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
            raise ValueError(f"alpha: expected height x width {self._fg.shape[:2]} like "
                             f"fg, got {(h, w)}")
        self._backgrounds = {"checkerboard": checkerboard(h, w).astype(np.float64)}
        for name, bg in (backgrounds or {}).items():
            b = as_float01(bg, name=f"backgrounds[{name!r}]")
            check_shape(b, f"{h},{w},3", name=f"backgrounds[{name!r}]")
            self._backgrounds[name] = b

        self.alpha_scale = widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05,
                                               description="alpha x", readout_format=".2f")
        self.background = widgets.Dropdown(options=list(self._backgrounds),
                                           description="background")
        self.view = widgets.ToggleButtons(options=self.VIEWS, value=self.VIEWS[0],
                                          description="show")
        self.binary = widgets.Checkbox(value=False,
                                       description="binary mask (alpha > 0.5) instead of the matte",
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
            + (" &middot; <i>the binary mask drops every partial pixel: hair and "
               "edges turn hard</i>"
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
        kernel_sizes = tuple(check_int(k, f"kernel_sizes[{i}]", minimum=3)
                             for i, k in enumerate(kernel_sizes))
        if not kernel_sizes or any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes: expected odd sizes >= 3, got {kernel_sizes}")
        max_iterations = check_int(max_iterations, "max_iterations", minimum=1)
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


class TrimapPainter(widgets.VBox):
    """Draw a rough trimap on a photo: rectangles added to or cut from a mask, an unknown band
    around it.

    Brush strokes need a canvas widget; this explorer only needs plain
    ipywidgets. The state is a rough foreground **mask** (from a segmentation,
    a thresholded matte, or nothing) and a **band** (iterations of
    :func:`mattinglib.trimap.trimap_from_mask` with a 3x3 kernel, so about
    ``band`` pixels on each side of the mask's border). Two sliders choose a
    rectangle, drawn in red over the photo; "apply" then adds it to the
    foreground, cuts it out, or marks it unknown (for hair, fur, a veil: regions
    the band around a hard mask would miss). "grow band" / "shrink band" change
    the band by one step. "matte it" runs ``solver`` on the current trimap and
    shows the alpha (with its SAD when a ground truth is given).

    Args:
        image: ``(H, W, 3)`` photo, uint8 or float in [0, 1].
        mask: optional ``(H, W)`` rough foreground: bool, {0, 1}, {0, 255}, or a
            soft mask in [0, 1] (``>= 0.5`` is foreground). ``None``: empty.
        band: the band's initial iteration count (at least 1).
        solver: ``solver(image, trimap) -> alpha`` for the "matte it" button;
            ``None`` hides the button.
        gt: optional ground-truth alpha ``(H, W)``; the info line then gives
            the SAD (over the trimap's unknown region) and how many partly
            transparent pixels lie outside that region (the band misses them).
        width: display width of each picture in pixels.

    Attributes:
        x_range, y_range: :class:`ipywidgets.IntRangeSlider` s, the rectangle in pixels.
        action: :class:`ipywidgets.ToggleButtons`: ``"foreground"``, ``"background"``,
            ``"unknown"``.
        apply_button, grow_button, shrink_button, reset_button, matte_button: the buttons.
        picture: the trimap over the photo, with the rectangle; ``alpha_image``: the last matte.
        info: an :class:`ipywidgets.HTML` line with the band and the unknown share.
        mask: the current bool mask; ``band``: the current band; ``alpha``: the last
            matte or ``None``.
    """

    ACTIONS = ("foreground", "background", "unknown")

    def __init__(self, image, mask=None, *, band: int = 5, solver: Callable | None = None, gt=None,
                 width: int = 360):
        self._image = as_float01(image, name="image").astype(np.float32)
        check_shape(self._image, "H,W,3", name="image")
        h, w = self._image.shape[:2]
        self._initial_mask = self._as_mask(mask, (h, w))
        self._gt = None if gt is None else _alpha2d(gt, name="gt")
        if self._gt is not None and self._gt.shape != (h, w):
            raise ValueError(f"gt: expected height x width {(h, w)} like image, got "
                             f"{self._gt.shape}")
        band = check_int(band, "band", minimum=1)
        if solver is not None and not callable(solver):
            raise TypeError("solver: expected a callable solver(image, trimap) -> alpha, got "
                            f"{type(solver).__name__}")
        self._solver = solver
        self._initial_band = int(band)
        self.mask = self._initial_mask.copy()
        self.band = int(band)
        self._unknown_marks = np.zeros((h, w), bool)
        self.alpha = None

        wide = widgets.Layout(width="420px")
        self.x_range = widgets.IntRangeSlider(value=(w // 4, 3 * w // 4), min=0, max=w,
                                              description="x", continuous_update=False, layout=wide)
        self.y_range = widgets.IntRangeSlider(value=(h // 4, 3 * h // 4), min=0, max=h,
                                              description="y", continuous_update=False, layout=wide)
        self.action = widgets.ToggleButtons(options=self.ACTIONS, value="foreground",
                                            description="rectangle is")
        self.apply_button = widgets.Button(description="apply", button_style="primary")
        self.grow_button = widgets.Button(description="grow band")
        self.shrink_button = widgets.Button(description="shrink band")
        self.reset_button = widgets.Button(description="reset")
        self.matte_button = widgets.Button(description="matte it", button_style="success",
                                           layout=widgets.Layout(display=None if solver
                                                                 else "none"))
        box_p, self.picture, _ = _panel("trimap over the photo (red: rectangle)", width)
        box_a, self.alpha_image, self._alpha_label = _panel("matte (press 'matte it')", width)
        self._placeholder = png_bytes(np.full((h, w), 0.85, np.float32))    # no matte yet
        self.alpha_image.value = self._placeholder
        self.info = widgets.HTML()
        for control in (self.x_range, self.y_range):
            control.observe(self._on_change, names="value")
        self.apply_button.on_click(lambda _b: self.apply())
        self.grow_button.on_click(lambda _b: self.set_band(self.band + 1))
        self.shrink_button.on_click(lambda _b: self.set_band(self.band - 1))
        self.reset_button.on_click(lambda _b: self.reset())
        self.matte_button.on_click(lambda _b: self.matte())
        super().__init__([
            widgets.HBox([self.x_range, self.y_range]),
            widgets.HBox([self.action, self.apply_button]),
            widgets.HBox([self.shrink_button, self.grow_button, self.reset_button,
                          self.matte_button]),
            widgets.HBox([box_p, box_a]),
            self.info,
        ])
        self.render()

    @staticmethod
    def _as_mask(mask, hw: tuple[int, int]) -> np.ndarray:
        if mask is None:
            return np.zeros(hw, bool)
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"mask: expected a numpy array, got {type(mask).__name__}")
        check_shape(mask, f"{hw[0]},{hw[1]}", name="mask")
        if mask.dtype == np.bool_:
            return mask.copy()
        if np.issubdtype(mask.dtype, np.floating):
            return as_float01(mask, name="mask") >= 0.5
        values = np.unique(mask)
        for allowed in ((0, 1), (0, 255)):
            if np.issubdtype(mask.dtype, np.integer) and np.isin(values, allowed).all():
                return mask != 0
        raise ValueError(f"mask: expected bool, {{0, 1}}, {{0, 255}} or float in [0, 1], "
                         f"got dtype {mask.dtype} with values {values[:8].tolist()}")

    def _on_change(self, _change=None) -> None:
        self.render()

    @property
    def rectangle(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` of the rectangle (x1, y1 exclusive)."""
        (x0, x1), (y0, y1) = self.x_range.value, self.y_range.value
        return int(x0), int(y0), int(x1), int(y1)

    @property
    def trimap(self) -> np.ndarray:
        """uint8 ``(H, W)`` trimap in {0, 128, 255}: the band around the mask, plus the unknown
        marks."""
        from .trimap import UNKNOWN, trimap_from_mask

        tri = trimap_from_mask(self.mask, kernel_size=3, iterations=self.band)
        tri[self._unknown_marks] = UNKNOWN
        return tri

    def apply(self, action: str | None = None) -> None:
        """Apply ``action`` (default: the toggle's) to the rectangle and redraw."""
        action = self.action.value if action is None else action
        if action not in self.ACTIONS:
            raise ValueError(f"action: expected one of {self.ACTIONS}, got {action!r}")
        x0, y0, x1, y1 = self.rectangle
        region = (slice(y0, y1), slice(x0, x1))
        if action == "unknown":
            self._unknown_marks[region] = True
        else:
            self.mask[region] = action == "foreground"
            self._unknown_marks[region] = False
        self.render()

    def set_band(self, band: int) -> None:
        """Set the band (clamped to at least 1) and redraw."""
        self.band = max(1, int(band))
        self.render()

    def reset(self) -> None:
        """Back to the initial mask and band, without marks or matte."""
        self.mask = self._initial_mask.copy()
        self.band = self._initial_band
        self._unknown_marks[:] = False
        self.alpha = None
        self.alpha_image.value = self._placeholder
        self._alpha_label.value = "<b>matte (press 'matte it')</b>"
        self.render()

    def matte(self) -> np.ndarray:
        """Run the solver on the current trimap, show and return the alpha."""
        if self._solver is None:
            raise ValueError("solver: this painter was built without a solver")
        tri = self.trimap
        self.alpha = np.asarray(self._solver(self._image, tri), dtype=np.float32)
        self.alpha_image.value = png_bytes(self.alpha)
        label = "matte"
        if self._gt is not None and (tri == 128).any():
            from .metrics import sad

            label += f" (SAD {sad(self.alpha, self._gt, tri):.2f} over its unknown region)"
        self._alpha_label.value = f"<b>{label}</b>"
        return self.alpha

    def render(self) -> None:
        """Redraw the overlay (trimap colours, rectangle outline) and the info line."""
        from .trimap import band_width
        from .viz import trimap_overlay

        tri = self.trimap
        overlay = trimap_overlay(tri, self._image).copy()
        x0, y0, x1, y1 = self.rectangle
        t = max(1, max(overlay.shape[:2]) // 200)
        red = np.array([1.0, 0.0, 0.0], np.float32)
        if x1 > x0 and y1 > y0:
            overlay[y0:min(y0 + t, y1), x0:x1] = red
            overlay[max(y1 - t, y0):y1, x0:x1] = red
            overlay[y0:y1, x0:min(x0 + t, x1)] = red
            overlay[y0:y1, max(x1 - t, x0):x1] = red
        self.picture.value = png_bytes(overlay)
        text = (f"band {self.band} ({band_width(3, self.band)} px each side of the mask's border) "
                f"&middot; unknown {float((tri == 128).mean()):.1%}, foreground "
                f"{float((tri == 255).mean()):.1%} of the image &middot; rectangle x "
                f"{x0}..{x1}, y {y0}..{y1}")
        if self._gt is not None:
            soft = (self._gt > 0) & (self._gt < 1)
            missed = int((soft & (tri != 128)).sum())
            text += (f"<br>partly transparent pixels outside the unknown region: {missed} of "
                     f"{int(soft.sum())} (the band misses them)")
        self.info.value = text


def trimap_painter(image, mask=None, **kwargs) -> TrimapPainter:
    """Build a :class:`TrimapPainter` (the last expression of a cell shows it)."""
    return TrimapPainter(image, mask, **kwargs)
