"""viz.zoom_window: the crop with the most fractional alpha."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mattinglib import viz


def _brute_force(alpha: np.ndarray, size: int) -> tuple[int, int, int]:
    frac = (alpha > 0) & (alpha < 1)
    best = (-1, 0, 0)
    for y in range(alpha.shape[0] - size + 1):
        for x in range(alpha.shape[1] - size + 1):
            count = int(frac[y:y + size, x:x + size].sum())
            if count > best[0]:
                best = (count, y, x)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_an_exhaustive_search(seed):
    rng = np.random.default_rng(seed)
    alpha = rng.choice([0.0, 0.3, 1.0], size=(23, 31), p=[0.45, 0.1, 0.45]).astype(np.float32)
    count, y, x = _brute_force(alpha, 7)
    rows, cols = viz.zoom_window(alpha, 7)
    assert (rows.start, cols.start) == (y, x)
    assert rows.stop - rows.start == cols.stop - cols.start == 7
    assert int(((alpha[rows, cols] > 0) & (alpha[rows, cols] < 1)).sum()) == count


def test_accepts_tensors_and_uint8():
    alpha = np.zeros((12, 12), np.uint8)
    alpha[8:11, 8:11] = 128
    assert viz.zoom_window(alpha, 4) == (slice(7, 11), slice(7, 11))
    assert viz.zoom_window(torch.from_numpy(alpha).float() / 255, 4) == (slice(7, 11), slice(7, 11))


@pytest.mark.parametrize("size", [0, 13, 2.5, True])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size"):
        viz.zoom_window(np.zeros((12, 20), np.float32), size)


def test_size_larger_than_the_matte_names_the_limit():
    with pytest.raises(ValueError, match=r"^size: expected at most 12, the shorter side of the "
                                         r"12x20 matte, got 13$"):
        viz.zoom_window(np.zeros((12, 20), np.float32), 13)
    with pytest.raises(TypeError, match=r"^size: expected an integer >= 1, got True$"):
        viz.zoom_window(np.zeros((12, 20), np.float32), True)


def test_colour_image_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        viz.zoom_window(np.zeros((8, 8, 3), np.float32), 4)
