"""pix2pixHD multi-scale PatchGAN discriminator as Background Matting builds it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mattinglib.models.discriminator import MultiscaleDiscriminator, n_layer_discriminator


@pytest.fixture
def layout(bgm_fixtures):
    return json.loads((bgm_fixtures / "bgm_state_dict_layout.json").read_text())


class TestLayout:
    @pytest.mark.parametrize("name, kwargs", [
        ("discriminator_real_stage",
         dict(input_nc=3, ndf=64, n_layers=3, num_D=1, norm="instance")),
        ("discriminator_3scale_bn", dict(input_nc=3, ndf=64, n_layers=3, num_D=3, norm="batch")),
    ])
    def test_state_dict_equals_reference(self, layout, name, kwargs):
        model = MultiscaleDiscriminator(**kwargs)
        got = {k: list(v.shape) for k, v in model.state_dict().items()}
        ref = layout[name]["state_dict"]
        assert got == ref
        assert list(got) == list(ref)
        if "n_params" in layout[name]:
            assert sum(p.numel() for p in model.parameters()) == layout[name]["n_params"]

    def test_patchgan_recipe(self):
        net = n_layer_discriminator(3, 64, 3, "instance")
        convs = [m for m in net if isinstance(m, nn.Conv2d)]
        assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
        assert {c.kernel_size for c in convs} == {(4, 4)} and {c.padding for c in convs} == {(2, 2)}
        assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
        assert all(a.negative_slope == 0.2 for a in net if isinstance(a, nn.LeakyReLU))
        norms = [m for m in net if isinstance(m, nn.InstanceNorm2d)]
        assert len(norms) == 3 and not any(n.affine for n in norms)
        assert not isinstance(net[-1], nn.Sigmoid)

    def test_channels_are_capped_at_512(self):
        net = n_layer_discriminator(3, 64, 5)
        assert max(m.out_channels for m in net if isinstance(m, nn.Conv2d)) == 512

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="^norm:"):
            MultiscaleDiscriminator(norm="layer")
        with pytest.raises(ValueError, match="^num_D:"):
            MultiscaleDiscriminator(num_D=0)
        with pytest.raises(TypeError, match="^num_D: expected an integer >= 1, got True$"):
            MultiscaleDiscriminator(num_D=True)
        with pytest.raises(ValueError, match="^n_layers: expected an integer >= 1, got 0$"):
            n_layer_discriminator(3, 64, 0)

    def test_numpy_integers_are_accepted(self):
        net = MultiscaleDiscriminator(np.int64(3), np.int64(8), np.int64(2), num_D=np.int64(2))
        assert net.num_D == 2 and type(net.num_D) is int
        assert len(net.scores(torch.zeros(1, 3, 32, 32))) == 2


class TestScaleOrder:
    def test_full_resolution_goes_to_the_last_layer(self):
        model = MultiscaleDiscriminator(ndf=4, num_D=3, norm="batch").eval()
        seen: dict[str, torch.Tensor] = {}
        for i in range(3):
            getattr(model, f"layer{i}").register_forward_hook(
                lambda mod, inp, out, name=f"layer{i}": seen.__setitem__(name, inp[0]))
        x = torch.rand(2, 3, 40, 24, generator=torch.Generator().manual_seed(0))
        out = model(x)
        assert torch.equal(seen["layer2"], x)
        half = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        quarter = F.avg_pool2d(half, 3, stride=2, padding=1, count_include_pad=False)
        torch.testing.assert_close(seen["layer1"], half)
        torch.testing.assert_close(seen["layer0"], quarter)
        # output order: finest scale first, each a one-element list
        assert [len(o) for o in out] == [1, 1, 1]
        torch.testing.assert_close(out[0][0], model.layer2(x))
        torch.testing.assert_close(out[2][0], model.layer0(quarter))
        assert [s.shape for s in model.scores(x)] == [o[0].shape for o in out]

    def test_single_scale_real_stage(self):
        model = MultiscaleDiscriminator()
        x = torch.zeros(1, 3, 64, 64)
        out = model(x)
        assert len(out) == 1 and out[0][0].shape == (1, 1, 11, 11)

    def test_rejects_wrong_channels(self):
        message = r"^x: expected shape \(B,3,H,W\), got \(1, 4, 32, 32\)"
        with pytest.raises(ValueError, match=message):
            MultiscaleDiscriminator(ndf=4)(torch.zeros(1, 4, 32, 32))
