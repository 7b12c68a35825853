"""Every stage's full-profile path runs on a CPU: a step, a checkpoint and a resume.

The full profile only ever runs on a GPU, so without these tests a broken full-size
path (a width, a worker setting, a checkpoint key) would first show hours into a GPU
run. Each stage is built through its public builder (``benchmarks/_stages.py``) from
the ``full`` profile, with only the sizes of a smoke run overridden: two steps (one,
a checkpoint, a resume, one more), batch 2, a few samples, 2 loader workers (the full
profile has 8). The networks keep the full widths (M-Net, DIM and SHM at width 1.0 with
SHM's ResNet-50 T-Net; the paper's Background Matting generator and a 64-wide PatchGAN).

A training step at the full image size costs minutes on a CPU for Background Matting
(about 200 s per step at 512 px, batch 2), so the steps of SHM, DIM, Background Matting
and the student run on smaller crops (:data:`STEP_SIZE`); M-Net's runs at the full 320 px.
:func:`test_full_profile_loaders_deliver_full_size_batches` checks the full-size samples
through the same loaders, and ``benchmarks/gpu_check.py`` times the full-size steps on a GPU.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _stages import STAGES, STUDENT_NDF, build_stage  # noqa: E402

from mattinglib.config import get_profile  # noqa: E402
from mattinglib.train.bgm_recipes import BGMRecipe  # noqa: E402
from mattinglib.train.checkpoint import latest_checkpoint  # noqa: E402

pytestmark = pytest.mark.slow

FULL = get_profile("full")
#: The crop of a CPU training step per stage (None: the full profile's size).
STEP_SIZE = {"mnet": None, "shm": 64, "dim": 64, "bgm": 32, "student": 32}
WORKERS = 2
SMOKE = {"batch_size": 2, "num_train_samples": 4, "num_val_samples": 1, "num_workers": WORKERS}


def full_size(stage: str) -> int:
    return (BGMRecipe.full() if stage in ("bgm", "student") else FULL).image_size


def smoke_stage(name: str, steps: int, checkpoint_dir: Path):
    size = STEP_SIZE[name]
    extra = {} if size is None else {"image_size": size}
    return build_stage(name, "full", device="cpu", checkpoint_dir=checkpoint_dir,
                       train_steps=steps, **SMOKE, **extra)


def first_parameter(stage) -> torch.Tensor:
    """A copy of the first weight of the trained network (the student in the adversarial stage)."""
    model = stage.trainer.student if stage.name == "student" else stage.trainer.model
    return next(model.parameters()).detach().clone()


def check_full_widths(stage) -> None:
    if stage.name in ("bgm", "student"):
        net = stage.trainer.student if stage.name == "student" else stage.trainer.model
        full, sizes = BGMRecipe.full(), ("ngf", "nf_part", "n_blocks1", "n_blocks2")
        assert [net.config[k] for k in sizes] == [getattr(full, k) for k in sizes] == [64, 64, 7, 3]
        if stage.name == "student":
            first_conv = next(m for m in stage.trainer.discriminator.modules()
                              if isinstance(m, torch.nn.Conv2d))
            assert first_conv.out_channels == STUDENT_NDF
    elif stage.name == "shm":  # the SHM recipe: both networks at the full widths
        recipe = stage.profile
        assert recipe.mnet.width == recipe.tnet_width == FULL.width == 1.0
        assert stage.trainer.model.tnet.backbone_name == "resnet50"
        assert stage.trainer.model.mnet.width == 1.0
    else:
        assert stage.profile.width == FULL.width == 1.0


@pytest.mark.parametrize("name", STAGES)
def test_full_profile_step_checkpoint_and_resume(name, tmp_path):
    stage = smoke_stage(name, steps=1, checkpoint_dir=tmp_path)
    check_full_widths(stage)
    assert stage.profile.name == "full" and stage.num_workers == WORKERS
    assert stage.image_size == (STEP_SIZE[name] or full_size(name))
    before = first_parameter(stage)
    history = stage.trainer.fit()
    assert stage.trainer.step == 1
    assert not torch.equal(before, first_parameter(stage)), "the step did not change the weights"
    assert latest_checkpoint(tmp_path).name == "step_00000001.pt"

    resumed = smoke_stage(name, steps=2, checkpoint_dir=tmp_path)
    history = resumed.trainer.fit(resume=True)
    assert resumed.trainer.step == 2
    assert history.train_steps == [1, 2], "the resumed run lost the first step's history"
    total = "total_g" if name == "student" else "total"
    assert all(math.isfinite(v) for v in history.train[total])
    assert latest_checkpoint(tmp_path).name == "step_00000002.pt"


@pytest.mark.parametrize("name", STAGES)
def test_full_profile_loaders_deliver_full_size_batches(name):
    stage = build_stage(name, "full", device="cpu", **SMOKE)
    size = full_size(name)
    assert stage.image_size == size and stage.num_workers == WORKERS
    batch = next(stage.batches())
    transform = getattr(stage.trainer, "device_transform", None)
    if transform is not None:  # the augmentation the trainer runs on its device
        batch = transform(stage.trainer._to_device(batch))
    for key, value in batch.items():
        assert value.shape[0] == SMOKE["batch_size"], key
        assert tuple(value.shape[-2:]) == (size, size), key
        assert torch.isfinite(value).all(), key
