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

import json
import os
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..weights import load_into, load_weights

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "checkpoint_path",
    "save_path_for",
    "resume_path_for",
    "list_checkpoints",
    "remove_stale_temp_files",
    "get_rng_state",
    "set_rng_state",
    "RUN_FILE",
    "check_run_folder",
    "start_run_folder",
    "read_run_settings",
    "load_run_weights",
]

_NAME = re.compile(r"^step_(\d+)\.pt$")
# Temporary files of save_checkpoint: ".<final name>.tmp-<pid of the writer>".
_TMP = ".tmp-"
_TMP_NAME = re.compile(r"^\..+\.tmp-(\d+)$")


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
    tmp = path.with_name(f".{path.name}{_TMP}{os.getpid()}")
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


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not writing while it cleans up
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's; anything else: leave the file
        return True
    return True


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of writes that never finished (a killed process).

    :func:`save_checkpoint` removes its temporary file when it fails, but a
    process killed outright (SIGKILL, power loss) leaves the hidden
    ``.<name>.tmp-<pid>`` behind. The trainers call this when they start;
    files of a process that is still running are kept.

    Returns:
        The files removed.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".step_00000005.pt.tmp-999999999").write_bytes(b"half")
    >>> [p.name for p in remove_stale_temp_files(folder)], list(folder.iterdir())
    (['.step_00000005.pt.tmp-999999999'], [])
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in sorted(directory.iterdir()):
        match = _TMP_NAME.match(path.name)
        if match and path.is_file() and not _writer_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


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
    if isinstance(map_location, (str, torch.device)):
        # A device this machine lacks is the caller's mistake, not a corrupt file.
        from ..config import get_device

        map_location = get_device(map_location, name="map_location")
    state = load_weights(path, name="path", map_location=map_location, what="checkpoint")
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


# --- run folders ---------------------------------------------------------------------------
# A training command writes its settings beside its checkpoints, so that --resume can refuse
# other settings and a loader knows which model the checkpoints hold.

#: The settings file of a run folder, beside its ``step_*.pt`` checkpoints.
RUN_FILE = "run.json"


def _read_run_file(run_file: Path, name: str) -> dict[str, Any]:
    try:
        settings = json.loads(run_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{name}: {run_file} is not a readable settings file ({err}); "
                         "restore it, or start the run in another folder") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{name}: {run_file} holds a JSON {type(settings).__name__}, "
                         "expected an object of settings")
    return settings


def check_run_folder(out: str | os.PathLike, settings: dict[str, Any], *, resume: bool,
                     fixed: Iterable[str]) -> Path:
    """Everything :func:`start_run_folder` checks, writing nothing; returns ``out`` as a ``Path``.

    A command calls it first, then validates its other settings (e.g. by building
    its trainer), and only then claims the folder: a rejected command leaves no
    ``run.json`` behind that the corrected command would be compared against.

    Raises:
        ValueError: as :func:`start_run_folder`, and when ``out`` cannot be written
            (a file in its place, a read-only parent).
    """
    from .._checks import check_writable_dir

    out = check_writable_dir(out, "out")
    run_file = out / RUN_FILE
    if latest_checkpoint(out) is not None and not resume:
        raise ValueError(f"out: {out} already holds checkpoints; pass --resume to continue "
                         "that run, or choose another folder")
    if resume and run_file.is_file():
        saved = _read_run_file(run_file, "resume")
        differ = {k: (saved.get(k), settings[k]) for k in fixed if saved.get(k) != settings[k]}
        if differ:
            raise ValueError(f"resume: the run in {out} was started with other settings "
                             f"(saved, now): {differ}; use the same options or another --out")
    if run_file.exists() and not os.access(run_file, os.W_OK):
        raise ValueError(f"out: {run_file} is read-only")
    return out


def start_run_folder(out: str | os.PathLike, settings: dict[str, Any], *, resume: bool,
                     fixed: Iterable[str]) -> Path:
    """Claim the run folder ``out`` for a training command and write ``settings`` to its
    ``run.json``.

    Args:
        out: the run folder (created when missing).
        settings: the run's settings, JSON-serialisable; written to ``out/run.json``.
        resume: whether the command continues the run already in ``out``.
        fixed: the keys of ``settings`` that a resumed run must not change (those
            that change the model or the data order).

    Returns:
        the path of ``run.json``.

    Raises:
        ValueError: ``out`` already holds checkpoints and ``resume`` is False, or
            ``resume`` is True and the saved ``run.json`` differs on a ``fixed`` key
            (or is not valid JSON), or ``out`` cannot be written.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> start_run_folder(folder, {"seed": 0}, resume=False, fixed=("seed",)).name
    'run.json'
    >>> _ = save_checkpoint(checkpoint_path(folder, 1), {"step": 1})
    >>> try:  # doctest: +ELLIPSIS
    ...     start_run_folder(folder, {"seed": 1}, resume=True, fixed=("seed",))
    ... except ValueError as err:
    ...     print(*str(err).split("; "), sep=";\\n")
    resume: the run in ... was started with other settings (saved, now): {'seed': (0, 1)};
    ...
    """
    out = check_run_folder(out, settings, resume=resume, fixed=fixed)
    run_file = out / RUN_FILE
    out.mkdir(parents=True, exist_ok=True)
    # Atomically: under torchrun every process claims the folder, and one may read run.json
    # while another rewrites it.
    tmp = run_file.with_name(f".{RUN_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(settings, indent=2) + "\n")
    os.replace(tmp, run_file)
    return run_file


def read_run_settings(checkpoint: str | os.PathLike, *,
                      records: str) -> tuple[Path, dict[str, Any]]:
    """The checkpoint file, and the ``run.json`` settings, of a checkpoint file or run folder.

    Args:
        checkpoint: a ``step_*.pt`` file, or a run folder (its latest checkpoint).
        records: what ``run.json`` tells the caller, for the message when it is missing
            (``"it records {records}"``).

    Returns:
        ``(checkpoint file, settings)``.

    Raises:
        FileNotFoundError: no checkpoint, or no ``run.json`` beside it.
        ValueError: ``run.json`` is not valid JSON (the message names the file).
    """
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        found = latest_checkpoint(checkpoint)
        if found is None:
            raise FileNotFoundError(f"checkpoint: no step_*.pt file in {checkpoint}")
        checkpoint = found
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint: no such file or folder: {checkpoint}")
    run_file = checkpoint.parent / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(f"checkpoint: {run_file} is missing; it records {records}")
    return checkpoint, _read_run_file(run_file, "checkpoint")


def load_run_weights(model: torch.nn.Module, checkpoint: Path, *, model_desc: str,
                     map_location: Any = "cpu") -> torch.nn.Module:
    """Fill ``model``, built from a run's ``run.json``, with the weights of its checkpoint.

    Args:
        model: the network as ``run.json`` describes it.
        checkpoint: a ``step_*.pt`` file of the run (from :func:`read_run_settings`).
        model_desc: how ``model`` was built, for the message (``"MNet(width=0.5)"``).
        map_location: where the tensors go.

    Returns:
        ``model``.

    Raises:
        ValueError: the checkpoint is unreadable, holds no ``"model"`` entry,
            or its tensors do not fit the model ``run.json`` describes (the
            message names both files and the first mismatches).
    """
    state = load_checkpoint(checkpoint, map_location=map_location)
    if "model" not in state:
        raise ValueError(f"checkpoint: {checkpoint} holds no 'model' entry; "
                         "expected a checkpoint of a training run")
    run_file = checkpoint.parent / RUN_FILE
    load_into(model, state["model"], name="checkpoint", source=checkpoint,
              model_desc=f"{model_desc} as {run_file} describes it",
              hint=f"{RUN_FILE} and the checkpoint disagree: {RUN_FILE} must hold the settings "
                   "the weights were trained with")
    return model


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


def save_path_for(path, checkpoint_dir, step: int) -> Path:
    """Where a trainer's ``save(path)`` writes: ``path``, else the step's file in
    ``checkpoint_dir``."""
    if path is not None:
        return Path(path)
    if checkpoint_dir is None:
        raise ValueError("path: no path given and the trainer has no checkpoint_dir")
    return checkpoint_path(checkpoint_dir, step)


def resume_path_for(path, checkpoint_dir) -> Path | None:
    """What a trainer's ``resume(path)`` loads: ``path``, else the latest in ``checkpoint_dir``.

    ``None`` when no path is given and the folder holds no checkpoint yet.
    """
    if path is not None:
        return Path(path)
    if checkpoint_dir is None:
        raise ValueError("resume: resuming from the latest checkpoint needs checkpoint_dir")
    return latest_checkpoint(checkpoint_dir)
