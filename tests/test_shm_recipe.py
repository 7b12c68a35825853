"""SHM's recipe and builders, and the training losses that read nothing back from the device."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import mattinglib.models.mnet as mnet_module
import mattinglib.models.tnet as tnet_module
from mattinglib.data.composition import SyntheticMattingDataset
from mattinglib.losses.dim import shm_end_to_end_loss
from mattinglib.models.mnet import MNet
from mattinglib.train.recipes import MNetRecipe, mnet_loss_fn, shm_loss_fn
from mattinglib.train.shm_recipes import (
    SHM_PHASES,
    SHMRecipe,
    build_shm_model,
    build_shm_trainer,
    start_shm_phase,
)
from mattinglib.trimap import trimap_to_classes, trimap_to_onehot

#: A recipe small enough for a CPU test (generated data, 32 px, batch 2).
TINY = {"mnet": MNetRecipe.quick().replace(data="synthetic", image_size=32, batch_size=2,
                                           num_train_samples=4, num_val_samples=2,
                                           train_steps=2, val_every=1),
        "image_size": 32, "batch_size": 2, "num_train_samples": 4, "num_val_samples": 2,
        "val_every": 1, "tnet_steps": 1, "end_to_end_steps": 1}


# --------------------------------------------------------------------------- the presets


def test_quick_recipe_holds_the_numbers_the_shm_stage_used():
    # benchmarks/_stages.py's shm stage on the quick profile: 64 px, batch 8, 300 steps,
    # validation every 50 on 32, 512 samples, width 0.25, seed 0, Adam 1e-5 end to end,
    # a ResNet-18 T-Net from random weights; the data of the quick M-Net recipe.
    settings = SHMRecipe.quick().settings()
    assert settings.pop("mnet") == MNetRecipe.quick().settings()
    assert settings == {
        "model": "shm", "name": "quick", "tnet_backbone": "resnet18", "tnet_width": 0.25,
        "tnet_pretrained": None, "image_size": 64, "batch_size": 8, "num_train_samples": 512,
        "num_val_samples": 32, "val_every": 50, "tnet_steps": 300, "tnet_lr": 1e-4,
        "end_to_end_steps": 300, "end_to_end_lr": 1e-5, "seed": 0, "num_workers": 0}


def test_full_recipe_holds_chapter_4s_schedule():
    # Chapter 4's full cell: an ImageNet ResNet-50 T-Net, the full M-Net recipe and its data
    # (320 px, batch 16, checkpoints every 1000 steps, 8 workers), T-Net 20,000 steps at
    # 1e-4, then end to end half as many at 1e-5.
    full, mnet = SHMRecipe.full(), MNetRecipe.full()
    assert full.mnet == mnet
    assert (full.tnet_backbone, full.tnet_width, full.tnet_pretrained) == (
        "resnet50", 1.0, "imagenet")
    assert full.data_recipe() == mnet  # the M-Net recipe's data, at its own sizes
    assert full.phases() == {"pretrain_tnet": (mnet.train_steps, 1e-4),
                             "pretrain_mnet": (mnet.train_steps, mnet.lr),
                             "end_to_end": (mnet.train_steps // 2, 1e-5)}
    assert list(full.phases()) == list(SHM_PHASES)


@pytest.mark.parametrize("name", ["quick", "full"])
def test_settings_round_trip_and_unknown_fields_are_refused(name):
    recipe = SHMRecipe.preset(name)
    settings = recipe.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert SHMRecipe.from_settings(settings) == recipe
    assert SHMRecipe.from_settings({**settings, "phase": "end_to_end"}) == recipe
    with pytest.raises(ValueError, match=r"^changes: unknown SHMRecipe fields \['widht'\]"):
        recipe.replace(widht=2)
    with pytest.raises(ValueError, match=r"^settings: unknown SHMRecipe fields \['widht'\]"):
        SHMRecipe.from_settings({**settings, "widht": 2})
    assert recipe.replace(end_to_end_lr=1e-4).run_name() != recipe.run_name()
    longer = recipe.replace(mnet=recipe.mnet.replace(train_steps=7))
    assert longer.run_name() != recipe.run_name()  # the M-Net phase is part of the run
    assert "mnet" in recipe.fixed_on_resume() and "val_every" not in recipe.fixed_on_resume()


def test_bad_values_are_named():
    quick = SHMRecipe.quick()
    with pytest.raises(ValueError, match=r"^preset: expected one of \['full', 'quick'\]"):
        SHMRecipe.preset("cpu-long")
    with pytest.raises(ValueError, match="^tnet_backbone: expected one of"):
        quick.replace(tnet_backbone="vgg16")
    with pytest.raises(ValueError, match="^image_size: SHM needs a multiple of 16, got 40"):
        quick.replace(image_size=40)
    with pytest.raises(ValueError, match="^batch_size: T-Net's BatchNorm needs at least 2"):
        quick.replace(batch_size=1)
    with pytest.raises(ValueError, match="^end_to_end_lr: expected a finite number > 0"):
        quick.replace(end_to_end_lr=0)
    with pytest.raises(TypeError, match="^tnet_lr: expected a finite number > 0, got bool True$"):
        quick.replace(tnet_lr=True)
    assert type(quick.replace(tnet_width=np.float32(0.5)).settings()["tnet_width"]) is float
    with pytest.raises(TypeError, match="^mnet: expected an MNetRecipe, got DIMRecipe"):
        from mattinglib.train.recipes import DIMRecipe
        quick.replace(mnet=DIMRecipe.quick())
    with pytest.raises(TypeError, match="^tnet_pretrained: expected 'imagenet'"):
        quick.replace(tnet_pretrained=True)


# --------------------------------------------------------------------------- the builders


def test_each_phase_trains_its_own_weights_at_its_own_rate():
    recipe = SHMRecipe.quick().replace(**TINY)
    model = build_shm_model(recipe, mnet=MNet(width=0.25, seed=5))
    tnet = {id(p) for p in model.tnet.parameters()}
    mnet = {id(p) for p in model.mnet.parameters()}
    expected = {"pretrain_tnet": (tnet, 1, 1e-4, False),
                "pretrain_mnet": (mnet, 2, recipe.mnet.lr, True),
                "end_to_end": (tnet | mnet, 1, 1e-5, True)}
    for phase, (params, steps, lr, validated) in expected.items():
        trainer = build_shm_trainer(recipe, phase, model=model, device="cpu", progress=False)
        assert trainer.model is model and model.mode == phase == trainer.phase
        group = trainer.optimizer.param_groups[0]
        assert {id(p) for p in group["params"]} == params, phase
        assert (trainer.max_steps, trainer.lr, group["initial_lr" if phase == "pretrain_mnet"
                                                     else "lr"]) == (steps, lr, lr)
        assert (trainer.val_data is not None) == validated
        # the M-Net phase keeps its recipe's one-cycle schedule, the others a constant rate
        assert (trainer.scheduler is not None) == (phase == "pretrain_mnet")
    trainer.fit()
    assert trainer.step == 1


def test_the_model_joins_the_given_mnet_of_the_recipes_width():
    recipe = SHMRecipe.quick()
    mnet = MNet(width=0.25, seed=3)
    assert build_shm_model(recipe, mnet=mnet).mnet is mnet
    with pytest.raises(ValueError, match="^mnet: the recipe's M-Net has width 0.25, got an MNet "
                                         "of width 0.5"):
        build_shm_model(recipe, mnet=MNet(width=0.5))
    with pytest.raises(TypeError, match="^mnet: expected an MNet or None"):
        build_shm_model(recipe, mnet="quick")
    with pytest.raises(ValueError, match="^phase: expected one of"):
        build_shm_trainer(recipe.replace(**TINY), "fine_tune", device="cpu")
    with pytest.raises(TypeError, match="^model: expected an SHM or None, got MNet"):
        build_shm_trainer(recipe.replace(**TINY), model=mnet, device="cpu")


def test_a_phase_folder_records_the_recipe_and_refuses_another(tmp_path):
    recipe = SHMRecipe.quick().replace(**TINY)
    out = tmp_path / "pretrain_tnet"
    trainer = start_shm_phase(recipe, "pretrain_tnet", out, device="cpu", progress=False)
    trainer.fit()
    assert json.loads((out / "run.json").read_text()) == {**recipe.settings(),
                                                          "phase": "pretrain_tnet"}
    with pytest.raises(ValueError, match=r"^resume: the run in .*'tnet_lr': \(0\.0001, 0\.001\)"):
        start_shm_phase(recipe.replace(tnet_lr=1e-3), "pretrain_tnet", out, device="cpu")
    with pytest.raises(ValueError, match=r"^resume: .*'phase': \('pretrain_tnet', 'end_to_end'\)"):
        start_shm_phase(recipe, "end_to_end", out, device="cpu")
    assert json.loads((out / "run.json").read_text())["tnet_lr"] == 1e-4  # nothing written
    resumed = start_shm_phase(recipe.replace(val_every=3), "pretrain_tnet", out, device="cpu",
                              progress=False)
    assert resumed.fit(resume=True).train_steps == [1]


# --------------------------------------------------------------------------- no device reads

#: The ways a tensor's value reaches Python (each one waits for a GPU to finish).
READS = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy")


@pytest.fixture
def no_device_reads(monkeypatch):
    """While active, reading a tensor's value into Python raises (on any device)."""
    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"Tensor.{name} read a value back from the device")
        return method

    def activate():
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, refuse(name))
    return activate


def shm_batch():
    return next(iter(DataLoader(SyntheticMattingDataset(2, 32, seed=0), batch_size=2)))


def test_the_reads_are_caught(no_device_reads):
    trimap = shm_batch()["trimap"]
    no_device_reads()
    with pytest.raises(AssertionError, match="read a value back"):
        trimap_to_classes(trimap)  # the checked call a user makes reads the values


@pytest.mark.parametrize("phase", SHM_PHASES)
def test_the_training_loss_reads_nothing_back(phase, no_device_reads, monkeypatch):
    batch = shm_batch()
    model = build_shm_model(SHMRecipe.quick()).set_mode(phase)
    torch.manual_seed(0)  # T-Net's dropout
    expected = shm_loss_fn(model, batch)
    # The networks check their input's range (one read each, their own documented check);
    # what is tested here is the loss, the trimap's classes and SHM's fusion around them.
    monkeypatch.setattr(tnet_module, "check_range", lambda *args, **kwargs: None)
    monkeypatch.setattr(mnet_module, "check_model_input", lambda *args, **kwargs: None)
    torch.manual_seed(0)
    no_device_reads()
    terms = shm_loss_fn(model, batch)
    monkeypatch.undo()
    assert sorted(terms) == sorted(expected)
    for name in terms:  # the same loss as with the checks
        torch.testing.assert_close(terms[name], expected[name], rtol=1e-5, atol=1e-6)


def test_mnet_loss_and_the_unchecked_conversions_read_nothing_back(no_device_reads,
                                                                   monkeypatch):
    batch = shm_batch()
    monkeypatch.setattr(mnet_module, "check_model_input", lambda *args, **kwargs: None)
    no_device_reads()
    assert sorted(mnet_loss_fn(MNet(width=0.25), batch)) == ["alpha", "composition", "total"]
    classes = trimap_to_classes(batch["trimap"], check_values=False)
    onehot = trimap_to_onehot(batch["trimap"], check_values=False)
    shm_end_to_end_loss(pred_alpha=batch["alpha"], target_alpha=batch["alpha"], fg=batch["fg"],
                        bg=batch["bg"], image=batch["image"], trimap_logits=onehot,
                        trimap_target=classes, check_values=False)
    monkeypatch.undo()
    assert torch.equal(classes, trimap_to_classes(batch["trimap"]))
    assert torch.equal(onehot, trimap_to_onehot(batch["trimap"]))


def test_unchecked_classes_mark_a_wrong_value_instead_of_raising():
    trimap = torch.tensor([0, 127, 128, 255], dtype=torch.uint8).view(1, 1, 1, 4)
    assert trimap_to_classes(trimap, check_values=False).tolist() == [[[0, -1, 1, 2]]]
    assert trimap_to_classes(trimap, check_values=np.False_).tolist() == [[[0, -1, 1, 2]]]
    assert trimap_to_onehot(trimap, check_values=False)[0, :, 0, 1].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"got also \[127\]"):
        trimap_to_classes(trimap)
    with pytest.raises(TypeError, match="^check_values: expected True or False"):
        trimap_to_classes(trimap, check_values="no")


def test_a_trainer_step_of_shm_reads_nothing_back_for_a_check(no_device_reads, monkeypatch):
    """The networks' own range checks are off inside Trainer.train_step (value_checks)."""
    from mattinglib._checks import value_checks, value_checks_enabled
    from mattinglib.train.trainer import Trainer

    batch = shm_batch()
    model = build_shm_model(SHMRecipe.quick()).set_mode("end_to_end")
    seen = []

    def loss_fn(m, b):
        seen.append(value_checks_enabled())
        no_device_reads()  # from here on, any read of a value raises
        try:
            return shm_loss_fn(m, b)
        finally:
            monkeypatch.undo()  # the trainer itself reads the logged terms once per step

    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-5), loss_fn,
                      SyntheticMattingDataset(2, 32, seed=0), batch_size=2, max_steps=1,
                      device="cpu", progress=False)
    trainer.train_step(batch)
    assert seen == [False] and value_checks_enabled()
    # Outside a trainer the check is on, and it is a read.
    no_device_reads()
    with pytest.raises(AssertionError, match="read a value back"):
        model.tnet(batch["image"])
    monkeypatch.undo()
    with value_checks(False):
        no_device_reads()
        model.tnet.eval()(batch["image"])
    monkeypatch.undo()
    with pytest.raises(TypeError, match="^enabled: expected True or False"):
        with value_checks("off"):
            pass
