"""The recipe objects of Background Matting's two stages and of SHM: what the chapters, the
commands and the benchmarks train is exactly one recipe, and run.json is its settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mattinglib.cli import main
from mattinglib.config import get_profile
from mattinglib.data.composition import SyntheticMattingDataset
from mattinglib.models.mnet import MNet
from mattinglib.train import bgm_recipes
from mattinglib.train.bgm_recipes import (
    BGMRecipe,
    StudentRecipe,
    build_bgm_generator,
    build_student_trainer,
    start_bgm_run,
)
from mattinglib.train.recipes import MNetRecipe, validation_data
from mattinglib.train.runs import load_bgm_generator
from mattinglib.train.shm_recipes import SHMRecipe, build_shm_model

ROOT = Path(__file__).resolve().parent.parent
TINY_BGM = {"image_size": 32, "ngf": 8, "n_blocks1": 1, "n_blocks2": 1, "batch_size": 2,
            "num_train_samples": 4, "num_val_samples": 2, "train_steps": 1, "val_every": 1}


def chapter_cell(notebook: str, marker: str) -> str:
    """The source of the solutions notebook's code cell containing ``marker``."""
    cells = json.loads((ROOT / "solutions" / notebook).read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
             and marker in "".join(c["source"])]
    assert len(found) == 1, f"{notebook}: {len(found)} code cells contain {marker!r}"
    return found[0]


def run_until(source: str, stop: str, namespace: dict) -> dict:
    """Execute the lines of a chapter cell before the first one starting with ``stop``."""
    lines = source.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith(stop))
    exec("\n".join(lines[:end]), namespace)  # noqa: S102 - the course's own code
    return namespace


# --------------------------------------------------------------------------- the presets


def test_quick_recipes_hold_what_the_chapters_trained_before_the_recipes():
    # Chapter 6 / train-bgm --profile quick: the quick profile changed by the Background
    # Matting sizes (64 px, batch 4, 60 steps, validation every 30 on 8, 512 samples), the
    # 16/16/2/1 generator, Adam 1e-4, no pool, augmentation in the workers; since then,
    # half of the foregrounds real (the only change).
    assert BGMRecipe.quick().settings() == {
        "model": "bgm", "name": "quick", "ngf": 16, "nf_part": 16, "n_blocks1": 2, "n_blocks2": 1,
        "use_motion_features": False, "image_size": 64, "batch_size": 4, "train_steps": 60,
        "lr": 1e-4, "val_every": 30, "num_train_samples": 512, "num_val_samples": 8, "seed": 0,
        "num_workers": 0, "procedural_pool": 0, "device_augment": False, "real_fraction": 0.5}
    # Chapter 7's quick RUN, SWITCHES and seeds (profile seed 0: + 1 student, + 2 D,
    # + 7 training captures, + 8 held-out ones; validation at max_steps // 2).
    student = StudentRecipe.quick()
    assert student.teacher == BGMRecipe.quick()
    assert {k: getattr(student, k) for k in (
        "image_size", "batch_size", "train_steps", "steps_per_epoch", "num_train_samples",
        "num_val_samples", "val_every", "ndf", "gan_gradient", "shift_fill", "min_shift",
        "max_shift", "gan_weight", "d_every", "lr", "lr_d", "checkpoint_every", "num_workers",
        "seed", "student_seed", "d_seed", "train_seed", "val_seed", "captures", "strengths",
        "procedural_pool", "anti_shortcut")} == {
        "image_size": 64, "batch_size": 2, "train_steps": 16, "steps_per_epoch": 2,
        "num_train_samples": 64, "num_val_samples": 6, "val_every": 8, "ndf": 16,
        "gan_gradient": "released", "shift_fill": "wrap", "min_shift": 0.0, "max_shift": 0.1,
        "gan_weight": 1.0, "d_every": 5, "lr": 1e-4, "lr_d": 1e-5, "checkpoint_every": None,
        "num_workers": 0, "seed": 0, "student_seed": 1, "d_seed": 2, "train_seed": 7,
        "val_seed": 8, "captures": None, "strengths": None, "procedural_pool": 0,
        "anti_shortcut": False}


def test_full_recipes_keep_the_full_profiles_data_pipeline():
    full, profile = BGMRecipe.full(), get_profile("full")
    for name in ("train_steps", "val_every", "num_train_samples", "num_val_samples", "num_workers",
                 "seed", "procedural_pool", "device_augment"):
        assert getattr(full, name) == getattr(profile, name), name
    student = StudentRecipe.full()
    assert (student.procedural_pool, student.num_workers) == (profile.procedural_pool, 8)
    assert (full.image_size, full.batch_size, full.ngf, full.n_blocks1, full.n_blocks2) == (
        512, 4, 64, 7, 3)


def test_the_cpu_preset_is_the_recorded_benchmark_run():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_teacher_student as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    recorded = json.loads((ROOT / "benchmarks" / "results" / "teacher_student_cpu_cpu.json")
                          .read_text())["results"]
    args = bench.parse_args(["--preset", "cpu"])
    assert args.recipe == StudentRecipe.cpu() and args.variant == args.arm == ""
    options = bench.options_of(StudentRecipe.cpu())
    assert {k: options[k] for k in recorded["settings"] if k in options} == {
        k: v for k, v in recorded["settings"].items() if k in options}
    assert recorded["settings"]["gan_weight"] == StudentRecipe.cpu().gan_weight
    assert recorded["teacher"]["generator"] == StudentRecipe.cpu().teacher.generator_config()
    # a changed size names its own run, as the recorded size-128 run
    assert bench.parse_args(["--preset", "cpu", "--size", "128"]).variant == "_size128"


@pytest.mark.parametrize("cls, name", [(BGMRecipe, "quick"), (BGMRecipe, "full"),
                                       (StudentRecipe, "quick"), (StudentRecipe, "full"),
                                       (StudentRecipe, "cpu")])
def test_settings_round_trip_and_unknown_fields_are_refused(cls, name):
    recipe = cls.preset(name)
    settings = recipe.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert cls.from_settings(settings) == recipe
    assert cls.from_settings(settings).run_name() == recipe.run_name()
    with pytest.raises(ValueError, match=rf"^changes: unknown {cls.__name__} fields \['widht'\]"):
        recipe.replace(widht=2)
    with pytest.raises(ValueError, match=rf"^settings: unknown {cls.__name__} fields \['widht'\]"):
        cls.from_settings({**settings, "widht": 2})
    assert recipe.replace(train_steps=7).run_name() != recipe.run_name()


def test_presets_by_name_and_bad_values_are_named():
    assert BGMRecipe.preset("full") == BGMRecipe.full()
    with pytest.raises(ValueError, match=r"^preset: expected one of \['cpu', 'full', 'quick'\]"):
        StudentRecipe.preset("medium")
    with pytest.raises(ValueError, match="^image_size: the generator needs a multiple of 4"):
        BGMRecipe.quick().replace(image_size=30)
    with pytest.raises(ValueError, match="^nf_part: the generator needs nf_part == ngf"):
        BGMRecipe.quick().replace(nf_part=8)
    with pytest.raises(ValueError, match="^lr: expected a finite number > 0"):
        BGMRecipe.quick().replace(lr=0)
    with pytest.raises(ValueError, match="^min_shift: expected at most max_shift"):
        StudentRecipe.quick().replace(min_shift=0.5)
    with pytest.raises(TypeError, match=r"^real_fraction: expected a finite number in \[0, 1\], "
                                        r"got bool True$"):
        BGMRecipe.quick().replace(real_fraction=True)
    with pytest.raises(TypeError, match="^use_motion_features: expected True or False, got 1$"):
        BGMRecipe.quick().replace(use_motion_features=1)
    with pytest.raises(ValueError, match="^lr_d: expected a finite number > 0, got inf$"):
        StudentRecipe.quick().replace(lr_d=float("inf"))
    with pytest.raises(ValueError, match="^val_every: validation needs held-out truth"):
        StudentRecipe.quick().replace(num_val_samples=0)
    with pytest.raises(TypeError, match="^teacher: expected a BGMRecipe"):
        StudentRecipe.quick().replace(teacher="quick")


def test_numpy_scalars_are_stored_as_python_values():
    bgm = BGMRecipe.quick().replace(device_augment=np.True_, real_fraction=np.float32(0.25))
    assert bgm.device_augment is True and type(bgm.real_fraction) is float
    assert bgm.settings()["real_fraction"] == 0.25
    student = StudentRecipe.quick().replace(gan_weight=np.float32(0.5), max_shift=np.float64(0.3))
    assert student.settings()["gan_weight"] == 0.5 and type(student.gan_weight) is float


def test_old_bgm_run_json_reads_as_a_recipe():
    old = {"model": "bgm", "profile": "quick", "lr": 1e-4, "image_size": 32, "batch_size": 2,
           "seed": 0, "num_train_samples": 8, "num_val_samples": 2, "train_steps": 2,
           "val_every": 2, "generator": {"ngf": 8, "nf_part": 8, "n_blocks1": 1, "n_blocks2": 1,
                                         "use_motion_features": False}}
    recipe = BGMRecipe.from_settings(old)
    assert recipe == BGMRecipe.quick().replace(**{k: v for k, v in old.items()
                                                  if k not in ("model", "profile", "generator")},
                                               **old["generator"])


# --------------------------------------------------------------------------- the chapters


def test_chapter_6_trains_the_quick_recipe_and_records_it(tmp_path, monkeypatch):
    cell = chapter_cell("06_bgm_losses.ipynb", "start_bgm_run(")
    monkeypatch.setattr(bgm_recipes, "course_run_dir", lambda recipe: tmp_path / "06")
    ns = run_until(cell, "before =", {"bgm_recipes": bgm_recipes, "profile": get_profile("quick")})
    assert ns["recipe"] == BGMRecipe.quick()
    assert json.loads((tmp_path / "06" / "run.json").read_text()) == BGMRecipe.quick().settings()
    trainer = ns["trainer"]
    assert (trainer.max_steps, trainer.batch_size, trainer.val_every, len(trainer.train_data),
            len(trainer.val_data), trainer.train_data.size) == (60, 4, 30, 512, 8, 64)
    assert trainer.model.config["ngf"] == 16 and trainer.optimizer.param_groups[0]["lr"] == 1e-4


def test_chapter_7_trains_the_quick_recipe_and_records_it(tmp_path, monkeypatch):
    ns = {"bgm_recipes": bgm_recipes, "profile": get_profile("quick"), "torch": torch}
    run_until(chapter_cell("07_teacher_student.ipynb", "StudentRecipe.preset("),
              "print(SWITCHES)", ns)
    assert ns["recipe"] == StudentRecipe.quick()
    # the teacher: chapter 6's run folder and recipe
    monkeypatch.setattr(bgm_recipes, "course_run_dir", lambda recipe: tmp_path / "06")
    run_until(chapter_cell("07_teacher_student.ipynb", "start_bgm_run("), "teacher_history =", ns)
    assert json.loads((tmp_path / "06" / "run.json").read_text()) == BGMRecipe.quick().settings()
    # the student run
    monkeypatch.setattr(bgm_recipes, "student_run_dir", lambda recipe: tmp_path / "07")
    ns.update(teacher=ns["teacher_trainer"].model.eval(), device="cpu")
    run_until(chapter_cell("07_teacher_student.ipynb", "start_student_run("), "history =", ns)
    written = json.loads((tmp_path / "07" / "run.json").read_text())
    assert written == StudentRecipe.quick().settings()
    trainer = ns["trainer"]
    assert (trainer.max_steps, trainer.batch_size, trainer.steps_per_epoch, trainer.val_every,
            len(trainer.data), len(trainer.val_data)) == (16, 2, 2, 8, 64, 6)
    assert trainer.data.size == 64 and trainer.val_data.seed == 8 and trainer.data.seed == 7


def chapter_4_namespace(profile: str) -> dict:
    """Chapter 4's imports, its profile, and a fresh M-Net standing in for section 3's."""
    ns = run_until(chapter_cell("04_mnet.ipynb", "profile = mattinglib.notebook.start("),
                   "profile =", {})
    ns.update(profile=get_profile(profile), recipe=MNetRecipe.preset(profile),
              mnet=MNet(width=MNetRecipe.preset(profile).width), device=torch.device("cpu"))
    return ns


def test_chapter_4_builds_shm_from_the_quick_recipe():
    ns = chapter_4_namespace("quick")
    ns["data"] = SyntheticMattingDataset(2, 64, seed=0)
    run_until(chapter_cell("04_mnet.ipynb", "SHMRecipe.preset("), "batch =", ns)
    assert ns["shm_recipe"] == SHMRecipe.quick()
    # the numbers the chapter ran before the recipe: ResNet-18 T-Net, the profile's width
    # and seed, section 3's M-Net
    assert ns["shm_recipe"].mnet == MNetRecipe.quick()
    shm = ns["shm"]
    assert (shm.tnet.backbone_name, shm.mode, shm.training) == ("resnet18", "end_to_end", True)
    assert shm.mnet is not ns["mnet"] and shm.mnet.width == 0.25
    built = build_shm_model(SHMRecipe.quick())
    theirs = built.tnet.state_dict()
    for name, mine in shm.tnet.state_dict().items():
        assert torch.equal(mine, theirs[name]), name  # the same seed, so the same T-Net


def test_chapter_4_full_schedule_records_the_recipe_per_phase(tmp_path):
    """The full profile's cell, run on a tiny recipe: every phase is the recipe's."""
    ns = chapter_4_namespace("full")
    tiny = SHMRecipe.quick().replace(
        mnet=MNetRecipe.quick().replace(data="synthetic"), image_size=32, batch_size=2,
        num_train_samples=4, num_val_samples=2, val_every=1, tnet_steps=2, end_to_end_steps=1)
    ns.update(shm_recipe=tiny, mnet=MNet(width=0.25), REPO_ROOT=tmp_path,
              shm_run_dir=lambda recipe: tmp_path / "runs" / recipe.run_name(),
              val_data=validation_data(tiny.data_recipe()))
    exec(chapter_cell("04_mnet.ipynb", "start_shm_phase("), ns)  # noqa: S102 - the course's code
    for phase in ("pretrain_tnet", "end_to_end"):
        written = json.loads((tmp_path / "runs" / tiny.run_name() / phase / "run.json").read_text())
        assert written == {**tiny.settings(), "phase": phase}
        assert SHMRecipe.from_settings(written) == tiny
    trainer = ns["trainer"]  # the last phase's
    assert (trainer.phase, trainer.max_steps, trainer.lr, trainer.batch_size) == (
        "end_to_end", 1, 1e-5, 2)
    assert trainer.step == 1 and ns["shm"] is trainer.model
    assert trainer.optimizer.param_groups[0]["lr"] == tiny.end_to_end_lr
    assert len(ns["rows"]) == 2


def test_the_benchmarks_shm_stage_steps_the_recipes_end_to_end_phase():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _stages import build_stage
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    stage = build_stage("shm", "quick", device="cpu")
    assert stage.profile == SHMRecipe.quick()
    t = stage.trainer
    # the numbers the stage used before the recipe: the quick profile's sizes, Adam 1e-5
    assert (t.max_steps, t.batch_size, t.val_every, len(t.train_data), len(t.val_data),
            t.train_data.size, t.optimizer.param_groups[0]["lr"]) == (300, 8, 50, 512, 32, 64,
                                                                       1e-5)
    assert t.model.tnet.backbone_name == "resnet18" and t.model.mode == "end_to_end"
    # the full stage: the full recipe's end-to-end phase, T-Net from random weights
    full = build_stage("shm", "full", device="cpu", num_train_samples=16, num_val_samples=1)
    assert full.profile == SHMRecipe.full().replace(tnet_pretrained=None, num_train_samples=16,
                                                    num_val_samples=1)
    assert (full.trainer.batch_size, full.trainer.max_steps, full.image_size) == (16, 10_000, 320)


# --------------------------------------------------------------------------- runs and resume


def test_bgm_run_json_is_the_recipe_and_resume_compares_recipes(tmp_path):
    recipe = BGMRecipe.quick().replace(**TINY_BGM)
    trainer = start_bgm_run(recipe, tmp_path, resume=False, device="cpu", progress=False)
    trainer.fit()
    assert json.loads((tmp_path / "run.json").read_text()) == recipe.settings()
    assert BGMRecipe.from_settings(json.loads((tmp_path / "run.json").read_text())) == recipe
    assert load_bgm_generator(tmp_path, device="cpu").config["ngf"] == 8
    with pytest.raises(ValueError, match=r"^resume: the run in .* other settings "
                                         r".*'lr': \(0\.0001, 0\.001\)"):
        start_bgm_run(recipe.replace(lr=1e-3), tmp_path, device="cpu", progress=False)
    assert json.loads((tmp_path / "run.json").read_text()) == recipe.settings()  # nothing written
    longer = recipe.replace(train_steps=2)  # a free field: the run continues
    resumed = start_bgm_run(longer, tmp_path, device="cpu", progress=False)
    assert resumed.fit(resume=True).train_steps == [1, 2]
    assert "lr" in recipe.fixed_on_resume() and "train_steps" not in recipe.fixed_on_resume()


def test_student_builder_refuses_a_teacher_of_another_size():
    recipe = StudentRecipe.quick()
    with pytest.raises(ValueError,
                       match="^teacher: a generator of .*'ngf': 8.* recipe's teacher is"):
        build_student_trainer(recipe, build_bgm_generator(recipe.teacher, ngf=8), device="cpu")


def test_train_student_records_its_recipe(tmp_path):
    teacher = tmp_path / "teacher"
    assert main(["train-bgm", "--profile", "quick", "--image-size", "32", "--ngf", "8",
                 "--n-blocks1", "1", "--n-blocks2", "1", "--batch-size", "2", "--num-train", "4",
                 "--num-val", "2", "--val-every", "1", "--steps", "1", "--device", "cpu",
                 "--out", str(teacher)]) == 0
    teacher_recipe = BGMRecipe.quick().replace(**TINY_BGM)
    assert json.loads((teacher / "run.json").read_text()) == teacher_recipe.settings()
    out = tmp_path / "student"
    assert main(["train-student", "--preset", "quick", "--teacher", str(teacher),
                 "--generated", "4", "--val-generated", "2", "--size", "32", "--steps", "1",
                 "--ndf", "8",
                 "--device", "cpu", "--out", str(out)]) == 0
    expected = StudentRecipe.quick().replace(
        teacher=teacher_recipe, teacher_run=str(teacher.resolve()), image_size=32, train_steps=1,
        ndf=8, num_train_samples=4, num_val_samples=2)
    assert json.loads((out / "run.json").read_text()) == expected.settings()


def test_trainer_keyword_defaults_agree_with_the_recipe():
    """TeacherStudentTrainer keeps keyword defaults for direct use; they are the recipe's."""
    import inspect

    from mattinglib.train.adversarial import TeacherStudentTrainer

    params = inspect.signature(TeacherStudentTrainer).parameters
    recipe = StudentRecipe()
    pairs = {"lr_g": "lr", "lr_d": "lr_d", "d_every": "d_every",
             "halve_every_epochs": "halve_every_epochs", "max_shift": "max_shift",
             "min_shift": "min_shift", "shift_fill": "shift_fill", "gan_gradient": "gan_gradient",
             "gan_weight": "gan_weight"}
    defaults = {k: params[k].default for k in pairs}
    assert defaults == {k: getattr(recipe, v) for k, v in pairs.items()}


@pytest.mark.parametrize("make", [
    lambda: MNetRecipe.quick().replace(batch_size=np.int64(4), seed=np.int64(3)),
    lambda: SHMRecipe.quick().replace(batch_size=np.int64(4), seed=np.int64(3)),
    lambda: BGMRecipe.quick().replace(train_steps=np.int64(4), seed=np.int64(3)),
    lambda: StudentRecipe.quick().replace(train_steps=np.int64(4), val_every=np.int64(2),
                                          anti_shortcut=np.True_),
], ids=["mnet", "shm", "bgm", "student"])
def test_numpy_numbers_are_stored_as_python_ones(make):
    recipe = make()
    settings = json.loads(json.dumps(recipe.settings()))  # NumPy scalars would not serialise
    assert type(recipe).from_settings(settings) == recipe
    assert all(type(v) in (int, float, bool, str, type(None), dict, list)
               for v in settings.values())


def test_student_run_folders_keep_their_names_when_a_field_is_added_at_its_default():
    # The names the presets had before anti_shortcut existed: run folders already on disk.
    assert StudentRecipe.quick().run_name() == "student_quick_s64_b2_t16_released_wrap_7088b51fa9"
    assert StudentRecipe.cpu().run_name() == "student_cpu_s64_b4_t3000_paper_wrap_ba8686b2ab"
    changed = StudentRecipe.quick().replace(anti_shortcut=True).run_name()
    assert changed != StudentRecipe.quick().run_name()
