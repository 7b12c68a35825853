"""Predicting mattes for real images.

* :mod:`~mattinglib.inference.align`: align a captured background plate to a photo.
* :mod:`~mattinglib.inference.segment`: soft person segmentation (DeepLabV3, or a
  labelled background-difference fallback offline).
* :mod:`~mattinglib.inference.bgm`: Background Matting on a real photo, end to end.
"""

from .align import AlignmentError, AlignResult, align_background, available_methods, fit_bias_gain
from .bgm import BGMResult, matte_photo, predict_bgm
from .segment import SegmentationFallbackWarning, SegmentationResult, soft_segmentation

__all__ = [
    "AlignResult", "AlignmentError", "align_background", "available_methods", "fit_bias_gain",
    "SegmentationResult", "SegmentationFallbackWarning", "soft_segmentation",
    "BGMResult", "matte_photo", "predict_bgm",
]
