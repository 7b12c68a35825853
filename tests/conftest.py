"""Shared fixtures: where the real photos are, and a skip when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Real photos with ground truth, beside the checkout (or MATTINGLIB_DATA).
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
#: Small reference files committed with the tests (see tests/fixtures/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _data_dir() -> Path:
    env = os.environ.get("MATTINGLIB_DATA")
    return Path(env) if env else SHARED / "data"


DATA = _data_dir()


def require(path: Path) -> Path:
    """Skip the calling test, with the reason, when ``path`` does not exist."""
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing "
                    "(download it with data_scripts/, or set MATTINGLIB_DATA)")
    return path


@pytest.fixture
def alphamatting_dir() -> Path:
    return require(DATA / "alphamatting_lowres")


@pytest.fixture
def bgm_sample_dir() -> Path:
    return require(DATA / "bgm_sample")


@pytest.fixture
def reference_dir() -> Path:
    return require(REFERENCE)


@pytest.fixture
def bgm_fixtures() -> Path:
    """The Background Matting reference tensors committed in tests/fixtures/bgm (never skipped)."""
    return FIXTURES / "bgm"
