"""Load or train: mattinglib.train.runs."""

from __future__ import annotations

import json

import pytest
import torch

from mattinglib.config import get_profile
from mattinglib.inference.bgm import RandomWeightsWarning
from mattinglib.models.mnet import MNet
from mattinglib.train import bgm_recipes, runs
from mattinglib.train.checkpoint import (
    RUN_FILE,
    checkpoint_path,
    latest_checkpoint,
    save_checkpoint,
)
from mattinglib.train.recipes import DIMRecipe, MNetRecipe, build_mnet_trainer

TINY = MNetRecipe.quick().replace(train_steps=2, val_every=2, image_size=32, batch_size=2,
                                  num_train_samples=4, num_val_samples=2, data="synthetic",
                                  lr_schedule="constant")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


class TestLoadOrTrainMnet:
    def test_trains_into_an_empty_folder_then_loads(self, tmp_path, monkeypatch):
        run_dir = tmp_path / "mnet"
        model = runs.load_or_train_mnet(run_dir, TINY, progress=False, device="cpu")
        assert isinstance(model, MNet) and not model.training
        assert latest_checkpoint(run_dir).name == "step_00000002.pt"
        settings = json.loads((run_dir / RUN_FILE).read_text())
        assert settings == TINY.settings()
        # The trained weights are not the fresh initialisation.
        assert not _same_weights(model, MNet(width=TINY.width, seed=TINY.seed))

        def no_training(*args, **kwargs):
            raise AssertionError("a folder with the finished run must be loaded, not trained")

        monkeypatch.setattr(runs, "train_run", no_training)
        again = runs.load_or_train_mnet(run_dir, TINY, progress=False, device="cpu")
        assert _same_weights(model, again)

    def test_an_interrupted_run_continues(self, tmp_path):
        runs.load_or_train_mnet(tmp_path, TINY, progress=False, device="cpu")      # 2 of 2 steps
        assert latest_checkpoint(tmp_path).name == "step_00000002.pt"
        # A constant learning rate lets the same run continue to more steps.
        model = runs.load_or_train_mnet(tmp_path, TINY.replace(train_steps=4), progress=False,
                                        device="cpu")
        assert latest_checkpoint(tmp_path).name == "step_00000004.pt"
        assert isinstance(model, MNet)

    def test_loads_a_folder_without_run_json_at_the_recipe_width(self, tmp_path):
        trainer = build_mnet_trainer(TINY, checkpoint_dir=tmp_path, device="cpu", progress=False)
        trainer.fit()
        assert not (tmp_path / RUN_FILE).exists()      # what a notebook's own trainer leaves
        model = runs.load_or_train_mnet(tmp_path, TINY, progress=False, device="cpu")
        assert _same_weights(model, trainer.model)
        with pytest.raises(RuntimeError, match="size mismatch"):
            runs.load_or_train_mnet(tmp_path, TINY.replace(width=0.5), progress=False, device="cpu")

    def test_refuses_other_settings_when_training_would_continue(self, tmp_path):
        (tmp_path / RUN_FILE).write_text(json.dumps({"model": "mnet", "width": 1.0}))
        with pytest.raises(ValueError, match="other settings"):
            runs.load_or_train_mnet(tmp_path, TINY, progress=False, device="cpu")

    def test_a_finished_run_of_another_recipe_is_not_loaded_as_this_one(self, tmp_path):
        runs.load_or_train_mnet(tmp_path, TINY, progress=False, device="cpu")
        with pytest.raises(ValueError, match="other settings"):
            runs.load_or_train_mnet(tmp_path, TINY.replace(seed=1), progress=False, device="cpu")

    def test_bad_arguments(self):
        with pytest.raises(TypeError, match="run_dir"):
            runs.load_or_train_mnet(3, TINY)
        with pytest.raises(TypeError, match="MNetRecipe"):
            runs.load_or_train_mnet("unused", DIMRecipe.quick())
        with pytest.raises(ValueError, match="preset"):
            runs.mnet_run_dir("slow")

    def test_chapter_4_folder_is_the_recipe_run_of_the_profile(self):
        a = runs.mnet_run_dir("quick")
        assert a == runs.MNET_RUNS / MNetRecipe.quick().run_name()
        assert runs.mnet_run_dir(get_profile("quick")) == a          # a Profile means its preset
        assert runs.mnet_run_dir(MNetRecipe.quick().replace(train_steps=301)) != a
        assert runs.mnet_run_dir(MNetRecipe.quick().replace(lr=1e-3)) != a
        assert runs.mnet_run_dir("full") != a


class TestLoadBgmTeacher:
    def test_random_weights_are_announced(self, tmp_path, monkeypatch):
        monkeypatch.setattr(bgm_recipes, "course_run_dir", lambda trainer: tmp_path)
        with pytest.warns(RandomWeightsWarning, match="RANDOM weights"):
            generator, what = runs.load_bgm_teacher("quick", device="cpu")
        assert "random" in what and not generator.training

    def test_loads_the_latest_checkpoint(self, tmp_path, monkeypatch, recwarn):
        monkeypatch.setattr(bgm_recipes, "course_run_dir", lambda trainer: tmp_path)
        trained = bgm_recipes.build_bgm_generator("quick", seed=123)
        save_checkpoint(checkpoint_path(tmp_path, 60), {"step": 60, "model": trained.state_dict()})
        generator, what = runs.load_bgm_teacher("quick", device="cpu")
        assert _same_weights(generator, trained) and not generator.training
        assert "step 60" in what
        assert not [w for w in recwarn if issubclass(w.category, RandomWeightsWarning)]
