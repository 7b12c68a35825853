"""The DIM composition dataset, loaders, Composition-1k reader and folder sources."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from mattinglib.compositing import composition_residual
from mattinglib.data.composition import (
    Composition1kDataset,
    CompositionDataset,
    SyntheticMattingDataset,
    compose_batch,
    make_loader,
)
from mattinglib.data.folders import FolderBackgrounds, FolderForegrounds
from mattinglib.data.synthetic import SyntheticBackgrounds, SyntheticForegrounds

SIZE = 40
UNKNOWN = float(np.float32(128) / np.float32(255))  # the float32 value of 128/255


@pytest.fixture(scope="module")
def dataset():
    return SyntheticMattingDataset(16, SIZE, seed=5)


class TestSamples:
    def test_keys_shapes_dtypes(self, dataset):
        s = dataset[0]
        assert set(s) == {"image", "fg", "bg", "alpha", "trimap"}
        for key, channels in (("image", 3), ("fg", 3), ("bg", 3), ("alpha", 1), ("trimap", 1)):
            assert s[key].shape == (channels, SIZE, SIZE), key
            assert s[key].dtype == torch.float32, key

    def test_invariants_hold_on_every_sample(self, dataset):
        for i in range(len(dataset)):
            s = dataset[i]
            alpha, trimap = s["alpha"], s["trimap"]
            assert 0 <= alpha.min() and alpha.max() <= 1
            for key in ("image", "fg", "bg"):
                assert 0 <= s[key].min() and s[key].max() <= 1
            assert composition_residual(s["image"][None], s["fg"][None],
                                        s["bg"][None], alpha[None]) < 1e-6
            values = torch.unique(trimap)
            assert all(v in (0.0, UNKNOWN, 1.0) for v in values.tolist())
            fractional = (alpha > 0) & (alpha < 1)
            assert bool((trimap[fractional] == UNKNOWN).all()), \
                f"sample {i}: band misses fractional alpha"
            assert bool((alpha[trimap == 1.0] == 1).all())
            assert bool((alpha[trimap == 0.0] == 0).all())

    def test_crop_is_centred_on_unknown_pixels(self, dataset):
        # centring on a fractional pixel means nearly every sample holds some unknown region
        with_unknown = sum(bool((dataset[i]["trimap"] == UNKNOWN).any())
                           for i in range(len(dataset)))
        assert with_unknown == len(dataset)

    def test_same_seed_same_tensors_and_indices_differ(self, dataset):
        again = SyntheticMattingDataset(16, SIZE, seed=5)
        for i in (0, 7):
            a, b = dataset[i], again[i]
            assert all(torch.equal(a[k], b[k]) for k in a)
        assert not torch.equal(dataset[1]["image"], dataset[2]["image"])
        other = SyntheticMattingDataset(16, SIZE, seed=6)
        assert not torch.equal(dataset[0]["image"], other[0]["image"])

    def test_epoch_changes_crops_not_sources(self):
        ds = SyntheticMattingDataset(4, SIZE, seed=1)
        first = ds[0]
        ds.set_epoch(1)
        second = ds[0]
        assert not all(torch.equal(first[k], second[k]) for k in first)
        ds.set_epoch(0)
        assert torch.equal(ds[0]["alpha"], first["alpha"])

    def test_independent_of_opencv_simd_and_threads(self):
        ds = SyntheticMattingDataset(8, SIZE, seed=2)
        ref = [ds[i] for i in range(8)]
        threads = cv2.getNumThreads()
        try:
            cv2.setUseOptimized(False)
            cv2.setNumThreads(1)
            again = [ds[i] for i in range(8)]
        finally:
            cv2.setUseOptimized(True)
            cv2.setNumThreads(threads)
        for a, b in zip(ref, again):
            assert all(torch.equal(a[k], b[k]) for k in a)

    def test_backgrounds_per_fg_reuses_the_foreground(self):
        fgs = SyntheticForegrounds(60, seed=0, length=2)
        bgs = SyntheticBackgrounds(60, seed=0)
        ds = CompositionDataset(fgs, bgs, size=SIZE, backgrounds_per_fg=3, flip=False,
                                crop_sizes=(320 * 60 // SIZE,))  # crop = the whole image
        assert len(ds) == 6
        a, b, c = ds[0], ds[1], ds[3]
        assert torch.equal(a["alpha"], b["alpha"]) and not torch.equal(a["bg"], b["bg"])
        assert not torch.equal(a["alpha"], c["alpha"])

    def test_crop_sizes_scale_with_the_training_size(self):
        ds = SyntheticMattingDataset(2, 64, seed=0)
        assert ds.crop_sizes == (64, 96, 128)
        assert SyntheticMattingDataset(2, 320, seed=0).crop_sizes == (320, 480, 640)
        assert ds.trimap_iterations == (1, 4)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="^num_samples:"):
            SyntheticMattingDataset(0, SIZE)
        with pytest.raises(ValueError, match="^foregrounds:"):
            CompositionDataset([], SyntheticBackgrounds(32))
        with pytest.raises(IndexError, match="^index:"):
            SyntheticMattingDataset(2, SIZE)[2]
        with pytest.raises(ValueError, match="^crop_sizes: expected positive ints"):
            SyntheticMattingDataset(2, SIZE, crop_sizes=(True, 64))  # a bool is no size
        with pytest.raises(TypeError, match="^epoch: expected an integer >= 0, got 1.0$"):
            SyntheticMattingDataset(2, SIZE).set_epoch(1.0)
        with pytest.raises(ValueError, match="^epoch: expected an integer >= 0, got -1$"):
            SyntheticMattingDataset(2, SIZE).set_epoch(-1)


class TestLoading:
    def test_workers_give_the_same_batches(self):
        ds = SyntheticMattingDataset(8, 32, seed=3)
        batches = {}
        for workers in (0, 2):
            loader = make_loader(ds, batch_size=4, shuffle=True, seed=9, num_workers=workers)
            batches[workers] = list(loader)
        for b0, b2 in zip(batches[0], batches[2]):
            assert all(torch.equal(b0[k], b2[k]) for k in b0)
        # the shuffled order really is shuffled and seeded
        order = [int(i) for i in torch.randperm(8, generator=torch.Generator().manual_seed(9))]
        assert torch.equal(batches[0][0]["alpha"][0], ds[order[0]]["alpha"])

    def test_workers_start_after_opencv_used_threads(self):
        """Forked workers must not touch OpenCV's thread pool (that deadlocks)."""
        from torch.utils.data import DataLoader

        from mattinglib.data.composition import seed_worker

        cv2.GaussianBlur(np.zeros((1500, 1500), np.float32), (31, 31), 5)  # starts the pool
        ds = SyntheticMattingDataset(4, 32, seed=3)
        loader = DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=seed_worker, timeout=60)
        assert sum(b["alpha"].shape[0] for b in loader) == 4

    def test_trimaps_convert_to_classes(self):
        from mattinglib.trimap import trimap_to_classes

        batch = next(iter(make_loader(SyntheticMattingDataset(4, 32, seed=0), batch_size=4)))
        classes = trimap_to_classes(batch["trimap"])
        assert classes.shape == (4, 32, 32) and set(classes.unique().tolist()) <= {0, 1, 2}

    def test_distributed_sampler_sees_the_same_samples(self):
        from torch.utils.data.distributed import DistributedSampler

        ds = SyntheticMattingDataset(8, 32, seed=3)
        seen = {}
        for rank in (0, 1):
            sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=4)
            for idx, sample in zip(list(sampler), make_loader(ds, batch_size=1, sampler=sampler)):
                seen[idx] = sample["image"][0]
        assert sorted(seen) == list(range(8))
        assert all(torch.equal(seen[i], ds[i]["image"]) for i in seen)

    def test_compose_batch_matches_worker_compositing(self):
        with_image = SyntheticMattingDataset(4, 32, seed=1)
        without = SyntheticMattingDataset(4, 32, seed=1, compose=False)
        assert "image" not in without[0]
        batch = next(iter(make_loader(without, batch_size=4, shuffle=False)))
        composed = compose_batch(batch, "cpu")
        ref = next(iter(make_loader(with_image, batch_size=4, shuffle=False)))
        assert torch.allclose(composed["image"], ref["image"], atol=1e-6)
        with pytest.raises(ValueError, match="^batch: expected the keys"):
            compose_batch({"fg": batch["fg"]}, "cpu")


def _write(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)


class TestComposition1k:
    def test_reads_the_prepared_tree(self, tmp_path):
        rng = np.random.default_rng(0)
        for fg_name in ("hair_1", "dog"):
            alpha = (rng.random((12, 16)) * 255).astype(np.uint8)
            _write(tmp_path / "alpha" / f"{fg_name}.png", alpha)
            _write(tmp_path / "fg" / f"{fg_name}.png",
                   (rng.random((12, 16, 3)) * 255).astype(np.uint8))
            trimap = np.where(alpha > 200, 255, np.where(alpha < 50, 0, 128)).astype(np.uint8)
            for k in range(2):
                _write(tmp_path / "merged" / f"{fg_name}_{k}.png",
                       (rng.random((12, 16, 3)) * 255).astype(np.uint8))
                _write(tmp_path / "trimaps" / f"{fg_name}_{k}.png", trimap)
        ds = Composition1kDataset(tmp_path)
        assert len(ds) == 4 and ds.names[0] == "dog_0"
        s = ds[2]
        assert s["name"] == "hair_1_0"
        assert s["image"].shape == (3, 12, 16) and s["alpha"].shape == (1, 12, 16)
        assert s["fg"].shape == (3, 12, 16) and "bg" not in s
        expected = cv2.imread(str(tmp_path / "alpha" / "hair_1.png"), cv2.IMREAD_GRAYSCALE) / 255.0
        assert np.allclose(s["alpha"][0].numpy(), expected)
        assert set(torch.unique(s["trimap"]).tolist()) <= {0.0, UNKNOWN, 1.0}

    def test_missing_trimap_is_reported(self, tmp_path):
        _write(tmp_path / "merged" / "a_0.png", np.zeros((4, 4, 3), np.uint8))
        _write(tmp_path / "alpha" / "a.png", np.zeros((4, 4), np.uint8))
        with pytest.raises(ValueError, match="missing trimaps/a_0.png"):
            Composition1kDataset(tmp_path)


class TestFolders:
    @pytest.fixture
    def folders(self, tmp_path):
        rng = np.random.default_rng(0)
        for name in ("a", "b", "c"):
            _write(tmp_path / "fg" / f"{name}.png",
                   (rng.random((30, 30, 3)) * 255).astype(np.uint8))
            _write(tmp_path / "alpha" / f"{name}.png",
                   (rng.random((30, 30)) * 255).astype(np.uint8))
            _write(tmp_path / "bg" / f"{name}.jpg",
                   (rng.random((40, 50, 3)) * 255).astype(np.uint8))
        data = (tmp_path / "fg" / "b.png").read_bytes()
        (tmp_path / "fg" / "b.png").write_bytes(data[: len(data) // 2])  # truncated download
        return tmp_path

    def test_corrupt_file_is_reported_and_substituted(self, folders):
        src = FolderForegrounds(folders / "fg", folders / "alpha")
        with pytest.warns(RuntimeWarning, match=r"b\.png.*1 unreadable item"):
            fg, alpha, name = src.sample(1)
        assert name == "c"  # the next readable pair, deterministically
        assert src.bad_files == [str(folders / "fg" / "b.png"), str(folders / "alpha" / "b.png")]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # known bad files are not re-read or re-reported
            assert src.sample(1)[2] == "c"
        assert src.sample(0)[2] == "a"

    def test_an_epoch_runs_through_bad_files(self, folders):
        ds = CompositionDataset.from_folders(folders / "fg", folders / "alpha", folders / "bg",
                                             size=24, backgrounds_per_fg=2, seed=0)
        with pytest.warns(RuntimeWarning):
            samples = [ds[i] for i in range(len(ds))]
        assert len(samples) == 6
        assert ds.foregrounds.sample(1)[2] == "c"  # composites 2 and 3 use the substitute
        assert all(s["image"].shape == (3, 24, 24) for s in samples)
        assert len(ds.foregrounds.bad_files) == 2

    def test_scan_and_size_mismatch(self, folders):
        _write(folders / "alpha" / "c.png", np.zeros((10, 10), np.uint8))
        src = FolderForegrounds(folders / "fg", folders / "alpha")
        with pytest.warns(RuntimeWarning):
            bad = src.scan()
        assert str(folders / "fg" / "b.png") in bad and str(folders / "alpha" / "c.png") in bad

    def test_backgrounds_and_unpaired_names(self, folders):
        bgs = FolderBackgrounds(folders / "bg")
        bg, name = bgs.sample(0)
        assert bg.shape == (40, 50, 3) and bg.dtype == np.float32 and name == "a"
        (folders / "alpha" / "c.png").unlink()
        with pytest.raises(ValueError, match=r"^alpha_dir: .*unmatched: \['c'\]"):
            FolderForegrounds(folders / "fg", folders / "alpha")
