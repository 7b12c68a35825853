"""The test entry points run the quick profile even on a CUDA machine.

The full profile trains for 20,000 steps per chapter; under nbval's 900 s cell timeout a
GPU machine running ``make test`` with it would time out (or run for hours). So the
recipes of ``make test`` and ``make test-fast``, and the CI script, must set
``MATTINGLIB_PROFILE=quick`` themselves; only ``make course PROFILE=full`` asks for
the full profile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "Makefile"
CI_SCRIPT = ROOT / ".ci" / "run"
TEST_TARGETS = ("test", "test-fast")
QUICK = "MATTINGLIB_PROFILE=quick"


def recipe(target: str, text: str) -> list[str]:
    """The recipe lines of ``target`` in a Makefile (tab-indented lines after ``target:``)."""
    lines = text.splitlines()
    head = re.compile(rf"^{re.escape(target)}\s*:(?!=)")
    for i, line in enumerate(lines):
        if head.match(line):
            body = []
            for follow in lines[i + 1:]:
                if not follow.startswith("\t"):
                    break
                body.append(follow.strip())
            return body
    raise AssertionError(f"Makefile: no target {target!r}")


def runs_python(line: str) -> bool:
    return bool(re.search(r"\$\(PY\)|\bpython\b|\bpytest\b", line))


def profile_problems(line: str) -> list[str]:
    """Why a recipe line could run the full profile (empty when it cannot)."""
    problems = []
    if runs_python(line) and not line.startswith(QUICK + " "):
        problems.append(f"does not start with {QUICK}: {line!r}")
    if re.search(r"MATTINGLIB_PROFILE=(?!quick\b)", line):
        problems.append(f"sets another profile: {line!r}")
    return problems


@pytest.mark.parametrize("target", TEST_TARGETS)
def test_test_recipes_force_the_quick_profile(target):
    body = recipe(target, MAKEFILE.read_text())
    assert any(runs_python(line) for line in body), f"{target}: the recipe runs no tests"
    problems = [p for line in body for p in profile_problems(line)]
    assert not problems, f"make {target} could pick the full profile:\n" + "\n".join(problems)


def test_the_checker_catches_a_recipe_without_the_profile():
    # The recipe as it was before the profile was forced: the check must reject it.
    old = "test: setup\n\t$(PY) -m pytest tests mattinglib --doctest-modules\n"
    assert profile_problems(recipe("test", old)[0])
    assert profile_problems("MATTINGLIB_PROFILE=$(PROFILE) $(PY) -m pytest tests")
    assert not profile_problems("MATTINGLIB_PROFILE=quick $(PY) -m pytest tests")


def test_ci_script_forces_quick_and_runs_only_the_test_targets():
    lines = [line.strip() for line in CI_SCRIPT.read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    exports = [i for i, line in enumerate(lines) if line == f"export {QUICK}"]
    commands = [(i, line) for i, line in enumerate(lines)
                if re.match(r"(make|python|pytest)\b", line)]
    assert commands, ".ci/run: runs nothing"
    assert exports and exports[0] < commands[0][0], f".ci/run: no `export {QUICK}` before the tests"
    for _, line in commands:
        assert re.fullmatch(r"make (" + "|".join(TEST_TARGETS) + r")", line), \
            f".ci/run: {line!r} is not one of the checked test targets"
    assert not [line for line in lines if re.search(r"MATTINGLIB_PROFILE=(?!quick\b)", line)]


def dry_run(*args: str) -> str:
    env = {**os.environ, "MATTINGLIB_PROFILE": "full"}  # what a GPU user may have exported
    done = subprocess.run(["make", "-n", "-C", str(ROOT), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", TEST_TARGETS)
def test_dry_run_of_the_test_targets_is_quick_even_when_full_is_asked_for(target):
    out = dry_run(target, "PROFILE=full")
    pytest_lines = [line for line in out.splitlines() if "pytest" in line]
    assert pytest_lines, out
    for line in pytest_lines:
        assert line.startswith(QUICK + " "), line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_course_is_quick_unless_full_is_asked_for():
    quick = [line for line in dry_run("course").splitlines() if "run_course.py" in line]
    full = [line for line in dry_run("course", "PROFILE=full").splitlines()
            if "run_course.py" in line]
    assert quick and quick[0].startswith(QUICK + " ")
    assert full and full[0].startswith("MATTINGLIB_PROFILE=full ")
