"""Training data: generated foregrounds, the DIM composition recipe, Background Matting samples.

* :mod:`~mattinglib.data.synthetic`: seeded foregrounds with exactly known F and alpha
  (hair, motion blur, glass, holes, ...) and procedural backgrounds.
* :mod:`~mattinglib.data.composition`: the Deep Image Matting recipe as a Dataset,
  the Composition-1k protocol, and the offline ``SyntheticMattingDataset``.
* :mod:`~mattinglib.data.folders`: foreground / alpha / background folders on disk.
* :mod:`~mattinglib.data.pool`: a fixed pool of generated layers shared by the loader's workers.
* :mod:`~mattinglib.data.bgm`: Background Matting training samples in [-1, 1].
* :mod:`~mattinglib.data.target_domain`: generated "real captures" for the adversarial stage.
* :mod:`~mattinglib.data.external`: Distinctions-646, AIM-500, P3M-10k from a local copy.
"""

from .bgm import (
    BGMCompositeDataset,
    BGMSyntheticDataset,
    fake_segmentation,
    motion_cue,
    segmentation_guide,
    simulate_captured_background,
)
from .composition import (
    Composition1kDataset,
    CompositionDataset,
    SyntheticMattingDataset,
    compose_batch,
    make_loader,
    seed_worker,
)
from .folders import FolderBackgrounds, FolderForegrounds
from .pool import PooledSource, prepare_pools
from .synthetic import KINDS, SyntheticBackgrounds, SyntheticForegrounds, procedural_background
from .target_domain import CapturedVideoDataset, TargetDomainDataset

__all__ = [
    "SyntheticForegrounds", "SyntheticBackgrounds", "procedural_background", "KINDS",
    "CompositionDataset", "SyntheticMattingDataset", "Composition1kDataset", "compose_batch",
    "make_loader", "seed_worker", "FolderForegrounds", "FolderBackgrounds",
    "BGMCompositeDataset", "BGMSyntheticDataset", "fake_segmentation", "motion_cue",
    "segmentation_guide", "simulate_captured_background", "PooledSource", "prepare_pools",
    "TargetDomainDataset", "CapturedVideoDataset",
]
