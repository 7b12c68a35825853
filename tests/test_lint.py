"""The code is linted: ``make test`` runs ``ruff check .`` first, and it passes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def recipe(target: str) -> str:
    """The commands of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert match, f"no {target} target in the Makefile"
    return match.group(1)


def test_make_test_runs_ruff_first():
    commands = [c.strip() for c in recipe("test").splitlines()]
    assert commands and "ruff check ." in commands[0]


def test_ruff_is_pinned_for_the_tests():
    pins = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^ruff==\d+\.\d+\.\d+$", pins, re.M)
    extras = (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1]
    assert re.search(r'^test = \[[^\]]*"ruff', extras, re.M)


def test_the_line_limit_is_not_raised():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^line-length = 100$", text, re.M)


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
                    reason="ruff is not installed beside this Python (pip install -e .[test])")
def test_ruff_passes():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    done = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout[-4000:]
