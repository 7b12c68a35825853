"""What machine a benchmark ran on, and where its JSON result goes.

Every benchmark stores its numbers together with a description of the machine,
so that a reader comparing two result files sees at once whether the hardware
(or the library versions) differ::

    from _machine import describe_machine, write_result
    write_result("metrics_cpu", {"ms_per_image": {...}})
    # -> benchmarks/results/metrics_cpu.json
    #    {"benchmark": "metrics_cpu", "created_utc": ..., "machine": {...}, "results": {...}}
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import math
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["describe_machine", "write_result", "RESULTS_DIR", "commit", "sync", "reset_peak",
           "peak_mib"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def commit() -> str | None:
    """The checkout's commit, with ``+changes`` when tracked files differ from it (``None``
    outside a git checkout), so that a result says which code made it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=RESULTS_DIR.parent, capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        head = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        match = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        if match:
            return round(int(match.group(1)) / 2**20, 1)
    except OSError:
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # absent or broken: the description just says so
        return None


def _cuda_device() -> str | None:
    try:
        import torch
    except Exception:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def describe_machine() -> dict[str, Any]:
    """A JSON-ready description of this machine and the numeric stack.

    Returns:
        ``{"cpu", "cpu_count", "cpus_usable", "ram_gib", "platform", "python",
        "numpy", "scipy", "opencv", "torch", "cuda_device", "threads",
        "load_average_1min"}``; a
        version is None when the package is missing, ``cuda_device`` is None
        without a GPU, ``threads`` holds the thread-count environment variables.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "ram_gib": _ram_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "opencv": _version("cv2"),
        "torch": _version("torch"),
        "cuda_device": _cuda_device(),
        "threads": {var: os.environ.get(var) for var in _THREAD_VARS},
        # A busy shared machine inflates timings; the 1-minute load says how busy.
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):  # numpy scalars and arrays
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"payload: cannot store a {type(x).__name__} as JSON")


def _finite_or_none(x: Any) -> Any:
    # JSON has no NaN; an undefined number is stored as null.
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite_or_none(v) for v in x]
    return x


def write_result(name: str, payload: dict[str, Any], *, directory: str | os.PathLike | None = None
                 ) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine description.

    Args:
        name: file stem, letters, digits, ``_`` and ``-`` only (e.g. ``"metrics_cpu"``).
        payload: the benchmark's numbers (JSON-able; numpy values are converted,
            NaN and infinity become null).
        directory: another folder for the file (default :data:`RESULTS_DIR`).

    Returns:
        The path written. The file is replaced atomically.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name or ""):
        raise ValueError(f"name: expected letters, digits, '_' or '-', got {name!r}")
    if not isinstance(payload, dict):
        raise ValueError(f"payload: expected a dict, got {type(payload).__name__}")
    document = {
        "benchmark": name,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "results": payload,
    }
    # Round-trip through the encoder first so numpy values are plain numbers
    # before NaN is replaced.
    document = _finite_or_none(json.loads(json.dumps(document, default=_jsonable)))
    folder = RESULTS_DIR if directory is None else Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as fh:
        json.dump(document, fh, indent=2, allow_nan=False)
        fh.write("\n")
    os.replace(fh.name, path)
    return path


# --------------------------------------------------------------------------- timing and memory


def sync(device) -> None:
    """Wait for the device's queued work (CUDA kernels run asynchronously); no-op on the CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device) -> bool:
    """Start a new peak-memory measurement; returns whether the reset was possible.

    On a GPU the allocator's peak; on Linux the process's peak resident set size
    (writing 5 to ``/proc/self/clear_refs`` resets it to the current size).
    """
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mib(device) -> float | None:
    """The peak memory since :func:`reset_peak` in MiB (GPU allocations, or the CPU process's
    peak RSS); ``None`` where the system does not report it."""
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None
