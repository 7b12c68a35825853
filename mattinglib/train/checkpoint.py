"""Checkpoints: atomic writes, safe loads, and the random state of a run.

A checkpoint is a plain dict of tensors and primitive containers (dicts, lists,
ints, floats, strings, ``None``), so that it loads with
``torch.load(..., weights_only=True)``: loading never runs code from the file.

Writes are atomic: the dict is written to a hidden temporary file in the same
folder, flushed to disk, and only then renamed over the final name with
``os.replace`` (an atomic rename on POSIX and Windows). A crash while writing
leaves the previous checkpoints untouched and no half-written ``step_*.pt``.

>>> import tempfile, torch
>>> folder = tempfile.mkdtemp()
>>> path = save_checkpoint(checkpoint_path(folder, 20), {"step": 20, "w": torch.ones(2)})
>>> path.name, latest_checkpoint(folder) == path
('step_00000020.pt', True)
>>> load_checkpoint(path)["step"]
20
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "checkpoint_path",
    "list_checkpoints",
    "get_rng_state",
    "set_rng_state",
]

_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """The file name of the checkpoint written after ``step`` optimisation steps.

    Zero-padded so that the files also sort by step in a file browser.

    >>> checkpoint_path("runs/mnet", 300).as_posix()
    'runs/mnet/step_00000300.pt'
    """
    if step < 0:
        raise ValueError(f"step: expected a non-negative integer, got {step}")
    return Path(directory) / f"step_{step:08d}.pt"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, ``os.replace``).

    Args:
        path: the final file name; its folder is created when missing.
        state: a dict of tensors and primitive containers (what
            ``torch.load(weights_only=True)`` accepts).

    Returns:
        ``path`` as a ``Path``.
    """
    if not isinstance(state, dict):
        raise ValueError(f"state: expected a dict, got {type(state).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target: os.replace is only atomic within one file system.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Args:
        path: a ``.pt`` file.
        map_location: where tensors go (``"cpu"`` by default; a ``torch.device`` works too).

    Returns:
        The saved dict.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is truncated, corrupt or holds objects that a
            weights-only load refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint file at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ValueError(
            f"path: {path} is not a readable checkpoint (truncated, corrupt, or holding "
            f"objects other than tensors and plain containers): {type(err).__name__}: {err}"
        ) from err
    if not isinstance(state, dict):
        raise ValueError(f"path: {path} holds a {type(state).__name__}, expected a checkpoint dict")
    return state


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The ``step_*.pt`` files of ``directory`` by increasing step (none: an empty list)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint of ``directory`` with the highest step, or ``None`` when there is none.

    Temporary files of an interrupted write are never returned.
    """
    found = list_checkpoints(directory)
    return found[-1] if found else None


# --- random state -------------------------------------------------------------------------
# Stored as tensors and plain numbers (not the tuples numpy and ``random`` return), so that a
# weights-only load accepts them.


def get_rng_state() -> dict[str, Any]:
    """The state of every global random generator a training step may draw from.

    Covers torch (CPU and every CUDA device), NumPy's legacy global generator and
    Python's ``random``.
    """
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(np_kind),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`get_rng_state`.

    CUDA states are restored only when the machine has CUDA (a checkpoint written
    on a GPU still resumes on a CPU, then without exact equality).
    """
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        cuda_states = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
    npy = state["numpy"]
    np.random.set_state((
        npy["kind"],
        npy["keys"].cpu().numpy().astype(np.uint32),
        npy["pos"],
        npy["has_gauss"],
        npy["cached_gaussian"],
    ))
    py = state["python"]
    internal = tuple(int(v) for v in py["internal"].tolist())
    random.setstate((py["version"], internal, py["gauss_next"]))
