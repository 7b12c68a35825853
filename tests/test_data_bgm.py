"""Background Matting training samples: ranges, channels, simulated inputs, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mattinglib.data.bgm import (
    BGMCompositeDataset,
    BGMSyntheticDataset,
    fake_segmentation,
    motion_cue,
    simulate_captured_background,
)
from mattinglib.data.synthetic import SyntheticBackgrounds

SIZE = 48
CHANNELS = {"image": 3, "bg": 3, "seg": 1, "multi_fr": 4, "alpha": 1, "fg": 3, "bg_gt": 3}


@pytest.fixture(scope="module")
def dataset():
    return BGMSyntheticDataset(6, SIZE, seed=3)


def test_keys_channels_ranges(dataset):
    assert dataset.working_size == 75
    assert dataset.crop_sizes[0] == 54 and dataset.crop_sizes[-1] == 75
    for i in range(len(dataset)):
        s = dataset[i]
        assert set(s) == set(CHANNELS)
        for key, c in CHANNELS.items():
            assert s[key].shape == (c, SIZE, SIZE) and s[key].dtype == torch.float32, key
            assert -1 <= float(s[key].min()) and float(s[key].max()) <= 1, key
        a, f, b = (s["alpha"] + 1) / 2, (s["fg"] + 1) / 2, (s["bg_gt"] + 1) / 2
        assert torch.allclose((s["image"] + 1) / 2, a * f + (1 - a) * b, atol=1e-6)


def test_same_seed_same_tensors_indices_differ(dataset):
    again = BGMSyntheticDataset(6, SIZE, seed=3)
    a, b = dataset[2], again[2]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(dataset[0]["alpha"], dataset[1]["alpha"])


def test_independent_of_opencv_simd_and_threads(dataset):
    ref = dataset[4]
    threads = cv2.getNumThreads()
    try:
        cv2.setUseOptimized(False)
        cv2.setNumThreads(1)
        again = dataset[4]
    finally:
        cv2.setUseOptimized(True)
        cv2.setNumThreads(threads)
    assert all(torch.equal(ref[k], again[k]) for k in ref)


def test_captured_background_is_a_perturbed_copy(dataset):
    diffs = []
    for i in range(len(dataset)):
        s = dataset[i]
        diff = ((s["bg"] - s["bg_gt"]) / 2).abs()
        diffs.append(float(diff.mean()))
        assert float(diff.mean()) < 0.15
    assert min(diffs) > 0  # never the true background


def test_simulated_capture_statistics():
    bg = np.full((64, 64, 3), 0.5, np.float32)
    noisy, gamma = 0, 0
    for seed in range(40):
        out = simulate_captured_background(bg, np.random.default_rng(seed))
        if out.std() > 1e-4:  # Gaussian noise
            noisy += 1
            assert 1.5 / 255 < out.std() < 5.5 / 255
            assert -7.5 / 255 < out.mean() - 0.5 < 6.5 / 255
        else:  # a gamma change keeps a flat image flat
            gamma += 1
    assert 6 <= noisy <= 26 and gamma > 0  # about 40 % noise


class TestFakeSegmentation:
    def make_alpha(self):
        alpha = np.zeros((200, 200), np.float32)
        cv2.circle(alpha, (70, 100), 45, 1.0, -1)
        alpha[20:180, 170:173] = 1.0  # a thin strand, 3 px wide
        return alpha

    def test_thin_parts_are_eroded_away_and_the_mask_is_blurred(self):
        alpha = self.make_alpha()
        for seed in range(5):
            seg = fake_segmentation(alpha, np.random.default_rng(seed), scale=0.25)
            assert seg.dtype == np.float32 and 0 <= seg.min() and seg.max() <= 1
            assert seg[100, 171] < 0.05, "the thin strand must not survive the erosion"
            assert seg[100, 70] > 0.3 or seg[80:120, 50:90].max() > 0.9  # the body (holes aside)
            fractional = (seg > 0.02) & (seg < 0.98)
            assert fractional.sum() > 100, "a blurred mask has a soft border"

    def test_pixel_sizes_scale(self):
        alpha = self.make_alpha()
        small = fake_segmentation(alpha, np.random.default_rng(0), scale=0.1)
        large = fake_segmentation(alpha, np.random.default_rng(0), scale=0.5)
        # net dilation grows with the scale
        assert (large > 0.5).sum() > (small > 0.5).sum()


def test_motion_cue_frames_are_grey_and_differ():
    rng = np.random.default_rng(0)
    fg = np.zeros((64, 64, 3), np.float32)
    fg[..., 0] = 1.0
    alpha = np.zeros((64, 64), np.float32)
    alpha[20:44, 20:44] = 1
    bg = np.full((64, 64, 3), 0.2, np.float32)
    frames = motion_cue(fg, alpha, bg, rng, scale=1.0)
    assert frames.shape == (64, 64, 4) and frames.dtype == np.float32
    assert 0 <= frames.min() and frames.max() <= 1
    assert abs(float(frames[32, 32, 0]) - 0.299) < 0.05  # pure red in grey
    assert not np.array_equal(frames[..., 0], frames[..., 1])


def test_other_sources_and_errors():
    from mattinglib.data.synthetic import SyntheticForegrounds

    ds = BGMCompositeDataset(SyntheticForegrounds(64, seed=0, length=2), SyntheticBackgrounds(64),
                             size=32, working_size=40, backgrounds_per_fg=2)
    assert len(ds) == 4 and ds[3]["multi_fr"].shape == (4, 32, 32)
    with pytest.raises(ValueError, match="^working_size:"):
        BGMCompositeDataset(SyntheticForegrounds(64), SyntheticBackgrounds(64),
                            size=32, working_size=8)


def _motion_cue_four_channels(fg, alpha, bg, rng, scale, frames=4):
    """The motion cue written plainly: warp RGB and alpha with OpenCV-free bilinear
    sampling, compose, then convert to grey."""
    from mattinglib.data.bgm import _jitter_matrix

    h, w = alpha.shape
    layer = np.concatenate([fg, alpha[..., None]], axis=2).astype(np.float64)
    out = np.empty((h, w, frames))
    for f in range(frames):
        m = np.vstack([_jitter_matrix(rng, h, w, scale), [0, 0, 1]])
        inv = np.linalg.inv(m)
        yy, xx = np.mgrid[0:h, 0:w]
        sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
        sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
        moved = np.zeros_like(layer)
        for y in range(h):
            for x in range(w):
                x0, y0 = int(np.floor(sx[y, x])), int(np.floor(sy[y, x]))
                for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
                    yi, xi = y0 + dy, x0 + dx
                    if 0 <= yi < h and 0 <= xi < w:
                        wy = sy[y, x] - y0 if dy else 1 - (sy[y, x] - y0)
                        wx = sx[y, x] - x0 if dx else 1 - (sx[y, x] - x0)
                        moved[y, x] += wy * wx * layer[yi, xi]
        sigma, mean = int(rng.integers(2, 6)), int(rng.integers(-7, 7))
        noisy = np.clip(bg + (mean + sigma * rng.standard_normal(bg.shape, dtype=np.float32))
                        / np.float32(255.0), 0, 1)
        frame = moved[..., 3:] * moved[..., :3] + (1 - moved[..., 3:]) * noisy
        out[..., f] = frame @ np.array([0.299, 0.587, 0.114])
    return np.clip(out, 0, 1)


def test_motion_cue_matches_a_plain_per_pixel_transcription():
    rng = np.random.default_rng(3)
    fg = rng.random((24, 20, 3), dtype=np.float32)
    alpha = np.zeros((24, 20), np.float32)
    alpha[6:18, 5:15] = 1
    alpha[10:14, 8:12] = 0.4
    bg = rng.random((24, 20, 3), dtype=np.float32)
    fast = motion_cue(fg, alpha, bg, np.random.default_rng(7), scale=2.0)
    plain = _motion_cue_four_channels(fg, alpha, bg, np.random.default_rng(7), scale=2.0)
    assert np.abs(fast - plain).max() < 1e-5
    assert np.abs(fast[..., 0] - fast[..., 1]).max() > 0.05  # the frames did move


class TestRealForegrounds:
    def test_a_share_of_real_foregrounds_and_never_a_held_out_one(self, alphamatting_dir):
        ds = BGMSyntheticDataset(40, 32, seed=0, real_fraction=0.5, real_root=alphamatting_dir)
        tags = [ds.foregrounds.sample(i)[2] for i in range(40)]
        real = [t for t in tags if t.startswith("alphamatting:")]
        assert 10 <= len(real) <= 30  # about half, decided per index
        assert {t.split(":")[1] for t in real} <= {f"GT{i:02d}" for i in range(1, 11)}
        assert "real foregrounds" in ds.source_description
        for i in range(4):  # a real foreground keeps its aspect: resized on its own
            sample = ds[i]
            assert tuple(sample["alpha"].shape) == (1, 32, 32)
        device = BGMSyntheticDataset(4, 32, seed=0, real_fraction=1.0, real_root=alphamatting_dir,
                                     augment_on="device")
        assert tuple(device[0]["stack"].shape) == (7, 50, 50)

    def test_generated_samples_are_unchanged_by_the_option(self):
        plain = BGMSyntheticDataset(4, 32, seed=3)
        none_real = BGMSyntheticDataset(4, 32, seed=3, real_fraction=0.0)
        for key, value in plain[1].items():
            assert torch.equal(value, none_real[1][key]), key

    def test_without_real_data_it_says_so_and_generates(self, tmp_path):
        with pytest.warns(UserWarning, match="real_fraction=0.5: no alphamatting.com"):
            ds = BGMSyntheticDataset(4, 32, seed=0, real_fraction=0.5, real_root=tmp_path)
        assert ds.source_description.startswith("generated foregrounds only")
        assert all(not ds.foregrounds.sample(i)[2].startswith("alphamatting")
                   for i in range(4))

    @pytest.mark.parametrize("value", [-0.1, 1.5, "half"])
    def test_bad_share_is_named(self, value):
        with pytest.raises((ValueError, TypeError), match="^real_fraction"):
            BGMSyntheticDataset(4, 32, seed=0, real_fraction=value)
