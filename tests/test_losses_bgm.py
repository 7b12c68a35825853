"""Background Matting losses against literal, per-sample transcriptions of the formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import mattinglib.losses.bgm as L
from mattinglib.losses import gradient as G

# --------------------------------------------------------------------------- literal references
# Written the way the original training code states them: a Python loop over the
# batch, a sample counted only when its mask is non-empty, new filters per call.


def ref_normalized_l1(a, b, mask):
    loss = 0
    eps = 1e-6
    for i in range(a.shape[0]):
        if mask[i, ...].sum() > 0:
            loss = loss + torch.sum(
                torch.abs(a[i, ...] * mask[i, ...] - b[i, ...] * mask[i, ...])
            ) / (torch.sum(mask[i, ...]) + eps)
    return loss / a.shape[0]


def ref_gradient_loss(a, b, mask):
    fx = torch.tensor([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=a.dtype).view(1, 1, 3, 3)
    fy = torch.tensor([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=a.dtype).view(1, 1, 3, 3)
    return (ref_normalized_l1(F.conv2d(a, fx, padding=1), F.conv2d(b, fx, padding=1), mask)
            + ref_normalized_l1(F.conv2d(a, fy, padding=1), F.conv2d(b, fy, padding=1), mask))


def ref_composition_loss(image, alpha_pred, fg, bg, mask):
    alpha_pred = (alpha_pred + 1) / 2
    comp = fg * alpha_pred + (1 - alpha_pred) * bg
    return ref_normalized_l1(image, comp, mask)


def ref_supervised(alpha_pred, fg_pred, alpha, fg, image, bg):
    mask = (alpha > -0.99).float().to(alpha.dtype)
    mask0 = torch.ones(alpha.shape, dtype=alpha.dtype)
    al_loss = ref_normalized_l1(alpha, alpha_pred, mask0)
    fg_loss = ref_normalized_l1(fg, fg_pred, mask)
    al_mask = (alpha_pred > 0.95).to(alpha.dtype)
    fg_pred_c = image * al_mask + fg_pred * (1 - al_mask)
    c_loss = ref_composition_loss(image, alpha_pred, fg_pred_c, bg, mask0)
    g_loss = ref_gradient_loss(alpha, alpha_pred, mask0)
    return al_loss, fg_loss, c_loss, g_loss, al_loss + 2 * fg_loss + c_loss + g_loss


def ref_gan(pred, label_type):
    loss = 0
    for i in range(len(pred)):
        labels = torch.ones(pred[i][0].shape) if label_type else torch.zeros(pred[i][0].shape)
        loss += torch.nn.MSELoss()(pred[i][0], labels.to(pred[i][0].dtype))
    return loss / len(pred)


# --------------------------------------------------------------------------- data


def _batch(seed=0, b=4, h=10, w=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)

    def r(c):
        return (torch.rand(b, c, h, w, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)

    alpha = r(1)
    alpha[0, :, :3] = -1.0        # transparent rows: outside the foreground mask
    alpha_pred = r(1)
    alpha_pred[1, :, :4] = 0.99   # opaque prediction: replaced by the image
    return dict(alpha_pred=alpha_pred, fg_pred=r(3), alpha=alpha, fg=r(3), image=r(3), bg=r(3))


def _masks(b=4, h=10, w=8, c=1, seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    m = (torch.rand(b, c, h, w, generator=g) > 0.5).to(dtype)
    m[2] = 0  # an empty sample: contributes 0, still counts in the mean
    return m


# --------------------------------------------------------------------------- tests


class TestNormalizedL1:
    @pytest.mark.parametrize("channels, mask_channels", [(1, 1), (3, 1), (3, 3)])
    def test_matches_per_sample_loop(self, channels, mask_channels):
        d = _batch()
        a, p = d["fg"][:, :channels], d["fg_pred"][:, :channels]
        m = _masks(c=mask_channels)
        got = L.normalized_l1(a, p, m)
        torch.testing.assert_close(got, ref_normalized_l1(a, p, m), rtol=1e-6, atol=1e-7)

    def test_empty_sample_counts_in_the_mean(self):
        a, p = torch.zeros(2, 1, 3, 3), torch.ones(2, 1, 3, 3)
        m = torch.ones(2, 1, 3, 3)
        m[1] = 0
        assert L.normalized_l1(a, p, m).item() == pytest.approx(0.5, rel=1e-6)
        assert L.normalized_l1(a, p, torch.zeros_like(m)).item() == 0.0

    def test_soft_mask(self):
        d = _batch()
        m = torch.rand(4, 1, 10, 8, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(L.normalized_l1(d["fg"], d["fg_pred"], m),
                                   ref_normalized_l1(d["fg"], d["fg_pred"], m),
                                   rtol=1e-6, atol=1e-7)

    def test_none_is_a_one_channel_all_ones_mask(self):
        d = _batch()
        ones = torch.ones(4, 1, 10, 8)
        torch.testing.assert_close(L.normalized_l1(d["image"], d["bg"]),
                                   ref_normalized_l1(d["image"], d["bg"], ones),
                                   rtol=1e-6, atol=1e-7)

    def test_creates_no_constant_tensors(self, monkeypatch):
        def forbidden(*args, **kwargs):
            raise AssertionError("a constant tensor was created inside the loss")

        d = _batch()
        m = _masks()
        L.gradient_loss(d["alpha"], d["alpha_pred"], m)  # fill the filter cache first
        for name in ("tensor", "ones", "zeros", "full", "as_tensor", "scalar_tensor"):
            monkeypatch.setattr(torch, name, forbidden)
        L.normalized_l1(d["fg"], d["fg_pred"], m)
        L.normalized_l1(d["fg"], d["fg_pred"])
        L.gradient_loss(d["alpha"], d["alpha_pred"], m)

    @pytest.mark.parametrize("pred_shape, mask_shape, message", [
        ((4, 3, 10, 7), None, r"^pred: expected shape \(4, 3, 10, 8\) like target"),
        ((4, 3, 10, 8), (4, 2, 10, 8), r"^mask: expected shape \(4,1,10,8\) or \(4,3,10,8\)"),
        ((4, 3, 10, 8), (3, 1, 10, 8), r"^mask: expected shape \(4,M,10,8\)"),
    ])
    def test_rejects_mismatched_shapes(self, pred_shape, mask_shape, message):
        mask = None if mask_shape is None else torch.ones(mask_shape)
        with pytest.raises(ValueError, match=message):
            L.normalized_l1(torch.zeros(4, 3, 10, 8), torch.zeros(pred_shape), mask)

    def test_gradcheck(self):
        d = _batch(dtype=torch.float64, h=6, w=6)
        m = _masks(c=1, h=6, w=6, dtype=torch.float64)
        a = d["fg"].requires_grad_()
        p = d["fg_pred"].requires_grad_()
        assert gradcheck(lambda a, p: L.normalized_l1(a, p, m), (a, p))


class TestGradientLoss:
    def test_matches_literal_transcription(self):
        d = _batch()
        for mask in (_masks(), torch.ones(4, 1, 10, 8)):
            torch.testing.assert_close(L.gradient_loss(d["alpha"], d["alpha_pred"], mask),
                                       ref_gradient_loss(d["alpha"], d["alpha_pred"], mask),
                                       rtol=1e-5, atol=1e-6)

    def test_gradcheck(self):
        d = _batch(dtype=torch.float64, h=6, w=6)
        p = d["alpha_pred"].requires_grad_()
        m = _masks(h=6, w=6, dtype=torch.float64)
        assert gradcheck(lambda p: L.gradient_loss(d["alpha"], p, m), (p,))

    def test_filters_are_built_once_per_dtype(self, monkeypatch):
        calls = []
        original = G._kernels

        def counting(*args, **kwargs):
            calls.append(args)
            return original(*args, **kwargs)

        monkeypatch.setattr(G, "_kernels", counting)
        monkeypatch.setattr(L, "_KERNELS", {})
        for dtype in (torch.float32, torch.float64, torch.float32, torch.float64):
            d = _batch(dtype=dtype)
            L.gradient_loss(d["alpha"], d["alpha_pred"])
        assert len(calls) == 2

    def test_module_buffer_follows_to_dtype_and_is_reused(self, monkeypatch):
        module = L.GradientLoss().to(torch.float64)
        kernels = module.sobel.kernels
        assert kernels.dtype == torch.float64

        def forbidden(*args, **kwargs):
            raise AssertionError("filters rebuilt during the call")

        monkeypatch.setattr(G, "_kernels", forbidden)
        d = _batch(dtype=torch.float64)
        m = _masks(dtype=torch.float64)
        first = module(d["alpha"], d["alpha_pred"], m)
        second = module(d["alpha"], d["alpha_pred"], m)
        assert module.sobel.kernels is kernels
        assert module.sobel.kernels.data_ptr() == kernels.data_ptr()
        assert first.dtype == torch.float64 and torch.equal(first, second)
        torch.testing.assert_close(first, ref_gradient_loss(d["alpha"], d["alpha_pred"], m))

    def test_cache_filled_under_inference_mode_still_supports_backward(self, monkeypatch):
        monkeypatch.setattr(L, "_KERNELS", {})
        d = _batch()
        with torch.inference_mode():
            L.gradient_loss(d["alpha"], d["alpha_pred"])
        p = d["alpha_pred"].clone().requires_grad_()
        L.gradient_loss(d["alpha"], p).backward()
        assert p.grad is not None and p.grad.abs().sum() > 0


class TestComposition:
    def test_matches_literal_transcription(self):
        d = _batch()
        for mask in (_masks(), torch.ones(4, 1, 10, 8)):
            torch.testing.assert_close(
                L.composition_loss(d["image"], d["alpha_pred"], d["fg_pred"], d["bg"], mask),
                ref_composition_loss(d["image"], d["alpha_pred"], d["fg_pred"], d["bg"], mask),
                rtol=1e-6, atol=1e-7)

    def test_perfect_composite_has_zero_loss(self):
        d = _batch()
        a01 = (d["alpha_pred"] + 1) / 2
        image = d["fg"] * a01 + (1 - a01) * d["bg"]
        assert L.composition_loss(image, d["alpha_pred"], d["fg"], d["bg"]).item() < 1e-6

    def test_gradcheck(self):
        d = _batch(dtype=torch.float64, b=3, h=6, w=6)
        args = tuple(d[k].requires_grad_() for k in ("alpha_pred", "fg_pred", "bg"))
        assert gradcheck(lambda a, f, b: L.composition_loss(d["image"], a, f, b), args)

    def test_rejects_three_channel_alpha(self):
        d = _batch()
        with pytest.raises(ValueError, match=r"^alpha_pred: expected shape \(4,1,10,8\)"):
            L.composition_loss(d["image"], d["fg_pred"], d["fg_pred"], d["bg"])


class TestReplaceOpaqueForeground:
    def test_matches_literal_and_its_gradient(self):
        d = _batch()
        fg1 = d["fg_pred"].clone().requires_grad_()
        fg2 = d["fg_pred"].clone().requires_grad_()
        got = L.replace_opaque_foreground(fg1, d["image"], d["alpha_pred"])
        al_mask = (d["alpha_pred"] > 0.95).float()
        ref = d["image"] * al_mask + fg2 * (1 - al_mask)
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
        got.sum().backward()
        ref.sum().backward()
        torch.testing.assert_close(fg1.grad, fg2.grad, rtol=0, atol=0)
        assert al_mask.sum() > 0 and (fg1.grad == 0).sum() == 3 * al_mask.sum()


class TestSupervised:
    def test_terms_and_weights_match_the_original(self):
        d = _batch()
        got = L.supervised_loss(**d)
        ref = ref_supervised(**d)
        assert list(got) == ["alpha_l1", "fg_l1", "composition", "gradient", "total"]
        for name, value in zip(got, ref):
            torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)
        # weights 1, 2, 1, 1 (not the 1, 1, 2, 1 some write-ups state)
        t = got
        torch.testing.assert_close(t["total"], t["alpha_l1"] + 2 * t["fg_l1"] + t["composition"]
                                   + t["gradient"])

    def test_fg_mask_excludes_transparent_pixels(self):
        d = _batch()
        changed = dict(d, fg_pred=d["fg_pred"].clone())
        changed["fg_pred"][0, :, :3] += 5.0  # where the ground-truth alpha is -1
        a, b = L.supervised_loss(**d), L.supervised_loss(**changed)
        torch.testing.assert_close(a["fg_l1"], b["fg_l1"])

    def test_gradcheck_total(self):
        d = _batch(dtype=torch.float64, b=2, h=6, w=6)
        a = d.pop("alpha_pred").requires_grad_()
        f = d.pop("fg_pred").requires_grad_()
        assert gradcheck(lambda a, f: L.supervised_loss(a, f, **d)["total"], (a, f))

    def test_weights_must_name_every_term(self):
        with pytest.raises(ValueError, match="^weights:"):
            L.supervised_loss(**_batch(), weights={"alpha_l1": 1.0})


class TestPseudoSupervised:
    def test_matches_literal_transcription(self):
        d = _batch()
        seg = _batch(seed=5)["alpha"]
        seg[3, :, 5:] = 0.99
        got = L.pseudo_supervised_loss(d["alpha_pred"], d["fg_pred"], d["alpha"], d["fg"],
                                       d["image"], d["bg"], seg)
        mask0 = torch.ones(4, 1, 10, 8)
        al = ref_normalized_l1(d["alpha"], d["alpha_pred"], mask0) + 0.5 * ref_gradient_loss(
            d["alpha"], d["alpha_pred"], mask0)
        fgl = ref_normalized_l1(d["fg"], d["fg_pred"], (d["alpha"] > -0.98).float())
        comp = ref_composition_loss(d["image"], d["alpha_pred"], d["fg_pred"], d["bg"],
                                    (seg > 0.95).float())
        for name, value in (("alpha", al), ("fg_l1", fgl), ("composition", comp),
                            ("total", al + fgl + comp)):
            torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)


class TestLSGAN:
    def _outputs(self, dtype=torch.float32):
        g = torch.Generator().manual_seed(7)
        return [[torch.randn(2, 1, 9, 7, generator=g, dtype=dtype)],
                [torch.randn(2, 1, 5, 4, generator=g, dtype=dtype)]]

    @pytest.mark.parametrize("real", [True, False])
    def test_matches_literal_transcription(self, real):
        out = self._outputs()
        torch.testing.assert_close(L.lsgan_loss(out, real), ref_gan(out, real))
        torch.testing.assert_close(L.lsgan_loss([o[0] for o in out], real), ref_gan(out, real))

    def test_single_tensor(self):
        x = torch.full((1, 1, 2, 2), 0.5)
        assert L.lsgan_loss(x, True).item() == pytest.approx(0.25)

    def test_gradcheck(self):
        out = self._outputs(torch.float64)
        leaves = [o[0].requires_grad_() for o in out]
        assert gradcheck(lambda a, b: L.lsgan_loss([[a], [b]], False), tuple(leaves))

    def test_rejects_empty(self):
        with pytest.raises(ValueError, match="^outputs:"):
            L.lsgan_loss([], True)
