"""Background Matting generator: layout, reference outputs, official weights, motion quirk, init."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from mattinglib.models.bgm import (
    BackgroundMattingGenerator,
    bgm_generator,
    from_model_range,
    from_official,
    strip_data_parallel_prefix,
    to_model_range,
)
from mattinglib.models.init import init_weights

TINY = dict(ngf=4, nf_part=4, n_blocks1=1, n_blocks2=1)


@pytest.fixture
def layout(bgm_fixtures):
    return json.loads((bgm_fixtures / "bgm_state_dict_layout.json").read_text())


@pytest.fixture
def vector(bgm_fixtures):
    return torch.load(bgm_fixtures / "bgm_generator_testvector.pt", weights_only=True)


def _inputs(b=2, h=16, w=12, seed=0, nc=(3, 3, 1, 4)):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(b, c, h, w, generator=g) * 2 - 1 for c in nc]


class TestLayout:
    def test_default_state_dict_equals_released_checkpoint_layout(self, layout):
        ref = layout["generator_default"]
        model = BackgroundMattingGenerator()
        got = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert set(got) == set(ref["state_dict"])
        assert got == ref["state_dict"]
        assert list(got) == list(ref["state_dict"])  # same order too
        n_params = sum(p.numel() for p in model.parameters())
        assert n_params == ref["n_params"] == 17_908_420

    def test_motion_option_keeps_the_layout(self, layout):
        model = BackgroundMattingGenerator(use_motion_features=True)
        got = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert got == layout["generator_default"]["state_dict"]

    def test_nf_part_must_equal_ngf(self):
        with pytest.raises(ValueError, match=r"^nf_part: must equal ngf"):
            BackgroundMattingGenerator(ngf=8, nf_part=16)

    @pytest.mark.parametrize("kwargs, start", [
        (dict(input_nc=(3, 3, 1)), "input_nc:"),
        (dict(norm="group"), "norm:"),
        (dict(padding_type="circular"), "padding_type:"),
        (dict(output_nc=1), "output_nc:"),
        (dict(n_blocks1=-1), "n_blocks1:"),
    ])
    def test_bad_config(self, kwargs, start):
        with pytest.raises(ValueError, match="^" + start):
            BackgroundMattingGenerator(**{**TINY, **kwargs})

    @pytest.mark.parametrize("kwargs, message", [
        (dict(ngf=0, nf_part=0), r"^ngf: expected an integer >= 1, got 0$"),
        (dict(nf_part=0), r"^nf_part: expected an integer >= 1, got 0$"),
        (dict(input_nc=(3, 0, 1, 4)), r"^input_nc\[1\]: expected an integer >= 1, got 0$"),
        (dict(output_nc=0), r"^output_nc: expected an integer >= 2, got 0$"),
    ])
    def test_zero_width_or_channels_is_refused(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            BackgroundMattingGenerator(**{**TINY, **kwargs})

    @pytest.mark.parametrize("value", [1, 0, "yes"])
    def test_check_values_is_a_flag(self, value):
        message = (r"^check_values: expected True, False or None \(only for inputs on the CPU\), "
                   f"got {value!r}$")
        with pytest.raises(TypeError, match=message):
            BackgroundMattingGenerator(**{**TINY, "check_values": value})

    @pytest.mark.parametrize("kwargs", [dict(ngf=True, nf_part=True), dict(n_blocks1=1.0)])
    def test_a_bool_or_float_size_is_a_type_error(self, kwargs):
        with pytest.raises(TypeError, match="^(ngf|n_blocks1): expected an integer"):
            BackgroundMattingGenerator(**{**TINY, **kwargs})

    def test_numpy_integers_are_sizes_too(self):
        import numpy as np

        net = BackgroundMattingGenerator(ngf=np.int64(4), nf_part=np.int64(4),
                                         n_blocks1=np.int64(1), n_blocks2=np.int64(0))
        # Stored as plain ints: the config goes into run.json.
        assert json.loads(json.dumps(net.config))["ngf"] == 4
        assert type(net.config["n_blocks2"]) is int

    def test_zero_residual_blocks_is_a_smaller_network(self):
        net = BackgroundMattingGenerator(**{**TINY, "n_blocks1": 0, "n_blocks2": 0}).eval()
        with torch.no_grad():
            alpha, fg = net(*_inputs(b=1))
        assert alpha.shape == (1, 1, 16, 12) and fg.shape == (1, 3, 16, 12)

    def test_instance_norm_variant_runs(self):
        model = BackgroundMattingGenerator(norm="instance", **TINY).eval()
        alpha, fg = model(*_inputs(b=1))
        assert alpha.shape == (1, 1, 16, 12) and fg.shape == (1, 3, 16, 12)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


class TestReferenceOutputs:
    def test_matches_original_forward(self, vector):
        model = from_official(vector["state_dict"], **vector["config"])
        assert not model.training
        with torch.no_grad():
            alpha, fg = model(**vector["inputs"])
        torch.testing.assert_close(alpha, vector["outputs"]["alpha"], rtol=0, atol=1e-5)
        torch.testing.assert_close(fg, vector["outputs"]["fg"], rtol=0, atol=1e-5)

    def test_data_parallel_prefix_loads(self, vector):
        prefixed = {"module." + k: v for k, v in vector["state_dict"].items()}
        model = from_official(prefixed, **vector["config"])
        with torch.no_grad():
            alpha, _ = model(**vector["inputs"])
        torch.testing.assert_close(alpha, vector["outputs"]["alpha"], rtol=0, atol=1e-5)

    def test_loads_from_a_path(self, vector, tmp_path):
        path = tmp_path / "netG.pth"
        torch.save({"module." + k: v for k, v in vector["state_dict"].items()}, path)
        model = bgm_generator(weights=path, **vector["config"])
        with torch.no_grad():
            _, fg = model(**vector["inputs"])
        torch.testing.assert_close(fg, vector["outputs"]["fg"], rtol=0, atol=1e-5)

    def test_wrong_shape_is_named(self, vector):
        sd = dict(vector["state_dict"])
        sd["model_enc1.1.weight"] = torch.zeros(8, 3, 5, 5)
        message = (r"^state_dict: .*model_enc1\.1\.weight: checkpoint has "
                   r"shape \(8, 3, 5, 5\), the model expects \(8, 3, 7, 7\)")
        with pytest.raises(ValueError, match=message):
            from_official(sd, **vector["config"])

    def test_wrong_config_lists_missing_and_unexpected(self, vector):
        # The test vector has 2 + 1 + 1 blocks; the default config expects 7 + 3 + 3.
        with pytest.raises(ValueError) as err:
            from_official(vector["state_dict"], ngf=8, nf_part=8)
        msg = str(err.value)
        assert msg.startswith("state_dict: ")
        assert "missing key(s): model_res_dec.5.conv_block.1.weight" in msg
        assert "shape mismatch" not in msg.split("missing")[0]

    def test_unexpected_key(self, vector):
        sd = dict(vector["state_dict"], extra_head_weight=torch.zeros(1))
        with pytest.raises(ValueError, match=r"1 unexpected key\(s\): extra_head_weight"):
            from_official(sd, **vector["config"])


class TestMotionQuirk:
    def test_default_ignores_motion_and_option_uses_it(self, vector):
        inputs = dict(vector["inputs"])
        other = dict(inputs, multi=-inputs["multi"])
        quirk = from_official(vector["state_dict"], **vector["config"])
        motion = from_official(vector["state_dict"], **vector["config"], use_motion_features=True)
        with torch.no_grad():
            q1, q2 = quirk(**inputs), quirk(**other)
            m1, m2 = motion(**inputs), motion(**other)
        for a, b in zip(q1, q2):
            assert torch.equal(a, b)  # the original's output does not depend on the motion cue
        assert (m1[0] - m2[0]).abs().max() > 1e-4
        # the stored outputs of the original code are those of the quirk only
        assert (m1[0] - vector["outputs"]["alpha"]).abs().max() > 1e-4

    def test_quirk_does_not_run_or_train_the_motion_encoder(self):
        model = BackgroundMattingGenerator(**TINY).train()
        stats = model.model_enc_multi[2].running_mean.clone()
        alpha, fg = model(*_inputs())
        (alpha.sum() + fg.sum()).backward()
        assert torch.equal(model.model_enc_multi[2].running_mean, stats)
        unused = list(model.unused_parameters())
        assert len(unused) == len(list(model.model_enc_multi.parameters())) > 0
        assert all(p.grad is None for p in unused)
        assert all(p.grad is not None for n, p in model.named_parameters()
                   if not n.startswith("model_enc_multi"))

    def test_motion_option_trains_the_motion_encoder(self):
        model = BackgroundMattingGenerator(**TINY, use_motion_features=True).train()
        alpha, _ = model(*_inputs())
        alpha.sum().backward()
        assert model.model_enc_multi[1].weight.grad is not None
        assert list(model.unused_parameters()) == []


class TestInputs:
    def setup_method(self):
        self.model = BackgroundMattingGenerator(**TINY).eval()

    @pytest.mark.parametrize("which, shape, message", [
        (0, (2, 4, 16, 12), r"^image: expected shape \(B,3,H,W\), got \(2, 4, 16, 12\)"),
        (1, (2, 3, 16, 8), r"^back: expected shape \(2,3,16,12\), got \(2, 3, 16, 8\)"),
        (2, (2, 3, 16, 12), r"^seg: expected shape \(2,1,16,12\)"),
        (3, (1, 4, 16, 12), r"^multi: expected shape \(2,4,16,12\)"),
        (3, (2, 4, 16), r"^multi: expected shape"),
    ])
    def test_rejects_bad_shapes(self, which, shape, message):
        xs = _inputs()
        xs[which] = torch.zeros(shape)
        with pytest.raises(ValueError, match=message):
            self.model(*xs)

    def test_rejects_sizes_not_divisible_by_4(self):
        message = r"^image: expected height and width divisible by 4, got 18 x 12"
        with pytest.raises(ValueError, match=message):
            self.model(*_inputs(h=18))

    def test_forward_features_trace(self):
        xs = _inputs(b=1, h=16, w=8)
        with torch.no_grad():
            feats = self.model.forward_features(*xs)
            alpha, fg = self.model(*xs)
        shapes = {k: tuple(v.shape[1:]) for k, v in feats.items()}
        assert shapes == {
            "image_half": (8, 8, 4), "image_feat": (16, 4, 2), "back_feat": (16, 4, 2),
            "seg_feat": (16, 4, 2), "sel_back": (4, 4, 2), "sel_seg": (4, 4, 2),
            "sel_multi": (4, 4, 2), "fused": (16, 4, 2), "alpha_dec": (16, 4, 2),
            "fg_dec": (16, 4, 2), "fg_half": (8, 8, 4), "alpha": (1, 16, 8), "fg": (3, 16, 8)}
        assert torch.equal(feats["alpha"], alpha) and torch.equal(feats["fg"], fg)
        self.model.use_motion_features = True
        with torch.no_grad():
            assert "multi_feat" in self.model.forward_features(*xs)


class TestRange:
    def test_round_trip(self):
        x = torch.rand(2, 3, 4, 4)
        y = to_model_range(x)
        assert y.min() >= -1 and y.max() <= 1
        torch.testing.assert_close(from_model_range(y), x)

    def test_rejects_values_outside_unit_range(self):
        with pytest.raises(ValueError, match=r"^x: expected values in \[0.0, 1.0\]"):
            to_model_range(torch.tensor([0.5, 1.5]))

    def test_from_model_range_does_not_clip(self):
        assert from_model_range(torch.tensor([1.2])).item() == pytest.approx(1.1)


class TestBuilder:
    def test_missing_weights_explain_where_to_get_them(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="senguptaumd/Background-Matting"):
            bgm_generator(weights=tmp_path / "netG_missing.pth")

    def test_fresh_model_is_seeded(self):
        a = bgm_generator(seed=3, **TINY).state_dict()
        b = bgm_generator(seed=3, **TINY).state_dict()
        c = bgm_generator(seed=4, **TINY).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not torch.equal(a["model_enc1.1.weight"], c["model_enc1.1.weight"])

    def test_motion_features_with_official_weights_warn(self, vector, tmp_path):
        path = tmp_path / "w.pth"
        torch.save(vector["state_dict"], path)
        with pytest.warns(UserWarning, match="motion encoder is untrained"):
            model = bgm_generator(weights=path, use_motion_features=True, **vector["config"])
        assert model.use_motion_features
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            bgm_generator(weights=path, **vector["config"])

    def test_strip_prefix_only_when_all_keys_have_it(self):
        assert list(strip_data_parallel_prefix({"module.a": 1, "b": 2})) == ["module.a", "b"]


class TestInit:
    def test_statistics_follow_the_paper(self):
        model = init_weights(BackgroundMattingGenerator(), seed=0)
        bn_weights = torch.cat([m.weight.detach() for m in model.modules()
                                if isinstance(m, nn.BatchNorm2d)])
        assert bn_weights.mean().item() == pytest.approx(1.0, abs=0.02)
        assert bn_weights.std().item() == pytest.approx(0.2, abs=0.02)
        conv = model.model_res_dec[3].conv_block[1]
        fan_in = fan_out = 256 * 9
        bound = math.sqrt(2) * math.sqrt(6 / (fan_in + fan_out))
        w = conv.weight.detach()
        assert w.abs().max().item() <= bound
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) and m.bias is not None:
                assert torch.count_nonzero(m.bias) == 0

    def test_generator_and_seed_agree_and_are_required(self):
        a = init_weights(nn.Conv2d(3, 8, 3), seed=5).weight
        b = init_weights(nn.Conv2d(3, 8, 3), generator=torch.Generator().manual_seed(5)).weight
        assert torch.equal(a, b)
        with pytest.raises(ValueError, match="^seed:"):
            init_weights(nn.Conv2d(3, 8, 3))
        with pytest.raises(ValueError, match="^seed:"):
            init_weights(nn.Conv2d(3, 8, 3), seed=1, generator=torch.Generator())

    def test_seed_is_an_integer(self):
        a = init_weights(nn.Conv2d(3, 8, 3), seed=5).weight
        assert torch.equal(init_weights(nn.Conv2d(3, 8, 3), seed=np.int64(5)).weight, a)
        for bad in (True, 1.5):
            with pytest.raises(TypeError, match=f"^seed: expected an integer, got {bad!r}$"):
                init_weights(nn.Conv2d(3, 8, 3), seed=bad)

    def test_resets_batchnorm_statistics(self):
        bn = nn.BatchNorm2d(4)
        bn.running_mean.fill_(3.0)
        init_weights(bn, seed=0)
        assert torch.count_nonzero(bn.running_mean) == 0


@pytest.mark.parametrize("name", ["bgm_state_dict_layout.json", "bgm_generator_testvector.pt"])
def test_committed_fixtures_equal_the_shared_reference(bgm_fixtures, reference_dir, name):
    """The copies in tests/fixtures are byte for byte the reference files they were taken from."""
    assert (bgm_fixtures / name).read_bytes() == (reference_dir / "bgm" / name).read_bytes()
