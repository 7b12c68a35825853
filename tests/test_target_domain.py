"""Generated target-domain captures and the loader of real captured videos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mattinglib.data.target_domain import EFFECTS, CapturedVideoDataset, TargetDomainDataset

SIZE = 32
KEYS = {"image", "bg", "seg", "seg_gt", "multi_fr", "back_rnd"}
OFF = {e: 0.0 for e in EFFECTS}


class TestTargetDomain:
    def test_deterministic_per_seed_and_index(self):
        a, b = TargetDomainDataset(4, SIZE, seed=3), TargetDomainDataset(4, SIZE, seed=3)
        for key, value in a[2].items():
            assert torch.equal(value, b[2][key]), key
        assert not torch.equal(a[1]["image"], a[2]["image"])
        assert not torch.equal(a[1]["image"], TargetDomainDataset(4, SIZE, seed=4)[1]["image"])
        assert torch.equal(a.ground_truth(2)["alpha"], b.ground_truth(2)["alpha"])

    def test_keys_shapes_and_ranges(self):
        ds = TargetDomainDataset(3, SIZE, seed=0)
        channels = {"image": 3, "bg": 3, "seg": 1, "seg_gt": 1, "multi_fr": 4, "back_rnd": 3}
        for i in range(len(ds)):
            sample = ds[i]
            assert set(sample) == KEYS  # the ground truth is not in what training sees
            for key, value in sample.items():
                assert value.dtype == torch.float32
                assert tuple(value.shape) == (channels[key], SIZE, SIZE), key
                assert value.min() >= -1 and value.max() <= 1, key
            truth = ds.ground_truth(i)
            assert set(truth) == {"alpha", "fg"}
            assert tuple(truth["alpha"].shape) == (1, SIZE, SIZE)
            assert tuple(truth["fg"].shape) == (3, SIZE, SIZE)
            for value in truth.values():
                assert value.min() >= 0 and value.max() <= 1
            assert truth["alpha"].max() > 0.5  # there is a subject

    def test_seg_gt_is_a_segmenters_mask_of_the_subject(self):
        ds = TargetDomainDataset(4, 64, seed=5)
        for i in range(len(ds)):
            arrays = ds.arrays(i)
            person = (arrays["alpha"] > 0.5).astype(np.uint8)
            seg_gt = arrays["seg_gt"]
            # certain 3 px inside the person's edge, empty 3 px outside it
            inside = cv2.erode(person, np.ones((7, 7), np.uint8)) == 1
            outside = cv2.dilate(person, np.ones((7, 7), np.uint8)) == 0
            assert inside.any() and outside.any()
            assert (seg_gt[inside] > 0.97).all()
            assert (seg_gt[outside] < 0.03).all()
            assert not np.array_equal(seg_gt, arrays["seg"])  # not the network's soft guide

    def test_without_effects_the_frame_is_the_matting_equation(self):
        ds = TargetDomainDataset(3, SIZE, seed=1, strengths=OFF)
        for i in range(len(ds)):
            arrays = ds.arrays(i)
            a = arrays["alpha"][..., None]
            expected = a * arrays["fg"] + (1 - a) * arrays["bg"]
            # frame and plate are each rounded to 8 bits
            assert np.abs(arrays["image"] - expected).max() <= 1.01 / 255

    @pytest.mark.parametrize("effect, changes_image, changes_plate", [
        ("noise", True, True), ("blur", True, True), ("colour_cast", True, True),
        ("misalignment", False, True), ("exposure", False, True), ("shadow", True, False),
        ("jpeg", True, True), ("segmentation", False, False),
    ])
    def test_each_effect_changes_what_it_should(self, effect, changes_image, changes_plate):
        plain = TargetDomainDataset(2, SIZE, seed=2, strengths=OFF)[1]
        changed = TargetDomainDataset(2, SIZE, seed=2, strengths={**OFF, effect: 1.0})[1]
        assert (not torch.equal(plain["image"], changed["image"])) == changes_image
        assert (not torch.equal(plain["bg"], changed["bg"])) == changes_plate

    def test_coarse_segmentation_widens_only_the_guide(self):
        plain = TargetDomainDataset(3, 64, seed=2, strengths=OFF)
        coarse = TargetDomainDataset(3, 64, seed=2, strengths={**OFF, "segmentation": 1.0})
        for i in range(3):
            a, b = plain.arrays(i), coarse.arrays(i)
            for key in ("image", "bg", "seg_gt", "multi_fr", "back_rnd", "alpha", "fg"):
                assert np.array_equal(a[key], b[key]), key  # its own random stream
            person = (a["alpha"] > 0.5).astype(np.uint8)
            # a halo: within 3 px outside the subject the guide holds much more
            ring = cv2.dilate(person, np.ones((7, 7), np.uint8)).astype(bool) & ~person.astype(bool)
            assert b["seg"][ring].mean() > a["seg"][ring].mean() + 0.15
            assert (b["seg"] > 0.5).sum() > 1.2 * (a["seg"] > 0.5).sum()

    def test_coarse_segmentation_is_off_by_default(self):
        default, off = TargetDomainDataset(2, SIZE, seed=2), TargetDomainDataset(
            2, SIZE, seed=2, strengths={"segmentation": 0.0})
        assert torch.equal(default[1]["seg"], off[1]["seg"])

    def test_blur_softens_the_ground_truth_matte(self):
        sharp = TargetDomainDataset(2, SIZE, seed=2, strengths=OFF).ground_truth(0)["alpha"]
        soft = TargetDomainDataset(2, SIZE, seed=2,
                                   strengths={**OFF, "blur": 1.0}).ground_truth(0)["alpha"]
        assert not torch.equal(sharp, soft)
        assert soft.diff(dim=-1).abs().max() <= sharp.diff(dim=-1).abs().max()

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="^strengths:"):
            TargetDomainDataset(2, SIZE, strengths={"fog": 0.5})
        with pytest.raises(ValueError, match=r"^strengths\['noise'\]: expected a finite number "
                                             r"in \[0, 1\], got 1.5$"):
            TargetDomainDataset(2, SIZE, strengths={"noise": 1.5})
        with pytest.raises(ValueError, match="^size: expected an integer >= 16, got 8$"):
            TargetDomainDataset(2, 8)
        with pytest.raises(TypeError, match="^num_samples: expected an integer >= 1, got True$"):
            TargetDomainDataset(True, SIZE)
        # NumPy integers are integers (they were refused before the checks were shared).
        assert len(TargetDomainDataset(np.int64(2), np.int64(SIZE))) == 2
        with pytest.raises(IndexError, match="^index:"):
            TargetDomainDataset(2, SIZE)[2]


def _write(path, array):
    cv2.imwrite(str(path), array)


@pytest.fixture
def captured(tmp_path):
    rng = np.random.default_rng(0)
    video_a = tmp_path / "video_a"
    video_a.mkdir()
    for k in range(1, 4):
        _write(video_a / f"{k:04d}_img.png", np.full((12, 16, 3), 40 * k, np.uint8))
        _write(video_a / f"{k:04d}_masksDL.png", rng.integers(0, 256, (12, 16), dtype=np.uint8))
    _write(video_a / "video_a_back.png", np.full((12, 16, 3), 200, np.uint8))
    video_b = tmp_path / "video_b"
    video_b.mkdir()
    _write(video_b / "0001_img.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    _write(video_b / "0001_masksDL.png", np.full((12, 16), 255, np.uint8))
    _write(video_b / "0001_back.png", np.zeros((12, 16, 3), np.uint8))
    return tmp_path


class TestCapturedVideo:
    def test_reads_the_tree(self, captured):
        ds = CapturedVideoDataset(captured, frame_gap=1)
        assert len(ds) == 4
        sample = ds[1]  # video_a, second frame
        assert set(sample) == KEYS
        assert tuple(sample["image"].shape) == (3, 12, 16)
        assert tuple(sample["multi_fr"].shape) == (4, 12, 16)
        assert all(v.min() >= -1 and v.max() <= 1 for v in sample.values())
        torch.testing.assert_close(sample["image"], torch.full((3, 12, 16), 80 / 255 * 2 - 1))
        torch.testing.assert_close(sample["bg"], torch.full((3, 12, 16), 200 / 255 * 2 - 1))
        # neighbours -2, -1, +1, +2 clamped to the video: frames 1, 1, 3, 3
        levels = [round(float((v + 1) / 2 * 255)) for v in sample["multi_fr"].mean(dim=(1, 2))]
        assert levels == [40, 40, 120, 120]
        # the random plate comes from the other video
        torch.testing.assert_close(sample["back_rnd"], -torch.ones(3, 12, 16))

    def test_single_photo_repeats_itself_and_own_plate(self, captured):
        ds = CapturedVideoDataset(captured, size=8)
        sample = ds[3]  # video_b
        assert tuple(sample["image"].shape) == (3, 8, 8)
        assert all(torch.equal(sample["multi_fr"][0], sample["multi_fr"][k]) for k in range(4))
        torch.testing.assert_close(sample["bg"], -torch.ones(3, 8, 8))
        torch.testing.assert_close(sample["seg"], torch.ones(1, 8, 8))
        torch.testing.assert_close(sample["seg_gt"], torch.ones(1, 8, 8))

    def test_seg_gt_is_the_file_and_seg_its_soft_guide(self, tmp_path):
        mask = np.zeros((128, 128), np.uint8)
        mask[24:112, 40:88] = 255
        _write(tmp_path / "0001_img.png", np.zeros((128, 128, 3), np.uint8))
        _write(tmp_path / "0001_masksDL.png", mask)
        _write(tmp_path / "0001_back.png", np.zeros((128, 128, 3), np.uint8))
        sample = CapturedVideoDataset(tmp_path)[0]
        torch.testing.assert_close(sample["seg_gt"][0],
                                   torch.from_numpy(mask / 255 * 2 - 1).float())
        guide = (sample["seg"][0] + 1) / 2
        assert not torch.equal(guide, (sample["seg_gt"][0] + 1) / 2)
        assert float(guide[68, 64]) > 0.95  # the middle of the person stays certain
        assert 0.05 < float(guide[24, 64]) < 0.95  # the edge is soft
        assert torch.equal(sample["seg"], CapturedVideoDataset(tmp_path)[0]["seg"])  # seeded

    def test_missing_files(self, captured, tmp_path_factory):
        (captured / "video_a" / "0002_masksDL.png").unlink()
        with pytest.raises(ValueError, match="^root: .*0002_img.png has no segmentation"):
            CapturedVideoDataset(captured)
        with pytest.raises(ValueError, match="^root: no \\*_img.png"):
            CapturedVideoDataset(tmp_path_factory.mktemp("empty"))


class TestCapturedVideoBadFiles:
    """A corrupt file is skipped and counted, as in the folder datasets (data/folders.py)."""

    def test_a_corrupt_frame_is_named_counted_and_replaced(self, captured):
        clean = CapturedVideoDataset(captured, frame_gap=1)
        expected = clean[3]
        (captured / "video_b" / "0001_img.png").write_bytes(b"\x89PNG broken")
        ds = CapturedVideoDataset(captured, frame_gap=1)
        with pytest.warns(RuntimeWarning,
                          match=r"skipped unreadable item 3 \(.*video_b/0001_img.png\)"
                                r".*1 unreadable item\(s\) so far"):
            sample = ds[3]
        # the next readable sample (index 3 + 1 wraps to 0) stands in, exactly as it reads itself
        assert all(torch.equal(sample[k], clean[0][k]) for k in KEYS)
        assert not torch.equal(sample["image"], expected["image"])
        assert ds.bad_files == [str(captured / "video_b" / "0001_img.png")]

    def test_a_broken_neighbour_names_only_that_frame(self, captured):
        (captured / "video_a" / "0001_img.png").write_bytes(b"")
        ds = CapturedVideoDataset(captured, frame_gap=1)
        with pytest.warns(RuntimeWarning) as caught:
            ds[1]  # its motion cue reads frame 0001
        assert len(caught) == 2 and "2 unreadable item(s) so far" in str(caught[-1].message)
        assert ds.bad_files == [str(captured / "video_a" / "0001_img.png")]

    def test_a_corrupt_segmentation_and_scan(self, captured):
        (captured / "video_a" / "0003_masksDL.png").write_text("not a png")
        ds = CapturedVideoDataset(captured, frame_gap=1)
        with pytest.warns(RuntimeWarning, match="0003_masksDL.png"):
            assert ds.scan() == [str(captured / "video_a" / "0003_masksDL.png")]

    def test_nothing_readable_is_an_error(self, captured):
        for plate in ("video_a/video_a_back.png", "video_b/0001_back.png"):
            (captured / plate).write_bytes(b"")
        ds = CapturedVideoDataset(captured)
        with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="none of the 4 items"):
            ds[0]

    def test_train_student_runs_past_a_corrupt_frame(self, captured, tmp_path_factory, capsys):
        """From the command line: the run finishes, the warning names the file."""
        import json

        from mattinglib.__main__ import main
        from mattinglib.models.bgm import BackgroundMattingGenerator
        from mattinglib.train.checkpoint import checkpoint_path, save_checkpoint

        config = dict(ngf=4, nf_part=4, n_blocks1=1, n_blocks2=1, use_motion_features=False)
        teacher = tmp_path_factory.mktemp("teacher")
        (teacher / "run.json").write_text(json.dumps({"model": "bgm", "generator": config}))
        save_checkpoint(checkpoint_path(teacher, 1),
                        {"model": BackgroundMattingGenerator(**config).state_dict()})
        (captured / "video_a" / "0002_img.png").write_bytes(b"\x89PNG broken")
        out = tmp_path_factory.mktemp("student")
        with pytest.warns(RuntimeWarning, match="video_a/0002_img.png"):
            code = main(["train-student", "--teacher", str(teacher), "--captures", str(captured),
                         "--out", str(out), "--size", "16", "--steps", "2", "--batch-size", "2",
                         "--ndf", "4", "--device", "cpu", "--checkpoint-every", "2"])
        assert code == 0
        assert (out / "generator.pth").is_file()
