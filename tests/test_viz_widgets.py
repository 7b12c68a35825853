"""Figure helpers and ipywidgets explorers: they build, draw what they say, and update from code."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mattinglib import viz, widgets  # noqa: E402
from mattinglib.classical import trimap_baseline  # noqa: E402
from mattinglib.metrics import evaluate  # noqa: E402
from mattinglib.notebook import banner, start  # noqa: E402
from mattinglib.trimap import trimap_from_alpha  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def disc(h=32, w=40):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip((10.0 - np.hypot(yy - h / 2, xx - w / 2)) / 4.0, 0.0, 1.0)


class TestToDisplay:
    def test_torch_chw_and_batch_of_one(self):
        t = torch.rand(1, 3, 5, 7)
        out = viz.to_display(t)
        assert out.shape == (5, 7, 3)
        np.testing.assert_allclose(out, t[0].permute(1, 2, 0).numpy())
        assert viz.to_display(torch.rand(1, 5, 7)).shape == (5, 7)

    def test_uint8_and_single_channel(self):
        out = viz.to_display(np.full((2, 3, 1), 255, np.uint8))
        assert out.shape == (2, 3) and out.dtype == np.float32 and np.all(out == 1.0)

    @pytest.mark.parametrize("bad, message", [
        (np.zeros((2, 3, 4)), "image: expected shape"),
        (np.full((2, 2), 1.5), "image: expected values in [0, 1]"),
        (torch.rand(2, 3, 4, 4), "batch"),
        ([[0.0]], "numpy array or torch tensor"),
    ])
    def test_rejects(self, bad, message):
        with pytest.raises(ValueError) as info:
            viz.to_display(bad)
        assert message in str(info.value)


class TestFigures:
    def test_show_images_grid_and_titles(self):
        fig = viz.show_images([np.zeros((4, 6))] * 5, titles=list("abcde"), cols=3)
        assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one blank
        assert [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
        assert not fig.axes[0].axison

    def test_show_images_mapping(self):
        fig = viz.show_images({"alpha": disc(), "rgb": torch.rand(3, 32, 40)})
        assert [ax.get_title() for ax in fig.axes] == ["alpha", "rgb"]

    @pytest.mark.parametrize("cols, error", [(0, ValueError), (True, TypeError), (2.0, TypeError)])
    def test_show_images_bad_cols(self, cols, error):
        with pytest.raises(error, match=f"^cols: expected an integer >= 1, got {cols!r}$"):
            viz.show_images([np.zeros((2, 2))], cols=cols)

    def test_show_images_title_count(self):
        with pytest.raises(ValueError, match="^titles"):
            viz.show_images([np.zeros((2, 2))], titles=["a", "b"])

    def test_trimap_overlay_colours(self):
        tri = np.array([[0, 128, 255]], np.uint8)
        rgb = viz.trimap_overlay(tri)
        for i, v in enumerate((0, 128, 255)):
            np.testing.assert_allclose(rgb[0, i], viz.TRIMAP_COLOURS[v])

    def test_show_trimap_reports_class_shares(self):
        tri = np.zeros((10, 10), np.uint8)
        tri[:, 5:] = 128
        tri[:, 8:] = 255
        fig = viz.show_trimap(tri, image=np.zeros((10, 10, 3)))
        assert "background 50%" in fig._suptitle.get_text()
        assert "unknown 30%" in fig._suptitle.get_text()
        assert len(fig.axes) == 2

    def test_show_trimap_rejects_bad_values(self):
        with pytest.raises(ValueError, match="^trimap"):
            viz.show_trimap(np.full((4, 4), 127, np.uint8))

    def test_matte_comparison_titles_carry_the_official_metrics(self):
        alpha = disc()
        tri = trimap_from_alpha(alpha, kernel_size=3, iterations=2)
        base = trimap_baseline(tri)
        fig = viz.show_matte_comparison(np.zeros((32, 40, 3)), {"baseline": base, "perfect": alpha},
                                        alpha, tri)
        expected = evaluate(base, alpha.astype(np.float32), tri)
        assert fig.metrics["baseline"]["sad"] == pytest.approx(expected["sad"], rel=1e-5)
        assert fig.metrics["perfect"]["sad"] == pytest.approx(0.0, abs=1e-6)
        titles = [ax.get_title() for ax in fig.axes]
        assert any(t.startswith("baseline\nSAD " + f"{expected['sad']:.2f}") for t in titles)
        assert len(fig.axes) == 2 * 5  # image, trimap, gt, two predictions; error row

    def test_matte_comparison_rejects_mismatched_prediction(self):
        alpha = disc()
        tri = trimap_from_alpha(alpha)
        with pytest.raises(ValueError, match=r"^preds\['x'\]"):
            viz.show_matte_comparison(np.zeros((32, 40, 3)), {"x": np.zeros((8, 8))}, alpha, tri)

    def test_plot_curves_subplots_and_shared_axis(self):
        fig = viz.plot_curves({"sad": [3, 2, 1], "mse": [0.3, 0.2, 0.1]}, x=[1, 5, 10],
                              xlabel="band (px)", subplots=True)
        assert len(fig.axes) == 2 and fig.axes[1].get_title() == "mse"
        np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1, 5, 10])
        fig = viz.plot_curves({"train": [1, 0.5], "val": [1.2, 0.7]}, logy=True)
        assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
        assert fig.axes[0].get_yscale() == "log"

    def test_plot_curves_nested_panels(self):
        fig = viz.plot_curves({"SAD": {"own": [1, 2], "common": [1, 3]},
                               "MSE": {"own": [0.1, 0.2]}},
                              x=[1, 5], subplots=True, marker="o")
        assert [len(ax.lines) for ax in fig.axes] == [2, 1]
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["own", "common"]
        np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [1, 3])

    def test_plot_curves_rejects_x_length(self):
        with pytest.raises(ValueError, match="^x"):
            viz.plot_curves({"a": [1, 2, 3]}, x=[1, 2])

    def test_error_map_dims_known_region(self):
        gt = np.zeros((4, 4))
        pred = np.full((4, 4), 0.9)
        tri = np.zeros((4, 4), np.uint8)
        tri[:, 2:] = 128
        fig = viz.error_map(pred, gt, tri)
        shown = fig.axes[0].images[0].get_array()
        np.testing.assert_allclose(shown[:, 2:], 0.9, rtol=1e-6)
        np.testing.assert_allclose(shown[:, :2], 0.3, rtol=1e-6)
        assert "SAD 0.007" in fig.axes[0].get_title()  # 8 pixels x 0.9 / 1000

    def test_figure_to_png(self):
        png = viz.figure_to_png(viz.show_images([np.zeros((4, 4))]))
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


class TestCompositingExplorer:
    def make(self):
        alpha = disc()
        fg = np.zeros((32, 40, 3))
        fg[..., 0] = 1.0
        bgs = {"blue": np.broadcast_to([0.0, 0.0, 1.0], (32, 40, 3)).copy()}
        return widgets.compositing_explorer(fg, alpha, bgs), alpha

    def test_is_a_displayable_box(self):
        w, _ = self.make()
        import ipywidgets

        assert isinstance(w, ipywidgets.VBox)
        assert list(w.background.options) == ["checkerboard", "blue"]
        assert w.composite_image.value[:4] == b"\x89PNG"

    def test_controls_update_the_pictures(self):
        w, alpha = self.make()
        before = w.composite_image.value
        w.background.value = "blue"
        assert w.composite_image.value != before
        before_view = w.view_image.value
        w.view.value = "premultiplied alpha*F"
        assert w.view_image.value != before_view
        w.alpha_scale.value = 0.0
        assert w.current_alpha().max() == 0.0
        assert "mean alpha 0.000" in w.info.value

    def test_binary_mask_drops_partial_pixels(self):
        w, alpha = self.make()
        w.binary.value = True
        used = w.current_alpha()
        assert set(np.unique(used).tolist()) == {0.0, 1.0}
        assert "fractional pixels 0.0%" in w.info.value
        assert "binary mask" in w.info.value

    def test_rejects_mismatched_background(self):
        with pytest.raises(ValueError, match=r"^backgrounds\['x'\]"):
            widgets.compositing_explorer(np.zeros((8, 8, 3)), np.zeros((8, 8)),
                                         {"x": np.zeros((4, 4, 3))})


class TestTrimapBandExplorer:
    def make(self, calls):
        alpha = disc()
        image = np.repeat(alpha[..., None], 3, axis=2)

        def solver(img, tri):
            calls.append(tri.copy())
            return trimap_baseline(tri)

        return widgets.trimap_band_explorer(image, alpha, solver=solver, kernel_sizes=(3, 5),
                                            max_iterations=6), alpha

    def test_update_and_cache(self):
        calls = []
        w, alpha = self.make(calls)
        assert len(calls) == 1 and "band: 5 px" in w.info.value
        before = w.trimap_image.value
        w.iterations.value = 2
        assert "band: 2 px" in w.info.value and w.trimap_image.value != before
        w.kernel_size.value = 5
        assert "band: 4 px" in w.info.value
        w.kernel_size.value = 3
        w.iterations.value = 5
        assert len(calls) == 3  # (3, 5), (3, 2), (5, 2); going back hits the cache
        tri, pred, metrics = w.result(3, 2)
        assert metrics["own"] == evaluate(pred, alpha, tri)
        assert metrics["common"] == evaluate(pred, alpha, w.common_trimap)

    def test_common_region_contains_every_band(self):
        w, _ = self.make([])
        for k in (3, 5):
            for it in (1, 6):
                tri = trimap_from_alpha(disc(), kernel_size=k, iterations=it)
                assert np.all(w.common_trimap[tri == 128] == 128)

    def test_default_solver_is_closed_form(self):
        alpha = disc()
        rng = np.random.default_rng(0)
        fg, bg = np.array([0.9, 0.8, 0.1]), rng.random(3) * 0.3
        image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
        w = widgets.trimap_band_explorer(image, alpha, kernel_sizes=(3,), max_iterations=3)
        _, pred, metrics = w.result(3, 3)
        base = evaluate(trimap_baseline(trimap_from_alpha(alpha, kernel_size=3, iterations=3)),
                        alpha, trimap_from_alpha(alpha, kernel_size=3, iterations=3))
        assert metrics["own"]["sad"] < base["sad"]

    @pytest.mark.parametrize("kwargs, error, message", [
        (dict(kernel_sizes=(3, 4)), ValueError,
         r"^kernel_sizes: expected odd sizes >= 3, got \(3, 4\)$"),
        (dict(kernel_sizes=(1,)), ValueError,
         r"^kernel_sizes\[0\]: expected an integer >= 3, got 1$"),
        (dict(kernel_sizes=(3.0,)), TypeError,
         r"^kernel_sizes\[0\]: expected an integer >= 3, got 3.0$"),
        (dict(max_iterations=0), ValueError,
         r"^max_iterations: expected an integer >= 1, got 0$"),
        (dict(max_iterations=2.5), TypeError,
         r"^max_iterations: expected an integer >= 1, got 2.5$"),
    ])
    def test_rejects_bad_settings(self, kwargs, error, message):
        alpha = disc()
        with pytest.raises(error, match=message):
            widgets.trimap_band_explorer(np.repeat(alpha[..., None], 3, axis=2), alpha, **kwargs)


class TestNotebookStart:
    def test_start_seeds_and_reports(self, capsys, monkeypatch, tmp_path):
        monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path))
        profile = start("quick")
        out = capsys.readouterr().out
        assert "profile 'quick'" in out and "device: " in out
        assert "not found" in out and "download_alphamatting.py" in out
        first = np.random.rand(), torch.rand(1).item()
        start("quick", verbose=False)
        assert (np.random.rand(), torch.rand(1).item()) == first
        assert profile.name == "quick"
        assert matplotlib.rcParams["image.cmap"] == "gray"

    def test_banner_names_found_data(self, monkeypatch, tmp_path):
        (tmp_path / "alphamatting_lowres").mkdir()
        monkeypatch.setenv("MATTINGLIB_DATA", str(tmp_path))
        from mattinglib.config import get_profile

        text = banner(get_profile("quick"))
        assert "real data found" in text and "alphamatting_lowres" in text

    def test_unknown_profile(self):
        with pytest.raises(ValueError, match="^profile"):
            start("medium")
