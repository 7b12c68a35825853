"""An unlabelled target domain for Background Matting's adversarial stage.

The self-supervised stage of Background Matting (Sengupta et al., CVPR 2020)
adapts a teacher trained on clean composites to *real captures*: videos shot
with a hand-held or fixed phone, each with a photo of the empty scene. Those
differ from the composites in ways the teacher never saw. Real captures cannot
be shipped with the course, so :class:`TargetDomainDataset` generates them,
each difference switched on by a strength in ``[0, 1]`` (0 = off):

================  ============================================================
effect            what strength ``s`` does
================  ============================================================
``noise``         sensor noise, Gaussian with sigma ``0.04 s`` (10 grey levels
                  at ``s = 1``), drawn independently for the frame and the plate
``blur``          lens blur, Gaussian with sigma ``1.5 s * max(1, size / 256)`` px
``colour_cast``   white balance: per-channel gains ``1 + 0.25 s u``, ``u`` in
                  ``[-1, 1]``, the same for frame and plate (same camera)
``misalignment``  the plate is warped by a homography whose four corners move by
                  up to ``0.04 s * size`` px (a hand-held camera moved a little)
``exposure``      the plate is exposed differently: gain ``2 ** (0.5 s u)`` and
                  gamma ``1 + 0.2 s v``, ``u, v`` in ``[-1, 1]``
``shadow``        the subject casts a soft shadow on the background (darkening
                  up to ``0.6 s``); the plate, shot without the subject, has none
``jpeg``          both are JPEG-compressed with quality ``round(95 - 70 s)``
``segmentation``  the soft guide comes from a coarser segmentation than the
                  teacher was trained with: dilated by ``0.125 s S u`` px
                  (``u`` in ``[0.75, 1]``) and blurred by half that; 8 px at
                  ``S = 64``, ``s = 1``. Off by default (strength 0)
================  ============================================================

Only ``segmentation`` reaches the teacher of the CPU recipe: its errors grow
with the guide's halo, while the plate effects leave them where they were
(it learned to lean on the guide and the frame more than on the plate; the
gate measurements of :mod:`mattinglib.train.student_gates` show it).

Frame and plate are quantised to 8 bits, as a camera delivers them. The
subject is a :class:`~mattinglib.data.synthetic.SyntheticForegrounds` layer,
the scene a :func:`~mattinglib.data.synthetic.procedural_background`.

**What training sees.** ``dataset[i]`` returns the keys of the supervised
samples of :mod:`mattinglib.data.bgm` that a real capture can provide, all
float32 tensors in ``[-1, 1]``: ``image (3, S, S)``, ``bg (3, S, S)`` (the
captured plate), ``seg (1, S, S)`` (the soft guide the generator sees, made
like the supervised stage's by :func:`mattinglib.data.bgm.fake_segmentation`),
``seg_gt (1, S, S)`` (what a segmentation network would output: the subject's
``alpha > 0.5``, its edge softened by a Gaussian of ``max(1, S / 256)`` px; the
composition loss of the adversarial stage covers ``seg_gt > 0.95``, as the
original's ``seg-gt``), ``multi_fr (4, S, S)`` (grey
neighbouring frames, :func:`mattinglib.data.bgm.motion_cue`) and
``back_rnd (3, S, S)``, a captured plate of another scene (the original's
``back-rnd``, a separate set of captured background videos). The ground truth
is *not* among them: :meth:`TargetDomainDataset.ground_truth` returns it, in
``[0, 1]``, for evaluation only.

Sample ``i`` depends only on ``(seed, i)``.

:class:`CapturedVideoDataset` reads real captures laid out like the authors'
released captured data, for users who have them.

>>> ds = TargetDomainDataset(2, 32, seed=0)
>>> sorted(ds[0])
['back_rnd', 'bg', 'image', 'multi_fr', 'seg', 'seg_gt']
>>> gt = ds.ground_truth(0)
>>> tuple(gt["alpha"].shape), tuple(gt["fg"].shape)
((1, 32, 32), (3, 32, 32))
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import check_index, check_int, check_number
from .bgm import fake_segmentation, motion_cue, segmentation_guide, to_bgm_range
from .composition import to_chw
from .folders import SkippingSource, UnreadableFileError
from .pool import PooledSource
from .synthetic import (
    KINDS,
    SyntheticForegrounds,
    blur01,
    check_seed,
    from_u16,
    procedural_background,
    rng_for,
    to_u16,
)

__all__ = ["EFFECTS", "DEFAULT_STRENGTHS", "TRAINING_KEYS", "TargetDomainDataset",
           "CapturedVideoDataset"]

#: The effects that make the target domain differ from the teacher's training data.
EFFECTS = ("noise", "blur", "colour_cast", "misalignment", "exposure", "shadow", "jpeg",
           "segmentation")
#: Moderate strengths: every camera and plate effect on, none overwhelming; the coarse
#: segmentation off (it came later; on, it changes every capture's guide).
DEFAULT_STRENGTHS: Mapping[str, float] = {e: (0.0 if e == "segmentation" else 0.5)
                                          for e in EFFECTS}
#: What ``dataset[i]`` returns: the inputs a real capture provides, no ground truth.
TRAINING_KEYS = ("image", "bg", "seg", "seg_gt", "multi_fr", "back_rnd")

# Random streams of one seed (synthetic.py uses 1 and 2, bgm.py 4).
STREAM_TARGET = 7
STREAM_OTHER_PLATE = 8
STREAM_GUIDE = 9
STREAM_COARSE = 10


def _check_strengths(strengths: Mapping[str, float] | None) -> dict[str, float]:
    if strengths is None:
        return dict(DEFAULT_STRENGTHS)
    if not isinstance(strengths, Mapping):
        raise ValueError(f"strengths: expected a dict effect -> strength, "
                         f"got {type(strengths).__name__}")
    unknown = sorted(set(strengths) - set(EFFECTS))
    if unknown:
        raise ValueError(f"strengths: unknown effects {unknown}; known: {list(EFFECTS)}")
    out = dict(DEFAULT_STRENGTHS)
    for name, value in strengths.items():
        out[name] = check_number(value, f"strengths[{name!r}]", minimum=0, maximum=1)
    return out


def _quantise(x: np.ndarray) -> np.ndarray:
    """float [0, 1] -> the 8-bit levels a camera writes (as float32 in [0, 1])."""
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


class _Camera:
    """The per-sample camera of one capture: white balance, lens, sensor, codec."""

    def __init__(self, s: Mapping[str, float], rng: np.random.Generator, size: int) -> None:
        self.s = s
        self.gains = (1 + 0.25 * s["colour_cast"] * rng.uniform(-1, 1, 3)).astype(np.float32)
        self.blur_sigma = 1.5 * s["blur"] * max(1.0, size / 256)
        self.noise_sigma = np.float32(0.04 * s["noise"])
        self.quality = int(round(95 - 70 * s["jpeg"]))

    def optics(self, x: np.ndarray) -> np.ndarray:
        """White balance and lens blur: linear, so they also apply to the ground truth."""
        x = np.clip(x * self.gains, 0, 1)
        return blur01(x, self.blur_sigma) if self.blur_sigma > 0 else x

    def sensor(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noise, 8-bit quantisation and JPEG: float [0, 1] in, float32 [0, 1] out."""
        if self.noise_sigma > 0:
            x = x + self.noise_sigma * rng.standard_normal(x.shape, dtype=np.float32)
        u8 = _quantise(x)
        if self.s["jpeg"] > 0:
            ok, buf = cv2.imencode(".jpg", u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            u8 = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        return u8.astype(np.float32) / np.float32(255.0)


def _misalign(plate: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Warp by a random homography (corners moved by up to ``0.04 strength size`` px)."""
    h, w = plate.shape[:2]
    corners = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    reach = np.float32(0.04 * strength * min(h, w))
    moved = corners + rng.uniform(-1, 1, (4, 2)).astype(np.float32) * reach
    matrix = cv2.getPerspectiveTransform(corners, moved)
    warped = cv2.warpPerspective(to_u16(plate), matrix, (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT_101)
    return from_u16(warped)


def _expose(plate: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    gain = 2.0 ** (0.5 * strength * rng.uniform(-1, 1))
    gamma = 1.0 + 0.2 * strength * rng.uniform(-1, 1)
    return np.power(np.clip(plate * np.float32(gain), 0, 1), np.float32(gamma)).astype(np.float32)


def _shadow(alpha: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The darkening factor (H, W) of a soft shadow cast by the subject: 1 = unshaded."""
    h, w = alpha.shape
    angle = rng.uniform(0, 2 * math.pi)
    length = 0.08 * min(h, w) * rng.uniform(0.5, 1.0)
    shift = np.float32([[1, 0, length * math.cos(angle)], [0, 1, length * math.sin(angle)]])
    cast = from_u16(cv2.warpAffine(to_u16(alpha), shift, (w, h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0))
    cast = blur01(cast, 0.04 * min(h, w) + 0.5)
    return 1 - np.float32(0.6 * strength) * cast


def _coarsen(guide: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A coarser segmentation's guide: dilated by ``0.125 strength S u`` px, then blurred."""
    radius = max(1, round(0.125 * strength * min(guide.shape) * rng.uniform(0.75, 1.0)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return blur01(cv2.dilate(guide, kernel), radius / 2)


class TargetDomainDataset(Dataset):
    """Generated "real captures" for the teacher-student stage (see the module docstring).

    Args:
        num_samples: the dataset's length.
        size: square side ``S`` of every tensor (at least 16).
        seed: non-negative int; sample ``i`` depends only on ``(seed, i)``.
        strengths: effect -> strength in ``[0, 1]`` (missing effects keep
            :data:`DEFAULT_STRENGTHS`; ``{e: 0 for e in EFFECTS}`` switches all off).
        kinds: synthetic foreground kinds of the subjects.
        pool: 0: sample ``i`` is capture ``i``, simulated when asked for; ``n > 0``:
            sample ``i`` is capture ``i mod n``, each of the ``n`` captures simulated
            once per process and kept in uint16 fixed point, shared by the loader's
            workers (:mod:`mattinglib.data.pool`): a fixed set of captures, as a
            recorded set of videos is. :meth:`ground_truth` follows the same mapping.

    Returns (``dataset[i]``):
        ``{"image", "bg", "seg", "seg_gt", "multi_fr", "back_rnd"}``, float32
        tensors in ``[-1, 1]`` of shapes ``(3|3|1|1|4|3, S, S)``. No ground truth: see
        :meth:`ground_truth`.
    """

    def __init__(self, num_samples: int, size: int = 64, seed: int = 0, *,
                 strengths: Mapping[str, float] | None = None,
                 kinds: Sequence[str] = KINDS, pool: int = 0) -> None:
        num_samples = check_int(num_samples, "num_samples", minimum=1)
        size = check_int(size, "size", minimum=16)
        self.num_samples, self.size = num_samples, size
        self.seed = check_seed(seed)
        self.strengths = _check_strengths(strengths)
        self.foregrounds = SyntheticForegrounds(size, self.seed, kinds=kinds, length=num_samples)
        check_int(pool, "pool", minimum=0)
        self.pool = PooledSource(_Captures(self), min(pool, num_samples)) if pool else None

    def __len__(self) -> int:
        return self.num_samples

    def capture(self, index: int) -> int:
        """Which simulated capture sample ``index`` is (``index mod pool`` with a pool)."""
        index = check_index(index, len(self))
        return index % self.pool.pool_size if self.pool is not None else index

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """All of sample ``index`` as float32 NumPy arrays in ``[0, 1]``, ground truth included.

        Keys: ``image, bg, back_rnd`` ``(S, S, 3)``, ``seg, seg_gt`` ``(S, S)``,
        ``multi_fr`` ``(S, S, 4)``, and the ground truth ``alpha`` ``(S, S)``
        and ``fg`` ``(S, S, 3)`` (the subject as the camera sees it, before
        noise and JPEG). Training code should use ``dataset[i]`` instead.
        """
        index = check_index(index, len(self))
        s, n = self.strengths, self.size
        rng = rng_for(self.seed, STREAM_TARGET, index)
        fg, alpha, _ = self.foregrounds.sample(index)
        scene = procedural_background(n, rng)
        camera = _Camera(s, rng, n)

        # The plate is shot without the subject, so it has no shadow; then the
        # camera moved a little and metered the empty scene differently.
        plate = scene
        if s["misalignment"] > 0:
            plate = _misalign(plate, s["misalignment"], rng)
        if s["exposure"] > 0:
            plate = _expose(plate, s["exposure"], rng)
        shaded = scene * _shadow(alpha, s["shadow"], rng)[..., None] if s["shadow"] > 0 else scene

        a = alpha[..., None]
        # White balance and blur are linear: the camera's view of the subject is the
        # blurred premultiplied colour over the blurred alpha (the matte to recover).
        premult = camera.optics(a * fg)
        alpha_cam = blur01(alpha, camera.blur_sigma) if camera.blur_sigma > 0 else alpha
        image = premult + camera.optics((1 - a) * shaded)
        fg_cam = np.where(alpha_cam[..., None] > 1e-3,
                          premult / np.maximum(alpha_cam[..., None], np.float32(1e-3)),
                          np.clip(fg * camera.gains, 0, 1))
        fg_cam = np.clip(fg_cam, 0, 1).astype(np.float32)

        image = camera.sensor(image, rng)
        plate = camera.sensor(camera.optics(plate), rng)
        other_rng = rng_for(self.seed, STREAM_OTHER_PLATE, index)
        back_rnd = camera.sensor(camera.optics(procedural_background(n, other_rng)), other_rng)
        # The segmentation network and the neighbouring frames see the subject, not the matte.
        seg = fake_segmentation(alpha_cam, rng, scale=n / 800)
        if s["segmentation"] > 0:  # its own stream: the other effects' draws stay the same
            seg = _coarsen(seg, s["segmentation"], rng_for(self.seed, STREAM_COARSE, index))
        seg_gt = blur01((alpha_cam > 0.5).astype(np.float32), max(1.0, n / 256))
        frames = motion_cue(fg_cam, alpha_cam, camera.optics(shaded), rng, scale=n / 800)
        return {"image": image, "bg": plate, "seg": seg, "seg_gt": seg_gt, "multi_fr": frames,
                "back_rnd": back_rnd,
                "alpha": alpha_cam.astype(np.float32), "fg": fg_cam}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.pool is not None:
            stored = self.pool.sample_raw(self.capture(index))
            return {k: to_bgm_range(to_chw(from_u16(v))) for k, v in zip(TRAINING_KEYS, stored)}
        arrays = self.arrays(index)
        return {k: to_bgm_range(to_chw(arrays[k])) for k in TRAINING_KEYS}

    def ground_truth(self, index: int) -> dict[str, torch.Tensor]:
        """The held-out truth of sample ``index``, for evaluation only.

        Returns:
            ``{"alpha": (1, S, S), "fg": (3, S, S)}``, float32 tensors in ``[0, 1]``
            (not the model's ``[-1, 1]``).
        """
        arrays = self.arrays(self.capture(index))
        return {"alpha": to_chw(arrays["alpha"]), "fg": to_chw(arrays["fg"])}


class _Captures:
    """The training arrays of a :class:`TargetDomainDataset`'s captures, as a pool's source."""

    def __init__(self, dataset: TargetDomainDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def sample(self, index: int) -> tuple[np.ndarray, ...]:
        arrays = self.dataset.arrays(index)
        return tuple(np.clip(arrays[k], 0, 1) for k in TRAINING_KEYS)


# --------------------------------------------------------------------------- real captures

_FRAME = re.compile(r"^(?P<stem>.*)_img\.png$")


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UnreadableFileError(f"root: cannot read the image {path}", path)
    return img[..., ::-1].astype(np.float32) / np.float32(255.0)


def _read_grey(path: Path) -> np.ndarray:
    img = cv2.imread(os.fspath(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise UnreadableFileError(f"root: cannot read the image {path}", path)
    return img.astype(np.float32) / np.float32(255.0)


class CapturedVideoDataset(SkippingSource, Dataset):
    """Real captures laid out like Background Matting's released captured data.

    Expected tree (every folder below ``root`` that holds ``*_img.png`` frames
    is one video; ``root`` itself may be one)::

        root/
          video_a/
            0001_img.png        a frame, RGB
            0001_masksDL.png    its soft segmentation, grey 0..255 (DeepLab in the original)
            0002_img.png
            0002_masksDL.png
            ...
            video_a_back.png    the background plate of the video: the only
                                *_back.png of the folder that is not a frame's
          video_b/
            0001_img.png  0001_masksDL.png  0001_back.png  ...
                                a frame may also have its own plate <stem>_back.png
                                (the layout of the authors' sample photos)

    Frames of a folder are ordered by name. The motion cue holds the grey
    frames ``-2g, -g, +g, +2g`` around each frame (``g = frame_gap``), clamped
    to the video's first and last frame, so a single photo gets four copies
    of itself, as the original does for photos. ``seg_gt`` is the segmentation
    file itself and ``seg`` the soft guide made from it
    (:func:`mattinglib.data.bgm.segmentation_guide`, drawn from ``(seed, index)``,
    pixel sizes scaled by ``H / 512``), as the original's loader does. ``back_rnd`` is the plate of
    another video (of the same one when there is only one), chosen from
    ``(seed, index)``.

    Args:
        root: the folder above.
        size: ``None`` keeps the native size (all frames of a batch must then
            agree); an int resizes every image to ``size x size`` (area
            interpolation).
        frame_gap: frames between the neighbours of the motion cue.
        seed: non-negative int.

    Returns (``dataset[i]``):
        ``{"image", "bg", "seg", "seg_gt", "multi_fr", "back_rnd"}``, float32
        tensors in ``[-1, 1]`` of shapes ``(3|3|1|1|4|3, H, W)``.

    A file that cannot be read (a corrupt frame, segmentation or plate) does
    not stop training: as in the folder datasets
    (:mod:`mattinglib.data.folders`), it is recorded in ``bad_files``, a
    warning names it with the running count of skipped samples, and the next
    readable sample (index + 1, + 2, ...) is returned instead. The frames
    whose motion cue reads a broken frame are skipped the same way.

    Raises:
        ValueError: no frames under ``root``, a frame without its
            ``_masksDL.png``, or a video without (or with several) plates.
        RuntimeError: no sample at all can be read.
    """

    def __init__(self, root: str | os.PathLike, *, size: int | None = None, frame_gap: int = 5,
                 seed: int = 0) -> None:
        super().__init__()
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"root: {root} is not a folder")
        size = check_int(size, "size", minimum=4, optional=True)
        frame_gap = check_int(frame_gap, "frame_gap", minimum=1)
        self.root, self.size, self.frame_gap = root, size, frame_gap
        self.seed = check_seed(seed)
        self.videos: list[list[Path]] = []
        self.plates: list[Path | None] = []
        self.items: list[tuple[int, int, Path]] = []  # (video, position, plate)
        folders = sorted({p.parent for p in root.rglob("*_img.png")})
        for folder in folders:
            frames = sorted(p for p in folder.glob("*_img.png"))
            stems = {_FRAME.match(p.name).group("stem") for p in frames}
            shared = [p for p in sorted(folder.glob("*_back.png")) if p.name[:-9] not in stems]
            if len(shared) > 1:
                raise ValueError(f"root: {folder} holds several background plates "
                                 f"{[p.name for p in shared]}; expected one per video")
            v = len(self.videos)
            for pos, frame in enumerate(frames):
                stem = _FRAME.match(frame.name).group("stem")
                if not (folder / f"{stem}_masksDL.png").is_file():
                    raise ValueError(f"root: {frame} has no segmentation {stem}_masksDL.png")
                own = folder / f"{stem}_back.png"
                plate = own if own.is_file() else (shared[0] if shared else None)
                if plate is None:
                    raise ValueError(f"root: {frame} has no background plate ({stem}_back.png "
                                     f"or one *_back.png in {folder})")
                self.items.append((v, pos, plate))
            self.videos.append(frames)
        if not self.items:
            raise ValueError(f"root: no *_img.png frames under {root}")

    def __len__(self) -> int:
        return len(self.items)

    def _resize(self, x: np.ndarray) -> np.ndarray:
        if self.size is None or x.shape[:2] == (self.size, self.size):
            return x
        return cv2.resize(x, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def _files(self, index: int) -> dict[str, Any]:
        """The files sample ``index`` reads: frame, segmentation, plate, neighbours, other plate."""
        v, pos, plate = self.items[index]
        frames = self.videos[v]
        frame = frames[pos]
        stem = _FRAME.match(frame.name).group("stem")
        neighbours = [frames[min(max(pos + k * self.frame_gap, 0), len(frames) - 1)]
                      for k in (-2, -1, 1, 2)]
        rng = rng_for(self.seed, STREAM_OTHER_PLATE, index)
        others = [i for i, (ov, _, _) in enumerate(self.items) if ov != v] or list(range(len(self)))
        other_plate = self.items[others[int(rng.integers(len(others)))]][2]
        return {"frame": frame, "seg": frame.with_name(f"{stem}_masksDL.png"), "plate": plate,
                "neighbours": neighbours, "other_plate": other_plate}

    def _paths(self, index: int) -> list[Path]:
        files = self._files(index)
        return [files["frame"], files["seg"], files["plate"], *files["neighbours"],
                files["other_plate"]]

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """Sample ``index`` (or the next readable one) as float32 arrays in ``[0, 1]``.

        Shapes ``(H, W, C)`` or ``(H, W)``.
        """
        return self._load(check_index(index, len(self)))

    def _read(self, index: int) -> dict[str, np.ndarray]:
        files = self._files(index)
        grey = [self._resize(cv2.cvtColor(_read_rgb(p), cv2.COLOR_RGB2GRAY))
                for p in files["neighbours"]]
        seg_gt = self._resize(_read_grey(files["seg"]))
        guide_rng = rng_for(self.seed, STREAM_GUIDE, index)
        return {
            "image": self._resize(_read_rgb(files["frame"])),
            "bg": self._resize(_read_rgb(files["plate"])),
            "seg": segmentation_guide(seg_gt, guide_rng, scale=seg_gt.shape[0] / 512),
            "seg_gt": seg_gt,
            "multi_fr": np.stack(grey, axis=2),
            "back_rnd": self._resize(_read_rgb(files["other_plate"])),
        }

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: to_bgm_range(to_chw(v)) for k, v in self.arrays(index).items()}
