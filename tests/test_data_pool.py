"""Pooled generated layers (mattinglib.data.pool) and the datasets and trainers that use them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mattinglib.data.bgm import BGMSyntheticDataset
from mattinglib.data.composition import compose_on_device, sample_raw
from mattinglib.data.pool import PooledSource, find_pools, prepare_pools
from mattinglib.data.real import PhotoBackgrounds, RealMattingDataset
from mattinglib.data.synthetic import SyntheticBackgrounds, SyntheticForegrounds, to_u16
from mattinglib.data.target_domain import TargetDomainDataset
from mattinglib.train.recipes import MNetRecipe, training_data
from mattinglib.train.trainer import Trainer


class Counting:
    """A source that counts how often each item is generated (and can refuse to generate)."""

    def __init__(self, source):
        self.source, self.calls, self.refuse = source, [], False

    def __len__(self):
        return len(self.source)

    def sample(self, index):
        if self.refuse:
            raise RuntimeError(f"item {index} generated after the pool was made")
        self.calls.append(index)
        return self.source.sample(index)


def test_item_i_is_layer_i_mod_pool_made_once():
    source = Counting(SyntheticForegrounds(16, seed=0, length=50))
    pool = PooledSource(source, 4)
    fg5, alpha5, tag5 = pool.sample(5)
    fg1, alpha1, tag1 = pool.sample(1)
    assert tag5 == tag1 and np.array_equal(fg5, fg1) and np.array_equal(alpha5, alpha1)
    assert source.calls == [1] and pool.made == 1
    fg, alpha, tag = source.source.sample(1)
    assert tag == tag1
    np.testing.assert_allclose(fg1, fg, atol=0.5 / 65535 + 1e-7)
    np.testing.assert_allclose(alpha1, alpha, atol=0.5 / 65535 + 1e-7)
    assert np.array_equal(pool.sample_raw(9)[0], to_u16(fg))


def test_stored_layers_are_read_only():
    pool = PooledSource(SyntheticBackgrounds(16, seed=0, length=10), 2)
    bg, tag = pool.sample_raw(0)
    assert bg.dtype == np.uint16 and tag == "procedural"
    with pytest.raises(ValueError, match="read-only"):
        bg[0, 0, 0] = 1
    pool.sample(0)[0][0, 0, 0] = 0.5  # sample() hands out a copy
    assert np.array_equal(pool.sample_raw(0)[0], bg)


@pytest.mark.parametrize("workers", [0, 2])
def test_make_all_equals_making_on_demand(workers):
    eager = PooledSource(SyntheticForegrounds(16, seed=3, length=20), 5)
    lazy = PooledSource(SyntheticForegrounds(16, seed=3, length=20), 5)
    assert eager.make_all(workers) == 5 and eager.made == 5
    assert eager.make_all(workers) == 0
    for i in range(5):
        for a, b in zip(eager.sample_raw(i), lazy.sample_raw(i)):
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_bad_pools_are_refused_naming_the_argument():
    source = SyntheticForegrounds(16, seed=0, length=5)
    with pytest.raises(ValueError, match="pool_size"):
        PooledSource(source, 0)
    with pytest.raises(ValueError, match="pool_size"):
        PooledSource(source, 6)
    with pytest.raises(ValueError, match="source"):
        PooledSource([1, 2, 3], 2)
    with pytest.raises(ValueError, match="procedural_pool"):
        RealMattingDataset(4, 32, procedural_pool=-1)
    with pytest.raises(ValueError, match="procedural_pool"):
        MNetRecipe.quick().replace(procedural_pool=-1)


def test_forked_workers_read_the_parents_pool():
    ds = BGMSyntheticDataset(6, 32, seed=0, procedural_pool=3)
    pools = find_pools(ds)
    assert len(pools) == 2 and all(p.pool_size == 3 for p in pools)
    assert prepare_pools(ds) == 6
    for pool in pools:
        pool.source = Counting(pool.source)
        pool.source.refuse = True
    batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    assert len(batches) == 2 and batches[0]["alpha"].shape == (3, 1, 32, 32)


def test_trainer_makes_pools_before_its_workers_start(tmp_path):
    with pytest.warns(UserWarning, match="generated foregrounds only"):
        ds = RealMattingDataset(8, 32, seed=0, procedural_pool=4, root=tmp_path / "none")
    pools = find_pools(ds)
    assert pools and all(p.made == 0 for p in pools)
    model = torch.nn.Conv2d(3, 1, 1)

    def loss_fn(m, batch):
        return {"total": (m(batch["image"]) - batch["alpha"]).abs().mean()}

    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, ds,
                      batch_size=4, max_steps=2, num_workers=2, device="cpu", progress=False)
    trainer.fit()
    assert all(p.made == p.pool_size for p in pools)


def test_real_dataset_draws_generated_layers_from_the_pool(tmp_path):
    with pytest.warns(UserWarning, match="generated foregrounds only"):
        ds = RealMattingDataset(40, 32, seed=0, procedural_pool=3, root=tmp_path / "none")
    pools = find_pools(ds)
    fg_pool = next(p for p in pools if isinstance(p.source, SyntheticForegrounds))
    for pool in pools:
        pool.source = Counting(pool.source)
    first = [ds[i] for i in range(40)]
    assert set(fg_pool.source.calls) <= {0, 1, 2}
    assert all(len(p.source.calls) <= 3 for p in pools)
    again = [ds[i] for i in range(40)]
    assert all(torch.equal(a[k], b[k]) for a, b in zip(first, again) for k in a)


def test_photo_backgrounds_raw_is_exactly_the_fixed_point_of_the_float_sample():
    rng = np.random.default_rng(0)
    photos = [(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), "p")]
    bgs = PhotoBackgrounds(photos, 24, seed=1, procedural_fraction=0.3)
    for i in range(12):
        raw, tag = sample_raw(bgs, i)
        value, tag2 = bgs.sample(i)
        assert tag == tag2 and np.array_equal(to_u16(value), to_u16(raw))


def test_target_domain_pool_is_a_fixed_set_of_captures():
    plain = TargetDomainDataset(6, 32, seed=2)
    pooled = TargetDomainDataset(6, 32, seed=2, pool=2)
    assert pooled.capture(5) == 1 and plain.capture(5) == 5
    for k in ("image", "seg", "multi_fr"):
        assert torch.equal(pooled[4][k], pooled[0][k])
        torch.testing.assert_close(pooled[1][k], plain[1][k], atol=2e-5, rtol=0)
    assert torch.equal(pooled.ground_truth(3)["alpha"], plain.ground_truth(1)["alpha"])
    with pytest.raises(ValueError, match="pool"):
        TargetDomainDataset(6, 32, pool=-2)


def test_full_recipe_composes_on_the_device():
    recipe = MNetRecipe.full().replace(image_size=32, num_train_samples=4, num_val_samples=2,
                                       max_side=64, procedural_pool=2)
    assert recipe.compose_on_device
    data = training_data(recipe)
    sample = data[0]
    assert "image" not in sample
    assert sample["alpha"].dtype == torch.uint16 and sample["trimap"].dtype == torch.uint8
    batch = compose_on_device({k: v[None] for k, v in sample.items()})
    floats = {k: torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.atleast_3d(v), 2, 0)))
              for k, v in data.arrays(0).items()}  # the float path of the same sample
    for key in ("fg", "bg", "alpha"):
        assert torch.equal(batch[key][0], floats[key])
    assert torch.equal(batch["trimap"][0], floats["trimap"].float() / 255.0)
    expected = floats["alpha"] * floats["fg"] + (1 - floats["alpha"]) * floats["bg"]
    torch.testing.assert_close(batch["image"][0], expected)
    assert "image" in training_data(recipe, seed_offset=1, num_samples=2)[0]  # validation


def test_fixed_point_needs_the_composite_on_the_device():
    with pytest.raises(ValueError, match="fixed_point"):
        RealMattingDataset(4, 32, fixed_point=True)


def test_device_transform_runs_on_every_training_batch():
    seen = []

    def transform(batch):
        seen.append(batch["x"].device.type)
        return {**batch, "y": batch["x"] * 2}

    data = [{"x": torch.full((1,), float(i))} for i in range(4)]
    model = torch.nn.Linear(1, 1)

    def loss_fn(m, batch):
        return {"total": (m(batch["x"]) - batch["y"]).pow(2).mean()}

    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.01), loss_fn, data,
                      batch_size=2, max_steps=3, device="cpu", progress=False,
                      device_transform=transform)
    trainer.fit()
    assert seen == ["cpu"] * 3
    with pytest.raises(ValueError, match="device_transform"):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.01), loss_fn, data,
                batch_size=2, max_steps=3, device="cpu", device_transform=42)
