"""The M-Net and DIM recipes: one object per run, run folders that predict can load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_cli import run_cli

from mattinglib import io
from mattinglib.config import get_profile
from mattinglib.models.dim import DIM
from mattinglib.models.mnet import MNet
from mattinglib.train.checkpoint import latest_checkpoint, load_checkpoint
from mattinglib.train.recipes import (
    DIMRecipe,
    MNetRecipe,
    build_mnet_trainer,
    recipe_of,
    train_run,
)
from mattinglib.train.runs import load_trained_model

TINY = dict(image_size=32, batch_size=2, train_steps=2, val_every=2, num_train_samples=8,
            num_val_samples=2, data="synthetic")


class TestRecipeObjects:
    @pytest.mark.parametrize("cls", [MNetRecipe, DIMRecipe])
    @pytest.mark.parametrize("preset", ["quick", "cpu-long", "full"])
    def test_presets_are_valid_and_round_trip(self, cls, preset):
        recipe = cls.preset(preset)
        assert recipe.name == preset
        assert cls.from_settings(json.loads(json.dumps(recipe.settings()))) == recipe
        assert recipe.settings()["model"] == cls.model

    def test_quick_is_the_course_recipe(self):
        quick = MNetRecipe.quick()
        assert quick.data == "real" and quick.max_side == quick.eval_max_side == 320
        full = MNetRecipe.full()
        assert full.width == 1.0 and full.image_size == 320

    def test_frozen_and_replace(self):
        quick = MNetRecipe.quick()
        with pytest.raises(dataclasses.FrozenInstanceError):
            quick.lr = 1.0
        assert quick.replace(train_steps=5).train_steps == 5 and quick.train_steps != 5
        with pytest.raises(ValueError, match="^changes: unknown recipe fields"):
            quick.replace(learning_rate=1e-3)

    @pytest.mark.parametrize("changes, pattern", [
        ({"image_size": 40}, "^image_size:"), ({"lr": 0.0}, "^lr:"), ({"lr": True}, "^lr:"),
        ({"batch_size": 0}, "^batch_size:"), ({"data": "coco"}, "^data:"),
        ({"lr_schedule": "step"}, "^lr_schedule:"),
        ({"synthetic_fraction": 1.5}, "^synthetic_fraction:"),
    ])
    def test_bad_fields(self, changes, pattern):
        with pytest.raises(ValueError, match=pattern):
            MNetRecipe.quick().replace(**changes)

    def test_numpy_scalars_are_stored_as_python_values(self):
        recipe = DIMRecipe.quick().replace(compose_on_device=np.True_, batch_norm=np.False_,
                                           width=np.float32(0.5), refine_lr=np.float32(1e-4))
        assert recipe.compose_on_device is True and recipe.batch_norm is False
        assert type(recipe.width) is float and type(recipe.refine_lr) is float
        assert recipe.settings()["width"] == 0.5
        with pytest.raises(TypeError, match="^batch_norm: expected True or False, got 0$"):
            DIMRecipe.quick().replace(batch_norm=0)

    def test_dim_needs_multiples_of_32(self):
        with pytest.raises(ValueError, match="^image_size: DIMRecipe needs a multiple of 32"):
            DIMRecipe.quick().replace(image_size=48)

    def test_run_name_changes_with_every_field(self):
        quick = MNetRecipe.quick()
        assert quick.run_name() != quick.replace(synthetic_fraction=0.5).run_name()
        assert quick.run_name() == MNetRecipe.quick().run_name()

    def test_resume_keeps_schedule_fields(self):
        assert "train_steps" in MNetRecipe.quick().replace(lr_schedule="onecycle").fixed_on_resume()
        constant = MNetRecipe.quick().replace(lr_schedule="constant")
        assert "train_steps" not in constant.fixed_on_resume()

    def test_builder_uses_the_recipe(self):
        trainer = build_mnet_trainer(MNetRecipe.quick().replace(**TINY, lr_schedule="onecycle"),
                                     device="cpu", progress=False)
        assert trainer.max_steps == 2 and trainer.batch_size == 2
        # one warm-up step at the full rate, then annealed to zero at the last step
        assert [trainer.scheduler.lr_lambdas[0](t) for t in (0, 2)] == [1.0, 0.0]
        assert trainer.recipe.image_size == 32

    @pytest.mark.parametrize("cls", [MNetRecipe, DIMRecipe])
    @pytest.mark.parametrize("name", ["quick", "full"])
    def test_a_profile_means_its_preset(self, cls, name):
        # A chapter passing its Profile gets the recipe of the same name, real data included.
        assert recipe_of(get_profile(name), cls) == cls.preset(name)
        assert recipe_of(name, cls) == cls.preset(name)
        with pytest.raises(TypeError, match="recipe"):
            recipe_of(3, cls)

    def test_the_error_names_the_class_with_its_article(self):
        from mattinglib.train.bgm_recipes import BGMRecipe, StudentRecipe
        from mattinglib.train.shm_recipes import SHMRecipe

        for cls, phrase in ((MNetRecipe, "an MNetRecipe"), (DIMRecipe, "a DIMRecipe"),
                            (BGMRecipe, "a BGMRecipe"), (StudentRecipe, "a StudentRecipe"),
                            (SHMRecipe, "an SHMRecipe")):
            with pytest.raises(TypeError, match=f"^recipe: expected {phrase}, a Profile or a "
                                                "preset name, got 3$"):
                recipe_of(3, cls)


class TestRunFolders:
    def test_mnet_run_folder_predicts(self, tmp_path):
        recipe = MNetRecipe.quick().replace(**TINY)
        out = tmp_path / "runs" / "04_mnet" / recipe.run_name()
        model, histories = train_run(recipe, out, device="cpu", progress=False)
        assert isinstance(model, MNet) and not model.training
        assert json.loads((out / "run.json").read_text()) == recipe.settings()
        assert histories[0].train_steps == [1, 2]
        # a second call loads: nothing is trained again
        _, again = train_run(recipe, out, device="cpu", progress=False)
        assert again[0].train_steps == [1, 2]
        with pytest.raises(ValueError, match="^resume: .*width"):
            train_run(recipe.replace(width=0.5), out, device="cpu", progress=False)

        image = np.random.default_rng(0).random((37, 53, 3)).astype(np.float32)
        trimap = np.full((37, 53), 128, np.uint8)
        trimap[:, :12], trimap[:, -12:] = 0, 255
        io.write_image(tmp_path / "photo.png", image)
        io.write_trimap(tmp_path / "trimap.png", trimap)
        assert run_cli("predict", "--checkpoint", str(out), "--image", str(tmp_path / "photo.png"),
                       "--trimap", str(tmp_path / "trimap.png"), "--out", str(tmp_path / "a.png"),
                       "--device", "cpu") == 0
        assert io.read_alpha(tmp_path / "a.png").shape == (37, 53)

    def test_dim_two_stages(self, tmp_path):
        recipe = DIMRecipe.quick().replace(**TINY, refine_steps=2)
        out = tmp_path / "dim"
        model, (first, second) = train_run(recipe, out, device="cpu", progress=False)
        assert isinstance(model, DIM) and model.stage == "joint"
        assert first.train_steps == [1, 2] and second.train_steps == [1, 2]
        stage1 = load_checkpoint(latest_checkpoint(out / "encoder_decoder"))["model"]
        final = load_checkpoint(latest_checkpoint(out))["model"]
        # the refinement stage trains only the refinement: stage 1 is frozen
        refinement = [k for k in stage1 if k.startswith("refinement.")]
        assert all(torch.equal(stage1[k], final[k]) for k in stage1 if k not in refinement)
        assert any(not torch.equal(stage1[k], final[k]) for k in refinement)
        loaded = load_trained_model(out, device="cpu")
        assert isinstance(loaded, DIM) and loaded.stage == "joint"
        assert all(torch.equal(v, final[k]) for k, v in loaded.state_dict().items())

    def test_train_command_dim(self, tmp_path):
        out = tmp_path / "dim_cli"
        assert run_cli("train", "--model", "dim", "--profile", "quick", "--image-size", "32",
                       "--batch-size", "2", "--steps", "2", "--num-train", "8", "--num-val", "2",
                       "--val-every", "2", "--data", "synthetic", "--device", "cpu",
                       "--out", str(out)) == 0
        assert json.loads((out / "run.json").read_text())["model"] == "dim"
        assert isinstance(load_trained_model(out, device="cpu"), DIM)

    def test_rejected_train_writes_nothing(self, tmp_path):
        out = tmp_path / "bad"
        with pytest.raises(ValueError, match="^image_size:"):
            run_cli("train", "--profile", "quick", "--image-size", "40", "--out", str(out),
                    "--device", "cpu")
        assert not out.exists()
