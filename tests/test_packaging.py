"""The three install routes agree: pyproject ranges, the pinned constraints, environment.yml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.match(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


CONSTRAINTS = _pins((ROOT / "constraints.txt").read_text().splitlines())
CONDA = _pins((ROOT / "environment.yml").read_text().splitlines())
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DECLARED = [Requirement(r) for r in PYPROJECT["dependencies"]] + [
    Requirement(r) for extra in PYPROJECT["optional-dependencies"].values() for r in extra
]


def test_tested_torch_pair_is_pinned():
    assert CONSTRAINTS["torch"] == "2.14.1" and CONSTRAINTS["torchvision"] == "0.29.1"


@pytest.mark.parametrize("req", DECLARED, ids=[r.name for r in DECLARED])
def test_pyproject_range_admits_the_tested_pin(req):
    pin = CONSTRAINTS.get(canonicalize_name(req.name))
    assert pin is not None, \
        f"{req.name} is declared in pyproject.toml but not pinned in constraints.txt"
    assert req.specifier.contains(pin, prereleases=True), \
        f"{req.name}: {req.specifier} excludes {pin}"


def test_pyproject_uses_ranges_not_pins():
    assert not [r for r in DECLARED if any(s.operator == "==" for s in r.specifier)]


def test_conda_environment_matches_constraints():
    assert CONDA, "environment.yml pins nothing"
    diff = {k: (v, CONSTRAINTS.get(k)) for k, v in CONDA.items() if CONSTRAINTS.get(k) != v}
    assert not diff, f"environment.yml and constraints.txt disagree: {diff}"
