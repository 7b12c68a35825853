"""Losses as small pure functions; the totals return a dict of named terms for plotting.

* :mod:`~mattinglib.losses.dim`: Deep Image Matting / SHM (Charbonnier alpha prediction,
  compositional, trimap cross-entropy).
* :mod:`~mattinglib.losses.bgm`: Background Matting (masked per-sample L1, Sobel
  gradient, composition with opaque-foreground replacement, LSGAN).
* :mod:`~mattinglib.losses.gradient`: Sobel filters with fixed buffers.
"""

from .bgm import (
    SUPERVISED_WEIGHTS,
    GradientLoss,
    composition_loss,
    gradient_loss,
    lsgan_loss,
    normalized_l1,
    pseudo_supervised_loss,
    replace_opaque_foreground,
    supervised_loss,
)
from .dim import (
    CHARBONNIER_EPS,
    alpha_prediction_loss,
    charbonnier,
    compositional_loss,
    dim_loss,
    mnet_pretrain_loss,
    shm_end_to_end_loss,
    shm_loss,
    sobel_gradient_loss,
    tnet_pretrain_loss,
)
from .gradient import Sobel, sobel

__all__ = [
    "alpha_prediction_loss", "compositional_loss", "sobel_gradient_loss", "dim_loss", "shm_loss",
    "tnet_pretrain_loss", "mnet_pretrain_loss", "shm_end_to_end_loss",
    "charbonnier", "CHARBONNIER_EPS",
    "normalized_l1", "gradient_loss", "GradientLoss", "composition_loss",
    "replace_opaque_foreground", "supervised_loss", "pseudo_supervised_loss", "lsgan_loss",
    "SUPERVISED_WEIGHTS", "sobel", "Sobel",
]
