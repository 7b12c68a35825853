"""SHM (T-Net, M-Net, fusion), Deep Image Matting and their VGG16 pieces.

Small widths and 32x32 / 64x64 inputs keep every test fast on a CPU; the
width-1.0 models are only built (parameter counts, weight copying).
"""

from __future__ import annotations

import functools
import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from mattinglib.models.dim import DIM, Refinement
from mattinglib.models.mnet import MNet
from mattinglib.models.shm import FOREGROUND_CHANNEL, SHM, UNKNOWN_CHANNEL, fuse_alpha
from mattinglib.models.tnet import PSP_BINS, PyramidPooling, TNet
from mattinglib.models.vgg import (
    VGG16Encoder,
    check_width,
    copy_vgg16_weights,
    load_weights_state_dict,
    scaled_channels,
)
from mattinglib.trimap import CLASS_ORDER

#: Parameters of torchvision's VGG16 ``features`` (the 13 convolutions on RGB), a published figure.
VGG16_FEATURES_PARAMS = 14_714_688
TRIMAP_UNKNOWN = 128 / 255


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_params(module: nn.Module) -> int:
    return sum(m.weight.numel() + m.bias.numel() for m in module.modules()
               if isinstance(m, nn.Conv2d))


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def fake_vgg16_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG16 state dict with seeded random values (nothing downloaded)."""
    return dict(_fake_vgg16_state_dict(seed))  # a fresh dict: callers may delete keys


@functools.lru_cache(maxsize=4)
def _fake_vgg16_state_dict(seed: int) -> dict[str, torch.Tensor]:
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    gen = torch.Generator().manual_seed(seed)
    state = {f"features.{k}": torch.randn(v.shape, generator=gen) * 0.05
             for k, v in features.state_dict().items()}
    # the classifier of the real file must be ignored; small stand-ins keep the test light
    state["classifier.0.weight"] = torch.zeros(4, 4)
    state["classifier.0.bias"] = torch.zeros(4)
    return state


def random_trimap(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    levels = torch.tensor([0.0, TRIMAP_UNKNOWN, 1.0])
    return levels[torch.randint(0, 3, (b, 1, h, w), generator=gen)]


@pytest.fixture(scope="module")
def mnet_full() -> MNet:
    return MNet(width=1.0, batch_norm=False)


# --------------------------------------------------------------------------- VGG pieces


class TestVGGHelpers:
    def test_scaled_channels(self):
        assert [scaled_channels(c, 0.25) for c in (64, 128, 256, 512)] == [16, 32, 64, 128]
        assert scaled_channels(64, 0.001) == 1

    @pytest.mark.parametrize("width", [0, -1.0, float("nan"), float("inf"), "1", True])
    def test_bad_width(self, width):
        with pytest.raises(ValueError, match="^width: expected a finite number > 0"):
            check_width(width)

    def test_width_accepts_numpy_scalars(self):
        assert check_width(np.float32(0.5)) == 0.5 and type(check_width(np.float32(0.5))) is float

    def test_encoder_counts_convs_and_pools(self):
        for pools in (4, 5):
            enc = VGG16Encoder(3, width=0.25, num_pools=pools)
            assert len(enc.convs()) == 13
            feats, indices = enc(torch.rand(1, 3, 64, 64))
            assert len(indices) == pools
            assert feats.shape[-1] == 64 // 2 ** pools
        with pytest.raises(ValueError, match="^num_pools"):
            VGG16Encoder(3, num_pools=3)

    def test_copy_needs_width_one(self):
        enc = VGG16Encoder(4, width=0.25)
        with pytest.raises(ValueError, match="width=1.0"):
            copy_vgg16_weights(enc, fake_vgg16_state_dict())

    def test_copy_reports_missing_keys(self, mnet_full):
        state = fake_vgg16_state_dict()
        del state["features.28.bias"]
        with pytest.raises(ValueError, match="features.28.bias"):
            copy_vgg16_weights(mnet_full.encoder, state)

    def test_load_from_mapping_and_file(self, tmp_path):
        state = fake_vgg16_state_dict()
        path = tmp_path / "vgg16.pth"
        torch.save(state, path)
        weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
        loaded = load_weights_state_dict(str(path), weights, name="pretrained_vgg")
        assert torch.equal(loaded["features.0.weight"], state["features.0.weight"])
        assert load_weights_state_dict(state, weights, name="pretrained_vgg").keys() == state.keys()

    def test_load_errors(self, tmp_path):
        weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
        with pytest.raises(ValueError, match="^pretrained_vgg: .*does not exist"):
            load_weights_state_dict(tmp_path / "missing.pth", weights, name="pretrained_vgg")
        with pytest.raises(ValueError, match="^pretrained_vgg: expected None, 'imagenet'"):
            load_weights_state_dict(3, weights, name="pretrained_vgg")
        torch.save([1, 2], tmp_path / "list.pth")
        with pytest.raises(ValueError, match="not a state dict"):
            load_weights_state_dict(tmp_path / "list.pth", weights, name="pretrained_vgg")

    def test_offline_imagenet_names_the_cache_file(self, tmp_path, monkeypatch):
        """Without network and without a cached file: a RuntimeError that says where to put it."""
        monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))

        def offline(*args, **kwargs):
            raise urllib.error.URLError("network unreachable (test)")

        monkeypatch.setattr(torch.hub, "urlopen", offline)
        weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1
        with pytest.raises(RuntimeError) as info:
            load_weights_state_dict("imagenet", weights, name="pretrained_vgg")
        message = str(info.value)
        assert message.startswith("pretrained_vgg:")
        assert str(tmp_path / "checkpoints" / "vgg16-397923af.pth") in message
        assert weights.url in message


# --------------------------------------------------------------------------- M-Net


class TestMNet:
    @pytest.mark.parametrize("width", [0.125, 0.25, 0.5])
    @pytest.mark.parametrize("hw", [(32, 32), (64, 32)])
    def test_shapes_and_range(self, width, hw):
        net = MNet(width=width).eval()
        out = net(torch.rand(2, 6, *hw))
        assert out.shape == (2, 1, *hw)
        assert out.dtype == torch.float32
        assert float(out.detach().min()) > 0.0 and float(out.detach().max()) < 1.0

    def test_width_scales_channels(self):
        net = MNet(width=0.25)
        convs = net.encoder.convs()
        assert convs[0].in_channels == 6 and convs[0].out_channels == 16
        assert convs[-1].out_channels == 128

    def test_architecture_matches_shm(self):
        net = MNet(width=0.25)
        n_pool = sum(isinstance(m, nn.MaxPool2d) for m in net.encoder.modules())
        assert len(net.encoder.convs()) == 13 and len(net.encoder(torch.rand(1, 6, 32, 32))[1]) == 4
        dec_convs = [m for m in net.decoder.modules() if isinstance(m, nn.Conv2d)]
        assert len(dec_convs) == 6 and len(net.decoder.stages) == 4
        assert n_pool == 1  # one shared pooling module, applied 4 times (checked above)

    def test_bad_channel_count(self):
        with pytest.raises(ValueError,
                           match=r"^x: expected shape \(B,6,H,W\), got \(1, 5, 32, 32\)"):
            MNet(width=0.25)(torch.rand(1, 5, 32, 32))

    @pytest.mark.parametrize("hw", [(30, 32), (32, 40), (8, 16)])
    def test_size_not_multiple_of_16(self, hw):
        with pytest.raises(ValueError, match="^x: expected height and width multiples of 16"):
            MNet(width=0.25)(torch.rand(1, 6, *hw))

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_non_finite_input(self, bad):
        x = torch.rand(1, 6, 32, 32)
        x[0, 4, 3, 3] = bad
        with pytest.raises(ValueError, match="^x: contains NaN or infinite values"):
            MNet(width=0.25)(x)

    def test_out_of_range_and_integer_input(self):
        with pytest.raises(ValueError, match=r"^x: expected values in \[0.0, 1.0\]"):
            MNet(width=0.25)(torch.rand(1, 6, 32, 32) * 255)
        with pytest.raises(ValueError, match="^x: expected a floating point tensor"):
            MNet(width=0.25)(torch.zeros(1, 6, 32, 32, dtype=torch.uint8))

    def test_bad_constructor_arguments(self):
        with pytest.raises(ValueError, match="^in_channels"):
            MNet(in_channels=2)
        net = MNet(in_channels=np.int64(4), width=0.25)
        assert net.in_channels == 4 and type(net.in_channels) is int
        with pytest.raises(ValueError,
                           match="^pretrained_vgg: ImageNet VGG16 weights only fit width=1.0"):
            MNet(width=0.25, pretrained_vgg=fake_vgg16_state_dict())

    def test_seeded_and_leaves_global_rng_alone(self):
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        a = MNet(width=0.25, seed=1)
        assert torch.equal(torch.rand(3), expected)
        b, c = MNet(width=0.25, seed=1), MNet(width=0.25, seed=2)
        wa, wb, wc = (m.encoder.convs()[3].weight for m in (a, b, c))
        assert torch.equal(wa, wb) and not torch.equal(wa, wc)

    def test_learns_a_tiny_batch(self):
        """A few Adam steps on one batch must reduce the error (the network can be trained)."""
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(2, 6, 32, 32, generator=gen)
        target = (x[:, :1] > 0.5).float()
        net = MNet(width=0.25)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        losses = []
        for _ in range(8):
            loss = (net(x) - target).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[-1] < 0.7 * losses[0]


class TestMNetWidthOne:
    def test_parameter_counts(self, mnet_full):
        # encoder: VGG16's 13 convolutions, first layer widened from 3 to 6 input channels
        assert conv_params(mnet_full.encoder) == VGG16_FEATURES_PARAMS + 3 * 64 * 3 * 3
        # decoder, from the DIM table without Deconv5: 1x1 512, 5x5 256, 128, 64, 64, prediction 1
        expected = (conv(512, 512, 1) + conv(512, 256, 5) + conv(256, 128, 5) + conv(128, 64, 5)
                    + conv(64, 64, 5) + conv(64, 1, 5))
        assert conv_params(mnet_full.decoder) == expected
        assert 19.0e6 < n_params(mnet_full) < 19.5e6

    def test_imagenet_copy_logic(self, mnet_full):
        state = fake_vgg16_state_dict(seed=3)
        copy_vgg16_weights(mnet_full.encoder, state)
        convs = mnet_full.encoder.convs()
        assert torch.equal(convs[0].weight[:, :3], state["features.0.weight"])
        assert torch.count_nonzero(convs[0].weight[:, 3:]) == 0
        for conv_, index in zip(convs[1:], (2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)):
            assert torch.equal(conv_.weight, state[f"features.{index}.weight"])
            assert torch.equal(conv_.bias, state[f"features.{index}.bias"])

    def test_copied_encoder_computes_vgg16_features(self, mnet_full):
        """Same numbers as torchvision's VGG16 (up to pool4 and block 5), whatever the extra
        channels."""
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"]).eval()
        state = {f"features.{k}": v for k, v in features.state_dict().items()}
        copy_vgg16_weights(mnet_full.encoder, state)
        gen = torch.Generator().manual_seed(0)
        rgb = torch.randn(1, 3, 32, 32, generator=gen)
        extra = torch.rand(1, 3, 32, 32, generator=gen)
        ours, _ = mnet_full.encoder.eval()(torch.cat([rgb, extra], dim=1))
        with torch.no_grad():
            theirs = features[:30](rgb)  # 13 convs, 4 pools; VGG's 5th pool is index 30
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)

    def test_pretrained_from_file(self, tmp_path):
        state = fake_vgg16_state_dict(seed=5)
        path = tmp_path / "vgg16-local.pth"
        torch.save(state, path)
        net = MNet(pretrained_vgg=path)
        first = net.encoder.convs()[0]
        assert torch.equal(first.weight[:, :3], state["features.0.weight"])
        assert torch.count_nonzero(first.weight[:, 3:]) == 0


# --------------------------------------------------------------------------- T-Net


class TestTNet:
    @pytest.mark.parametrize("dilated", [True, False])
    def test_shapes_and_output_stride(self, dilated):
        net = TNet(backbone="resnet18", width=0.25, dilated=dilated)
        seen = {}

        def record(module, inputs, output):
            seen["hw"] = tuple(output.shape[-2:])

        net.layer4.register_forward_hook(record)
        out = net(torch.rand(2, 3, 64, 96))
        assert out.shape == (2, 3, 64, 96)
        assert net.output_stride == (8 if dilated else 32)
        assert seen["hw"] == (64 // net.output_stride, 96 // net.output_stride)

    def test_pyramid_pooling(self):
        ppm = PyramidPooling(16, 4)
        assert PSP_BINS == (1, 2, 3, 6) and ppm.bins == PSP_BINS
        assert ppm(torch.rand(2, 16, 8, 8)).shape == (2, 16 + 4 * 4, 8, 8)

    def test_bad_arguments_and_inputs(self):
        with pytest.raises(ValueError, match="^backbone: expected one of"):
            TNet(backbone="vgg16")
        net = TNet(backbone="resnet18", width=0.25)
        with pytest.raises(ValueError, match=r"^image: expected shape \(B,3,H,W\)"):
            net(torch.rand(2, 4, 32, 32))
        with pytest.raises(ValueError, match="^image: a batch of at least 2"):
            net(torch.rand(1, 3, 32, 32))
        x = torch.rand(2, 3, 32, 32)
        x[1, 0, 0, 0] = float("nan")
        with pytest.raises(ValueError, match="^image: contains NaN"):
            net(x)
        assert net.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)

    def test_pretrained_backbone_from_state_dict(self):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            reference = torchvision.models.resnet18(weights=None).state_dict()
        net = TNet(backbone="resnet18", width=0.25, pretrained_backbone=reference)
        assert torch.equal(net.stem[0].weight, reference["conv1.weight"])
        assert torch.equal(net.layer4[1].conv2.weight, reference["layer4.1.conv2.weight"])
        with pytest.raises(ValueError, match="^pretrained_backbone: not a torchvision resnet18"):
            TNet(backbone="resnet18",
                 pretrained_backbone={"conv1.weight": reference["conv1.weight"]})

    def test_seeded(self):
        a = TNet(backbone="resnet18", width=0.25, seed=4)
        b = TNet(backbone="resnet18", width=0.25, seed=4)
        assert torch.equal(a.layer2[0].conv1.weight, b.layer2[0].conv1.weight)
        assert torch.equal(a.head[0].weight, b.head[0].weight)


# --------------------------------------------------------------------------- SHM


def onehot(*classes: str) -> torch.Tensor:
    """(1, 3, 1, N) probabilities, one pixel per named class."""
    probs = torch.zeros(1, 3, 1, len(classes))
    for i, name in enumerate(classes):
        probs[0, CLASS_ORDER.index(name), 0, i] = 1.0
    return probs


class TestFusion:
    def test_class_order_is_the_agreed_one(self):
        assert CLASS_ORDER == ("background", "unknown", "foreground")
        assert (FOREGROUND_CHANNEL, UNKNOWN_CHANNEL) == (2, 1)

    @pytest.mark.parametrize("alpha_r", [0.0, 0.3, 0.9])
    def test_foreground_one_unknown_alpha_r_background_zero(self, alpha_r):
        """Would fail if foreground and unknown were read from each other's channel."""
        probs = onehot("foreground", "unknown", "background")
        fused = fuse_alpha(probs, torch.full((1, 1, 1, 3), alpha_r))
        assert fused.flatten().tolist() == pytest.approx([1.0, alpha_r, 0.0])

    def test_soft_probabilities(self):
        probs = torch.zeros(1, 3, 1, 1)
        probs[0, CLASS_ORDER.index("background")] = 0.2
        probs[0, CLASS_ORDER.index("unknown")] = 0.5
        probs[0, CLASS_ORDER.index("foreground")] = 0.3
        alpha = fuse_alpha(probs, torch.full((1, 1, 1, 1), 0.4))
        assert float(alpha) == pytest.approx(0.3 + 0.5 * 0.4)

    def test_clamped_to_unit_interval(self):
        probs = torch.zeros(1, 3, 1, 2)
        probs[0, CLASS_ORDER.index("foreground")] = 0.5
        probs[0, CLASS_ORDER.index("unknown")] = 0.5
        fused = fuse_alpha(probs, torch.tensor([[[[1.5, -2.0]]]]))
        assert fused.flatten().tolist() == [1.0, 0.0]

    def test_shape_checks(self):
        with pytest.raises(ValueError, match=r"^alpha_r: expected shape \(1,1,1,3\)"):
            fuse_alpha(onehot("foreground", "unknown", "background"), torch.zeros(1, 1, 1, 2))
        with pytest.raises(ValueError, match=r"^trimap_probs: expected shape \(B,3,H,W\)"):
            fuse_alpha(torch.zeros(1, 2, 1, 2), torch.zeros(1, 1, 1, 2))


@pytest.fixture
def shm() -> SHM:
    return SHM(TNet(backbone="resnet18", width=0.25), MNet(width=0.25))


class TestSHM:
    def test_end_to_end(self, shm):
        out = shm(torch.rand(2, 3, 32, 32))
        assert set(out) == {"trimap_logits", "trimap_probs", "alpha_r", "alpha"}
        assert out["trimap_logits"].shape == out["trimap_probs"].shape == (2, 3, 32, 32)
        assert out["alpha"].shape == out["alpha_r"].shape == (2, 1, 32, 32)
        torch.testing.assert_close(out["trimap_probs"].sum(1), torch.ones(2, 32, 32))
        torch.testing.assert_close(out["alpha"], fuse_alpha(out["trimap_probs"], out["alpha_r"]))
        out["alpha"].sum().backward()
        assert shm.tnet.head[-1].weight.grad is not None  # gradients reach T-Net through the fusion
        assert shm.mnet.decoder.predict.weight.grad is not None

    def test_mnet_sees_probabilities_in_class_order(self, shm):
        """In pretrain_mnet mode, M-Net channels 3, 4, 5 are the background, unknown, foreground
        masks."""
        seen = {}

        def record(module, args):
            seen["x"] = args[0]

        shm.mnet.register_forward_pre_hook(record)
        shm.set_mode("pretrain_mnet")
        trimap = random_trimap(2, 32, 32)
        out = shm(torch.rand(2, 3, 32, 32), trimap)
        x = seen["x"]
        assert torch.equal(x[:, 3:4], (trimap == 0).float())
        assert torch.equal(x[:, 4:5], (trimap == TRIMAP_UNKNOWN).float())
        assert torch.equal(x[:, 5:6], (trimap == 1).float())
        assert set(out) == {"trimap_probs", "alpha_r", "alpha"}
        alpha, alpha_r = out["alpha"], out["alpha_r"]
        assert torch.all(alpha[trimap == 1] == 1) and torch.all(alpha[trimap == 0] == 0)
        unknown = trimap == TRIMAP_UNKNOWN
        assert torch.equal(alpha[unknown], alpha_r[unknown])

    def test_pretrain_mnet_accepts_uint8_and_needs_trimap(self, shm):
        shm.set_mode("pretrain_mnet")
        trimap = (random_trimap(2, 32, 32) * 255).round().to(torch.uint8)
        out = shm(torch.rand(2, 3, 32, 32), trimap)
        out["alpha"].sum().backward()
        assert all(p.grad is None for p in shm.tnet.parameters())
        with pytest.raises(ValueError, match="^trimap: required in mode 'pretrain_mnet'"):
            shm(torch.rand(2, 3, 32, 32))
        with pytest.raises(ValueError, match="^trimap: expected only the values"):
            shm(torch.rand(2, 3, 32, 32), torch.full((2, 1, 32, 32), 0.3))

    def test_pretrain_tnet_runs_only_tnet(self, shm):
        shm.set_mode("pretrain_tnet")
        out = shm(torch.rand(2, 3, 40, 24))  # T-Net alone takes any size
        assert set(out) == {"trimap_logits", "trimap_probs"}
        out["trimap_logits"].sum().backward()
        assert all(p.grad is None for p in shm.mnet.parameters())

    def test_bad_inputs(self, shm):
        with pytest.raises(ValueError, match="^mode: expected one of"):
            shm.set_mode("finetune")
        with pytest.raises(ValueError, match="^trimap: only used in mode 'pretrain_mnet'"):
            shm(torch.rand(2, 3, 32, 32), random_trimap(2, 32, 32))
        with pytest.raises(ValueError, match="^x: expected height and width multiples of 16"):
            shm(torch.rand(2, 3, 40, 32))
        with pytest.raises(ValueError, match="^mnet: expected an MNet with 6 input channels"):
            SHM(TNet(backbone="resnet18", width=0.25), MNet(in_channels=4, width=0.25))
        with pytest.raises(ValueError, match="^tnet: expected a TNet with 3 classes"):
            SHM(TNet(2, backbone="resnet18", width=0.25), MNet(width=0.25))


# --------------------------------------------------------------------------- DIM


class TestDIM:
    @pytest.mark.parametrize("width", [0.125, 0.25])
    @pytest.mark.parametrize("hw", [(32, 32), (64, 32)])
    def test_shapes(self, width, hw):
        net = DIM(width=width).eval()
        out = net(torch.rand(2, 3, *hw), random_trimap(2, *hw))
        assert set(out) == {"alpha_coarse", "alpha"}
        for value in out.values():
            assert value.shape == (2, 1, *hw)
            assert float(value.detach().min()) > 0 and float(value.detach().max()) < 1

    def test_refinement_is_a_skip_connection(self):
        """With the refinement's last layer at zero, the refined alpha is the coarse one."""
        net = DIM(width=0.25)
        last = net.refinement.body[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        out = net(torch.rand(1, 3, 32, 32), random_trimap(1, 32, 32))
        torch.testing.assert_close(out["alpha"], out["alpha_coarse"])
        assert len([m for m in net.refinement.modules() if isinstance(m, nn.Conv2d)]) == 4
        assert net.refinement.body[0].in_channels == 4

    def test_stages(self):
        image, trimap = torch.rand(2, 3, 32, 32), random_trimap(2, 32, 32)
        net = DIM(width=0.25, stage="encoder_decoder")
        out = net(image, trimap)
        assert out["alpha"] is out["alpha_coarse"]
        assert not any(p.requires_grad for p in net.refinement.parameters())

        net = DIM(width=0.25, batch_norm=True).set_stage("refinement").train()
        bn = next(m for m in net.encoder.modules() if isinstance(m, nn.BatchNorm2d))
        stats = bn.running_mean.clone()
        net(image, trimap)["alpha"].sum().backward()
        assert torch.equal(bn.running_mean, stats)  # the frozen stage stays in eval mode
        assert all(p.grad is None for p in net.encoder.parameters())
        assert net.refinement.body[0].weight.grad is not None

        net.set_stage("joint")
        assert net.encoder.training
        net(image, trimap)["alpha"].sum().backward()
        assert net.encoder.convs()[0].weight.grad is not None
        with pytest.raises(ValueError, match="^stage: expected one of"):
            net.set_stage("fine")

    def test_bad_inputs(self):
        net = DIM(width=0.25)
        image = torch.rand(1, 3, 32, 32)
        with pytest.raises(ValueError, match="^trimap: expected only the values"):
            net(image, torch.full((1, 1, 32, 32), 0.3))  # a resized trimap is not rounded silently
        with pytest.raises(ValueError, match="^image: expected height and width multiples of 32"):
            net(torch.rand(1, 3, 48, 48), random_trimap(1, 48, 48))
        with pytest.raises(ValueError, match=r"^trimap: expected shape \(B,1,H,W\)"):
            net(image, torch.zeros(1, 3, 32, 32))
        with pytest.raises(ValueError, match=r"^trimap: expected shape \(1,1,32,32\) like image"):
            net(image, random_trimap(1, 64, 32))
        bad = image.clone()
        bad[0, 1, 2, 2] = float("inf")
        with pytest.raises(ValueError, match="^image: contains NaN or infinite"):
            net(bad, random_trimap(1, 32, 32))

    def test_width_one_parameters_and_imagenet_copy(self):
        state = fake_vgg16_state_dict(seed=3)
        net = DIM(width=1.0, pretrained_vgg=state)
        # encoder: VGG16's 13 convolutions with a 4th (trimap) input channel, and conv6 (1x1, 512)
        assert conv_params(net.encoder) == VGG16_FEATURES_PARAMS + 64 * 3 * 3
        assert conv_params(net.conv6) == conv(512, 512, 1)
        # decoder, the DIM table: Deconv6 1x1 512, Deconv5..1 5x5 512/256/128/64/64, prediction
        assert conv_params(net.decoder) == (conv(512, 512, 1) + conv(512, 512, 5)
                                            + conv(512, 256, 5) + conv(256, 128, 5)
                                            + conv(128, 64, 5) + conv(64, 64, 5) + conv(64, 1, 5))
        assert conv_params(net.refinement) == conv(4, 64, 3) + 2 * conv(64, 64, 3) + conv(64, 1, 3)
        first = net.encoder.convs()[0]
        assert torch.equal(first.weight[:, :3], state["features.0.weight"])
        assert torch.count_nonzero(first.weight[:, 3]) == 0
        assert isinstance(net.refinement, Refinement)
