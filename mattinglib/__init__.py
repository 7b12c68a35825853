"""mattinglib: deep image matting, from the compositing equation to Background Matting.

The public API is re-exported here; each concept lives in its own module:

* ``compositing``: I = aF + (1-a)B, premultiplied alpha, foreground estimation
* ``trimap``: trimaps from alpha or masks, DIM-style random trimaps, class channels
* ``metrics``: SAD, MSE, Gradient, Connectivity exactly as the official evaluation
* ``io``, ``config``: files, profiles (quick / full), device, data root
* ``data``, ``models``, ``losses``, ``train``, ``inference``: the deep-learning part

>>> import numpy as np, mattinglib as ml
>>> alpha = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
>>> ml.compose(np.ones((1, 3, 3), np.float32), np.zeros((1, 3, 3), np.float32), alpha)[..., 0]
array([[0. , 0.5, 1. ]], dtype=float32)
"""

from . import compositing, config, io, metrics, trimap
from .compositing import (
    checkerboard,
    compose,
    estimate_foreground,
    premultiply,
    preview,
    recompose,
    unpremultiply,
)
from .config import get_device, get_profile
from .io import load_alphamatting, read_alpha, read_image, read_trimap, write_alpha, write_image
from .metrics import connectivity_error, evaluate, gradient_error, mean_metrics, mse, sad
from .trimap import (
    CLASS_ORDER,
    onehot_to_trimap,
    random_trimap,
    trimap_from_alpha,
    trimap_from_mask,
    trimap_to_onehot,
    validate_trimap,
)

__version__ = "0.1.0"

__all__ = [
    "compositing", "config", "io", "metrics", "trimap",
    "compose", "recompose", "premultiply", "unpremultiply", "estimate_foreground",
    "checkerboard", "preview",
    "CLASS_ORDER", "trimap_from_alpha", "trimap_from_mask", "random_trimap",
    "trimap_to_onehot", "onehot_to_trimap", "validate_trimap",
    "sad", "mse", "gradient_error", "connectivity_error", "evaluate", "mean_metrics",
    "get_device", "get_profile",
    "load_alphamatting", "read_image", "read_alpha", "read_trimap", "write_image", "write_alpha",
]
