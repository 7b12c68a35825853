"""mattinglib: deep image matting, from the compositing equation to Background Matting.

The public API is re-exported here; each concept lives in its own module
(``compositing``, ``trimap``, ``metrics``, ``io``, ``config``, ...).
"""

from . import config, io
from .config import get_device, get_profile
from .io import load_alphamatting, read_alpha, read_image, read_trimap

__version__ = "0.1.0"

__all__ = [
    "config",
    "io",
    "get_device",
    "get_profile",
    "load_alphamatting",
    "read_alpha",
    "read_image",
    "read_trimap",
]
