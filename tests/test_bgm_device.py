"""Background Matting samples finished on the device: the worker path's sample, step by step."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from mattinglib.data.bgm import (
    DEVICE_PARAM_KEYS,
    STREAM_BGM,
    BGMCompositeDataset,
    BGMSyntheticDataset,
    _jitter_matrix,
    _warp_affine,
)
from mattinglib.data.bgm_device import (
    area_weights,
    augment_bgm_batch,
    captured_plate_batch,
    crop_origins,
    dilate_ellipse,
    erode_ellipse,
    fake_segmentation_batch,
    motion_cue_batch,
    resize_crops,
    trimap_batch,
    warp_affine_batch,
)
from mattinglib.data.composition import crop_box, make_loader
from mattinglib.data.synthetic import (
    SyntheticBackgrounds,
    SyntheticForegrounds,
    from_u16,
    resize_u16,
    rng_for,
    to_u16,
)
from mattinglib.trimap import trimap_from_alpha

SIZE = 48
COUNT = 6
CHANNELS = {"image": 3, "bg": 3, "seg": 1, "multi_fr": 4, "alpha": 1, "fg": 3, "bg_gt": 3}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: a second thread only adds hand-over costs (seconds on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def device_ds():
    return BGMSyntheticDataset(COUNT, SIZE, seed=3, augment_on="device")


@pytest.fixture(scope="module")
def batch(device_ds):
    return default_collate([device_ds[i] for i in range(COUNT)])


@pytest.fixture(scope="module")
def out(batch):
    return augment_bgm_batch(batch, size=SIZE)


def _blobs(rng, b, h, w):
    """Binary float masks (B, 1, H, W) with blobs, some touching the border."""
    masks = np.zeros((b, h, w), np.uint8)
    for i in range(b):
        for _ in range(4):
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(2, 9)
            cv2.circle(masks[i], (int(cx), int(cy)), int(r), 1, -1)
        masks[i] |= (rng.random((h, w)) < 0.03).astype(np.uint8)
    return masks


def _kth(mask: np.ndarray, u: float) -> tuple[int, int]:
    """The worker's centre choice with ``u`` in place of its draw: floor(u count)-th set pixel."""
    set_ = np.flatnonzero(mask)
    flat = int(set_[int(u * len(set_))]) if len(set_) else int(u * mask.size)
    return divmod(flat, mask.shape[1])


class TestSample:
    def test_device_sample_keys_and_dtypes(self, device_ds, batch):
        s = device_ds[0]
        assert tuple(s) == DEVICE_PARAM_KEYS
        n = device_ds.working_size
        assert s["stack"].dtype == torch.uint16 and s["stack"].shape == (7, n, n)
        assert batch["stack"].shape == (COUNT, 7, n, n) and batch["stack"].dtype == torch.uint16
        assert int(s["crop_side"]) in device_ds.crop_sizes and 0 <= float(s["crop_u"]) < 1
        assert s["motion_matrices"].dtype == torch.float64
        assert s["motion_matrices"].shape == (4, 2, 3)

    def test_default_is_the_worker_path(self):
        default = BGMSyntheticDataset(2, 32, seed=1)
        worker = BGMSyntheticDataset(2, 32, seed=1, augment_on="worker")
        a, b = default[1], worker[1]
        assert set(a) == set(CHANNELS) and all(torch.equal(a[k], b[k]) for k in a)

    def test_parameter_draws_follow_the_recipe(self):
        ds = BGMSyntheticDataset(1, 512, seed=0, augment_on="device")
        assert ds.scale == 1.0  # pixel sizes as the original's
        draws = []
        for s in range(300):
            rng = np.random.default_rng(s)
            draws.append({**ds._plate_params(rng), **ds._segmentation_params(rng)})
        p = {k: torch.stack([d[k] for d in draws]) for k in draws[0]}
        noise = p["plate_noise"]
        assert 0.3 < float(noise.float().mean()) < 0.5
        assert set(p["plate_sigma"][noise].tolist()) == {2, 3, 4, 5}
        assert set(p["plate_mean"][noise].tolist()) == set(range(-7, 7))
        assert bool((p["plate_gamma"][noise] == 1).all())
        assert bool((p["plate_sigma"][~noise] == 0).all())
        gamma = p["plate_gamma"][~noise]
        assert float(gamma.min()) >= 0.1 and abs(float(gamma.mean()) - 1) < 0.03
        assert set(p["seg_erode"].tolist()) == set(range(10, 20))
        assert set(p["seg_dilate"].tolist()) == set(range(15, 30))
        assert set(p["seg_holes"].tolist()) == {0, 1, 2}
        used = torch.arange(2) < p["seg_holes"].view(-1, 1)
        sides = p["seg_hole_sides"]
        assert int(sides[used].min()) >= 15 and int(sides[used].max()) <= 45
        assert bool((sides[~used] == 0).all()) and bool((p["seg_hole_u"][~used] == 0).all())
        assert set(p["seg_blur"].tolist()) == {21, 31, 41}

    def test_bad_augment_on(self):
        with pytest.raises(ValueError, match="augment_on: expected one of"):
            BGMSyntheticDataset(2, 32, augment_on="gpu")

    @pytest.mark.parametrize("source_size", [None, 60])
    def test_stack_and_flip_are_the_worker_paths(self, source_size):
        """Sources at the working size (converted in place) or not (resized as the worker does)."""
        if source_size is None:
            ds = BGMSyntheticDataset(COUNT, SIZE, seed=3, augment_on="device")
        else:
            ds = BGMCompositeDataset(SyntheticForegrounds(source_size, 3, length=COUNT),
                                     SyntheticBackgrounds(source_size, 3, length=COUNT),
                                     size=SIZE, seed=3, augment_on="device")
        n, flips = ds.working_size, set()
        for i in range(COUNT):
            fg, alpha, _ = ds.foregrounds.sample(i)
            bg, _ = ds.backgrounds.sample(i)
            assert (alpha.shape[0] == n) == (source_size is None)
            stack = np.concatenate([to_u16(fg), to_u16(alpha)[..., None], to_u16(bg)], axis=2)
            stack = resize_u16(stack, n, n)
            flip = rng_for(ds.seed, STREAM_BGM, ds.epoch, i).random() < 0.5
            flips.add(flip)
            expected = stack[:, ::-1] if flip else stack
            assert np.array_equal(ds[i]["stack"].numpy().transpose(1, 2, 0), expected), i
        assert flips == {True, False}  # both branches are checked


class TestWholeBatch:
    def test_captured_plate_is_a_perturbed_copy(self, out):
        diff = ((out["bg"] - out["bg_gt"]) / 2).abs().mean(dim=(1, 2, 3))
        assert float(diff.max()) < 0.15 and float(diff.min()) > 0

    def test_keys_shapes_ranges_as_worker_path(self, out, device_ds):
        worker = BGMSyntheticDataset(COUNT, SIZE, seed=3)[0]
        assert set(out) == set(worker) == set(CHANNELS)
        for key, c in CHANNELS.items():
            assert out[key].shape == (COUNT, c, SIZE, SIZE) and out[key].dtype == torch.float32, key
            assert worker[key].shape == out[key].shape[1:], key
            assert -1 <= float(out[key].min()) and float(out[key].max()) <= 1, key
        assert float(out["alpha"].min()) == -1 and float(out["alpha"].max()) == 1

    def test_composite_identity(self, out):
        a, f, b = (out["alpha"] + 1) / 2, (out["fg"] + 1) / 2, (out["bg_gt"] + 1) / 2
        assert torch.allclose((out["image"] + 1) / 2, a * f + (1 - a) * b, atol=1e-6)

    def test_targets_equal_worker_crop_of_same_index(self, batch, out, device_ds):
        """Same flip (same stack), the worker's crop box at the drawn centre: equal to rounding."""
        n = device_ds.working_size
        for i in range(COUNT):
            stack = batch["stack"][i].numpy().transpose(1, 2, 0)
            trimap = trimap_from_alpha(from_u16(stack[..., 3]))
            centre = _kth(trimap == 128, float(batch["crop_u"][i]))
            box = crop_box(n, n, centre, int(batch["crop_side"][i]))
            ref = from_u16(resize_u16(np.ascontiguousarray(stack[box]), SIZE, SIZE))
            got = torch.cat([out["fg"][i], out["alpha"][i], out["bg_gt"][i]])
            got = got.numpy().transpose(1, 2, 0)
            np.testing.assert_allclose((got + 1) / 2, ref, atol=1.5e-5, err_msg=str(i))

    def test_project_loader_batches(self, device_ds, out):
        """The project's loader (default collate) carries the uint16 stack; order as indexed."""
        loader = make_loader(device_ds, batch_size=COUNT, shuffle=False)
        got = augment_bgm_batch(next(iter(loader)), size=SIZE)
        assert all(torch.equal(out[k], got[k]) for k in out)

    def test_deterministic(self, batch, out):
        again = augment_bgm_batch(batch, size=SIZE)
        assert all(torch.equal(out[k], again[k]) for k in out)

    def test_noise_follows_the_seed(self, batch, out):
        other = dict(batch, motion_seed=batch["motion_seed"] + 1)
        changed = augment_bgm_batch(other, size=SIZE)
        assert not torch.equal(changed["multi_fr"], out["multi_fr"])
        assert torch.equal(changed["seg"], out["seg"])
        assert torch.equal(changed["alpha"], out["alpha"])


class TestSteps:
    def test_morphology_equals_opencv(self):
        rng = np.random.default_rng(0)
        masks = _blobs(rng, 4, 37, 41)
        counts = [0, 1, 3, 6]
        t = torch.from_numpy(masks).float().unsqueeze(1)
        for k in (3, 5):
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            dil = dilate_ellipse(t, torch.tensor(counts), kernel_size=k)
            ero = erode_ellipse(t, torch.tensor(counts), kernel_size=k)
            for i, c in enumerate(counts):
                assert np.array_equal(dil[i, 0].numpy().astype(np.uint8),
                                      cv2.dilate(masks[i], kernel, iterations=c)), (k, c)
                assert np.array_equal(ero[i, 0].numpy().astype(np.uint8),
                                      cv2.erode(masks[i], kernel, iterations=c)), (k, c)

    def test_trimap_equals_trimap_from_alpha(self):
        rng = np.random.default_rng(1)
        masks = _blobs(rng, 3, 40, 44).astype(np.float32)
        alpha = np.stack([cv2.GaussianBlur(m, (7, 7), 1.5) for m in masks])
        alpha[alpha > 0.8] = 1
        alpha[0, :, :6] = 1  # opaque at the border: not eroded from there
        got = trimap_batch(torch.from_numpy(alpha).unsqueeze(1))
        for i in range(3):
            assert np.array_equal(got[i, 0].numpy(), trimap_from_alpha(alpha[i])), i

    def test_warp_equals_worker_warp(self):
        rng = np.random.default_rng(2)
        layer = rng.random((2, 64, 64, 2), dtype=np.float32)
        # 10x the usual translation: much of the output reads outside the layer
        matrices = np.stack([_jitter_matrix(rng, 64, 64, 10.0) for _ in range(2)])
        got = warp_affine_batch(torch.from_numpy(layer.transpose(0, 3, 1, 2).copy()),
                                torch.from_numpy(matrices))
        for i in range(2):
            ref = _warp_affine(layer[i], matrices[i])
            assert (ref == 0).any()
            np.testing.assert_allclose(got[i].numpy().transpose(1, 2, 0), ref, atol=1e-5)

    def test_motion_cue_without_noise_is_the_worker_formula(self):
        rng = np.random.default_rng(3)
        fg = rng.random((32, 32, 3), dtype=np.float32)
        bg = rng.random((32, 32, 3), dtype=np.float32)
        alpha = rng.random((32, 32), dtype=np.float32)
        matrices = np.stack([_jitter_matrix(rng, 32, 32, 0.5) for _ in range(4)])
        means = np.array([-7, 0, 3, 6], np.float32)

        def grey(x):
            return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114

        def chw(x):
            return torch.from_numpy(np.ascontiguousarray(np.atleast_3d(x).transpose(2, 0, 1)))[None]

        got = motion_cue_batch(chw(fg), chw(alpha), chw(bg), torch.from_numpy(matrices)[None],
                               torch.zeros(1, 4), torch.from_numpy(means)[None],
                               torch.tensor([5]))[0]
        layer = np.stack([grey(fg), alpha], axis=2)
        for f in range(4):
            moved = _warp_affine(layer, matrices[f])
            behind = grey(np.clip(bg + means[f] / 255, 0, 1))
            ref = np.clip(moved[..., 1] * moved[..., 0] + (1 - moved[..., 1]) * behind, 0, 1)
            np.testing.assert_allclose(got[f].numpy(), ref, atol=1e-5)

    def test_segmentation_equals_opencv_recipe(self):
        rng = np.random.default_rng(4)
        alpha = _blobs(rng, 3, 60, 60).astype(np.float32)
        alpha[2] = 0  # no mask: no holes
        erode, dilate, holes = [1, 2, 1], [2, 4, 3], [2, 1, 2]
        sides, us, blur = [[7, 5], [9, 0], [5, 5]], [[0.1, 0.93], [0.5, 0.0], [0.3, 0.6]], [3, 5, 7]
        got = fake_segmentation_batch(torch.from_numpy(alpha).unsqueeze(1), torch.tensor(erode),
                                      torch.tensor(dilate), torch.tensor(holes),
                                      torch.tensor(sides), torch.tensor(us, dtype=torch.float64),
                                      torch.tensor(blur))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        for i in range(3):
            mask = (alpha[i] > 0.5).astype(np.uint8) * np.uint8(255)
            mask = cv2.erode(mask, kernel, iterations=erode[i])
            mask = cv2.dilate(mask, kernel, iterations=dilate[i])
            before = mask.copy()
            for h in range(holes[i] if before.any() else 0):
                cy, cx = _kth(before, us[i][h])
                s = sides[i][h]
                mask[max(0, cy - s // 2):cy - s // 2 + s, max(0, cx - s // 2):cx - s // 2 + s] = 0
            k = blur[i]
            sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
            ref = cv2.GaussianBlur(mask, (k, k), sigma, sigmaY=sigma,
                                   borderType=cv2.BORDER_REFLECT_101, hint=cv2.ALGO_HINT_ACCURATE)
            ref = ref.astype(np.float32) / 255
            assert i == 2 or 0 < ref.mean() < 1
            np.testing.assert_allclose(got[i, 0].numpy(), ref, atol=1.01 / 255, rtol=0)

    def test_captured_plate(self):
        bg = torch.full((3, 3, 64, 64), 0.5)
        bg[2] = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
        args = (torch.tensor([True, True, False]), torch.tensor([4.0, 4.0, 0.0]),
                torch.tensor([-7.0, -7.0, 0.0]), torch.tensor([1.0, 1.0, 1.3]))
        plate = captured_plate_batch(bg, *args, torch.tensor([11, 12, 13]))
        again = captured_plate_batch(bg, *args, torch.tensor([11, 12, 13]))
        assert torch.equal(plate, again) and not torch.equal(plate[0], plate[1])
        noise = (plate[0] - 0.5) * 255
        assert abs(float(noise.mean()) + 7) < 0.2 and abs(float(noise.std()) - 4) < 0.2
        np.testing.assert_allclose(plate[2].numpy(), np.power(bg[2].numpy(), np.float32(1.3)),
                                   atol=1e-6)

    def test_crop_origins_equal_crop_box(self):
        rng = np.random.default_rng(5)
        h, w = 30, 26
        unknown = rng.random((8, h, w)) < 0.02
        unknown[0] = False  # none: any pixel
        unknown[1] = False
        unknown[1, 0, w - 1] = True  # a corner: the box is pushed inside
        unknown[2] = True
        sides = np.array([10, 7, 26, 40, 1, 13, 12, 9])
        us = rng.random(8)
        us[2] = 1 - 1e-12
        got = crop_origins(torch.from_numpy(unknown), torch.from_numpy(sides), torch.from_numpy(us))
        for i in range(8):
            ys, xs = crop_box(h, w, _kth(unknown[i], us[i]), int(sides[i]))
            assert tuple(got[i].tolist()) == (ys.start, xs.start), i

    @pytest.mark.parametrize("src, dst", [(75, 48), (54, 48), (48, 48), (96, 48), (30, 48)])
    def test_resize_equals_resize_u16(self, src, dst):
        rng = np.random.default_rng(src)
        x = to_u16(rng.random((src + 5, src + 5, 2), dtype=np.float32))
        origin = (5, 2)
        ref = from_u16(resize_u16(np.ascontiguousarray(x[5:5 + src, 2:2 + src]), dst, dst))
        square = torch.from_numpy(from_u16(x.transpose(2, 0, 1).copy()))[None]
        got = resize_crops(square, torch.tensor([origin]), torch.tensor([src]), dst)[0]
        np.testing.assert_allclose(got.numpy().transpose(1, 2, 0), ref, atol=1e-5)
        assert np.allclose(area_weights(src, dst).sum(1), 1)


class TestBadInput:
    def test_missing_key(self, batch):
        bad = {k: v for k, v in batch.items() if k != "crop_u"}
        with pytest.raises(ValueError, match=r"batch: missing keys \['crop_u'\]"):
            augment_bgm_batch(bad, size=SIZE)

    def test_wrong_stack_dtype(self, batch):
        message = r"batch\['stack'\]: expected a torch.uint16 tensor, got torch.float32"
        with pytest.raises(ValueError, match=message):
            augment_bgm_batch(dict(batch, stack=batch["stack"].float()), size=SIZE)
        with pytest.raises(TypeError, match=r"batch\['stack'\]"):
            augment_bgm_batch(dict(batch, stack=batch["stack"].numpy()), size=SIZE)

    def test_wrong_parameter_dtype_or_shape(self, batch):
        with pytest.raises(ValueError, match=r"batch\['crop_side'\]: expected an integer tensor"):
            augment_bgm_batch(dict(batch, crop_side=batch["crop_side"].float()), size=SIZE)
        message = r"batch\['motion_matrices'\]: expected shape \(6, 4, 2, 3\)"
        with pytest.raises(ValueError, match=message):
            augment_bgm_batch(dict(batch, motion_matrices=batch["motion_matrices"][:3]), size=SIZE)

    def test_not_a_dict_and_bad_size(self, batch):
        with pytest.raises(TypeError, match="batch: expected a dict of tensors, got list"):
            augment_bgm_batch([batch], size=SIZE)
        with pytest.raises(ValueError, match="size: expected an integer >= 1, got 0"):
            augment_bgm_batch(batch, size=0)
        with pytest.raises(TypeError, match="size: expected an integer >= 1, got 2.5"):
            augment_bgm_batch(batch, size=2.5)


def test_half_precision_masks_give_the_same_sample(batch, out, monkeypatch):
    """On a GPU the binary masks are float16 (0 and 1 are exact): the sample must not change."""
    import mattinglib.data.bgm_device as bgm_device

    monkeypatch.setattr(bgm_device, "_mask_dtype", lambda device: torch.float16)
    half = augment_bgm_batch(batch, size=SIZE)
    assert all(torch.equal(out[k], half[k]) for k in out)
