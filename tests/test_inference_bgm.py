"""Tests for Background Matting inference on a photo: alignment, segmentation, the pipeline,
the CLI."""

from __future__ import annotations

import argparse
import functools
import hashlib
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from mattinglib.cli.predict import add_predict_bgm_command
from mattinglib.inference.align import AlignmentError, AlignResult, align_background, fit_bias_gain
from mattinglib.inference.bgm import (
    BGMResult,
    RandomWeightsWarning,
    crop_square,
    matte_photo,
    predict_bgm,
    square_crop_box,
    uncrop_square,
)
from mattinglib.inference.segment import (
    DEEPLAB_FILES,
    SegmentationFallbackWarning,
    SegmentationResult,
    find_deeplab_weights,
    soft_segmentation,
)
from mattinglib.io import read_alpha, read_image, write_image
from mattinglib.models.bgm import bgm_generator

PHOTOS = ("0001", "0500", "1000", "1500")
TINY = dict(ngf=8, nf_part=8, n_blocks1=1, n_blocks2=1)


@pytest.fixture(autouse=True)
def no_hub_weights(tmp_path, monkeypatch):
    """An empty torch hub cache, so every test sees the machine of a user without DeepLab
    weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


# --------------------------------------------------------------------------- generated scenes


def textured_scene(h: int = 360, w: int = 480, seed: int = 0) -> np.ndarray:
    """A colourful scene with corners and blobs at several scales: float32 (h, w, 3) in [0, 1]."""
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.float32)
    for cell in (4, 16, 48):
        coarse = rng.random((h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        image += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) / 3
    for _ in range(60):
        colour = rng.random(3).tolist()
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            corner = (x + int(rng.integers(8, 60)), y + int(rng.integers(8, 60)))
            cv2.rectangle(image, (x, y), corner, colour, -1)
        else:
            cv2.circle(image, (x, y), int(rng.integers(4, 30)), colour, -1)
    return np.clip(image, 0.0, 1.0)


def true_homography(w: int, h: int) -> np.ndarray:
    """A hand-held-like plate -> photo motion: small rotation, zoom, shift and perspective."""
    angle, zoom = np.deg2rad(2.5), 1.03
    c, s = zoom * np.cos(angle), zoom * np.sin(angle)
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    motion = np.array([[c, -s, 9.0], [s, c, -6.0], [2e-5, -1e-5, 1]])
    return np.linalg.inv(centre) @ motion @ centre


def corner_error(estimated: np.ndarray, truth: np.ndarray, w: int, h: int) -> float:
    """Largest distance (px) between where the two homographies send a grid over the plate."""
    xs, ys = np.meshgrid(np.linspace(0, w, 9), np.linspace(0, h, 9))
    pts = np.stack([xs.ravel(), ys.ravel()], 1)[None].astype(np.float64)
    a = cv2.perspectiveTransform(pts, estimated)[0]
    b = cv2.perspectiveTransform(pts, truth)[0]
    return float(np.abs(a - b).max())


def plate_for(photo: np.ndarray, homography: np.ndarray, plate_hw=None) -> np.ndarray:
    """The plate that ``homography`` maps onto ``photo`` (plate pixels -> photo pixels)."""
    h, w = plate_hw or photo.shape[:2]
    return cv2.warpPerspective(photo, np.linalg.inv(homography), (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)


@functools.lru_cache(maxsize=None)
def _cached_scene():
    photo = textured_scene()
    h, w = photo.shape[:2]
    H = true_homography(w, h)
    return photo, plate_for(photo, H), H


def scene():
    photo, plate, H = _cached_scene()
    return photo.copy(), plate.copy(), H.copy()


# -------------------------------------------------------------------- real photos (downscaled once)


@functools.lru_cache(maxsize=None)
def _load_real(root: str, name: str, width: int) -> np.ndarray:
    image = read_image(Path(root) / name)
    height = round(image.shape[0] * width / image.shape[1])
    return np.clip(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), 0.0, 1.0)


def real(root: Path, name: str, width: int = 960) -> np.ndarray:
    return _load_real(str(root), name, width).copy()


@functools.lru_cache(maxsize=None)
def _real_alignment(root: str, photo: str, width: int) -> AlignResult:
    return align_background(real(Path(root), f"input/{photo}_img.png", width),
                            real(Path(root), "input/background_plate.png", width))


# =========================================================================== alignment


class TestAlignSynthetic:
    def test_recovers_a_known_homography(self):
        photo, plate, H = scene()
        result = align_background(photo, plate, exposure=False)
        h, w = photo.shape[:2]
        assert corner_error(result.homography, H, w, h) < 0.5
        assert result.residual_px < 1.0
        assert result.num_inliers >= 100 and 0.5 < result.inlier_ratio <= 1.0
        interior = result.valid.copy()
        interior[:20], interior[-20:] = False, False
        interior[:, :20], interior[:, -20:] = False, False
        assert np.abs(result.plate - photo)[interior].mean() < 0.01

    def test_plate_of_another_resolution_at_reduced_detection_size(self):
        photo, _, H = scene()
        h, w = photo.shape[:2]
        # A plate at half the photo's resolution: plate pixel p is photo-plate pixel 2 p.
        truth = H @ np.diag([2.0, 2.0, 1.0])
        plate_small = cv2.warpPerspective(photo, np.linalg.inv(truth), (w // 2, h // 2),
                                          flags=cv2.INTER_AREA)
        result = align_background(photo, plate_small, exposure=False, max_side=320)
        assert result.plate.shape == photo.shape
        assert corner_error(result.homography, truth, w // 2, h // 2) < 1.5

    def test_orb_also_recovers_it(self):
        photo, plate, H = scene()
        result = align_background(photo, plate, method="orb", exposure=False)
        assert result.method == "orb"
        assert corner_error(result.homography, H, photo.shape[1], photo.shape[0]) < 1.5

    def test_exposure_correction(self):
        photo, plate, _ = scene()
        darker = 0.8 * plate + 0.05  # photo = 1.25 * darker - 0.0625
        corrected = align_background(photo, darker, exposure=True)
        np.testing.assert_allclose(corrected.gain, 1.25, atol=0.02)
        np.testing.assert_allclose(corrected.bias, -0.0625, atol=0.01)
        raw = align_background(photo, darker, exposure=False)
        np.testing.assert_array_equal(raw.gain, 1.0)
        region = corrected.valid
        error_corrected = np.abs(corrected.plate - photo)[region].mean()
        assert error_corrected < 0.5 * np.abs(raw.plate - photo)[region].mean()

    def test_bias_gain_fit_ignores_outliers(self):
        rng = np.random.default_rng(1)
        plate = rng.random((100, 100, 3)).astype(np.float32)
        photo = 1.1 * plate - 0.05
        photo[30:70, 30:70] = rng.random((40, 40, 3))  # a "person" on 16% of the pixels
        gain, bias = fit_bias_gain(photo, plate, np.ones((100, 100), bool))
        np.testing.assert_allclose(gain, 1.1, atol=0.01)
        np.testing.assert_allclose(bias, -0.05, atol=0.01)

    def test_mask_excludes_features_on_the_person(self):
        photo, plate, _ = scene()
        mask = np.zeros(photo.shape[:2], bool)
        mask[:, : photo.shape[1] // 2] = True
        result = align_background(photo, plate, mask=mask)
        assert result.num_inliers >= 25
        assert result.inlier_points[:, 0].min() >= photo.shape[1] // 2

    def test_noise_plate_is_rejected(self):
        photo, _, _ = scene()
        noise = np.random.default_rng(3).random(photo.shape).astype(np.float32)
        with pytest.raises(AlignmentError, match="^plate: could not be aligned to photo"):
            align_background(photo, noise)

    def test_other_scene_is_rejected(self):
        photo, _, _ = scene()
        with pytest.raises(AlignmentError, match="^plate: could not be aligned"):
            align_background(photo, textured_scene(seed=7))

    def test_alignment_error_is_a_value_error(self):
        assert issubclass(AlignmentError, ValueError)

    @pytest.mark.parametrize("kwargs, pattern", [
        (dict(photo=np.zeros((8, 8))), "^photo: expected shape"),
        (dict(plate=np.zeros((8, 8, 4))), "^plate: expected shape"),
        (dict(photo=np.full((8, 8, 3), 1.5, np.float32)), "^photo: expected values in"),
        (dict(method="surf"), "^method: expected"),
        (dict(ransac_threshold=-1), "^ransac_threshold: "),
        (dict(mask=np.zeros((5, 5), bool)), "^mask: expected shape"),
    ])
    def test_bad_arguments(self, kwargs, pattern):
        args = dict(photo=np.zeros((64, 64, 3), np.float32),
                    plate=np.zeros((64, 64, 3), np.float32))
        args.update(kwargs)
        with pytest.raises(ValueError, match=pattern):
            align_background(args.pop("photo"), args.pop("plate"), **args)


def outside_person(alignment: AlignResult, photo: np.ndarray) -> np.ndarray:
    """Where the MAD is measured: covered by the warped plate, and far from the person.

    The person is the background-difference segmentation (one cleaned
    component, so it cannot leave out scattered misaligned pixels), with
    anything above 5% counted, dilated by 5% of the long side. The same region
    serves the unaligned and the aligned number.
    """
    seg = soft_segmentation(photo, plate=alignment.plate, method="background").mask
    radius = round(0.05 * max(photo.shape[:2]))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    person = cv2.dilate((seg > 0.05).astype(np.uint8), kernel) > 0
    return alignment.valid & ~person


class TestAlignReal:
    @pytest.mark.parametrize("name", PHOTOS)
    def test_alignment_halves_the_difference_outside_the_person(self, bgm_sample_dir, name):
        photo = real(bgm_sample_dir, f"input/{name}_img.png")
        plate = real(bgm_sample_dir, "input/background_plate.png")
        result = _real_alignment(str(bgm_sample_dir), name, 960)
        region = outside_person(result, photo)
        assert region.mean() > 0.4, "the measured region should be most of the scene"
        unaligned = float(np.abs(photo - plate).mean(axis=2)[region].mean())
        aligned = float(np.abs(photo - result.plate).mean(axis=2)[region].mean())
        print(f"\n{name}: MAD outside the person unaligned {unaligned:.4f} aligned {aligned:.4f} "
              f"({aligned / unaligned:.2f}x) on {100 * region.mean():.0f}% of the photo; "
              f"{result.num_inliers}/{result.num_matches} inliers ({result.inlier_ratio:.2f}), "
              f"residual {result.residual_px:.2f} px, {result.method}")
        assert aligned <= 0.5 * unaligned


# =========================================================================== segmentation


def blob_scene(seed: int = 0):
    """A textured plate, and the photo with an ellipse "person" (textured differently) pasted on."""
    rng = np.random.default_rng(seed)
    plate = textured_scene(120, 160, seed)
    blob = np.zeros((120, 160), np.uint8)
    cv2.ellipse(blob, (80, 70), (28, 40), 0, 0, 360, 1, -1)
    person = textured_scene(120, 160, seed + 100) * 0.5 + 0.25
    photo = np.where(blob[:, :, None] > 0, person, plate)
    photo = np.clip(photo + rng.normal(0, 0.01, photo.shape), 0, 1).astype(np.float32)
    return photo, plate, blob.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


class TestSegmentationFallback:
    def test_finds_a_pasted_blob(self):
        photo, plate, blob = blob_scene()
        seg = soft_segmentation(photo, plate=plate, method="background")
        assert seg.method == "background_difference"
        assert seg.mask.dtype == np.float32 and seg.mask.min() >= 0 and seg.mask.max() <= 1
        assert iou(seg.mask >= 0.5, blob) > 0.85
        near_blob = cv2.dilate(blob.astype(np.uint8), np.ones((15, 15))).astype(bool)
        assert seg.mask[~near_blob].max() < 0.05

    def test_fills_holes_and_drops_specks(self):
        photo, plate, blob = blob_scene()
        inner = np.zeros_like(blob)
        cv2.ellipse(inner.view(np.uint8), (80, 70), (12, 18), 0, 0, 360, 1, -1)
        photo[inner] = plate[inner]  # the clothes match the scene behind them: a hole
        photo[5:8, 5:8] = 1 - plate[5:8, 5:8]  # a 3x3 speck far from the person
        mask = soft_segmentation(photo, plate=plate, method="background").mask
        assert mask[inner].min() > 0.9
        assert mask[6, 6] < 0.05
        count, _ = cv2.connectedComponents((mask >= 0.5).astype(np.uint8))
        assert count - 1 == 1

    def test_no_person_gives_an_empty_mask(self):
        plate = textured_scene(120, 160)
        photo = np.clip(plate + np.random.default_rng(0).normal(0, 0.01, plate.shape), 0, 1)
        assert soft_segmentation(photo, plate=plate, method="background").mask.max() < 0.05

    def test_auto_without_weights_warns_and_labels(self):
        photo, plate, _ = blob_scene()
        with pytest.warns(SegmentationFallbackWarning, match="background-difference fallback"):
            seg = soft_segmentation(photo, plate=plate)
        assert seg.method == "background_difference"
        assert "never downloads" in seg.note

    def test_deeplab_without_weights_explains(self):
        photo, _, _ = blob_scene()
        with pytest.raises(FileNotFoundError,
                           match="^weights: no DeepLabV3 weights.*never downloads"):
            soft_segmentation(photo, method="deeplab")
        with pytest.raises(FileNotFoundError, match="^weights: .* does not exist"):
            soft_segmentation(photo, method="deeplab", weights="/no/such/file.pth")

    def test_auto_without_weights_or_plate_is_an_error(self):
        photo, _, _ = blob_scene()
        with pytest.raises(ValueError, match="^plate: needed for the background-difference"):
            soft_segmentation(photo)

    @pytest.mark.parametrize("kwargs, pattern", [
        (dict(method="grabcut"), "^method: expected"),
        (dict(plate=np.zeros((10, 10, 3), np.float32)), "^plate: expected shape"),
        (dict(photo=np.zeros((120, 160), np.float32)), "^photo: expected shape"),
    ])
    def test_bad_arguments(self, kwargs, pattern):
        photo, plate, _ = blob_scene()
        args = dict(photo=photo, plate=plate, method="background")
        args.update(kwargs)
        with pytest.raises(ValueError, match=pattern):
            soft_segmentation(args.pop("photo"), **args)

    @pytest.mark.parametrize("name", PHOTOS)
    def test_real_photos(self, bgm_sample_dir, name):
        photo = real(bgm_sample_dir, f"input/{name}_img.png")
        alignment = _real_alignment(str(bgm_sample_dir), name, 960)
        mask = soft_segmentation(photo, plate=alignment.plate, method="background").mask
        person = (mask >= 0.5).astype(np.uint8)
        assert 0.08 < person.mean() < 0.4, f"person covers {person.mean():.2f} of the photo"
        count, labels, stats, _ = cv2.connectedComponentsWithStats(person)
        assert count - 1 == 1, f"{count - 1} components"
        # The person stands in the lower middle of the frame, cut by its bottom edge.
        ys, xs = np.nonzero(person)
        assert ys.max() == photo.shape[0] - 1
        assert 0.1 * photo.shape[1] < xs.mean() < 0.9 * photo.shape[1]


class TestSegmentationDeepLab:
    def test_file_names_match_torchvision(self):
        from torchvision.models import segmentation as seg

        urls = [seg.DeepLabV3_ResNet101_Weights.DEFAULT.url,
                seg.DeepLabV3_ResNet50_Weights.DEFAULT.url,
                seg.DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT.url]
        assert list(DEEPLAB_FILES.values()) == [u.rsplit("/", 1)[1] for u in urls]

    def test_runs_from_the_hub_cache(self, tmp_path, monkeypatch):
        """An untrained mobilenet checkpoint put where torchvision caches weights is found and run.

        Its file name carries the first digits of its own SHA-256, as torchvision's do (a file
        under the published name is refused: its hash is not the published one).
        """
        from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

        torch.manual_seed(0)
        model = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=True)
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        cache.mkdir(parents=True)
        torch.save(model.state_dict(), cache / "untrained.pth")
        digest = hashlib.sha256((cache / "untrained.pth").read_bytes()).hexdigest()
        name = f"deeplabv3_mobilenet_v3_large-{digest[:8]}.pth"
        (cache / "untrained.pth").rename(cache / name)
        monkeypatch.setitem(DEEPLAB_FILES, "deeplabv3_mobilenet_v3_large", name)
        assert find_deeplab_weights() == cache / name
        photo, _, _ = blob_scene()
        with warnings.catch_warnings():
            warnings.simplefilter("error", SegmentationFallbackWarning)
            seg = soft_segmentation(photo, device="cpu")
        assert seg.method == "deeplabv3_mobilenet_v3_large" and seg.note == ""
        assert seg.mask.shape == photo.shape[:2] and seg.mask.dtype == np.float32
        assert 0.0 <= seg.mask.min() and seg.mask.max() <= 1.0

    def test_rejects_a_foreign_checkpoint(self, tmp_path):
        path = tmp_path / "other.pth"
        torch.save({"conv.weight": torch.zeros(1)}, path)
        with pytest.raises(ValueError, match="^weights: .* is not a torchvision DeepLabV3"):
            soft_segmentation(blob_scene()[0], method="deeplab", weights=path)


# =========================================================================== crop / uncrop


class TestCrop:
    def test_box_is_square_with_margin_inside_the_image(self):
        mask = np.zeros((200, 300), np.float32)
        mask[50:100, 120:140] = 1  # 50 tall, 20 wide
        x0, y0, x1, y1 = square_crop_box(mask, margin=0.1)
        assert x1 - x0 == y1 - y0 == 60
        assert (x0, y0) == (100, 45)

    def test_margin_shrinks_to_the_short_side(self):
        mask = np.zeros((100, 300), np.float32)
        mask[10:100, 100:150] = 1  # 90 tall: 1.2 x 90 > 100
        assert square_crop_box(mask, margin=0.1) == (75, 0, 175, 100)

    def test_person_larger_than_the_short_side_is_padded(self):
        mask = np.zeros((100, 300), np.float32)
        mask[:, 50:180] = 1  # 130 wide > 100 tall
        x0, y0, x1, y1 = square_crop_box(mask, margin=0.1)
        assert (x1 - x0, y0, y1) == (130, -15, 115)
        image = np.random.default_rng(0).random((100, 300, 3)).astype(np.float32)
        crop = crop_square(image, (x0, y0, x1, y1))
        expected = cv2.copyMakeBorder(image, 15, 15, 0, 0, cv2.BORDER_REFLECT_101)[:, x0:x1]
        np.testing.assert_array_equal(crop, expected)

    def test_margin_check(self):
        mask = np.zeros((100, 300), np.float32)
        mask[10:100, 100:150] = 1
        assert square_crop_box(mask, margin=np.float32(0.1)) == (75, 0, 175, 100)
        for bad, shown in ((True, "bool True"), (-0.1, "-0.1"), (float("inf"), "inf")):
            with pytest.raises(ValueError,
                               match=f"^margin: expected a finite number >= 0, got {shown}$"):
                square_crop_box(mask, margin=bad)

    def test_empty_mask_is_an_error(self):
        with pytest.raises(ValueError, match="^mask: no pixel reaches 0.5: no person was found"):
            square_crop_box(np.zeros((10, 10), np.float32))

    def test_uncrop_places_the_patch(self):
        patch = np.arange(16, dtype=np.float32).reshape(4, 4)
        out = uncrop_square(patch, (-1, 2, 3, 6), (8, 5))
        np.testing.assert_array_equal(out[2:6, 0:3], patch[:, 1:])
        assert out.sum() == patch[:, 1:].sum()


# =========================================================================== pipeline


class ConstantGenerator(nn.Module):
    """Alpha = 1 and fg = 1 everywhere, in the model's [-1, 1] range; records how it was called."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, image, back, seg, multi):
        self.calls.append(dict(image=image, back=back, seg=seg, multi=multi, training=self.training,
                               grad=torch.is_grad_enabled()))
        b, _, h, w = image.shape
        return torch.ones(b, 1, h, w), torch.ones(b, 3, h, w)


class EchoGenerator(nn.Module):
    """Returns the segmentation input as alpha and the image input as fg."""

    def forward(self, image, back, seg, multi):
        return seg, image


def given_mask(h, w, box):
    mask = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1
    return mask


class TestMattePhoto:
    def test_constant_generator_uncrops_exactly(self):
        photo = textured_scene(90, 160)
        mask = given_mask(90, 160, (60, 20, 90, 70))
        net = ConstantGenerator().train()
        result = matte_photo(photo, photo, net, size=32, align=False, segmentation=mask,
                             device="cpu")
        x0, y0, x1, y1 = result.crop_box
        assert x1 - x0 == y1 - y0 and x1 - x0 != 32  # the patch was really resized both ways
        inside = np.zeros((90, 160), bool)
        inside[max(0, y0):y1, max(0, x0):x1] = True
        assert (result.alpha[inside] == 1.0).all()
        assert (result.alpha[~inside] == 0.0).all()
        call = net.calls[0]
        assert not call["training"] and not call["grad"] and not net.training
        assert result.segmentation_method == "given" and result.alignment is None

    def test_constant_generator_with_reflection_padding(self):
        photo = textured_scene(60, 160)
        mask = given_mask(60, 160, (40, 0, 120, 60))  # 80 wide > 60 tall
        result = matte_photo(photo, photo, ConstantGenerator(), size=16, align=False,
                             segmentation=mask, device="cpu")
        x0, y0, x1, y1 = result.crop_box
        assert y0 < 0 and y1 > 60
        assert (result.alpha[:, x0:x1] == 1.0).all()
        assert (result.alpha[:, :x0] == 0.0).all() and (result.alpha[:, x1:] == 0.0).all()

    def test_inputs_reach_the_network_in_place(self):
        """With no resampling (crop side == size) the echoed seg and image come back unchanged."""
        photo = textured_scene(80, 120)
        mask = given_mask(80, 120, (40, 20, 80, 60))  # 40 x 40, margin 0.1 -> 48
        result = matte_photo(photo, photo, EchoGenerator(), size=48, align=False, segmentation=mask,
                             device="cpu")
        x0, y0, x1, y1 = result.crop_box
        assert x1 - x0 == 48
        np.testing.assert_allclose(result.alpha[y0:y1, x0:x1], mask[y0:y1, x0:x1], atol=1e-6)
        np.testing.assert_allclose(result.fg[y0:y1, x0:x1], photo[y0:y1, x0:x1], atol=1e-6)

    def test_motion_cue_is_the_grey_photo_four_times(self):
        photo = textured_scene(64, 64)
        net = ConstantGenerator()
        matte_photo(photo, photo, net, size=32, align=False, device="cpu",
                    segmentation=given_mask(64, 64, (10, 10, 50, 50)))
        call = net.calls[0]
        for t in (call["image"], call["back"], call["seg"], call["multi"]):
            assert t.min() >= -1 and t.max() <= 1
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        grey = (call["image"] * luma).sum(1, keepdim=True)
        assert call["multi"].shape == (1, 4, 32, 32)
        torch.testing.assert_close(call["multi"], grey.expand(-1, 4, -1, -1), atol=1e-5, rtol=0)

    def test_composite_on_a_target_background(self):
        photo = textured_scene(64, 96)
        target = np.full((30, 50, 3), 0.25, np.float32)
        result = matte_photo(photo, photo, ConstantGenerator(), size=16, align=False, device="cpu",
                             segmentation=given_mask(64, 96, (40, 20, 60, 50)),
                             target_background=target)
        assert result.composite.shape == (64, 96, 3)
        outside = result.alpha == 0
        np.testing.assert_allclose(result.composite[outside], 0.25, atol=1e-6)
        np.testing.assert_allclose(result.composite[~outside], 1.0, atol=1e-6)

    def test_with_deeplab_the_person_is_segmented_first_and_ignored_by_alignment(self, monkeypatch):
        import mattinglib.inference.bgm as bgm_module

        photo, plate, _ = scene()
        person = given_mask(*photo.shape[:2], (150, 60, 330, 360))
        calls = []

        def fake_segmentation(image, **kwargs):
            calls.append(kwargs)
            return SegmentationResult(person, "deeplabv3_resnet101")

        monkeypatch.setattr(bgm_module, "find_deeplab_weights", lambda weights=None: Path("dl.pth"))
        monkeypatch.setattr(bgm_module, "soft_segmentation", fake_segmentation)
        result = matte_photo(photo, plate, ConstantGenerator(), size=16, device="cpu")
        assert [c["method"] for c in calls] == ["deeplab"] and calls[0].get("plate") is None
        assert result.segmentation_method == "deeplabv3_resnet101"
        xs, ys = result.alignment.inlier_points.T
        assert not ((xs >= 150) & (xs < 330) & (ys >= 60) & (ys < 360)).any()

    def test_unalignable_plate_raises(self):
        photo, _, _ = scene()
        noise = np.random.default_rng(0).random(photo.shape).astype(np.float32)
        with pytest.raises(AlignmentError):
            matte_photo(photo, noise, ConstantGenerator(), size=16, device="cpu")

    @pytest.mark.parametrize("change, pattern", [
        (dict(photo=np.zeros((64, 64), np.float32)), "^photo: expected shape"),
        (dict(photo=np.full((64, 64, 3), 2.0, np.float32)), "^photo: expected values in"),
        (dict(photo=np.zeros((64, 64, 3), np.int32)), "^photo: expected uint8"),
        (dict(plate=np.zeros((32, 64, 3), np.float32)), "^plate: expected shape"),
        (dict(generator=lambda *a: a), "^generator: expected a torch.nn.Module"),
        (dict(size=30), r"^size: expected a multiple of 4 \(two stride-2 stages\), got 30$"),
        (dict(size=4), r"^size: expected an integer >= 8, got 4$"),
        (dict(size=True), r"^size: expected an integer >= 8, got True$"),
        (dict(size=0), "^size: "),
        (dict(segmentation="sam"), "^segmentation: expected"),
        (dict(segmentation=np.zeros((10, 10), np.float32)), "^segmentation: expected shape"),
        (dict(segmentation=np.zeros((64, 64), np.float32)), "^mask: no pixel reaches"),
        (dict(target_background=np.zeros((10, 10), np.float32)),
         "^target_background: expected shape"),
        (dict(device="tpu"), "^device: "),
    ])
    def test_bad_inputs(self, change, pattern):
        args = dict(photo=np.zeros((64, 64, 3), np.float32),
                    plate=np.zeros((64, 64, 3), np.float32),
                    generator=ConstantGenerator(), size=16, align=False,
                    segmentation=given_mask(64, 64, (10, 10, 40, 40)))
        args.update(change)
        with pytest.raises(ValueError, match=pattern):
            matte_photo(args.pop("photo"), args.pop("plate"), args.pop("generator"), **args)

    def test_real_photo_end_to_end(self, bgm_sample_dir):
        photo = real(bgm_sample_dir, "input/1000_img.png", 480)
        plate = real(bgm_sample_dir, "input/background_plate.png", 480)
        target = real(bgm_sample_dir, "target_backgrounds/0002.png", 240)
        net = bgm_generator(seed=0, **TINY)
        with pytest.warns(SegmentationFallbackWarning):
            result = matte_photo(photo, plate, net, target_background=target, size=64,
                                 device="auto")
        assert isinstance(result, BGMResult)
        assert result.alpha.shape == (270, 480) and result.alpha.dtype == np.float32
        assert result.fg.shape == result.composite.shape == (270, 480, 3)
        for x in (result.alpha, result.fg, result.composite):
            assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
        x0, y0, x1, y1 = result.crop_box
        outside = np.ones((270, 480), bool)
        outside[max(0, y0):y1, max(0, x0):x1] = False
        assert (result.alpha[outside] == 0).all() and result.alpha[~outside].std() > 0
        assert result.segmentation_method == "background_difference"
        assert result.alignment.num_inliers >= 25 and not net.training
        # The crop holds the person: most of the mask lies inside it.
        assert result.segmentation[~outside].sum() > 0.95 * result.segmentation.sum()


# =========================================================================== files and CLI


def write_scene_files(folder: Path) -> tuple[Path, Path, Path]:
    """A generated photo (scene + blob), its shifted plate and a target background, as PNGs."""
    photo, plate, _ = scene()
    blob = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(blob, (240, 250), (60, 110), 0, 0, 360, 1, -1)
    photo = np.where(blob[:, :, None] > 0, 0.4 + 0.2 * textured_scene(seed=5), photo)
    paths = folder / "shot_img.png", folder / "plate.png", folder / "new_bg.png"
    write_image(paths[0], photo)
    write_image(paths[1], plate)
    write_image(paths[2], textured_scene(100, 150, seed=9))
    return paths


class TestPredictBGM:
    def test_refuses_to_run_without_weights(self, tmp_path):
        photo, plate, _ = write_scene_files(tmp_path)
        pattern = "^weights: .*senguptaumd/Background-Matting.*--allow-random-weights"
        with pytest.raises(ValueError, match=pattern):
            predict_bgm(photo, plate, out_dir=tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_with_a_weights_file(self, tmp_path):
        photo, plate, target = write_scene_files(tmp_path)
        weights = tmp_path / "g.pth"
        torch.save(bgm_generator(seed=1, **TINY).state_dict(), weights)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RandomWeightsWarning)
            warnings.simplefilter("ignore", SegmentationFallbackWarning)
            paths = predict_bgm(photo, plate, out_dir=tmp_path / "out", weights=weights,
                                target=target, size=32, device="cpu", generator_config=TINY)
        assert sorted(p.name for p in paths.values()) == [
            "shot_img_composite.png", "shot_img_fg.png", "shot_img_matte.png"]
        assert read_alpha(paths["matte"]).shape == (360, 480)

    def test_cli_writes_three_files(self, tmp_path, capsys):
        photo, plate, target = write_scene_files(tmp_path)
        parser = argparse.ArgumentParser(prog="mattinglib")
        add_predict_bgm_command(parser.add_subparsers(dest="command", required=True))
        out = tmp_path / "out"
        args = parser.parse_args(["predict-bgm", "--photo", str(photo), "--plate", str(plate),
                                  "--out-dir", str(out), "--target", str(target), "--size", "32",
                                  "--device", "cpu", "--allow-random-weights"])
        with pytest.warns(RandomWeightsWarning, match="DEMO MODE"):
            with pytest.warns(SegmentationFallbackWarning):
                assert args.func(args) == 0
        printed = capsys.readouterr()
        for suffix in ("matte", "fg", "composite"):
            path = out / f"shot_img_{suffix}.png"
            assert path.is_file() and f"wrote {path}" in printed.out
        assert read_alpha(out / "shot_img_matte.png").shape == (360, 480)
        assert read_image(out / "shot_img_composite.png").shape == (360, 480, 3)
        assert "DEMO MODE" in printed.err

    def test_cli_runs_a_generator_trained_here(self, tmp_path, capsys):
        from mattinglib.train.bgm_recipes import BGMRecipe, start_bgm_run
        from mattinglib.train.runs import load_bgm_generator

        run = tmp_path / "run"
        recipe = BGMRecipe.quick().replace(image_size=32, batch_size=2, train_steps=1,
                                           val_every=1, num_train_samples=2, num_val_samples=1,
                                           real_fraction=0.0, **TINY)
        start_bgm_run(recipe, run, device="cpu", progress=False).fit()
        photo, plate, target = write_scene_files(tmp_path)
        parser = argparse.ArgumentParser(prog="mattinglib")
        add_predict_bgm_command(parser.add_subparsers(dest="command", required=True))
        out = tmp_path / "out"
        args = parser.parse_args(["predict-bgm", "--photo", str(photo), "--plate", str(plate),
                                  "--out-dir", str(out), "--run", str(run), "--size", "32",
                                  "--device", "cpu", "--segmentation", "background"])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RandomWeightsWarning)
            warnings.simplefilter("ignore", SegmentationFallbackWarning)
            assert args.func(args) == 0
            expected = predict_bgm(photo, plate, out_dir=tmp_path / "direct", size=32,
                                   device="cpu", segmentation="background",
                                   generator=load_bgm_generator(run, device="cpu"))
        assert f"generator: the run {run}" in capsys.readouterr().err
        assert np.array_equal(read_alpha(out / "shot_img_matte.png"),
                              read_alpha(expected["matte"]))
        both = parser.parse_args(["predict-bgm", "--photo", str(photo), "--plate", str(plate),
                                  "--out-dir", str(out), "--run", str(run), "--weights", "g.pth"])
        with pytest.raises(SystemExit, match="--weights .* or --run"):
            both.func(both)
        with pytest.raises(TypeError, match="^generator: expected"):
            predict_bgm(photo, plate, out_dir=out, generator="netG.pth")

    def test_cli_without_weights_fails_clearly(self, tmp_path):
        photo, plate, _ = write_scene_files(tmp_path)
        parser = argparse.ArgumentParser(prog="mattinglib")
        add_predict_bgm_command(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["predict-bgm", "--photo", str(photo), "--plate", str(plate),
                                  "--out-dir", str(tmp_path / "out")])
        with pytest.raises(ValueError, match="--weights PATH"):
            args.func(args)
