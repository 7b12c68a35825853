"""The Deep Image Matting loss family and SHM's loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mattinglib.losses.dim import (
    CHARBONNIER_EPS,
    alpha_prediction_loss,
    charbonnier,
    compositional_loss,
    dim_loss,
    mnet_pretrain_loss,
    shm_end_to_end_loss,
    shm_loss,
    sobel_gradient_loss,
    tnet_pretrain_loss,
)
from mattinglib.losses.gradient import Sobel


def batch(seed: int = 0, b: int = 2, h: int = 6, w: int = 5, dtype=torch.float64):
    """Random alphas, layers and a mask whose unknown region is never empty."""
    gen = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.rand(*shape, generator=gen, dtype=dtype)

    pred, target = r(b, 1, h, w), r(b, 1, h, w)
    fg, bg = r(b, 3, h, w), r(b, 3, h, w)
    image = target * fg + (1 - target) * bg
    weight = (r(b, 1, h, w) > 0.4).to(dtype)
    weight[:, :, 0, 0] = 1
    return pred, target, fg, bg, image, weight


# ----------------------------------------------------------- direct transcriptions (numpy, float64)


def np_masked(penalty: np.ndarray, weight: np.ndarray) -> float:
    """sum over b, c, h, w of penalty * w divided by (channels * sum of w)."""
    channels = penalty.shape[1]
    return float((penalty * weight).sum() / (channels * weight.sum()))


def np_alpha_loss(pred, target, weight, eps=1e-6):
    return np_masked(np.sqrt((pred - target) ** 2 + eps ** 2), weight)


def np_composition_loss(alpha, fg, bg, image, weight, eps=1e-6):
    return np_masked(np.sqrt((alpha * fg + (1 - alpha) * bg - image) ** 2 + eps ** 2), weight)


def np_sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation with the Sobel kernels, zero padding, written out pixel by pixel."""
    kx = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
    ky = kx.T
    b, c, h, w = x.shape
    padded = np.zeros((b, c, h + 2, w + 2))
    padded[:, :, 1:-1, 1:-1] = x
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            window = padded[:, :, i:i + 3, j:j + 3]
            gx[:, :, i, j] = (window * kx).sum(axis=(-2, -1))
            gy[:, :, i, j] = (window * ky).sum(axis=(-2, -1))
    return gx, gy


def np_gradient_loss(pred, target, weight):
    gxp, gyp = np_sobel(pred)
    gxt, gyt = np_sobel(target)
    return np_masked(np.abs(gxp - gxt) + np.abs(gyp - gyt), weight)


def np_cross_entropy(logits: np.ndarray, classes: np.ndarray) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = np.take_along_axis(log_probs, classes[:, None], axis=1)
    return float(-picked.mean())


def n(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy()


class TestTranscriptions:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_alpha_prediction(self, seed):
        pred, target, _, _, _, weight = batch(seed)
        got = alpha_prediction_loss(pred, target, weight)
        assert float(got) == pytest.approx(np_alpha_loss(n(pred), n(target), n(weight)), rel=1e-12)

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_compositional(self, seed):
        pred, _, fg, bg, image, weight = batch(seed)
        got = compositional_loss(pred, fg, bg, image, weight)
        want = np_composition_loss(n(pred), n(fg), n(bg), n(image), n(weight))
        assert float(got) == pytest.approx(want, rel=1e-12)

    @pytest.mark.parametrize("seed", [0, 1])
    def test_sobel_gradient(self, seed):
        pred, target, _, _, _, weight = batch(seed)
        got = sobel_gradient_loss(pred, target, weight)
        assert float(got) == pytest.approx(np_gradient_loss(n(pred), n(target), n(weight)),
                                           rel=1e-12)
        with_buffer = sobel_gradient_loss(pred, target, weight, kernels=Sobel().kernels)
        assert float(with_buffer) == pytest.approx(float(got), rel=1e-12)

    def test_soft_weights(self):
        pred, target, fg, bg, image, _ = batch(3)
        weight = torch.rand(pred.shape, generator=torch.Generator().manual_seed(9),
                            dtype=torch.float64)
        got = alpha_prediction_loss(pred, target, weight)
        assert float(got) == pytest.approx(np_alpha_loss(n(pred), n(target), n(weight)), rel=1e-12)

    def test_float32_in_float32_out(self):
        pred, target, fg, bg, image, weight = batch(0, dtype=torch.float32)
        assert alpha_prediction_loss(pred, target, weight).dtype == torch.float32
        assert compositional_loss(pred, fg, bg, image, weight).dtype == torch.float32
        assert float(alpha_prediction_loss(pred, target, weight)) == pytest.approx(
            np_alpha_loss(n(pred).astype(np.float64), n(target).astype(np.float64),
                          n(weight).astype(np.float64)), rel=1e-5)


class TestEpsilonAndNormalisation:
    def test_eps_is_the_papers(self):
        assert CHARBONNIER_EPS == 1e-6

    def test_perfect_prediction_costs_eps_per_pixel(self):
        _, target, fg, bg, image, weight = batch(0)
        assert float(alpha_prediction_loss(target, target, weight)) == pytest.approx(1e-6, rel=1e-9)
        assert (float(compositional_loss(target, fg, bg, image, weight))
                == pytest.approx(1e-6, rel=1e-6))
        assert (float(charbonnier(torch.zeros((), dtype=torch.float64)))
                == pytest.approx(1e-6, rel=1e-12))

    def test_charbonnier_is_nearly_absolute_value(self):
        d = torch.tensor([-0.5, 0.25, 1.0], dtype=torch.float64)
        torch.testing.assert_close(charbonnier(d), d.abs(), rtol=1e-10, atol=0)

    def test_batch_normalisation_is_one_mean_over_the_batch(self):
        """Image 0: 1 unknown pixel with error 1; image 1: 3 unknown pixels, exact.

        One mean over all 4 unknown pixels gives ~0.25; a mean of per-image
        means would give ~0.5.
        """
        pred = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
        target = torch.zeros_like(pred)
        weight = torch.zeros_like(pred)
        pred[0, 0, 0, 0] = 1.0
        weight[0, 0, 0, 0] = 1.0
        weight[1, 0, :, :] = 1.0
        weight[1, 0, 1, 1] = 0.0
        expected = (np.sqrt(1 + 1e-12) + 3e-6) / 4
        assert (float(alpha_prediction_loss(pred, target, weight))
                == pytest.approx(expected, rel=1e-12))

    def test_only_the_masked_region_counts(self):
        pred, target, fg, bg, image, weight = batch(4)
        moved = pred.clone()
        moved[weight == 0] = 1 - moved[weight == 0]
        assert float(alpha_prediction_loss(moved, target, weight)) == float(
            alpha_prediction_loss(pred, target, weight))
        assert float(compositional_loss(moved, fg, bg, image, weight)) == float(
            compositional_loss(pred, fg, bg, image, weight))

    def test_composition_averages_three_channels(self):
        alpha = torch.ones(1, 1, 1, 1, dtype=torch.float64)
        fg = torch.tensor([0.9, 0.5, 0.5], dtype=torch.float64).view(1, 3, 1, 1)
        bg = torch.zeros_like(fg)
        image = torch.full_like(fg, 0.5)  # error 0.4 in red only
        got = compositional_loss(alpha, fg, bg, image, None)
        assert float(got) == pytest.approx((np.sqrt(0.16 + 1e-12) + 2e-6) / 3, rel=1e-12)

    def test_no_weight_means_every_pixel(self):
        pred, target, *_ = batch(5)
        ones = torch.ones_like(pred)
        assert float(alpha_prediction_loss(pred, target, None)) == pytest.approx(
            float(alpha_prediction_loss(pred, target, ones)), rel=1e-12)

    @pytest.mark.parametrize("loss", ["alpha", "composition", "gradient", "dim"])
    def test_empty_unknown_region_is_zero_not_nan(self, loss):
        pred, target, fg, bg, image, weight = batch(6)
        pred.requires_grad_(True)
        empty = torch.zeros_like(weight)
        value = {
            "alpha": lambda: alpha_prediction_loss(pred, target, empty),
            "composition": lambda: compositional_loss(pred, fg, bg, image, empty),
            "gradient": lambda: sobel_gradient_loss(pred, target, empty),
            "dim": lambda: dim_loss(pred, target, fg, bg, image, empty)["total"],
        }[loss]()
        value.backward()
        assert float(value.detach()) == 0.0
        assert torch.equal(pred.grad, torch.zeros_like(pred))

    def test_empty_unknown_region_float32(self):
        pred, target, *_ = batch(6, dtype=torch.float32)
        assert float(alpha_prediction_loss(pred, target, torch.zeros_like(pred))) == 0.0

    def test_gradient_loss_ignores_constant_offsets_inside(self):
        pred, target, *_ = batch(7, h=8, w=8)
        interior = torch.zeros_like(pred)
        interior[..., 1:-1, 1:-1] = 1  # zero padding makes the border see the offset
        assert (float(sobel_gradient_loss(target + 0.3, target, interior))
                == pytest.approx(0, abs=1e-12))
        assert float(sobel_gradient_loss(pred, target, interior)) > 0.1


class TestGradcheck:
    def test_alpha_prediction(self):
        pred, target, _, _, _, weight = batch(0, h=4, w=4)
        pred.requires_grad_(True)
        target.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda p, t: alpha_prediction_loss(p, t, weight),
                                        (pred, target))

    def test_compositional(self):
        pred, _, fg, bg, image, weight = batch(1, h=4, w=4)
        inputs = tuple(x.requires_grad_(True) for x in (pred, fg, bg, image))
        assert torch.autograd.gradcheck(lambda a, f, b, i: compositional_loss(a, f, b, i, weight),
                                        inputs)

    def test_sobel_gradient(self):
        pred, target, _, _, _, weight = batch(2, h=5, w=5)
        pred.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda p: sobel_gradient_loss(p, target, weight), (pred,))

    def test_dim_total(self):
        pred, target, fg, bg, image, weight = batch(3, h=4, w=4)
        pred.requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda p: dim_loss(p, target, fg, bg, image, weight)["total"], (pred,))

    def test_shm_total(self):
        pred, target, fg, bg, image, _ = batch(4, h=4, w=4)
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        classes = torch.randint(0, 3, (2, 4, 4), generator=gen)
        pred.requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda p, lg: shm_end_to_end_loss(
                pred_alpha=p, target_alpha=target, fg=fg, bg=bg, image=image,
                trimap_logits=lg, trimap_target=classes)["total"], (pred, logits))


class TestTotals:
    def test_dim_loss_terms_and_weights(self):
        pred, target, fg, bg, image, weight = batch(8)
        terms = dim_loss(pred, target, fg, bg, image, weight)
        assert set(terms) == {"alpha", "composition", "total"}
        assert float(terms["alpha"]) == pytest.approx(np_alpha_loss(n(pred), n(target), n(weight)))
        want = 0.5 * float(terms["alpha"]) + 0.5 * float(terms["composition"])
        assert float(terms["total"]) == pytest.approx(want, rel=1e-12)
        custom = dim_loss(pred, target, fg, bg, image, weight, alpha_weight=1.0,
                          composition_weight=0.0)
        assert float(custom["total"]) == pytest.approx(float(terms["alpha"]), rel=1e-12)

    def test_shm_loss_end_to_end(self):
        pred, target, fg, bg, image, _ = batch(9)
        gen = torch.Generator().manual_seed(1)
        logits = torch.randn(2, 3, 6, 5, generator=gen, dtype=torch.float64)
        classes = torch.randint(0, 3, (2, 6, 5), generator=gen)
        terms = shm_end_to_end_loss(pred_alpha=pred, target_alpha=target, fg=fg, bg=bg, image=image,
                                    trimap_logits=logits, trimap_target=classes)
        assert set(terms) == {"alpha", "composition", "trimap_ce", "total"}
        ones = np.ones(n(pred).shape)
        alpha = np_alpha_loss(n(pred), n(target), ones)  # SHM: every pixel by default
        comp = np_composition_loss(n(pred), n(fg), n(bg), n(image), ones)
        ce = np_cross_entropy(n(logits), classes.numpy())
        assert float(terms["alpha"]) == pytest.approx(alpha, rel=1e-12)
        assert float(terms["trimap_ce"]) == pytest.approx(ce, rel=1e-12)
        assert float(terms["total"]) == pytest.approx(0.5 * alpha + 0.5 * comp + 0.01 * ce,
                                                      rel=1e-12)

    def test_shm_loss_pretraining_phases(self):
        pred, target, fg, bg, image, weight = batch(10)
        logits = torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(2),
                             dtype=torch.float64)
        classes = torch.zeros(2, 6, 5, dtype=torch.long)
        tnet_only = tnet_pretrain_loss(trimap_logits=logits, trimap_target=classes)
        assert set(tnet_only) == {"trimap_ce", "total"}
        assert float(tnet_only["total"]) == float(tnet_only["trimap_ce"])
        mnet_only = mnet_pretrain_loss(pred_alpha=pred, target_alpha=target, fg=fg, bg=bg,
                                       image=image, weight=weight)
        assert set(mnet_only) == {"alpha", "composition", "total"}
        assert float(mnet_only["total"]) == pytest.approx(
            float(dim_loss(pred, target, fg, bg, image, weight)["total"]), rel=1e-12)


class TestBadInputs:
    def test_shapes_name_the_argument(self):
        pred, target, fg, bg, image, weight = batch(0)
        with pytest.raises(ValueError,
                           match=r"^pred: expected shape \(B,1,H,W\), got \(2, 3, 6, 5\)"):
            alpha_prediction_loss(fg, target, weight)
        with pytest.raises(ValueError, match=r"^target: expected shape \(2,1,6,5\)"):
            alpha_prediction_loss(pred, target[:, :, :5], weight)
        with pytest.raises(ValueError, match=r"^weight: expected shape \(2,1,6,5\)"):
            alpha_prediction_loss(pred, target, weight[:1])
        with pytest.raises(ValueError, match=r"^image: expected shape \(2,3,6,5\)"):
            compositional_loss(pred, fg, bg, image[:, :1], weight)
        with pytest.raises(ValueError, match="^target: expected a floating point tensor"):
            sobel_gradient_loss(pred, (target > 0.5).long(), weight)
        with pytest.raises(ValueError, match="^target_alpha: expected a torch.Tensor"):
            dim_loss(pred, None, fg, bg, image, weight)

    def test_weight_is_not_optional(self):
        pred, target, *_ = batch(0)
        with pytest.raises(TypeError):
            # the unknown mask must be given (or None on purpose)
            alpha_prediction_loss(pred, target)

    def test_shm_targets(self):
        pred, target, fg, bg, image, _ = batch(0)
        logits = torch.zeros(2, 3, 6, 5, dtype=torch.float64)
        with pytest.raises(ValueError, match=r"^trimap_target: expected class indices in \[0, 2\]"):
            shm_loss(pred_alpha=pred, target_alpha=target, fg=fg, bg=bg, image=image,
                     trimap_logits=logits, trimap_target=torch.full((2, 6, 5), 3))
        with pytest.raises(ValueError, match="^trimap_target: expected a torch.long tensor"):
            shm_loss(pred_alpha=pred, target_alpha=target, fg=fg, bg=bg, image=image,
                     trimap_logits=logits, trimap_target=torch.zeros(2, 6, 5))
        with pytest.raises(ValueError, match=r"^trimap_target: expected shape \(2,6,5\)"):
            shm_loss(pred_alpha=pred, target_alpha=target, fg=fg, bg=bg, image=image,
                     trimap_logits=logits,
                     trimap_target=torch.zeros(2, 1, 6, 5, dtype=torch.long))
        with pytest.raises(ValueError,
                           match="^pred_alpha: pred_alpha and trimap_logits are both None"):
            shm_loss()
        with pytest.raises(TypeError):  # every argument by name
            shm_loss(pred, target, fg, bg, image, logits, torch.zeros(2, 6, 5, dtype=torch.long))
        # The class-range check reads the target (a device sync); a loop may turn it off.
        out_of_range = torch.full((2, 6, 5), 2, dtype=torch.long)
        out_of_range[0, 0, 0] = 3
        with pytest.raises(ValueError, match="class indices"):
            tnet_pretrain_loss(trimap_logits=logits, trimap_target=out_of_range)

    def test_shm_phases_without_the_value_check_do_not_read_the_target(self, monkeypatch):
        pred, target, fg, bg, image, _ = batch(0)
        logits = torch.zeros(2, 3, 6, 5, dtype=torch.float64)
        classes = torch.ones(2, 6, 5, dtype=torch.long)
        reads = []
        monkeypatch.setattr(torch.Tensor, "min", lambda *a, **k: reads.append("min"))
        monkeypatch.setattr(torch.Tensor, "max", lambda *a, **k: reads.append("max"))
        terms = shm_end_to_end_loss(pred_alpha=pred, target_alpha=target, fg=fg, bg=bg,
                                    image=image, trimap_logits=logits, trimap_target=classes,
                                    check_values=False)
        assert reads == [] and sorted(terms) == ["alpha", "composition", "total", "trimap_ce"]
