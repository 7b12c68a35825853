"""Tests of the training recipes and the `train` / `predict` commands (CPU, tiny settings)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch
from torch import nn

from mattinglib import io
from mattinglib.cli.predict import add_predict_command
from mattinglib.cli.train import add_train_command
from mattinglib.data.composition import SyntheticMattingDataset
from mattinglib.metrics import evaluate
from mattinglib.models.mnet import MNet
from mattinglib.models.shm import SHM
from mattinglib.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from mattinglib.train.history import History
from mattinglib.train.recipes import (
    build_mnet_trainer,
    matting_val_fn,
    mnet_loss_fn,
    shm_loss_fn,
)
from mattinglib.train.runs import load_trained_model
from mattinglib.trimap import CLASS_ORDER

TINY = ["--profile", "quick", "--image-size", "32", "--width", "0.25", "--batch-size", "2",
        "--num-train", "8", "--num-val", "2", "--val-every", "2", "--device", "cpu",
        "--data", "synthetic", "--lr-schedule", "constant"]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_command(sub)
    add_predict_command(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def batch_of(n=2, size=32, seed=0):
    data = SyntheticMattingDataset(n, size, seed=seed)
    samples = [data[i] for i in range(n)]
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


class HalfStub(nn.Module):
    """M-Net-shaped stub predicting 0.5 everywhere (one parameter, so it has a device)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return 0.5 * self.scale * torch.ones_like(x[:, :1])


class TinyTNet(nn.Module):
    """A 3-class stand-in for T-Net (building a real one takes seconds on a busy CPU)."""

    num_classes = len(CLASS_ORDER)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, self.num_classes, 3, padding=1)

    def forward(self, image):
        return self.conv(image)


class TestLosses:
    def test_mnet_loss_is_dim_loss_on_the_unknown_band(self):
        batch = batch_of()
        unknown = (batch["trimap"] == 128 / 255).float()
        terms = mnet_loss_fn(HalfStub(), batch)
        # Written out independently: Charbonnier ~ |d| at eps 1e-6.
        alpha = ((0.5 - batch["alpha"]).abs() * unknown).sum() / unknown.sum()
        comp = ((0.5 * batch["fg"] + 0.5 * batch["bg"] - batch["image"]).abs() * unknown).sum() / (
            3 * unknown.sum())
        assert torch.allclose(terms["alpha"], alpha, atol=1e-5)
        assert torch.allclose(terms["composition"], comp, atol=1e-5)
        assert torch.allclose(terms["total"], 0.5 * alpha + 0.5 * comp, atol=1e-5)
        assert terms["total"].requires_grad

    def test_mnet_loss_feeds_the_one_hot_trimap(self):
        seen = {}

        class Spy(HalfStub):
            def forward(self, x):
                seen["x"] = x
                return super().forward(x)

        batch = batch_of()
        mnet_loss_fn(Spy(), batch)
        x = seen["x"]
        assert x.shape[1] == 6 and torch.equal(x[:, :3], batch["image"])
        fg = x[:, 3 + CLASS_ORDER.index("foreground")]
        assert torch.equal(fg, (batch["trimap"][:, 0] == 1).float())

    @pytest.mark.parametrize("mode,keys", [
        ("pretrain_tnet", {"trimap_ce", "total"}),
        ("pretrain_mnet", {"alpha", "composition", "total"}),
        ("end_to_end", {"alpha", "composition", "trimap_ce", "total"}),
    ])
    def test_shm_loss_per_mode(self, mode, keys):
        shm = SHM(TinyTNet(), MNet(width=0.25), mode=mode)
        terms = shm_loss_fn(shm, batch_of())
        assert set(terms) == keys
        assert torch.isfinite(terms["total"]) and terms["total"].requires_grad


class TestValidation:
    def test_val_fn_averages_official_metrics(self):
        data = SyntheticMattingDataset(3, 32, seed=5)
        metrics = matting_val_fn(HalfStub(), data, input_kind="mnet", batch_size=2)
        rows = []
        for i in range(3):
            a = data.arrays(i)
            pred = np.where(a["trimap"] == 128, 0.5, a["trimap"] / 255.0)
            rows.append(evaluate(pred, a["alpha"], a["trimap"]))
        for key in ("sad", "mse", "grad", "conn"):
            assert metrics[key] == pytest.approx(np.mean([r[key] for r in rows]), rel=1e-5)

    def test_val_fn_rejects_empty(self):
        with pytest.raises(ValueError, match="^val_data:"):
            matting_val_fn(HalfStub(), [], input_kind="mnet")


class TestTrainer:
    def test_30_steps_reduce_the_loss(self):
        trainer = build_mnet_trainer("quick", train_steps=30, image_size=32, batch_size=4,
                                     num_train_samples=64, num_val_samples=2, val_every=30,
                                     data="synthetic", device="cpu", progress=False)
        history = trainer.fit()
        losses = np.array(history.train["total"])
        assert len(losses) == 30 and np.isfinite(losses).all()
        assert losses[-5:].mean() < 0.95 * losses[:5].mean()
        assert set(history.val) == {"sad", "mse", "grad", "conn"}

    def test_bad_overrides(self):
        with pytest.raises(ValueError, match="^changes: unknown recipe fields"):
            build_mnet_trainer("quick", learning_rate=1e-3, device="cpu")
        with pytest.raises(ValueError, match="^lr:"):
            build_mnet_trainer("quick", lr=-1.0, device="cpu")
        with pytest.raises(ValueError, match="^image_size:"):
            build_mnet_trainer("quick", image_size=40, device="cpu")


class TestCommands:
    def test_train_resume_predict(self, tmp_path):
        out = tmp_path / "runs" / "mnet"
        assert run_cli("train", "--model", "mnet", "--steps", "2", "--out", str(out), *TINY) == 0
        assert [p.name for p in list_checkpoints(out)] == ["step_00000002.pt"]
        settings = json.loads((out / "run.json").read_text())
        assert settings["model"] == "mnet" and settings["width"] == 0.25

        # Without --resume an existing run is not overwritten.
        with pytest.raises(ValueError, match="^out: .* already holds checkpoints"):
            run_cli("train", "--steps", "4", "--out", str(out), *TINY)
        # A resume with another model size is refused.
        with pytest.raises(ValueError, match="^resume: .*width"):
            run_cli("train", "--steps", "4", "--out", str(out), "--resume",
                    *[a if a != "0.25" else "0.5" for a in TINY])

        assert run_cli("train", "--steps", "4", "--out", str(out), "--resume", *TINY) == 0
        state = load_checkpoint(latest_checkpoint(out))
        assert state["step"] == 4
        history = History.from_dict(state["history"])
        assert history.train_steps == [1, 2, 3, 4]  # continued, not restarted
        assert history.val_steps == [2, 4]

        rng = np.random.default_rng(0)
        image = rng.random((37, 53, 3)).astype(np.float32)
        trimap = np.full((37, 53), 128, np.uint8)
        trimap[:, :12] = 0
        trimap[:, -12:] = 255
        io.write_image(tmp_path / "photo.png", image)
        io.write_trimap(tmp_path / "trimap.png", trimap)
        for extra in ([], ["--max-side", "32"], ["--tile", "32", "--overlap", "16"]):
            alpha_path = tmp_path / f"alpha{len(extra)}.png"
            assert run_cli("predict", "--checkpoint", str(out),
                           "--image", str(tmp_path / "photo.png"),
                           "--trimap", str(tmp_path / "trimap.png"), "--out", str(alpha_path),
                           "--device", "cpu", *extra) == 0
            alpha = io.read_alpha(alpha_path)
            assert alpha.shape == (37, 53)
            assert (alpha[:, :12] == 0).all() and (alpha[:, -12:] == 1).all()

    def test_loaded_model_matches_checkpoint(self, tmp_path):
        out = tmp_path / "run"
        run_cli("train", "--steps", "2", "--out", str(out), *TINY)
        model = load_trained_model(out, device="cpu")
        assert isinstance(model, MNet) and not model.training
        saved = load_checkpoint(latest_checkpoint(out))["model"]
        for name, tensor in model.state_dict().items():
            assert torch.equal(tensor, saved[name])

    def test_predict_without_run_file(self, tmp_path):
        (tmp_path / "step_00000001.pt").write_bytes(b"")
        with pytest.raises(FileNotFoundError, match="run.json is missing"):
            load_trained_model(tmp_path / "step_00000001.pt", device="cpu")
