"""Profiles, device choice and where the data lives.

Two profiles size every experiment of the course:

* ``quick``: a laptop CPU, about a minute per chapter; small images, few steps,
  but still enough to see a loss fall and a metric improve on held-out data.
* ``full``: the real recipe on a GPU.

``MATTINGLIB_PROFILE=quick|full`` chooses one; without it, ``full`` when CUDA
is available, else ``quick``.

>>> get_profile("quick").name
'quick'
>>> get_profile("medium")
Traceback (most recent call last):
...
ValueError: profile: expected one of ['full', 'quick'], got 'medium'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

__all__ = [
    "Profile",
    "PROFILES",
    "get_profile",
    "get_device",
    "data_root",
    "find_dataset",
    "REPO_ROOT",
]

#: The repository root when the package is used from a checkout (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """The sizes of one profile. Chapters read the fields they need.

    Attributes:
        name: ``"quick"`` or ``"full"``.
        image_size: training crop size in pixels (square).
        batch_size: images per optimisation step.
        train_steps: optimisation steps of a chapter's main training run.
        val_every: run validation every this many steps.
        num_train_samples: size of the generated training set.
        num_val_samples: size of the generated validation set.
        width: channel multiplier of the networks (1.0 = the paper's widths).
        eval_images: how many real benchmark images a chapter evaluates on.
        eval_max_side: real images are downscaled so their longer side is at most this.
        num_workers: DataLoader workers (0 in notebooks: safe on every platform).
        seed: the seed of every generator in the chapter.
        procedural_pool: 0: every generated training layer is made afresh; ``n > 0``:
            generated foregrounds and backgrounds come from a pool of ``n`` each, made
            once and shared by the loader's workers (:mod:`mattinglib.data.pool`), so
            that the full profile's loaders keep a GPU busy.
        device_augment: run the heavy per-pixel augmentation of Background Matting
            samples (captured plate, soft segmentation, motion cue, crop) batched on
            the training device instead of in the loader's workers
            (:mod:`mattinglib.data.bgm_device`).
    """

    name: str
    image_size: int
    batch_size: int
    train_steps: int
    val_every: int
    num_train_samples: int
    num_val_samples: int
    width: float
    eval_images: int
    eval_max_side: int
    num_workers: int = 0
    seed: int = 0
    procedural_pool: int = 0
    device_augment: bool = False

    def with_(self, **changes) -> "Profile":
        """A copy with some fields changed (``profile.with_(train_steps=10)``)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"changes: unknown profile fields {unknown}; known: {sorted(known)}")
        return replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        image_size=64,
        batch_size=8,
        train_steps=300,
        val_every=50,
        num_train_samples=512,
        num_val_samples=32,
        width=0.25,
        eval_images=4,
        eval_max_side=320,
    ),
    "full": Profile(
        name="full",
        image_size=320,
        batch_size=16,
        train_steps=20_000,
        val_every=1_000,
        num_train_samples=20_000,
        num_val_samples=256,
        width=1.0,
        eval_images=27,
        eval_max_side=100_000,
        num_workers=8,
        procedural_pool=256,
        device_augment=True,
    ),
}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def get_profile(name: str | None = None) -> Profile:
    """The profile called ``name``; ``None`` reads ``MATTINGLIB_PROFILE``, then picks by
    hardware."""
    if name is None:
        name = os.environ.get("MATTINGLIB_PROFILE") or ("full" if _cuda_available() else "quick")
    if name not in PROFILES:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]


def get_device(device=None, *, name: str = "device"):
    """A ``torch.device`` from ``"auto"`` (CUDA when available, else CPU), ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` or a ``torch.device``; ``None`` means ``"auto"``.

    Every function that takes a device goes through here, so a CUDA device on a
    machine without CUDA is refused the same way whether it is given as a string
    or as a ``torch.device``.

    >>> get_device("cpu")
    device(type='cpu')
    >>> import torch
    >>> get_device(torch.device("cuda", 99))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device: device(type='cuda', index=99) asked for, but ...
    """
    import torch

    from ._checks import InputTypeError

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise InputTypeError(f"{name}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, "
                             f"got {type(device).__name__} {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{name}: expected 'auto', 'cpu', 'cuda' or 'cuda:N', "
                         f"got {device!r}") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}: {device!r} asked for, but CUDA is not available on "
                             "this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{name}: {device!r} asked for, but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    elif dev.type not in ("cpu", "mps"):
        raise ValueError(f"{name}: expected a CPU or CUDA device, got {device!r}")
    return dev


def data_root() -> Path:
    """Where datasets live: ``$MATTINGLIB_DATA``, else ``<repo>/data``.

    The download scripts write here by default; nothing depends on the current
    directory, so notebooks (whose kernel runs in ``course/``) find the same folder.
    """
    env = os.environ.get("MATTINGLIB_DATA")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def find_dataset(name: str) -> Path | None:
    """The folder of dataset ``name`` under :func:`data_root`, or ``None`` when absent.

    >>> find_dataset("no_such_dataset") is None
    True
    """
    path = data_root() / name
    return path if path.is_dir() else None
