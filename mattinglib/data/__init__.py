"""Training data: generated foregrounds, the DIM composition recipe, Background Matting samples.

* :mod:`~mattinglib.data.synthetic`: seeded foregrounds with exactly known F and alpha
  (hair, motion blur, glass, holes, ...) and procedural backgrounds.
* :mod:`~mattinglib.data.composition`: the Deep Image Matting recipe as a Dataset,
  the Composition-1k protocol, and the offline ``SyntheticMattingDataset``.
* :mod:`~mattinglib.data.folders`: foreground / alpha / background folders on disk.
* :mod:`~mattinglib.data.bgm`: Background Matting training samples in [-1, 1].
* :mod:`~mattinglib.data.target_domain`: generated "real captures" for the adversarial stage.
"""
