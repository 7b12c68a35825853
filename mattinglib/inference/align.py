"""Aligning a hand-held background plate to the photo (Background Matting pre-processing).

Background Matting needs a photo of the scene *without* the person (the
"captured background", or plate). Shot by hand a few seconds apart, the plate
is shifted, rotated and slightly zoomed with respect to the photo, and its
exposure may differ. The authors' Python pre-processing (senguptaumd/
Background-Matting, ``test_pre_process.py``) registers the plate to the photo
with AKAZE features and a RANSAC homography; their MATLAB version also fits a
bias-gain exposure correction. :func:`align_background` does both:

1. grey versions of both images, reduced so that the long side is at most
   ``max_side`` pixels (features are found faster there and the homography is
   scaled back to full resolution);
2. AKAZE features as the original, where this OpenCV has them (AKAZE left
   the main package in OpenCV 5; there ``method="auto"`` uses SIFT), or ORB,
   matched by brute force with Lowe's ratio test; photo features inside an
   optional ``mask`` (the person, who is not in the plate) are not detected;
3. a RANSAC homography plate -> photo, rejected with :class:`AlignmentError`
   when too few features match or the homography is degenerate (a different
   scene, an image of noise), instead of producing a silently wrong matte;
4. the plate warped into the photo's frame, then optionally a per-channel
   ``photo ~ gain * plate + bias`` fit on the pixels where the two agree
   (a trimmed least-squares fit: the person and parallax are outliers).

A homography is exact only for a planar scene or a camera that rotates about
its centre; a hand-held camera also translates a little, so nearby objects
keep a few pixels of parallax. The reported ``residual_px`` (the RMS
reprojection error of the inlier features) measures how well the model fits.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> noise = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
>>> align_background(noise, rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
Traceback (most recent call last):
...
mattinglib.inference.align.AlignmentError: plate: could not be aligned to photo: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .._checks import as_float01, check_int, check_number, check_range, check_shape

__all__ = [
    "AlignResult",
    "AlignmentError",
    "align_background",
    "available_methods",
    "fit_bias_gain",
    "to_grey_uint8",
]

#: Lowe's ratio test: keep a match only when its best descriptor distance is
#: clearly smaller than the second best (0.8 is the value of Lowe's SIFT paper).
_RATIO = 0.8


class AlignmentError(ValueError):
    """The background plate could not be registered to the photo.

    Raised instead of returning a misaligned plate, which would make the
    matting network see the whole scene as foreground.
    """


@dataclass
class AlignResult:
    """The plate in the photo's frame, and how well it was aligned.

    Attributes:
        plate: float32 ``(H, W, 3)`` in [0, 1], the plate warped into the
            photo's ``H x W`` frame (and exposure-corrected when asked).
            Pixels the plate does not cover repeat its nearest edge pixel.
        homography: float64 ``(3, 3)`` mapping plate pixel coordinates
            ``(x, y, 1)`` to photo pixel coordinates, at full resolution.
        valid: bool ``(H, W)``, the photo pixels the warped plate covers.
        num_matches: feature matches that passed the ratio test.
        num_inliers: matches consistent with the homography (RANSAC).
        inlier_ratio: ``num_inliers / num_matches``.
        residual_px: RMS reprojection error of the inliers, in full-resolution
            photo pixels.
        inlier_points: float32 ``(num_inliers, 2)`` photo ``(x, y)`` of the inliers.
        gain, bias: float64 ``(3,)`` exposure correction per RGB channel
            (``photo ~ gain * plate + bias``, values in [0, 1] units); ones and
            zeros when ``exposure=False``.
        method: the detector used: ``"akaze"``, ``"sift"`` or ``"orb"``.
    """

    plate: np.ndarray
    homography: np.ndarray
    valid: np.ndarray
    num_matches: int
    num_inliers: int
    inlier_ratio: float
    residual_px: float
    inlier_points: np.ndarray = field(repr=False)
    gain: np.ndarray
    bias: np.ndarray
    method: str

    @property
    def coverage(self) -> float:
        """Fraction of the photo covered by the warped plate."""
        return float(self.valid.mean())


# --------------------------------------------------------------------------- helpers


def _rgb01(x, name: str) -> np.ndarray:
    check_shape(x, "H,W,3", name=name)
    return as_float01(x, name=name).astype(np.float32)


def to_grey_uint8(image: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601 weights, as OpenCV's ``RGB2GRAY``) of an RGB float image, as uint8.

    Args:
        image: ``(H, W, 3)`` float in [0, 1].

    Returns:
        uint8 ``(H, W)``.

    >>> to_grey_uint8(np.ones((1, 2, 3), dtype=np.float32))
    array([[255, 255]], dtype=uint8)
    """
    grey = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.round(np.clip(grey, 0.0, 1.0) * 255.0).astype(np.uint8)


def _reduce(grey: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the long side is at most ``max_side``; returns the image and the scale used."""
    scale = min(1.0, max_side / max(grey.shape))
    if scale == 1.0:
        return grey, 1.0
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    # The exact per-axis factors differ from ``scale`` by rounding; use their mean.
    return small, 0.5 * (size[0] / grey.shape[1] + size[1] / grey.shape[0])


def available_methods() -> tuple[str, ...]:
    """The feature detectors this OpenCV build offers, among ``"akaze"``, ``"sift"``, ``"orb"``.

    AKAZE (the authors' choice) left OpenCV's main modules in OpenCV 5 (it is
    in ``opencv-contrib-python`` there); SIFT and ORB are always present.

    >>> {"sift", "orb"} <= set(available_methods())
    True
    """
    return (("akaze",) if hasattr(cv2, "AKAZE_create") else ()) + ("sift", "orb")


def _resolve_method(method: str) -> str:
    if method == "auto":
        return available_methods()[0]
    if method not in ("akaze", "sift", "orb"):
        raise ValueError(f"method: expected 'auto', 'akaze', 'sift' or 'orb', got {method!r}")
    if method not in available_methods():
        raise ValueError(f"method: {method!r} is not in this OpenCV build ({cv2.__version__}); "
                         "AKAZE moved to opencv-contrib-python in OpenCV 5. Use method='auto' "
                         "(SIFT here) or 'orb', or install opencv-contrib-python.")
    return method


def _detector(method: str):
    """The detector and the descriptor norm to match it with."""
    if method == "akaze":
        # A lower threshold than the default 1e-3 finds enough features on
        # the smooth, reduced images (sky, walls) to survive the ratio test.
        return cv2.AKAZE_create(threshold=5e-4), cv2.NORM_HAMMING
    if method == "sift":
        return cv2.SIFT_create(nfeatures=8000), cv2.NORM_L2
    return cv2.ORB_create(nfeatures=8000), cv2.NORM_HAMMING


def _detection_mask(person: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Detection mask at the reduced ``size`` (w, h): 255 = may detect, 0 = the person, dilated."""
    small = cv2.resize(person.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    # Features right at the silhouette describe the person's edge over the
    # scene, which the plate does not show either: widen the exclusion.
    radius = max(1, round(0.01 * max(size)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return np.where(cv2.dilate(small, kernel) > 0, 0, 255).astype(np.uint8)


def _check_homography(h: np.ndarray, plate_hw: tuple[int, int],
                      photo_hw: tuple[int, int]) -> str | None:
    """Why a homography is implausible for two shots of one scene, or ``None`` when it is fine."""
    if not np.isfinite(h).all() or abs(h[2, 2]) < 1e-12:
        return "the homography is not finite"
    ph, pw = plate_hw
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float64)
    mapped_h = np.c_[corners, np.ones(4)] @ h.T
    if (mapped_h[:, 2] <= 0).any():
        return "the homography folds the plate behind the camera"
    mapped = mapped_h[:, :2] / mapped_h[:, 2:]
    edges = np.roll(mapped, -1, axis=0) - mapped
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    if not ((turns > 0).all() or (turns < 0).all()):
        return "the homography maps the plate to a self-intersecting (non-convex) quadrilateral"
    x, y = mapped[:, 0], mapped[:, 1]
    area = 0.5 * abs(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))  # shoelace formula
    # Plate and photo come from the same hand-held camera, so the plate's
    # footprint in the photo has about the photo's area (whatever the plate's
    # resolution); a zoom by more than 2 in either direction is not a re-shot plate.
    area_ratio = area / (photo_hw[0] * photo_hw[1])
    if not 0.25 <= area_ratio <= 4.0:
        return f"the plate's footprint in the photo is {area_ratio:.3g} times the photo's area"
    return None


def fit_bias_gain(photo: np.ndarray, plate: np.ndarray, region: np.ndarray, *,
                  keep: float = 0.6, iterations: int = 3,
                  max_pixels: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Robust per-channel ``photo ~ gain * plate + bias`` on the pixels of ``region``.

    A trimmed least-squares fit: each round fits every channel by least squares
    on the ``keep`` fraction of pixels whose current colour error is smallest,
    so that the person, moving leaves and parallax (large errors) do not bias
    the exposure change.

    Args:
        photo, plate: float ``(H, W, 3)`` in [0, 1], already aligned.
        region: bool ``(H, W)``, the pixels that may be used.
        keep: fraction of the region's pixels kept in each round, in (0, 1].
        iterations: rounds of refitting (the first starts from gain 1, bias 0).
        max_pixels: at most this many pixels are used (an even subsample).

    Returns:
        ``(gain, bias)``, each float64 ``(3,)``.

    >>> x = np.linspace(0, 1, 300, dtype=np.float32).reshape(10, 10, 3)
    >>> gain, bias = fit_bias_gain(0.8 * x + 0.1, x, np.ones((10, 10), bool))
    >>> np.round(gain, 3).tolist(), np.round(bias, 3).tolist()
    ([0.8, 0.8, 0.8], [0.1, 0.1, 0.1])
    """
    check_shape(photo, "H,W,3", name="photo")
    check_shape(plate, f"{photo.shape[0]},{photo.shape[1]},3", name="plate")
    check_shape(region, f"{photo.shape[0]},{photo.shape[1]}", name="region")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep: expected a fraction in (0, 1], got {keep!r}")
    idx = np.flatnonzero(region)
    if idx.size < 100:
        raise ValueError("region: expected at least 100 pixels to fit the "
                         f"exposure, got {idx.size}")
    if idx.size > max_pixels:
        idx = idx[:: -(-idx.size // max_pixels)]
    p = photo.reshape(-1, 3)[idx].astype(np.float64)
    q = plate.reshape(-1, 3)[idx].astype(np.float64)
    gain, bias = np.ones(3), np.zeros(3)
    for _ in range(iterations):
        error = np.abs(q * gain + bias - p).sum(axis=1)
        chosen = error <= np.quantile(error, keep)
        qs, ps = q[chosen], p[chosen]
        mean_q, mean_p = qs.mean(axis=0), ps.mean(axis=0)
        var_q = ((qs - mean_q) ** 2).mean(axis=0)
        cov = ((qs - mean_q) * (ps - mean_p)).mean(axis=0)
        # A flat channel (no variance) carries no gain information: keep gain 1.
        gain = np.where(var_q > 1e-8, cov / np.maximum(var_q, 1e-8), 1.0)
        bias = mean_p - gain * mean_q
    return gain, bias


# --------------------------------------------------------------------------- alignment


def align_background(photo: np.ndarray, plate: np.ndarray, *, method: str = "auto",
                     ransac_threshold: float = 3.0, exposure: bool = True,
                     mask: np.ndarray | None = None, max_side: int = 1000, min_inliers: int = 25,
                     min_coverage: float = 0.5) -> AlignResult:
    """Register a captured background plate to the photo with a feature homography.

    Args:
        photo: RGB ``(H, W, 3)``, uint8 or float in [0, 1]: the picture with the person.
        plate: RGB ``(h, w, 3)`` of the same scene without the person, same
            dtype rules; any size (it is warped into the photo's frame).
        method: ``"auto"`` (AKAZE, as the authors' Python pre-processing,
            when this OpenCV has it, else SIFT: see :func:`available_methods`),
            ``"akaze"``, ``"sift"`` or ``"orb"``.
        ransac_threshold: RANSAC inlier threshold in pixels of the reduced
            images (long side ``max_side``), i.e. about twice that at 1080p.
        exposure: fit and apply a per-channel bias-gain correction after warping.
        mask: optional ``(H, W)`` person mask of the photo (bool, or float in
            [0, 1] where ``>= 0.5`` is the person); features there are ignored
            and so are those pixels in the exposure fit.
        max_side: long side of the images the features are detected on.
        min_inliers: fewer RANSAC inliers than this is a failure.
        min_coverage: the warped plate must cover at least this fraction of the photo.

    Returns:
        An :class:`AlignResult` with the warped plate and the quality numbers.

    Raises:
        ValueError: bad arguments (the message names the argument).
        AlignmentError: too few matches or inliers, or an implausible homography.
    """
    photo = _rgb01(photo, "photo")
    plate = _rgb01(plate, "plate")
    method = _resolve_method(method)
    ransac_threshold = check_number(ransac_threshold, "ransac_threshold", minimum=0,
                                    min_open=True)  # pixels
    max_side = check_int(max_side, "max_side", minimum=64)
    H, W = photo.shape[:2]
    person = None
    if mask is not None:
        check_shape(mask, f"{H},{W}", name="mask")
        if mask.dtype != np.bool_:
            check_range(mask, 0.0, 1.0, name="mask")
        person = mask if mask.dtype == np.bool_ else mask >= 0.5

    photo_small, s_photo = _reduce(to_grey_uint8(photo), max_side)
    plate_small, s_plate = _reduce(to_grey_uint8(plate), max_side)
    detect_mask = None
    if person is not None:
        detect_mask = _detection_mask(person, photo_small.shape[::-1])

    detector, norm = _detector(method)
    kp_photo, des_photo = detector.detectAndCompute(photo_small, detect_mask)
    kp_plate, des_plate = detector.detectAndCompute(plate_small, None)
    fail = "plate: could not be aligned to photo: "
    if des_photo is None or des_plate is None or len(kp_photo) < 4 or len(kp_plate) < 4:
        raise AlignmentError(fail + f"too few {method.upper()} features "
                             f"({len(kp_photo)} in the photo, {len(kp_plate)} in the plate)")
    pairs = cv2.BFMatcher(norm).knnMatch(des_plate, des_photo, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
    if len(good) < min_inliers:
        raise AlignmentError(fail + f"only {len(good)} feature matches pass the ratio test "
                             f"(at least {min_inliers} needed): is it the same scene?")
    # Full-resolution coordinates: the homography and residuals are reported there.
    src = np.float32([kp_plate[m.queryIdx].pt for m in good]) / s_plate
    dst = np.float32([kp_photo[m.trainIdx].pt for m in good]) / s_photo
    threshold_full = ransac_threshold / s_photo
    homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC,
                                             ransacReprojThreshold=threshold_full,
                                             maxIters=5000, confidence=0.999)
    if homography is None:
        raise AlignmentError(fail + f"RANSAC found no homography among {len(good)} matches")
    inliers = inliers.ravel().astype(bool)
    num_inliers = int(inliers.sum())
    if num_inliers < min_inliers:
        raise AlignmentError(fail + f"only {num_inliers} of {len(good)} matches agree on one "
                             f"homography (at least {min_inliers} needed): a different scene, or "
                             "too little texture?")
    problem = _check_homography(homography, plate.shape[:2], (H, W))
    if problem:
        raise AlignmentError(fail + problem)

    projected = cv2.perspectiveTransform(src[inliers][None], homography)[0]
    residual = float(np.sqrt(np.mean(np.sum((projected - dst[inliers]) ** 2, axis=1))))
    warped = cv2.warpPerspective(plate, homography, (W, H), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpPerspective(np.ones(plate.shape[:2], np.uint8), homography, (W, H),
                                flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0) > 0
    if valid.mean() < min_coverage:
        raise AlignmentError(fail + f"the aligned plate covers only {100 * valid.mean():.0f}% of "
                             f"the photo (at least {100 * min_coverage:.0f}% needed)")

    gain, bias = np.ones(3), np.zeros(3)
    if exposure:
        region = valid if person is None else valid & ~person
        gain, bias = fit_bias_gain(photo, warped, region)
        # The fitted map can push bright plate pixels past 1; keep the image in range.
        warped = np.clip(warped * gain.astype(np.float32) + bias.astype(np.float32), 0.0, 1.0)

    return AlignResult(
        plate=warped.astype(np.float32), homography=homography, valid=valid, num_matches=len(good),
        num_inliers=num_inliers, inlier_ratio=num_inliers / len(good), residual_px=residual,
        inlier_points=dst[inliers].astype(np.float32), gain=gain, bias=bias, method=method)
