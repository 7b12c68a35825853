"""Tests for mattinglib.compositing: the compositing equation on numpy and torch."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mattinglib.compositing import (
    checkerboard,
    compose,
    composition_residual,
    estimate_foreground,
    premultiply,
    preview,
    recompose,
    unpremultiply,
)

FAST = settings(max_examples=40, deadline=None)

unit = st.floats(0.0, 1.0, width=32, allow_subnormal=False)


@st.composite
def triples(draw, dtype=np.float32):
    """Random (fg, bg, alpha) numpy arrays of one size."""
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    fg = draw(arrays(dtype, (h, w, 3), elements=unit))
    bg = draw(arrays(dtype, (h, w, 3), elements=unit))
    alpha = draw(arrays(dtype, (h, w), elements=unit))
    return fg, bg, alpha


def smooth_scene(h: int = 32, w: int = 32):
    """A smooth foreground and background, and a horizontal alpha ramp (float64)."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    yy, xx = yy / max(h - 1, 1), xx / max(w - 1, 1)
    fg = np.stack([np.full_like(xx, 0.9), 0.3 + 0.4 * yy, np.full_like(xx, 0.2)], -1)
    bg = np.stack([0.1 + 0.5 * xx, np.full_like(xx, 0.2), 0.8 - 0.5 * yy], -1)
    alpha = np.clip((xx - 0.3) / 0.4, 0, 1)
    return fg, bg, alpha


def to_torch(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) or (H, W) numpy -> (1, C, H, W) tensor."""
    if image.ndim == 2:
        image = image[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def message(text: str) -> str:
    return "^" + re.escape(text) + "$"


class TestCompose:
    def test_known_values(self):
        fg = np.array([[[1.0, 0.5, 0.0]] * 3], np.float32)
        bg = np.array([[[0.0, 0.5, 1.0]] * 3], np.float32)
        alpha = np.array([[1.0, 0.0, 0.25]], np.float32)
        out = compose(fg, bg, alpha)
        np.testing.assert_allclose(out[0], [[1.0, 0.5, 0.0], [0.0, 0.5, 1.0], [0.25, 0.5, 0.75]])

    def test_alpha_with_channel_axis(self):
        fg, bg, alpha = smooth_scene(6, 5)
        np.testing.assert_array_equal(compose(fg, bg, alpha), compose(fg, bg, alpha[:, :, None]))

    def test_dtypes(self):
        fg, bg, alpha = smooth_scene(4, 4)
        f32 = [x.astype(np.float32) for x in (fg, bg, alpha)]
        assert compose(*f32).dtype == np.float32
        assert compose(fg, bg, alpha).dtype == np.float64
        assert compose(f32[0], f32[1], alpha).dtype == np.float64
        u8 = np.round(fg * 255).astype(np.uint8)
        assert compose(u8, f32[1], f32[2]).dtype == np.float32

    def test_uint8_means_divided_by_255(self):
        rng = np.random.default_rng(0)
        shapes = [(5, 4, 3), (5, 4, 3), (5, 4)]
        fg8, bg8, a8 = (rng.integers(0, 256, s, dtype=np.uint8) for s in shapes)
        np.testing.assert_allclose(compose(fg8, bg8, a8), compose(fg8 / 255, bg8 / 255, a8 / 255),
                                   rtol=0, atol=1e-7)

    def test_torch_shape_dtype_device(self):
        fg, bg = torch.rand(2, 3, 5, 7), torch.rand(2, 3, 5, 7)
        out = compose(fg, bg, torch.rand(2, 1, 5, 7))
        assert out.shape == (2, 3, 5, 7) and out.dtype == torch.float32 and out.device == fg.device

    def test_torch_background_broadcast_over_batch(self):
        g = torch.Generator().manual_seed(0)
        fg, bg, alpha = torch.rand(3, 3, 4, 4, generator=g), torch.rand(1, 3, 4, 4, generator=g), \
            torch.rand(3, 1, 4, 4, generator=g)
        assert torch.equal(compose(fg, bg, alpha), compose(fg, bg.expand(3, -1, -1, -1), alpha))

    def test_torch_gradient_wrt_alpha_is_fg_minus_bg(self):
        fg, bg = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
        alpha = torch.rand(1, 1, 4, 4, requires_grad=True)
        compose(fg, bg, alpha).sum().backward()
        expected = (fg - bg).sum(1, keepdim=True)
        np.testing.assert_allclose(alpha.grad.numpy(), expected.numpy(), atol=1e-6)

    @FAST
    @given(data=triples())
    def test_numpy_and_torch_agree(self, data):
        fg, bg, alpha = data
        expected = compose(fg, bg, alpha)
        got = compose(to_torch(fg), to_torch(bg), to_torch(alpha))[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)

    def test_check_values_off_allows_out_of_range_predictions(self):
        fg = torch.full((1, 3, 2, 2), 1.5)
        out = compose(fg, torch.zeros(1, 3, 2, 2), torch.ones(1, 1, 2, 2), check_values=False)
        assert float(out.max()) == 1.5

    def test_fg_wrong_shape(self):
        with pytest.raises(ValueError, match=message("fg: expected shape (H,W,3), got (4, 4, 4)")):
            compose(np.zeros((4, 4, 4)), np.zeros((4, 4, 3)), np.zeros((4, 4)))

    def test_alpha_wrong_shape(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected shape (H,W) or (H,W,1), got (4, 4, 3)")):
            compose(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))

    def test_mismatched_size(self):
        with pytest.raises(ValueError, match=message(
                "bg: expected height x width (4, 4) like fg, got (4, 5)")):
            compose(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)), np.zeros((4, 4)))
        with pytest.raises(ValueError, match=message(
                "alpha: expected height x width (4, 4) like fg, got (3, 4)")):
            compose(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), np.zeros((3, 4)))

    def test_out_of_range(self):
        fg = np.zeros((2, 2, 3))
        fg[0, 0, 0] = 1.5
        with pytest.raises(ValueError, match=message(
                "fg: expected values in [0.0, 1.0], got min 0, max 1.5")):
            compose(fg, np.zeros((2, 2, 3)), np.zeros((2, 2)))

    def test_nan(self):
        alpha = np.zeros((2, 2))
        alpha[1, 1] = np.nan
        with pytest.raises(ValueError, match=message("alpha: contains NaN or infinite values")):
            compose(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), alpha)

    def test_bad_dtype(self):
        with pytest.raises(ValueError, match=message(
                "bg: expected uint8 in 0..255 or float in [0, 1], got dtype uint16")):
            compose(np.zeros((2, 2, 3)), np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2)))

    def test_not_an_array(self):
        with pytest.raises(ValueError, match=message(
                "fg: expected a numpy array or torch tensor, got list")):
            compose([[0.0]], np.zeros((2, 2, 3)), np.zeros((2, 2)))

    def test_mixed_numpy_and_torch(self):
        with pytest.raises(ValueError, match=message(
                "bg: expected a torch tensor like fg, got ndarray")):
            compose(torch.zeros(1, 3, 2, 2), np.zeros((2, 2, 3)), torch.zeros(1, 1, 2, 2))

    def test_torch_alpha_wrong_channels(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected shape (B,1,H,W), got (2, 3, 64, 64)")):
            compose(torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 64, 64))

    def test_torch_mismatched_size(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected shape (B,1,H,W) with B=2, H=8, W=8 like fg, got (2, 1, 8, 9)")):
            compose(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 9))
        with pytest.raises(ValueError, match=message(
                "bg: expected shape (B,3,H,W) with B=2 or 1, H=8, W=8 like fg, got (3, 3, 8, 8)")):
            compose(torch.zeros(2, 3, 8, 8), torch.zeros(3, 3, 8, 8), torch.zeros(2, 1, 8, 8))

    def test_torch_integer_tensor(self):
        with pytest.raises(ValueError, match=message(
                "fg: expected a floating-point tensor in [0, 1], got dtype torch.uint8")):
            compose(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, 3, 2, 2),
                    torch.zeros(1, 1, 2, 2))

    def test_torch_out_of_range(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected values in [0.0, 1.0], got min -0.5, max 0")):
            compose(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), torch.full((1, 1, 2, 2), -0.5)
                    .index_fill(3, torch.tensor([1]), 0.0))


class TestCompositionResidual:
    @FAST
    @given(data=triples())
    def test_residual_of_compose_is_zero_numpy(self, data):
        fg, bg, alpha = data
        # compose() rounds to float32 once: at most half an ulp of 1.
        image = compose(fg, bg, alpha)
        assert composition_residual(image, fg, bg, alpha) <= np.finfo(np.float32).eps

    @FAST
    @given(data=triples(np.float64))
    def test_residual_of_compose_is_zero_numpy_float64(self, data):
        fg, bg, alpha = data
        assert composition_residual(compose(fg, bg, alpha), fg, bg, alpha) == 0.0

    @FAST
    @given(data=triples())
    def test_residual_of_compose_is_zero_torch(self, data):
        fg, bg, alpha = (to_torch(x) for x in data)
        image = compose(fg, bg, alpha)
        assert composition_residual(image, fg, bg, alpha) <= np.finfo(np.float32).eps

    def test_measures_a_perturbation(self):
        fg, bg, alpha = smooth_scene(6, 6)
        image = compose(fg, bg, alpha)
        image[2, 3, 1] += 0.125 if image[2, 3, 1] < 0.5 else -0.125
        assert composition_residual(image, fg, bg, alpha) == pytest.approx(0.125, abs=1e-12)
        assert composition_residual(to_torch(image), to_torch(fg), to_torch(bg), to_torch(alpha)) \
            == pytest.approx(0.125, abs=1e-12)

    def test_returns_float(self):
        fg, bg, alpha = smooth_scene(3, 3)
        assert type(composition_residual(compose(fg, bg, alpha), fg, bg, alpha)) is float

    def test_image_mismatched_size(self):
        fg, bg, alpha = smooth_scene(4, 4)
        with pytest.raises(ValueError, match=message(
                "fg: expected height x width (4, 5) like image, got (4, 4)")):
            composition_residual(np.zeros((4, 5, 3)), fg, bg, alpha)

    def test_torch_image_wrong_shape(self):
        with pytest.raises(ValueError, match=message(
                "image: expected shape (B,3,H,W), got (1, 4, 2, 2)")):
            composition_residual(torch.zeros(1, 4, 2, 2), torch.zeros(1, 3, 2, 2),
                                 torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2))


class TestPremultiply:
    def test_values(self):
        fg = np.array([[[1.0, 0.5, 0.0]]])
        np.testing.assert_allclose(premultiply(fg, np.array([[0.5]])), [[[0.5, 0.25, 0.0]]])

    def test_torch_matches_numpy(self):
        fg, _, alpha = smooth_scene(5, 6)
        expected = premultiply(fg, alpha)
        got = premultiply(to_torch(fg), to_torch(alpha))[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)

    def test_premultiplied_over_black_is_the_composite(self):
        fg, _, alpha = smooth_scene(5, 6)
        np.testing.assert_allclose(premultiply(fg, alpha), compose(fg, np.zeros_like(fg), alpha))

    def test_alpha_mismatched_size(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected height x width (3, 3) like fg, got (3, 2)")):
            premultiply(np.zeros((3, 3, 3)), np.zeros((3, 2)))

    def test_torch_alpha_wrong_shape(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected shape (B,1,H,W), got (1, 3, 2, 2)")):
            premultiply(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))


class TestUnpremultiply:
    @FAST
    @given(data=triples(), eps=st.sampled_from([1e-6, 1e-3]))
    def test_round_trip_where_alpha_above_eps(self, data, eps):
        fg, _, alpha = data
        back = unpremultiply(premultiply(fg, alpha), alpha, eps=eps)
        visible = alpha.astype(np.float64) > eps  # numpy arithmetic is float64 inside
        np.testing.assert_allclose(back[visible], fg[visible], rtol=0, atol=1e-6)
        assert (back[~visible] == 0).all()

    @FAST
    @given(data=triples())
    def test_round_trip_torch(self, data):
        fg, _, alpha = (to_torch(x) for x in data)
        back = unpremultiply(premultiply(fg, alpha), alpha)
        visible = (alpha > 1e-6).expand_as(fg)
        np.testing.assert_allclose(back[visible].numpy(), fg[visible].numpy(), rtol=0, atol=1e-6)
        assert (back[~visible] == 0).all()

    def test_transparent_pixels_are_black(self):
        p = np.zeros((1, 3, 3))
        out = unpremultiply(p, np.array([[0.0, 1e-7, 1e-6]]))
        assert (out == 0).all() and np.isfinite(out).all()

    def test_torch_gradients_finite_at_zero_alpha(self):
        p = torch.zeros(1, 3, 1, 2, requires_grad=True)
        alpha = torch.tensor([[[[0.0, 0.5]]]], requires_grad=True)
        unpremultiply(p, alpha).sum().backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(alpha.grad).all()

    def test_quantised_uint8_slack_is_clipped(self):
        # 8-bit premultiplied 4 over alpha 3: one level of rounding, F clipped to 1.
        p = np.full((1, 1, 3), 4, np.uint8)
        out = unpremultiply(p, np.full((1, 1), 3, np.uint8))
        np.testing.assert_array_equal(out, np.ones((1, 1, 3), np.float32))

    def test_not_premultiplied(self):
        with pytest.raises(ValueError, match=message(
                "premultiplied: expected values <= alpha (colour premultiplied by alpha), "
                "got values exceeding alpha by up to 0.5")):
            unpremultiply(np.full((1, 1, 3), 0.75), np.full((1, 1), 0.25))

    def test_bad_eps(self):
        with pytest.raises(ValueError,
                           match=message("eps: expected a finite number in [0, 1), got -1")):
            unpremultiply(np.zeros((1, 1, 3)), np.zeros((1, 1)), eps=-1)

    def test_eps_as_numpy_scalar(self):
        out = unpremultiply(np.full((1, 1, 3), 0.25), np.full((1, 1), 0.5), eps=np.float32(1e-3))
        np.testing.assert_allclose(out, 0.5)

    def test_wrong_shape(self):
        with pytest.raises(ValueError, match=message(
                "premultiplied: expected shape (H,W,3), got (1, 1, 4)")):
            unpremultiply(np.zeros((1, 1, 4)), np.zeros((1, 1)))


@pytest.fixture(scope="module")
def estimated():
    """One foreground estimate, shared: the first call imports numba (seconds)."""
    fg, bg, alpha = smooth_scene(24, 24)
    image = compose(fg, bg, alpha)
    est_fg, est_bg = estimate_foreground(image, alpha)
    return dict(fg=fg, bg=bg, alpha=alpha, image=image, est_fg=est_fg, est_bg=est_bg)


class TestEstimateForeground:
    def test_reproduces_the_image_in_the_unknown_region(self, estimated):
        e = estimated
        assert e["est_fg"].shape == e["est_bg"].shape == (24, 24, 3)
        assert e["est_fg"].dtype == e["est_bg"].dtype == np.float32
        unknown = (e["alpha"] > 0) & (e["alpha"] < 1)
        recon = compose(e["est_fg"], e["est_bg"], e["alpha"])
        # Measured 1.6e-3 on this scene; one 8-bit level (3.9e-3) is the tolerance.
        assert np.abs(recon - e["image"])[unknown].max() < 1 / 255
        # The foreground estimate is much closer to the truth than the image colour is.
        fg_error = np.abs(e["est_fg"] - e["fg"])[unknown].mean()
        assert fg_error < 0.05
        assert fg_error < 0.25 * np.abs(e["image"] - e["fg"])[unknown].mean()

    def test_recompose_estimates_fg(self, estimated):
        e = estimated
        new_bg = np.zeros((24, 24, 3), np.float32)
        out = recompose(e["image"], e["alpha"], new_bg)
        np.testing.assert_allclose(out, compose(e["est_fg"], new_bg, e["alpha"]), rtol=0, atol=1e-6)

    def test_torch_rejected(self):
        with pytest.raises(ValueError, match=r"^image: expected a numpy \(H,W,3\) array"):
            estimate_foreground(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))

    def test_unknown_method(self):
        with pytest.raises(ValueError, match=message("method: expected 'ml', got 'cf'")):
            estimate_foreground(np.zeros((4, 4, 3)), np.zeros((4, 4)), method="cf")

    def test_mismatched_size(self):
        with pytest.raises(ValueError, match=message(
                "alpha: expected height x width (4, 4) like image, got (4, 3)")):
            estimate_foreground(np.zeros((4, 4, 3)), np.zeros((4, 3)))


class TestRecompose:
    def test_with_known_fg(self):
        fg, bg, alpha = smooth_scene(6, 6)
        image = compose(fg, bg, alpha)
        new_bg = np.full_like(bg, 0.5)
        np.testing.assert_allclose(recompose(image, alpha, new_bg, fg=fg),
                                   compose(fg, new_bg, alpha))

    def test_torch_with_fg(self):
        fg, bg, alpha = (to_torch(x).float() for x in smooth_scene(6, 6))
        image = compose(fg, bg, alpha)
        new_bg = torch.ones(1, 3, 6, 6)
        assert torch.equal(recompose(image, alpha, new_bg, fg=fg), compose(fg, new_bg, alpha))

    def test_torch_background_error_uses_the_callers_name(self):
        with pytest.raises(ValueError, match=message(
                "new_background: expected shape (B,3,H,W) with B=1, H=2, W=2 like fg, "
                "got (1, 3, 2, 3)")):
            recompose(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 2, 3),
                      fg=torch.zeros(1, 3, 2, 2))

    def test_torch_needs_fg(self):
        with pytest.raises(ValueError, match=r"^fg: required for torch tensors"):
            recompose(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 2, 2))

    def test_background_error_uses_the_callers_name(self):
        with pytest.raises(ValueError, match=message(
                "new_background: expected height x width (2, 2) like image, got (2, 3)")):
            recompose(np.zeros((2, 2, 3)), np.zeros((2, 2)), np.zeros((2, 3, 3)),
                      fg=np.zeros((2, 2, 3)))
        with pytest.raises(ValueError, match=message(
                "new_background: expected values in [0.0, 1.0], got min 2, max 2")):
            recompose(np.zeros((2, 2, 3)), np.zeros((2, 2)), np.full((2, 2, 3), 2.0),
                      fg=np.zeros((2, 2, 3)))


class TestCheckerboard:
    def test_pattern(self):
        board = checkerboard(4, 6, tile=2, colors=(1.0, 0.0))
        assert board.shape == (4, 6, 3) and board.dtype == np.float32
        np.testing.assert_array_equal(board[..., 0], [[1, 1, 0, 0, 1, 1],
                                                      [1, 1, 0, 0, 1, 1],
                                                      [0, 0, 1, 1, 0, 0],
                                                      [0, 0, 1, 1, 0, 0]])
        assert (board == board[..., :1]).all()  # grey

    def test_default_colors_and_partial_tiles(self):
        board = checkerboard(20, 17)
        assert board[0, 0, 0] == np.float32(0.8) and board[0, 16, 0] == np.float32(0.6)
        assert board[16, 16, 0] == np.float32(0.8)

    def test_rgb_colors(self):
        board = checkerboard(2, 2, tile=1, colors=((1.0, 0.0, 0.0), 0.5))
        np.testing.assert_array_equal(board[0, 0], [1, 0, 0])
        np.testing.assert_array_equal(board[0, 1], [0.5, 0.5, 0.5])

    def test_bad_size(self):
        with pytest.raises(ValueError, match=message("width: expected an integer >= 1, got 0")):
            checkerboard(4, 0)
        with pytest.raises(ValueError, match=message("tile: expected an integer >= 1, got 2.5")):
            checkerboard(4, 4, tile=2.5)

    def test_bad_colors(self):
        with pytest.raises(ValueError, match=message(
                "colors: expected values in [0.0, 1.0], got min 0.6, max 2")):
            checkerboard(4, 4, colors=(2.0, 0.6))
        with pytest.raises(ValueError, match=r"^colors: expected two colours"):
            checkerboard(4, 4, colors=(0.5,))


class TestPreview:
    def test_transparent_shows_checkerboard_opaque_shows_fg(self):
        fg = np.full((8, 8, 3), 0.1, np.float32)
        alpha = np.zeros((8, 8), np.float32)
        alpha[:, 4:] = 1
        out = preview(fg, alpha, tile=2)
        np.testing.assert_array_equal(out[:, :4], checkerboard(8, 8, tile=2)[:, :4])
        np.testing.assert_array_equal(out[:, 4:], fg[:, 4:])

    def test_background(self):
        fg, bg, alpha = smooth_scene(5, 5)
        np.testing.assert_array_equal(preview(fg, alpha, background=bg), compose(fg, bg, alpha))

    def test_torch_matches_numpy(self):
        fg, _, alpha = (x.astype(np.float32) for x in smooth_scene(9, 7))
        expected = preview(fg, alpha, tile=3)
        got = preview(to_torch(fg).repeat(2, 1, 1, 1), to_torch(alpha).repeat(2, 1, 1, 1), tile=3)
        assert got.shape == (2, 3, 9, 7)
        np.testing.assert_allclose(got[1].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-6)

    def test_background_error_uses_the_callers_name(self):
        with pytest.raises(ValueError, match=message(
                "background: expected height x width (2, 2) like fg, got (3, 2)")):
            preview(np.zeros((2, 2, 3)), np.zeros((2, 2)), background=np.zeros((3, 2, 3)))
