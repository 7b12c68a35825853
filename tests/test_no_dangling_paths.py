"""Nothing the course or the library shows to a reader names a repository file that does not exist.

Notebooks (solved and student copies) and the library's source mention
scripts, modules and documents by their path from the repository root, e.g.
``data_scripts/download_alphamatting.py``; a renamed or never-written file
leaves a reader with a command that fails. This scans for such paths and
checks each one exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_FOLDERS = ("data_scripts", "benchmarks", "tools", "mattinglib", "docs", "tests", "course",
               "solutions")
#: A path from the repository root to a file: a top folder, then names, then an extension.
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP_FOLDERS)
                  + r")/[\w./-]*\.(?:py|md|json|ipynb|txt|toml|yml|yaml|csv))\b")


def _texts():
    for folder in ("solutions", "course"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            yield f"{folder}/{path.name}", "\n".join(c.source for c in nb.cells)
    for path in sorted((ROOT / "mattinglib").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def referenced_paths(text: str) -> set[str]:
    """Repository paths named in ``text`` (wildcards and placeholders left out).

    >>> text = "run python data_scripts/download_x.py, see benchmarks/results/a_*.json"
    >>> sorted(referenced_paths(text))
    ['data_scripts/download_x.py']
    """
    return {m for m in PATH.findall(text) if not set(m) & set("*{}<>")}


def test_the_scan_finds_paths():
    found = {p for _, text in _texts() for p in referenced_paths(text)}
    assert "data_scripts/download_alphamatting.py" in found
    assert "data_scripts/download_bgm_sample.py" in found


def test_a_missing_file_would_be_reported():
    found = referenced_paths("python data_scripts/not_written_yet.py")
    assert found == {"data_scripts/not_written_yet.py"}
    assert not (ROOT / "data_scripts/not_written_yet.py").exists()


@pytest.mark.parametrize("name,text", list(_texts()), ids=[n for n, _ in _texts()])
def test_every_named_file_exists(name, text):
    missing = sorted(p for p in referenced_paths(text) if not (ROOT / p).exists())
    assert not missing, f"{name} names files the repository does not contain: {missing}"
