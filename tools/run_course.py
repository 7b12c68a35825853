"""Execute every chapter headlessly and write executed copies and HTML.

Runs under the active profile (``MATTINGLIB_PROFILE``, else full on a GPU and
quick on a CPU) and writes, for each notebook, ``<out>/<name>.ipynb`` (with
outputs) and ``<out>/<name>.html``, plus ``<out>/timings.json``.

Usage::

    python tools/run_course.py --out build/course              # the solved chapters
    python tools/run_course.py --out build/course --source course
    python tools/run_course.py --only 02                       # chapters whose name starts with 02
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parent.parent


def run_notebook(path: Path, out_dir: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # Stub cells of the student copy raise NotImplementedError by design: skip them.
    runnable = [c for c in nb.cells if "nbval-skip" not in c.get("metadata", {}).get("tags", [])]
    skipped = nbformat.v4.new_notebook(metadata=nb.metadata)
    skipped.cells = runnable
    ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(
        skipped, {"metadata": {"path": str(path.parent)}})
    elapsed = time.perf_counter() - start
    nbformat.write(skipped, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(skipped)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "course")
    parser.add_argument("--source", choices=["solutions", "course"], default="solutions")
    parser.add_argument("--only", default="", help="run only notebooks whose name starts with this")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = sorted(p for p in (ROOT / args.source).glob("*.ipynb") if p.name.startswith(args.only))
    if not paths:
        print(f"no notebook in {args.source}/ starts with {args.only!r}", file=sys.stderr)
        return 2
    timings = {}
    for path in tqdm(paths, desc="chapters"):
        timings[path.name] = round(run_notebook(path, args.out, args.timeout), 1)
        tqdm.write(f"{path.name}: {timings[path.name]} s")
    (args.out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"wrote {len(paths)} executed notebooks and HTML pages to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
