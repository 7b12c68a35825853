"""Tests of mattinglib.inference.matting: padding, downscaling, tiling, modes, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mattinglib.inference.matting import (
    downscale_trimap,
    pad_to_multiple,
    predict_alpha,
    tile_starts,
)
from mattinglib.models.alpha import input_kind_of, model_alpha
from mattinglib.models.mnet import MNet
from mattinglib.trimap import CLASS_ORDER

UNKNOWN_INPUT = 3 + CLASS_ORDER.index("unknown")  # channel of the unknown class in M-Net's input


class Recorder(nn.Module):
    """Base of the stubs: checks the size multiple and records how it was called."""

    multiple = 16

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []

    def record(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        assert h % self.multiple == 0 and w % self.multiple == 0, (h, w)
        self.calls.append({"shape": tuple(x.shape), "training": self.training,
                           "grad": torch.is_grad_enabled()})


class UnknownStub(Recorder):
    """Outputs the unknown channel of its 6-channel input."""

    def forward(self, x):
        self.record(x)
        return x[:, UNKNOWN_INPUT:UNKNOWN_INPUT + 1]


class RedStub(Recorder):
    """Outputs the red channel: any misalignment of image and result shows."""

    def forward(self, x):
        self.record(x)
        return x[:, :1]


class ConvStub(Recorder):
    """A fixed random 3x3 convolution (receptive radius 1, zero padding) and a sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 1, 3, padding=1)
        with torch.no_grad():
            g = torch.Generator().manual_seed(0)
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))

    def forward(self, x):
        self.record(x)
        return torch.sigmoid(self.conv(x))


class GlobalStub(Recorder):
    """Outputs the mean red value of its whole input: not local, so tiles must differ."""

    def forward(self, x):
        self.record(x)
        return x[:, :1].mean(dim=(2, 3), keepdim=True).expand_as(x[:, :1])


class DimStub(Recorder):
    """Fed like DIM (image, trimap in [0, 1]); returns the trimap as 'alpha'."""

    multiple = 32

    def forward(self, image, trimap):
        self.record(image)
        assert image.shape[1] == 3 and trimap.shape[1] == 1
        assert set(torch.unique(trimap).tolist()) <= {0.0, float(np.float32(128 / 255)), 1.0}
        return {"alpha": trimap, "alpha_coarse": trimap}


def random_case(h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random((h, w, 3)).astype(np.float32)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), size=(h, w))
    return image, trimap


class TestPadding:
    def test_unknown_channel_round_trip_at_odd_size(self):
        image, trimap = random_case(37, 53)
        stub = UnknownStub()
        alpha = predict_alpha(stub, image, trimap, device="cpu", input_kind="mnet")
        assert alpha.shape == (37, 53) and alpha.dtype == np.float32
        # The unknown channel is 1 exactly where the trimap is unknown: F + U * U = (trimap != 0).
        np.testing.assert_array_equal(alpha, (trimap != 0).astype(np.float32))
        assert stub.calls[0]["shape"] == (1, 6, 48, 64)

    def test_image_stays_aligned(self):
        image, trimap = random_case(37, 53, seed=1)
        alpha = predict_alpha(RedStub(), image, trimap, device="cpu", input_kind="mnet")
        unknown = trimap == 128
        np.testing.assert_array_equal(alpha[unknown], image[..., 0][unknown])
        assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()

    def test_dim_kind_pads_to_32(self):
        image, trimap = random_case(37, 53, seed=2)
        stub = DimStub()
        alpha = predict_alpha(stub, image, trimap, device="cpu", input_kind="dim")
        assert stub.calls[0]["shape"] == (1, 3, 64, 64)
        np.testing.assert_allclose(alpha, np.where(trimap == 128, 128 / 255, trimap / 255),
                                   atol=1e-7)

    def test_pad_to_multiple_reflects_tiny_inputs(self):
        t = np.array([[0, 128, 255]], np.uint8)
        padded, hw = pad_to_multiple(t, 16)
        assert padded.shape == (16, 16) and hw == (1, 3)
        assert set(np.unique(padded)) <= {0, 128, 255}

    def test_tiny_image(self):
        image, trimap = random_case(5, 3, seed=3)
        alpha = predict_alpha(RedStub(), image, trimap, device="cpu", input_kind="mnet")
        unknown = trimap == 128
        np.testing.assert_array_equal(alpha[unknown], image[..., 0][unknown])

    def test_real_mnet_keeps_known_regions(self):
        image, trimap = random_case(21, 30, seed=4)
        alpha = predict_alpha(MNet(width=0.25), image, trimap, device="cpu")
        assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()
        assert alpha.min() >= 0 and alpha.max() <= 1

    def test_uint8_image_is_accepted(self):
        image, trimap = random_case(16, 16, seed=5)
        as_u8 = np.round(image * 255).astype(np.uint8)
        alpha = predict_alpha(RedStub(), as_u8, trimap, device="cpu", input_kind="mnet")
        unknown = trimap == 128
        np.testing.assert_allclose(alpha[unknown], as_u8[..., 0][unknown] / 255, atol=1e-6)

    def test_no_unknown_pixels_skips_the_network(self):
        image, _ = random_case(16, 16)
        trimap = np.zeros((16, 16), np.uint8)
        trimap[:, 8:] = 255
        stub = UnknownStub()
        alpha = predict_alpha(stub, image, trimap, device="cpu", input_kind="mnet")
        assert stub.calls == []
        np.testing.assert_array_equal(alpha, trimap / 255)


class TestDownscale:
    def test_max_side_runs_small_and_pastes_full_res_trimap(self):
        h, w = 90, 130
        yy, xx = np.mgrid[0:h, 0:w]
        image = np.stack([xx / w, yy / h, np.full((h, w), 0.5)], axis=-1).astype(np.float32)
        trimap = np.full((h, w), 128, np.uint8)
        trimap[:, :20] = 0
        trimap[:, -20:] = 255
        stub = RedStub()
        alpha = predict_alpha(stub, image, trimap, device="cpu", max_side=64, input_kind="mnet")
        assert alpha.shape == (h, w)
        assert max(stub.calls[0]["shape"][-2:]) == 64  # 64 x 44 padded to 64 x 48
        assert (alpha[:, :20] == 0).all() and (alpha[:, -20:] == 1).all()
        # A smooth ramp survives the down/up round trip up to interpolation error.
        inner = trimap == 128
        np.testing.assert_allclose(alpha[inner], image[..., 0][inner], atol=0.02)

    def test_smaller_image_is_not_resized(self):
        image, trimap = random_case(20, 30)
        stub = RedStub()
        predict_alpha(stub, image, trimap, device="cpu", max_side=64, input_kind="mnet")
        assert stub.calls[0]["shape"] == (1, 6, 32, 32)

    def test_thin_unknown_band_survives(self):
        trimap = np.zeros((64, 64), np.uint8)
        trimap[:, 33:] = 255
        trimap[:, 32] = 128  # one pixel wide
        small = downscale_trimap(trimap, 16, 16)
        assert (small[:, 8] == 128).all()
        assert (small[:, :8] == 0).all() and (small[:, 9:] == 255).all()


class TestTiling:
    def test_tile_starts_cover_and_align(self):
        for size, tile, overlap in [(160, 64, 32), (176, 64, 16), (96, 96, 32), (400, 128, 40)]:
            starts = tile_starts(size, tile, overlap, 16)
            assert starts[0] == 0 and starts[-1] + tile == size
            assert all(s % 16 == 0 for s in starts)
            assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))

    @pytest.mark.parametrize("tile,overlap", [(32, 16), (64, 32), (48, 16)])
    def test_local_network_gives_the_untiled_result(self, tile, overlap):
        image, trimap = random_case(100, 150, seed=6)
        stub = ConvStub()
        whole = predict_alpha(stub, image, trimap, device="cpu", input_kind="mnet")
        stub.calls.clear()
        tiled = predict_alpha(stub, image, trimap, device="cpu", tile=tile, overlap=overlap,
                              input_kind="mnet")
        assert len(stub.calls) > 4 and all(c["shape"][-1] <= tile for c in stub.calls)
        np.testing.assert_allclose(tiled, whole, atol=1e-6, rtol=0)

    def test_global_network_differs_when_tiled(self):
        # The comparison above can fail: a non-local network is not tile-invariant.
        image, trimap = random_case(100, 150, seed=7)
        image[:50] *= 0.2
        whole = predict_alpha(GlobalStub(), image, trimap, device="cpu", input_kind="mnet")
        tiled = predict_alpha(GlobalStub(), image, trimap, device="cpu", tile=48, overlap=16,
                              input_kind="mnet")
        assert np.abs(tiled - whole).max() > 0.05

    def test_tile_larger_than_image_is_one_pass(self):
        image, trimap = random_case(30, 40)
        stub = ConvStub()
        predict_alpha(stub, image, trimap, device="cpu", tile=256, input_kind="mnet")
        assert len(stub.calls) == 1


class TestModes:
    def test_eval_no_grad_and_training_flag_restored(self):
        image, trimap = random_case(20, 20)
        stub = UnknownStub().train()
        predict_alpha(stub, image, trimap, device="cpu", input_kind="mnet")
        assert stub.calls[0]["training"] is False and stub.calls[0]["grad"] is False
        assert stub.training is True
        stub.eval()
        predict_alpha(stub, image, trimap, device="cpu", input_kind="mnet")
        assert stub.training is False

    def test_training_flag_restored_after_an_error(self):
        class Failing(nn.Module):
            def forward(self, x):
                raise RuntimeError("boom")

        model = Failing().train()
        image, trimap = random_case(16, 16)
        with pytest.raises(RuntimeError, match="boom"):
            predict_alpha(model, image, trimap, device="cpu", input_kind="mnet")
        assert model.training is True

    def test_input_kind_detection(self):
        assert input_kind_of(MNet(width=0.25)) == "mnet"
        with pytest.raises(ValueError, match="^model: cannot tell"):
            input_kind_of(nn.Identity())
        with pytest.raises(ValueError, match="^input_kind:"):
            input_kind_of(nn.Identity(), "rgb")

    def test_model_alpha_batch(self):
        t = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(2, 1, 16, 3)
        t = t.repeat(1, 1, 1, 6)[..., :16].float() / 255
        out = model_alpha(RedStub(), torch.full((2, 3, 16, 16), 0.25), t, input_kind="mnet")
        expected = torch.where(t == 1, 1.0, torch.where(t == 0, 0.0, 0.25))
        assert torch.equal(out, expected)


class TestBadInputs:
    def test_trimap_values(self):
        image, trimap = random_case(16, 16)
        trimap[0, 0] = 127
        with pytest.raises(ValueError, match=r"^trimap: expected only the values"):
            predict_alpha(UnknownStub(), image, trimap, device="cpu", input_kind="mnet")

    def test_trimap_dtype(self):
        image, trimap = random_case(16, 16)
        with pytest.raises(ValueError, match=r"^trimap: expected dtype uint8"):
            predict_alpha(UnknownStub(), image, trimap.astype(np.float32), device="cpu",
                          input_kind="mnet")

    def test_mismatched_sizes(self):
        image, _ = random_case(16, 16)
        _, trimap = random_case(16, 20)
        with pytest.raises(ValueError, match=r"^trimap: expected height x width \(16, 16\)"):
            predict_alpha(UnknownStub(), image, trimap, device="cpu", input_kind="mnet")

    def test_non_finite_image(self):
        image, trimap = random_case(16, 16)
        image[3, 4, 1] = np.nan
        with pytest.raises(ValueError, match=r"^image: contains NaN"):
            predict_alpha(UnknownStub(), image, trimap, device="cpu", input_kind="mnet")

    def test_image_out_of_range_and_shape(self):
        image, trimap = random_case(16, 16)
        with pytest.raises(ValueError, match=r"^image: expected values in \[0.0, 1.0\]"):
            predict_alpha(UnknownStub(), image * 255, trimap, device="cpu", input_kind="mnet")
        with pytest.raises(ValueError, match=r"^image: expected shape \(H,W,3\)"):
            predict_alpha(UnknownStub(), image[..., :1], trimap, device="cpu", input_kind="mnet")

    def test_bad_tile_and_overlap(self):
        image, trimap = random_case(16, 16)
        with pytest.raises(ValueError, match=r"^tile: expected a multiple of 16"):
            predict_alpha(UnknownStub(), image, trimap, device="cpu", tile=40, input_kind="mnet")
        with pytest.raises(ValueError, match=r"^overlap:"):
            predict_alpha(UnknownStub(), image, trimap, device="cpu", tile=32, overlap=24,
                          input_kind="mnet")
        with pytest.raises(ValueError, match=r"^max_side:"):
            predict_alpha(UnknownStub(), image, trimap, device="cpu", max_side=0, input_kind="mnet")

    def test_not_a_model(self):
        image, trimap = random_case(16, 16)
        with pytest.raises(ValueError, match=r"^model: expected a torch.nn.Module"):
            predict_alpha(lambda x: x, image, trimap, device="cpu")
