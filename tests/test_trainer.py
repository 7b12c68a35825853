"""The supervised trainer, its history and its checkpoints, on a tiny conv model (CPU)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from mattinglib.train.checkpoint import (
    checkpoint_path,
    get_rng_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from mattinglib.train.history import History
from mattinglib.train.trainer import NonFiniteLossError, Trainer

# --- a tiny world ---------------------------------------------------------------------------


class TinyMattingSet(torch.utils.data.Dataset):
    """Seeded random images and alphas; a random flip drawn from the global torch generator.

    The flip makes exact resume depend on the restored random state, as real
    augmentation does.
    """

    def __init__(self, n: int = 20, size: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, size, size, generator=g)
        self.alphas = self.images.mean(dim=1, keepdim=True)  # learnable: the grey level

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image, alpha = self.images[i], self.alphas[i]
        if torch.rand(()) < 0.5:
            image, alpha = image.flip(-1), alpha.flip(-1)
        return {"image": image, "alpha": alpha, "index": torch.tensor(i)}


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # Dropout draws from the global generator during training: resume must restore it.
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.25),
                         nn.Conv2d(8, 1, 1), nn.Sigmoid())


def matting_loss(model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
    pred = model(batch["image"])
    l1 = (pred - batch["alpha"]).abs().mean()
    l2 = ((pred - batch["alpha"]) ** 2).mean()
    return {"l1": l1, "l2": l2, "total": l1 + 0.5 * l2}


def mean_abs_error(model: nn.Module, data: TinyMattingSet) -> dict[str, float]:
    return {"mae": float((model(data.images) - data.alphas).abs().mean())}


def make_trainer(tmp_path=None, *, model_seed: int = 0, max_steps: int = 6, **kwargs) -> Trainer:
    model = tiny_model(model_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    settings = dict(batch_size=4, max_steps=max_steps, device="cpu", progress=False, seed=3)
    if tmp_path is not None:
        settings["checkpoint_dir"] = tmp_path / "ckpt"
    settings.update(kwargs)
    return Trainer(model, optimizer, matting_loss, TinyMattingSet(), **settings)


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# --- history --------------------------------------------------------------------------------


class TestHistory:
    def test_records_every_term_at_every_step(self):
        history = make_trainer(max_steps=7).fit()
        assert history.train_steps == list(range(1, 8))
        assert set(history.train) == {"l1", "l2", "total"}
        for name in ("l1", "l2", "total"):
            assert len(history.train[name]) == 7
            assert all(math.isfinite(v) for v in history.train[name])
        total = np.array(history.train["total"])
        recomposed = np.array(history.train["l1"]) + 0.5 * np.array(history.train["l2"])
        np.testing.assert_allclose(total, recomposed, rtol=1e-6)

    def test_loss_decreases_and_held_out_error_improves(self):
        held_out = TinyMattingSet(seed=1)
        trainer = make_trainer(max_steps=60, val_fn=mean_abs_error, val_data=held_out, val_every=30)
        with torch.no_grad():
            untrained = mean_abs_error(trainer.model.eval(), held_out)["mae"]
        history = trainer.fit()
        first, last = np.mean(history.train["total"][:5]), np.mean(history.train["total"][-5:])
        assert last < 0.7 * first
        assert history.val_steps == [30, 60]
        assert history.val["mae"][-1] < 0.5 * untrained

    def test_new_terms_are_padded_with_nan(self):
        h = History()
        h.log_train(1, {"total": 1.0})
        h.log_train(2, {"total": 0.5, "extra": 2.0})
        assert math.isnan(h.train["extra"][0]) and h.train["extra"][1] == 2.0
        assert len(h.train["total"]) == len(h.train["extra"]) == 2

    def test_to_dict_round_trip(self):
        history = make_trainer(max_steps=4, val_fn=mean_abs_error,
                               val_data=TinyMattingSet(seed=1), val_every=2).fit()
        again = History.from_dict(history.to_dict())
        assert again.to_dict() == history.to_dict()
        assert again.val_steps == [2, 4] and set(again.val) == {"mae"}

    def test_from_dict_rejects_ragged_columns(self):
        with pytest.raises(ValueError,
                           match=r"^data: train column 'total' has 1 values for 2 steps"):
            History.from_dict({"train": {"step": [1, 2], "total": [0.5]}})

    def test_plot_draws_each_term_and_metric(self):
        history = make_trainer(max_steps=4, val_fn=mean_abs_error,
                               val_data=TinyMattingSet(seed=1), val_every=2).fit()
        fig = history.plot(smooth=2)
        assert isinstance(fig, Figure)
        loss_ax, val_ax = fig.axes
        assert sorted(line.get_label() for line in loss_ax.get_lines()) == ["l1", "l2", "total"]
        assert list(val_ax.get_lines()[0].get_xdata()) == [2, 4]
        with pytest.raises(ValueError, match=r"^terms: unknown loss terms \['nope'\]"):
            history.plot(["nope"])

    def test_last(self):
        h = History()
        h.log_train(1, {"total": 3.0})
        h.log_val(1, {"sad": 7.0})
        assert h.last("sad") == 7.0 and h.last("total") == 3.0
        with pytest.raises(KeyError, match="no recorded term or metric 'mse'"):
            h.last("mse")


# --- validation -----------------------------------------------------------------------------


class TestValidation:
    def test_runs_every_n_steps_and_after_the_last(self):
        seen = []

        def val_fn(model, data):
            seen.append((model.training, torch.is_grad_enabled()))
            return mean_abs_error(model, data)

        trainer = make_trainer(max_steps=10, val_fn=val_fn,
                               val_data=TinyMattingSet(seed=1), val_every=3)
        history = trainer.fit()
        assert history.val_steps == [3, 6, 9, 10]
        assert seen == [(False, False)] * 4  # eval mode, no autograd
        assert trainer.model.training  # back to training mode afterwards

    def test_only_at_the_end_without_val_every(self):
        history = make_trainer(max_steps=5, val_fn=mean_abs_error,
                               val_data=TinyMattingSet(seed=1)).fit()
        assert history.val_steps == [5]

    def test_val_fn_must_return_numbers(self):
        trainer = make_trainer(max_steps=2, val_fn=lambda m, d: {"mae": "low"})
        with pytest.raises(ValueError, match=r"^val_fn: every metric must be a number"):
            trainer.fit()


# --- data order -----------------------------------------------------------------------------


class TestDataOrder:
    def indices_seen(self, trainer: Trainer, steps: int) -> list[list[int]]:
        stream = trainer.batches(0)
        return [next(stream)["index"].tolist() for _ in range(steps)]

    def test_each_epoch_is_a_permutation_and_epochs_differ(self):
        trainer = make_trainer()
        batches = self.indices_seen(trainer, 10)  # 20 samples / batch 4 = 5 steps per epoch
        epoch0 = sum(batches[:5], [])
        epoch1 = sum(batches[5:], [])
        assert sorted(epoch0) == sorted(epoch1) == list(range(20))
        assert epoch0 != epoch1

    def test_same_seed_same_order_other_seed_other_order(self):
        first = self.indices_seen(make_trainer(seed=5), 6)
        assert first == self.indices_seen(make_trainer(seed=5), 6)
        assert first != self.indices_seen(make_trainer(seed=6), 6)

    def test_stream_restarts_mid_epoch(self):
        trainer = make_trainer()
        full = self.indices_seen(trainer, 9)
        stream = trainer.batches(7)
        assert [next(stream)["index"].tolist() for _ in range(2)] == full[7:9]

    def test_last_partial_batch_is_dropped(self):
        trainer = Trainer(tiny_model(), torch.optim.SGD(tiny_model().parameters(), lr=0.1),
                          matting_loss, TinyMattingSet(n=10), batch_size=4, max_steps=1,
                          device="cpu")
        assert trainer.steps_per_epoch == 2


# --- checkpoints ----------------------------------------------------------------------------


class TestCheckpointFiles:
    def test_written_every_n_steps_and_at_the_end(self, tmp_path):
        trainer = make_trainer(tmp_path, max_steps=7, checkpoint_every=3, keep_checkpoints=None)
        trainer.fit()
        assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == [
            "step_00000003.pt", "step_00000006.pt", "step_00000007.pt"]
        state = load_checkpoint(tmp_path / "ckpt" / "step_00000006.pt")
        assert state["step"] == 6 and len(state["history"]["train"]["step"]) == 6
        assert {"model", "optimizer", "scheduler", "config", "rng", "data"} <= set(state)
        assert state["data"] == {"epoch": 1, "batch_in_epoch": 1, "steps_per_epoch": 5}
        final = load_checkpoint(latest_checkpoint(tmp_path / "ckpt"))
        for saved, live in zip(final["model"].values(), trainer.model.state_dict().values()):
            assert torch.equal(saved, live)

    def test_keeps_only_the_most_recent(self, tmp_path):
        make_trainer(tmp_path, max_steps=8, checkpoint_every=2, keep_checkpoints=2).fit()
        assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == [
            "step_00000006.pt", "step_00000008.pt"]

    def test_crash_while_writing_leaves_no_partial_file(self, tmp_path, monkeypatch):
        trainer = make_trainer(tmp_path, max_steps=6, checkpoint_every=2)
        real_save = torch.save
        calls = []

        def save_then_crash(obj, f, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:  # the checkpoint of step 4
                f.write(b"half a checkpoint")
                raise OSError("disk full")
            return real_save(obj, f, *args, **kwargs)

        monkeypatch.setattr(torch, "save", save_then_crash)
        with pytest.raises(OSError, match="disk full"):
            trainer.fit()
        assert sorted(os.listdir(tmp_path / "ckpt")) == ["step_00000002.pt"]
        assert load_checkpoint(tmp_path / "ckpt" / "step_00000002.pt")["step"] == 2

    def test_save_and_load_round_trip(self, tmp_path):
        state = {"step": 3, "weights": torch.arange(4.0),
                 "nested": {"names": ["a", "b"], "lr": 0.1}}
        path = save_checkpoint(tmp_path / "sub" / "x.pt", state)
        loaded = load_checkpoint(path)
        assert torch.equal(loaded["weights"], state["weights"])
        assert loaded["nested"] == state["nested"]
        assert os.listdir(tmp_path / "sub") == ["x.pt"]

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"^path: no checkpoint file at"):
            load_checkpoint(tmp_path / "nope.pt")

    def test_corrupt_file(self, tmp_path):
        path = tmp_path / "step_00000001.pt"
        save_checkpoint(path, {"w": torch.ones(100)})
        path.write_bytes(path.read_bytes()[:50])
        with pytest.raises(ValueError, match=r"^path: .* is not a readable checkpoint"):
            load_checkpoint(path)

    def test_refuses_pickled_objects(self, tmp_path):
        path = tmp_path / "evil.pt"
        torch.save({"model": nn.Linear(1, 1)}, path)  # a whole module: needs code to unpickle
        with pytest.raises(ValueError, match=r"^path: .* is not a readable checkpoint"):
            load_checkpoint(path)

    def test_latest_ignores_temporary_files_and_sorts_by_step(self, tmp_path):
        for step in (9, 10, 2):
            save_checkpoint(checkpoint_path(tmp_path, step), {"step": step})
        (tmp_path / ".step_00000011.pt.tmp-123").write_bytes(b"partial")
        (tmp_path / "notes.txt").write_text("not a checkpoint")
        assert latest_checkpoint(tmp_path).name == "step_00000010.pt"
        assert latest_checkpoint(tmp_path / "missing") is None

    def test_rng_state_round_trip(self):
        import random

        state = get_rng_state()
        first = (torch.rand(3), np.random.rand(3),
                 [random.random() for _ in range(3)], np.random.randn())
        set_rng_state(state)
        again = (torch.rand(3), np.random.rand(3),
                 [random.random() for _ in range(3)], np.random.randn())
        assert torch.equal(first[0], again[0])
        np.testing.assert_array_equal(first[1], again[1])
        assert first[2] == again[2] and first[3] == again[3]


# --- resume ---------------------------------------------------------------------------------


class Interrupt(Exception):
    pass


def stop_after(step: int):
    def callback(trainer, now, losses):
        if now == step:
            raise Interrupt(f"stopped after step {now}")
    return callback


class TestResume:
    def run(self, tmp_path, *, interrupt_at: int | None, model_seed: int = 0) -> Trainer:
        model = tiny_model(model_seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
        callbacks = [] if interrupt_at is None else [stop_after(interrupt_at)]
        return Trainer(model, optimizer, matting_loss, TinyMattingSet(), batch_size=4, max_steps=13,
                       scheduler=scheduler, val_fn=mean_abs_error, val_data=TinyMattingSet(seed=1),
                       val_every=5, checkpoint_dir=tmp_path, checkpoint_every=3, seed=11,
                       callbacks=callbacks, device="cpu", progress=False)

    def test_interrupted_and_resumed_run_equals_uninterrupted_bit_for_bit(self, tmp_path):
        straight = self.run(tmp_path / "straight", interrupt_at=None)
        straight.fit()

        first = self.run(tmp_path / "resumed", interrupt_at=8)
        with pytest.raises(Interrupt):
            first.fit()
        # Steps 7 and 8 are lost with the process; the last checkpoint is step 6, mid-epoch 1.
        assert latest_checkpoint(tmp_path / "resumed").name == "step_00000006.pt"
        torch.manual_seed(1234)  # the new process is in another random state, with another model
        second = self.run(tmp_path / "resumed", interrupt_at=None, model_seed=99)
        history = second.fit(resume=True)

        assert history.train_steps == list(range(1, 14))
        for name in ("total", "l1", "l2"):
            assert history.train[name] == straight.history.train[name]  # exact, not approximate
        assert history.val_steps == straight.history.val_steps == [5, 10, 13]
        assert history.val["mae"] == straight.history.val["mae"]
        for a, b in zip(second.model.parameters(), straight.model.parameters()):
            assert torch.equal(a, b)
        assert second.scheduler.get_last_lr() == straight.scheduler.get_last_lr()

    def test_without_the_random_state_the_runs_differ(self, tmp_path, monkeypatch):
        # The equality above is not trivial: dropout and flips need the saved random state.
        straight = self.run(tmp_path / "straight", interrupt_at=None)
        straight.fit()
        first = self.run(tmp_path / "resumed", interrupt_at=6)
        with pytest.raises(Interrupt):
            first.fit()
        monkeypatch.setattr("mattinglib.train.trainer.set_rng_state", lambda state: None)
        torch.manual_seed(1234)
        second = self.run(tmp_path / "resumed", interrupt_at=None)
        history = second.fit(resume=True)
        assert history.train["total"][:6] == straight.history.train["total"][:6]
        assert history.train["total"][6:] != straight.history.train["total"][6:]

    def test_resume_without_checkpoint_starts_fresh(self, tmp_path):
        fresh = make_trainer(max_steps=4).fit()
        resumed = make_trainer(tmp_path, max_steps=4).fit(resume=True)
        assert resumed.train["total"] == fresh.train["total"]

    def test_finished_run_loads_instead_of_training(self, tmp_path):
        done = make_trainer(tmp_path, max_steps=4)
        done.fit()
        calls = []
        again = make_trainer(tmp_path, max_steps=4, model_seed=5,
                             callbacks=[lambda t, s, losses: calls.append(s)])
        history = again.fit(resume=True)
        assert calls == [] and again.step == 4
        assert history.train["total"] == done.history.train["total"]
        for a, b in zip(again.model.parameters(), done.model.parameters()):
            assert torch.equal(a, b)

    def test_resume_from_an_explicit_path_and_extend(self, tmp_path):
        make_trainer(tmp_path, max_steps=4, checkpoint_every=2, keep_checkpoints=None).fit()
        longer = make_trainer(max_steps=6)
        longer.fit(resume=tmp_path / "ckpt" / "step_00000002.pt")
        assert longer.history.train_steps == [1, 2, 3, 4, 5, 6]

    def test_resume_true_needs_a_folder(self):
        with pytest.raises(ValueError, match=r"^resume: resuming from the latest checkpoint needs"):
            make_trainer().fit(resume=True)

    def test_resume_with_another_batch_size_is_refused(self, tmp_path):
        make_trainer(tmp_path, max_steps=2).fit()
        with pytest.raises(ValueError,
                           match=r"^state: the checkpoint was written with batch_size=4"):
            make_trainer(tmp_path, max_steps=4, batch_size=2).fit(resume=True)


# --- non-finite losses ----------------------------------------------------------------------


class TestNonFinite:
    def test_nan_loss_names_step_and_terms_and_keeps_last_checkpoint(self, tmp_path):
        calls = []

        def sometimes_nan(model, batch):
            terms = matting_loss(model, batch)
            calls.append(1)
            if len(calls) == 3:
                terms["l2"] = terms["l2"] * float("nan")
                terms["total"] = terms["l1"] + terms["l2"]
            return terms

        trainer = make_trainer(tmp_path, max_steps=6, checkpoint_every=1)
        trainer.loss_fn = sometimes_nan
        with pytest.raises(NonFiniteLossError, match=r"^step 3: non-finite loss terms \{'l2': nan, "
                                                     r"'total': nan\}") as err:
            trainer.fit()
        assert isinstance(err.value, ValueError)
        assert "step_00000002.pt" in str(err.value)
        assert trainer.step == 2 and len(trainer.history) == 2
        assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == [
            "step_00000001.pt", "step_00000002.pt"]
        saved = load_checkpoint(tmp_path / "ckpt" / "step_00000002.pt")["model"]
        for p, q in zip(saved.values(), trainer.model.state_dict().values()):
            assert torch.isfinite(p).all() and torch.equal(p, q)  # the bad update was not applied

    def test_infinite_parameters_are_not_saved(self, tmp_path):
        trainer = make_trainer(tmp_path, max_steps=2)
        with torch.no_grad():
            trainer.model[0].weight[0, 0, 0, 0] = float("inf")
        with pytest.raises(NonFiniteLossError,
                           match=r"parameters became non-finite \['0.weight'\]"):
            trainer.save()
        assert list_checkpoints(tmp_path / "ckpt") == []


# --- devices and precision ------------------------------------------------------------------


class TestPrecisionAndLayout:
    def test_defaults_on_cpu(self):
        trainer = make_trainer()
        assert trainer.device == torch.device("cpu")
        assert trainer.amp is False and trainer.channels_last is False

    def test_bf16_autocast_on_cpu(self):
        dtypes = []

        def loss_fn(model, batch):
            pred = model(batch["image"])
            dtypes.append(pred.dtype)
            l1 = (pred.float() - batch["alpha"]).abs().mean()
            return {"total": l1}

        trainer = make_trainer(max_steps=20, amp=True)
        trainer.loss_fn = loss_fn
        history = trainer.fit()
        assert trainer.amp and set(dtypes) == {torch.bfloat16}
        assert all(math.isfinite(v) for v in history.train["total"])
        assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights
        assert np.mean(history.train["total"][-5:]) < np.mean(history.train["total"][:5])

    def test_channels_last_on_cpu(self):
        layouts = []

        def loss_fn(model, batch):
            layouts.append(batch["image"].is_contiguous(memory_format=torch.channels_last))
            return matting_loss(model, batch)

        trainer = make_trainer(max_steps=3, channels_last=True)
        trainer.loss_fn = loss_fn
        history = trainer.fit()
        assert layouts == [True] * 3
        assert trainer.model[0].weight.is_contiguous(memory_format=torch.channels_last)
        assert all(math.isfinite(v) for v in history.train["total"])


# --- bad arguments --------------------------------------------------------------------------


class TestArguments:
    @pytest.mark.parametrize("changes, message", [
        ({"max_steps": 0}, r"^max_steps: expected an integer >= 1, got 0"),
        ({"max_steps": -5}, r"^max_steps: expected an integer >= 1, got -5"),
        ({"max_steps": 2.5}, r"^max_steps: expected an integer >= 1, got 2.5"),
        ({"batch_size": 0}, r"^batch_size: expected an integer >= 1"),
        ({"batch_size": 32},
         r"^train_data: 20 samples per process cannot fill one batch of batch_size=32"),
        ({"val_every": 0, "val_fn": mean_abs_error},
         r"^val_every: expected an integer >= 1 or None"),
        ({"val_every": 2}, r"^val_fn: val_data or val_every given but no val_fn"),
        ({"checkpoint_every": 2}, r"^checkpoint_dir: checkpoint_every given but no folder"),
        ({"amp": "yes"}, r"^amp: expected True, False or None"),
        ({"channels_last": 1}, r"^channels_last: expected True, False or None"),
        ({"grad_clip": -1.0}, r"^grad_clip: expected a finite number > 0 or None, got -1.0$"),
        ({"grad_clip": True}, r"^grad_clip: expected a finite number > 0 or None, got bool True$"),
        ({"grad_clip": float("inf")},
         r"^grad_clip: expected a finite number > 0 or None, got inf$"),
        ({"device": "tpu9"}, r"^device: expected 'auto', 'cpu'"),
        ({"num_workers": -1}, r"^num_workers: expected an integer >= 0"),
    ])
    def test_rejected_with_the_argument_named(self, changes, message):
        with pytest.raises(ValueError, match=message):
            make_trainer(**changes)

    def test_numpy_flags_and_numbers_accepted(self):
        trainer = make_trainer(amp=np.False_, channels_last=np.False_, grad_clip=np.float32(1.0))
        assert trainer.amp is False and trainer.channels_last is False
        assert trainer.grad_clip == 1.0 and type(trainer.grad_clip) is float

    def test_dataloader_instead_of_dataset(self):
        loader = torch.utils.data.DataLoader(TinyMattingSet(), batch_size=4)
        model = tiny_model()
        with pytest.raises(ValueError, match=r"^train_data: expected a map-style dataset"):
            Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), matting_loss, loader,
                    batch_size=4, max_steps=2, device="cpu")

    @pytest.mark.parametrize("loss_fn, message", [
        (lambda m, b: {"l1": m(b["image"]).mean()},
         r"^loss_fn: expected a 'total' term .* \['l1'\]"),
        (lambda m, b: m(b["image"]).mean(), r"^loss_fn: expected a dict of named scalar tensors"),
        (lambda m, b: {"total": m(b["image"]).abs()},
         r"^loss_fn: term 'total' should be a scalar tensor"),
        (lambda m, b: {"total": m(b["image"]).mean(), "n": 3},
         r"^loss_fn: term 'n' should be a scalar"),
        (lambda m, b: {"total": m(b["image"]).mean().detach()},
         r"^loss_fn: the 'total' term does not"),
    ])
    def test_bad_loss_fn_output(self, loss_fn, message):
        trainer = make_trainer()
        trainer.loss_fn = loss_fn
        with pytest.raises(ValueError, match=message):
            trainer.fit()

    def test_grad_clip_bounds_the_update(self):
        # One SGD step with lr 1 moves the parameters by exactly the clipped gradient.
        trainer = make_trainer(max_steps=1, grad_clip=1e-3)
        trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=1.0)
        before = params(trainer.model)
        trainer.fit()
        moved = torch.cat([(a - b).flatten() for a, b in zip(params(trainer.model), before)])
        assert float(moved.norm()) == pytest.approx(1e-3, rel=1e-3)


class TestSeedEverything:
    def test_one_function_for_the_trainer_and_the_notebooks(self):
        from mattinglib import notebook, train
        from mattinglib.train import trainer

        assert notebook.seed_everything is trainer.seed_everything is train.seed_everything

    def test_the_same_seed_repeats_every_global_generator(self):
        import random

        from mattinglib.train.trainer import seed_everything

        seed_everything(7)
        first = (random.random(), np.random.rand(), torch.rand(1).item())
        seed_everything(7)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == first

    @pytest.mark.parametrize("seed, error", [(-1, ValueError), (True, TypeError), (1.5, TypeError),
                                             ("3", TypeError)])
    def test_bad_seeds_are_refused_with_the_argument_named(self, seed, error):
        from mattinglib.train.trainer import seed_everything

        with pytest.raises(error, match="^seed: expected an integer >= 0"):
            seed_everything(seed)

    def test_numpy_and_large_seeds(self):
        from mattinglib.train.trainer import seed_everything

        seed_everything(np.int64(5))
        assert torch.initial_seed() == 5
        seed_everything(2**40)  # NumPy's global seed takes it modulo 2**32
        assert torch.initial_seed() == 2**40
