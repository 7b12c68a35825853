"""Tests of the supervised Background Matting recipe and the `train-bgm` command
(CPU, tiny sizes)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

from mattinglib.cli.train import add_train_bgm_command
from mattinglib.config import get_profile
from mattinglib.data.bgm import BGMSyntheticDataset
from mattinglib.losses.bgm import supervised_loss
from mattinglib.metrics import evaluate, mean_metrics
from mattinglib.models.bgm import bgm_generator
from mattinglib.train.bgm_recipes import (
    BGM_INPUTS,
    BGMRecipe,
    bgm_loss_fn,
    bgm_val_fn,
    build_bgm_generator,
    build_bgm_trainer,
)
from mattinglib.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from mattinglib.train.runs import load_bgm_generator
from mattinglib.trimap import UNKNOWN, trimap_from_alpha

TINY = ["--profile", "quick", "--image-size", "32", "--ngf", "8", "--n-blocks1", "1",
        "--n-blocks2", "1", "--batch-size", "2", "--num-train", "8", "--num-val", "2",
        "--val-every", "2", "--device", "cpu"]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_bgm_command(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def batch_of(n=2, size=32, seed=0):
    data = BGMSyntheticDataset(n, size, seed=seed)
    return default_collate([data[i] for i in range(n)])


def tiny_net(seed=0):
    return bgm_generator(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1, seed=seed)


class ConstantAlpha(nn.Module):
    """Generator-shaped stub: alpha = `value` (in [-1, 1]) everywhere, fg = the image."""

    def __init__(self, value):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(value)))

    def forward(self, image, back, seg, multi):
        return self.value * torch.ones_like(image[:, :1]), image


# --------------------------------------------------------------------------- loss


def test_loss_fn_equals_supervised_loss_computed_directly():
    batch = batch_of(3)
    net = tiny_net().eval()
    terms = bgm_loss_fn(net, batch)
    with torch.no_grad():
        alpha, fg = net(batch["image"], batch["bg"], batch["seg"], batch["multi_fr"])
    direct = supervised_loss(alpha, fg, batch["alpha"], batch["fg"], batch["image"], batch["bg_gt"])
    assert set(terms) == {"alpha_l1", "fg_l1", "composition", "gradient", "total"}
    for name in direct:
        torch.testing.assert_close(terms[name].detach(), direct[name], rtol=1e-5, atol=1e-6)
    weighted = terms["alpha_l1"] + 2 * terms["fg_l1"] + terms["composition"] + terms["gradient"]
    torch.testing.assert_close(terms["total"], weighted)
    # The composition term uses the true background, not the perturbed captured one.
    wrong_bg = supervised_loss(alpha, fg, batch["alpha"], batch["fg"], batch["image"], batch["bg"])
    assert not torch.allclose(wrong_bg["composition"], terms["composition"])


def test_loss_fn_is_float32_under_bf16_autocast_and_differentiable():
    batch = batch_of(2)
    net = tiny_net()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        terms = bgm_loss_fn(net, batch)
    assert all(v.dtype == torch.float32 for v in terms.values())
    terms["total"].backward()
    assert net.model_al_out[-2].weight.grad is not None


def test_loss_fn_rejects_a_batch_without_the_bgm_inputs():
    batch = batch_of(2)
    del batch["multi_fr"]
    with pytest.raises(ValueError, match="^batch: missing the keys \\['multi_fr'\\]"):
        bgm_loss_fn(tiny_net(), batch)


# --------------------------------------------------------------------------- validation


def test_val_fn_matches_the_official_metrics_from_the_unmapped_arrays():
    data = BGMSyntheticDataset(3, 32, seed=5)
    stub = ConstantAlpha(0.2)  # 0.6 in [0, 1]
    got = bgm_val_fn(stub, data, batch_size=2)
    rows = []
    for i in range(len(data)):
        truth = data.arrays(i)["alpha"]  # [0, 1], before the [-1, 1] mapping
        trimap = trimap_from_alpha(truth, kernel_size=3, iterations=5)
        if (trimap == UNKNOWN).any():
            rows.append(evaluate(np.full_like(truth, 0.6), truth, trimap))
    expected = mean_metrics(rows)
    assert set(got) == {"sad", "mse", "grad", "conn"}
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-7), key


def test_val_fn_scores_a_better_constant_better():
    data = BGMSyntheticDataset(2, 32, seed=5)
    near = bgm_val_fn(ConstantAlpha(0.0), data)  # alpha 0.5: mid-way in the band
    far = bgm_val_fn(ConstantAlpha(-1.0), data)  # alpha 0: wrong on all the opaque band pixels
    assert near["mse"] < far["mse"]


def test_val_fn_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match="^val_data:"):
        bgm_val_fn(tiny_net(), [])


# --------------------------------------------------------------------------- builders


def test_presets_and_generator_sizes():
    full, quick = BGMRecipe.full(), BGMRecipe.quick()
    assert (full.image_size, full.batch_size) == (512, 4)  # the paper: batch 4 at 512
    assert full.train_steps == get_profile("full").train_steps
    assert quick.image_size == 64 and quick.batch_size == 4
    assert BGMRecipe.preset(get_profile("full").name) == full
    net = build_bgm_generator("quick")
    assert net.config["ngf"] == 16 and net.config["nf_part"] == 16
    assert (net.config["n_blocks1"], net.config["n_blocks2"]) == (2, 1)
    assert build_bgm_generator("quick", ngf=8).config["nf_part"] == 8
    with pytest.raises(ValueError, match="^changes: unknown BGMRecipe fields \\['width'\\]"):
        build_bgm_generator("quick", width=2)


def test_trainer_wiring():
    t = build_bgm_trainer("quick", train_steps=3, num_train_samples=8, num_val_samples=2,
                          image_size=32, ngf=8, device="cpu", progress=False)
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert isinstance(t.optimizer, torch.optim.Adam)
    assert t.max_steps == 3 and t.batch_size == 4 and t.val_every == 30
    assert len(t.train_data) == 8 and t.train_data.size == 32
    assert not (t.amp or t.channels_last)  # both are CUDA-only by default
    # Validation samples are not training samples.
    assert not torch.equal(t.train_data[0]["image"], t.val_data[0]["image"])
    with pytest.raises(ValueError, match="^image_size: the generator needs a multiple of 4"):
        build_bgm_trainer("quick", image_size=30, device="cpu")
    with pytest.raises(ValueError, match="^lr:"):
        build_bgm_trainer("quick", lr=-1.0, device="cpu")


def test_a_short_seeded_run_reduces_the_loss():
    t = build_bgm_trainer("quick", train_steps=24, num_train_samples=16, num_val_samples=2,
                          image_size=32, ngf=8, n_blocks1=1, n_blocks2=1, val_every=24,
                          device="cpu", progress=False)
    history = t.fit()
    total = history.train["total"]
    assert len(total) == 24 and all(np.isfinite(total))
    assert np.mean(total[-5:]) < 0.85 * np.mean(total[:5])
    for term in ("alpha_l1", "fg_l1", "composition", "gradient"):
        assert np.mean(history.train[term][-5:]) < np.mean(history.train[term][:5]), term
    assert history.val_steps == [24] and set(history.val) == {"sad", "mse", "grad", "conn"}


# --------------------------------------------------------------------------- command line


def test_cli_trains_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train-bgm", *TINY, "--steps", "2", "--out", str(out)) == 0
    assert [p.name for p in list_checkpoints(out)] == ["step_00000002.pt"]
    settings = json.loads((out / "run.json").read_text())
    assert settings["model"] == "bgm" and settings["ngf"] == settings["nf_part"] == 8
    assert settings["train_steps"] == 2 and settings["batch_size"] == 2
    first = load_checkpoint(latest_checkpoint(out))["history"]

    assert run_cli("train-bgm", *TINY, "--steps", "4", "--out", str(out), "--resume") == 0
    state = load_checkpoint(latest_checkpoint(out))
    assert state["step"] == 4
    assert state["history"]["train"]["step"] == [1, 2, 3, 4]
    assert state["history"]["train"]["total"][:2] == first["train"]["total"]
    assert "step 4/4" in capsys.readouterr().err

    net = load_bgm_generator(out, device="cpu")
    assert not net.training and net.config["ngf"] == 8
    for name, value in net.state_dict().items():
        torch.testing.assert_close(value, state["model"][name])


def test_cli_refuses_to_overwrite_or_to_resume_with_other_settings(tmp_path):
    out = tmp_path / "run"
    run_cli("train-bgm", *TINY, "--steps", "1", "--out", str(out))
    with pytest.raises(ValueError, match="^out: .* already holds checkpoints"):
        run_cli("train-bgm", *TINY, "--steps", "2", "--out", str(out))
    changed = [a if a != "8" else "4" for a in TINY]  # --ngf 4 (and --num-train 4)
    with pytest.raises(ValueError, match="^resume: the run .* other settings"):
        run_cli("train-bgm", *changed, "--steps", "2", "--out", str(out), "--resume")


def test_load_bgm_generator_rejects_other_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="^checkpoint:"):
        load_bgm_generator(tmp_path, device="cpu")
    (tmp_path / "step_00000001.pt").write_bytes(b"")
    (tmp_path / "run.json").write_text(json.dumps({"model": "mnet"}))
    with pytest.raises(ValueError, match="^checkpoint: .* names model 'mnet'"):
        load_bgm_generator(tmp_path, device="cpu")


def test_batch_keys_are_the_generators_inputs_in_order():
    assert BGM_INPUTS == ("image", "bg", "seg", "multi_fr")
