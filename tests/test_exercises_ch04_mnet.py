"""Chapter 4's (SHM) checkers accept right answers and reject typical wrong ones with the right hint."""

from __future__ import annotations

import pytest
import torch

from mattinglib.exercises import ch04_mnet
from mattinglib.losses.dim import alpha_prediction_loss
from mattinglib.models.shm import fuse_alpha
from mattinglib.trimap import trimap_to_onehot
from tests.exercise_helpers import not_implemented, rejects, reports_not_done


# --------------------------------------------------------------------------- M-Net input


def mnet_input(image, trimap):
    return torch.cat([image, trimap_to_onehot(trimap)], dim=1)


def by_hand(image, trimap, order=(0, 128, 255)):
    levels = torch.round(trimap * 255)
    probs = [(levels == v).float() for v in order]
    return torch.cat([image, *probs], dim=1)


class TestMNetInput:
    def test_accepts_the_library(self, capsys):
        ch04_mnet.check_mnet_input(mnet_input)
        assert "Correct: mnet_input" in capsys.readouterr().out

    def test_accepts_a_hand_written_answer(self, capsys):
        ch04_mnet.check_mnet_input(by_hand)
        assert "Correct" in capsys.readouterr().out

    def test_stub(self):
        reports_not_done(ch04_mnet.check_mnet_input, not_implemented, "not implemented yet")

    def test_swapped_foreground_and_unknown(self):
        message = rejects(ch04_mnet.check_mnet_input,
                          lambda i, t: by_hand(i, t, order=(0, 255, 128)), "class order")
        assert "('background', 'foreground', 'unknown')" in message

    def test_trimap_channels_first(self):
        rejects(ch04_mnet.check_mnet_input,
                lambda i, t: torch.cat([trimap_to_onehot(t), i], dim=1), "trimap channels come first")

    def test_unknown_compared_with_one_half(self):
        def half(image, trimap):
            probs = [(trimap == 0).float(), (trimap == 0.5).float(), (trimap == 1).float()]
            return torch.cat([image, *probs], dim=1)

        rejects(ch04_mnet.check_mnet_input, half, "128/255")

    def test_trimap_as_a_single_channel(self):
        rejects(ch04_mnet.check_mnet_input, lambda i, t: torch.cat([i, t], dim=1),
                "expected shape (2, 6, 5, 7)")

    def test_wrong_dtype(self):
        rejects(ch04_mnet.check_mnet_input, lambda i, t: mnet_input(i, t).double(), "float32")


# --------------------------------------------------------------------------- fusion


def fusion_by_hand(probs, alpha_r):
    return (probs[:, 2:3] + probs[:, 1:2] * alpha_r).clamp(0, 1)


class TestFusion:
    def test_accepts_the_library_and_a_hand_written_answer(self, capsys):
        ch04_mnet.check_fusion(fuse_alpha)
        ch04_mnet.check_fusion(fusion_by_hand)
        assert capsys.readouterr().out.count("Correct: fusion") == 2

    def test_stub(self):
        reports_not_done(ch04_mnet.check_fusion, not_implemented, "not implemented yet")

    def test_foreground_unknown_swap(self):
        rejects(ch04_mnet.check_fusion,
                lambda p, a: (p[:, 1:2] + p[:, 2:3] * a).clamp(0, 1), "unknown probability as the foreground")

    def test_swap_without_clamp_is_still_called_a_swap(self):
        # The swap is the first thing that goes wrong, on the first (in-range) case.
        rejects(ch04_mnet.check_fusion, lambda p, a: p[:, 1:2] + p[:, 2:3] * a, "foreground")

    def test_missing_clamp(self):
        message = rejects(ch04_mnet.check_fusion, lambda p, a: p[:, 2:3] + p[:, 1:2] * a, "clamp")
        assert "outside [0, 1]" in message

    def test_alpha_r_scales_the_foreground(self):
        rejects(ch04_mnet.check_fusion,
                lambda p, a: (p[:, 2:3] * a + p[:, 1:2]).clamp(0, 1), "foreground")

    def test_channel_axis_dropped(self):
        rejects(ch04_mnet.check_fusion, lambda p, a: (p[:, 2] + p[:, 1] * a[:, 0]).clamp(0, 1),
                "expected shape")


# --------------------------------------------------------------------------- alpha loss


def alpha_loss(pred, target, unknown):
    return alpha_prediction_loss(pred, target, unknown)


def loss_by_hand(pred, target, unknown):
    penalty = torch.sqrt((pred - target) ** 2 + 1e-12)
    return (penalty * unknown).sum() / unknown.sum().clamp_min(1)


class TestAlphaLoss:
    def test_accepts_the_library_and_a_hand_written_answer(self, capsys):
        ch04_mnet.check_alpha_loss(alpha_loss)
        ch04_mnet.check_alpha_loss(loss_by_hand)
        assert capsys.readouterr().out.count("Correct: alpha_loss") == 2

    def test_stub(self):
        reports_not_done(ch04_mnet.check_alpha_loss, not_implemented, "not implemented yet")

    @pytest.mark.parametrize("eps", [1e-12, 1e-8, 1e-6, 1e-4])
    def test_accepts_an_epsilon_in_the_denominator(self, capsys, eps):
        # What the hint itself suggests against 0 / 0 without unknown pixels.
        def with_eps(p, t, u):
            return (torch.sqrt((p - t) ** 2 + 1e-12) * u).sum() / (u.sum() + eps)

        ch04_mnet.check_alpha_loss(with_eps)
        assert "Correct: alpha_loss" in capsys.readouterr().out

    def test_accepts_a_float32_computation(self, capsys):
        def in_float32(p, t, u):
            p, t, u = p.float(), t.float(), u.float()
            return (torch.sqrt((p - t) ** 2 + 1e-12) * u).sum() / (u.sum() + 1e-6)

        ch04_mnet.check_alpha_loss(in_float32)
        assert "Correct: alpha_loss" in capsys.readouterr().out

    def test_rejects_a_denominator_epsilon_that_changes_the_value(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: (torch.sqrt((p - t) ** 2 + 1e-12) * u).sum() / (u.sum() + 0.1),
                "your loss is")

    def test_rejects_eps_not_squared(self):
        # sqrt(d**2 + 1e-6) is a Charbonnier with eps = 1e-3, a thousand times DIM's.
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: (torch.sqrt((p - t) ** 2 + 1e-6) * u).sum() / (u.sum() + 1e-6),
                "your loss is")

    def test_missing_eps_with_denominator_epsilon(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: ((p - t).abs() * u).sum() / (u.sum() + 1e-6), "eps")

    def test_mean_over_all_pixels(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: torch.sqrt((p - t) ** 2 + 1e-12).mean(), "all pixels")

    def test_masked_but_divided_by_all_pixels(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: (torch.sqrt((p - t) ** 2 + 1e-12) * u).mean(), "sum(unknown)")

    def test_missing_eps(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: (torch.sqrt((p - t) ** 2) * u).sum() / u.sum().clamp_min(1), "eps")

    def test_missing_eps_via_abs_is_caught_too(self):
        # |d| has the value of sqrt(d**2): caught by the value where pred == target.
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: ((p - t).abs() * u).sum() / u.sum().clamp_min(1), "eps")

    def test_mean_of_per_image_means(self):
        def per_image(p, t, u):
            penalty = torch.sqrt((p - t) ** 2 + 1e-12) * u
            return (penalty.sum(dim=(1, 2, 3)) / u.sum(dim=(1, 2, 3))).mean()

        rejects(ch04_mnet.check_alpha_loss, per_image, "per image")

    def test_nan_without_unknown_pixels(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: (torch.sqrt((p - t) ** 2 + 1e-12) * u).sum() / u.sum(),
                "no unknown pixel")

    def test_not_a_scalar(self):
        rejects(ch04_mnet.check_alpha_loss,
                lambda p, t, u: torch.sqrt((p - t) ** 2 + 1e-12) * u, "0-dim")

    def test_in_place_change(self):
        def in_place(p, t, u):
            u.mul_(1)
            t.sub_(0)
            t[0, 0, 0, 0] = 0.5
            return alpha_loss(p, t, u)

        rejects(ch04_mnet.check_alpha_loss, in_place, "in place")
