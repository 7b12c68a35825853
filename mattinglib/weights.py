"""Reading weight files: the one place where the library opens a ``.pth`` / ``.pt`` file.

Every weight file the library reads, whether a user's state dict, a training
checkpoint, a Background Matting generator or torchvision's ImageNet and
DeepLabV3 weights from the torch hub cache, goes through :func:`load_weights`:

- ``torch.load(..., weights_only=True)``: a file can only hold tensors and
  plain containers, so reading it never runs code (a pickle with a payload is
  refused, not executed);
- when the file's SHA-256 is known, its digest is checked *before* anything is
  unpickled. torchvision names its files after the first hex digits of their
  SHA-256 (``vgg16-397923af.pth``): :func:`torchvision_hash_prefix` reads that
  prefix, so a file in the cache that is not the published one is refused;
- a file that is missing, truncated, not written by ``torch.save`` or refused
  by the weights-only reader gives one ``FileNotFoundError`` / ``ValueError``
  that names the argument and the file.

torchvision's ImageNet weights (:func:`torchvision_state_dict`) are read from
the torch hub cache. When the file is not there they are downloaded, with a
line on stderr saying from where to where, and hash-checked; offline, the
error names the file to put in the cache.

>>> import tempfile, torch
>>> path = Path(tempfile.mkdtemp()) / "tiny.pt"
>>> torch.save({"w": torch.ones(2)}, path)
>>> load_state_dict(path, name="weights")["w"]
tensor([1., 1.])
>>> torchvision_hash_prefix("vgg16-397923af.pth"), torchvision_hash_prefix("my_run.pth")
('397923af', None)
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "load_weights",
    "load_state_dict",
    "load_into",
    "sha256_of",
    "torchvision_hash_prefix",
    "hub_checkpoint_dir",
    "torchvision_weights_file",
    "torchvision_state_dict",
]

# torchvision's file names: <name>-<first hex digits of the sha256>.pth
_HASH_SUFFIX = re.compile(r"-([0-9a-f]{8,64})\.pth?$")

_REFUSED = ("it holds Python objects other than tensors and plain containers, and reading them "
            "could run code from the file, so it is refused. Save only tensors, e.g. "
            "torch.save(model.state_dict(), path)")


def sha256_of(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 digest of a file, read in chunks (large weight files fit no memory limit)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def torchvision_hash_prefix(file_name: str | os.PathLike) -> str | None:
    """The SHA-256 prefix a torchvision weight file name carries, or ``None``.

    >>> torchvision_hash_prefix("deeplabv3_resnet101_coco-586e9e4e.pth")
    '586e9e4e'
    """
    match = _HASH_SUFFIX.search(os.path.basename(os.fspath(file_name)))
    return match.group(1) if match else None


def _check_hash(path: Path, sha256_prefix: str, name: str) -> None:
    prefix = sha256_prefix.lower()
    if not re.fullmatch(r"[0-9a-f]{1,64}", prefix):
        raise ValueError(f"sha256_prefix: expected hex digits, got {sha256_prefix!r}")
    actual = sha256_of(path)
    if not actual.startswith(prefix):
        raise ValueError(
            f"{name}: {path} is not the expected file: its SHA-256 is {actual[:16]}..., the "
            f"published file's starts with {prefix}. It is refused unread (a damaged or replaced "
            f"file); delete it and put the published file in its place.")


def load_weights(path: str | os.PathLike, *, name: str, sha256_prefix: str | None = None,
                 map_location: Any = "cpu", what: str = "weights file") -> Any:
    """Read a file written by ``torch.save``, safely: hash check, then a weights-only load.

    Args:
        path: the file.
        name: the argument the file came from, first word of every error message.
        sha256_prefix: leading hex digits of the file's SHA-256 when known
            (checked before the file is unpickled); ``None`` skips the check.
        map_location: where tensors go (``"cpu"`` by default).
        what: what the file should be, for error messages (``"checkpoint"``...).

    Returns:
        What the file holds (tensors, dicts, lists, numbers, strings, ``None``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the hash does not match, or the file is truncated, not
            written by ``torch.save``, or holds objects a weights-only load refuses.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no file at {path}")
    if sha256_prefix is not None:
        _check_hash(path, sha256_prefix, name)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        # torch's own message for a refused pickle advises weights_only=False: never relay it.
        if "Weights only load failed" in str(err):
            reason = _REFUSED
        else:
            reason = (f"it is truncated, corrupt or not a file written by torch.save "
                      f"({type(err).__name__})")
        raise ValueError(f"{name}: {path} is not a readable {what}: {reason}") from None


def load_state_dict(source: str | os.PathLike | Mapping[str, Any], *, name: str,
                    sha256_prefix: str | None = None) -> dict[str, Any]:
    """A state dict from a file (:func:`load_weights`) or a mapping, as a plain ``dict``.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_weights`; also a file or
            object that holds no mapping.
        TypeError: ``source`` is neither a path nor a mapping.
    """
    if isinstance(source, Mapping):
        return dict(source)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a file path or a state-dict mapping, "
                        f"got {type(source).__name__}")
    state = load_weights(source, name=name, sha256_prefix=sha256_prefix)
    if not isinstance(state, Mapping):
        raise ValueError(f"{name}: {Path(source).expanduser()} holds a {type(state).__name__}, "
                         "not a state dict")
    return dict(state)


def _short(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def load_into(model: torch.nn.Module, state: Any, *, name: str, source: str | os.PathLike,
              model_desc: str, hint: str = "") -> None:
    """Copy ``state`` into ``model`` after checking that every key and shape fits.

    Args:
        model: the module to fill.
        state: its state dict, as read from ``source``.
        name: the argument the weights came from (first word of the message).
        source: the file (or description) the weights were read from.
        model_desc: how the model was built, e.g. ``"MNet(width=0.5) (run.json)"``.
        hint: what to do about a mismatch, appended to the message.

    Raises:
        ValueError: ``state`` is no mapping, or keys are missing, unexpected or
            of another shape; the message names ``source``, ``model_desc`` and
            the first mismatches.

    >>> load_into(torch.nn.Linear(2, 3), torch.nn.Linear(2, 4).state_dict(), name="weights",
    ...           source="w.pt", model_desc="Linear(2, 3)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: weights: w.pt does not fit Linear(2, 3): 2 shape mismatch(es): weight: ...
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"{name}: {source} holds a {type(state).__name__}, not a state dict")
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(v.shape)}, model {tuple(expected[k].shape)}"
              for k, v in state.items()
              if k in expected and isinstance(v, torch.Tensor) and v.shape != expected[k].shape]
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {_short(shapes, 2)}")
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_short(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_short(unexpected)}")
    if problems:
        raise ValueError(f"{name}: {source} does not fit {model_desc}: " + "; ".join(problems)
                         + (f". {hint}" if hint else ""))
    model.load_state_dict(state)


def hub_checkpoint_dir() -> Path:
    """Where torchvision keeps downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_weights_file(weights: Any, *, name: str, download: bool = True) -> Path:
    """The torch hub cache file of a torchvision ``WeightsEnum`` member, downloaded if missing.

    A download is announced on stderr (URL and destination) and checked
    against the SHA-256 prefix in the file name before it is kept.

    Args:
        weights: e.g. ``torchvision.models.VGG16_Weights.IMAGENET1K_V1``.
        name: the argument name used in messages.
        download: ``False`` never downloads (a missing file is an error).

    Raises:
        RuntimeError: the file is missing and could not (or may not) be
            downloaded; the message names the file to put where.
    """
    url = weights.url
    path = hub_checkpoint_dir() / os.path.basename(url)
    if path.is_file():
        return path
    how = (f"Without network access put the file there yourself: download {url} on a connected "
           f"machine and copy it to {path} (or set TORCH_HOME), or pass the file's path as {name}.")
    if not download:
        raise RuntimeError(f"{name}: {weights} is not in the torch hub cache ({path}). {how}")
    print(f"{name}: downloading {url} to {path}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=torchvision_hash_prefix(path),
                                       progress=False)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
        raise RuntimeError(f"{name}: could not download {weights} "
                                f"({type(err).__name__}: {err}). {how}") from None
    return path


def torchvision_state_dict(weights: Any, *, name: str, download: bool = True) -> dict[str, Any]:
    """torchvision's weights from the torch hub cache, hash-checked and read weights-only.

    Replaces ``weights.get_state_dict()``, whose load runs pickled code and
    never checks a file already in the cache.
    """
    path = torchvision_weights_file(weights, name=name, download=download)
    return load_state_dict(path, name=name, sha256_prefix=torchvision_hash_prefix(path))
