"""The course's drawn diagrams and the metric picture: Figures with the expected labelled parts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mattinglib import viz  # noqa: E402
from mattinglib.metrics import evaluate  # noqa: E402
from mattinglib.trimap import trimap_from_alpha  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_shm_pipeline_has_the_boxes_and_the_fusion_formula():
    fig = viz.shm_pipeline_diagram()
    assert isinstance(fig, Figure)
    labels = viz.diagram_labels(fig)
    assert set(labels) == {"image", "tnet", "probs", "mnet", "alpha_r", "fusion", "alpha"}
    assert "T-Net" in labels["tnet"] and "3 class" in labels["probs"]
    assert "M-Net" in labels["mnet"] and "6-channel" in labels["mnet"]
    assert "alpha = Fs + Us * alpha_r" in labels["fusion"]
    # the class order is the library's (background, unknown, foreground)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert (texts.index("Bs (background)") < texts.index("Us (unknown)")
            < texts.index("Fs (foreground)"))


@pytest.mark.parametrize("use_motion", [False, True])
def test_bgm_generator_has_four_encoders_three_selectors_fusion_and_two_heads(use_motion):
    fig = viz.bgm_generator_diagram(use_motion_features=use_motion)
    assert isinstance(fig, Figure)
    labels = viz.diagram_labels(fig)
    assert {k for k in labels if k.startswith("enc_")} == {"enc_image", "enc_back", "enc_seg",
                                                           "enc_multi"}
    assert {k for k in labels if k.startswith("comb_")} == {"comb_back", "comb_seg", "comb_multi"}
    assert "7 ResNet blocks" in labels["fusion"]
    assert "Tanh" in labels["alpha_head"] and "skip" in labels["fg_head"]
    assert {"alpha", "fg"} <= set(labels)
    unused = [t for t in fig.axes[0].texts if "unused" in t.get_text()]
    assert bool(unused) is (not use_motion), "the released wiring marks the motion output unused"


def _disc():
    yy, xx = np.mgrid[0:60, 0:80]
    alpha = np.clip((16 - np.hypot(yy - 30, xx - 40)) / 4, 0, 1).astype(np.float32)
    return alpha, trimap_from_alpha(alpha, kernel_size=3, iterations=3)


def test_degraded_mattes_and_the_metric_picture():
    alpha, tri = _disc()
    preds = viz.degraded_mattes(alpha, tri)
    assert set(preds) == {"blurred", "shifted", "hole"}
    for p in preds.values():
        assert p.shape == alpha.shape and p.min() >= 0 and p.max() <= 1
        assert not np.array_equal(p, alpha)
    fig = viz.show_metric_examples(alpha, tri, preds)
    assert isinstance(fig, Figure)
    titles = {ax.get_title() for ax in fig.axes}
    assert {"SAD / 1000", "MSE (raw)", "Grad / 1000", "Conn / 1000"} <= titles
    assert {"blurred", "shifted", "hole"} <= titles
    assert fig.metrics["hole"] == evaluate(preds["hole"], alpha, tri)


def test_metric_picture_rejects_a_mismatched_prediction():
    alpha, tri = _disc()
    with pytest.raises(ValueError, match="preds"):
        viz.show_metric_examples(alpha, tri, {"small": alpha[:10, :10]})
    with pytest.raises(ValueError, match="unknown"):
        viz.degraded_mattes(alpha, np.zeros_like(tri))


def test_degraded_mattes_checks_its_numbers():
    alpha, tri = _disc()
    with pytest.raises(TypeError, match=r"^shift: expected an integer >= 1, got True$"):
        viz.degraded_mattes(alpha, tri, shift=True)
    with pytest.raises(ValueError, match=r"^blur_sigma: expected a finite number > 0, got inf$"):
        viz.degraded_mattes(alpha, tri, blur_sigma=float("inf"))
    assert set(viz.degraded_mattes(alpha, tri, shift=np.int64(2))) == {"blurred", "shifted", "hole"}
