"""Matting networks.

* Deep Image Matting: :class:`DIM` (4-channel VGG16 encoder-decoder + refinement).
* Semantic Human Matting: :class:`MNet` (RGB + 3 trimap probabilities), :class:`TNet`
  (PSPNet), :class:`SHM` (alpha = Fs + Us * alpha_r).
* Background Matting: :class:`BackgroundMattingGenerator` (context switching) and the
  :class:`MultiscaleDiscriminator` of its adversarial stage.
"""

from .bgm import (
    BackgroundMattingGenerator,
    bgm_generator,
    from_model_range,
    from_official,
    to_model_range,
)
from .dim import DIM, DIM_STAGES, Refinement
from .discriminator import MultiscaleDiscriminator
from .init import init_weights
from .mnet import MNet
from .shm import SHM, SHM_MODES, fuse_alpha
from .tnet import PyramidPooling, TNet
from .vgg import UnpoolDecoder, VGG16Encoder

__all__ = [
    "MNet", "TNet", "SHM", "DIM", "fuse_alpha", "SHM_MODES", "DIM_STAGES",
    "VGG16Encoder", "UnpoolDecoder", "PyramidPooling", "Refinement",
    "BackgroundMattingGenerator", "bgm_generator", "from_official",
    "to_model_range", "from_model_range", "MultiscaleDiscriminator", "init_weights",
]
