"""What the exercise-checker tests share: a rejection with the expected hint, and a stub."""

from __future__ import annotations

import pytest

from mattinglib.exercises import ExerciseError


def rejects(checker, fn, *patterns):
    """Assert that ``checker(fn)`` raises ExerciseError whose message holds every pattern; return it."""
    with pytest.raises(ExerciseError) as info:
        checker(fn)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, f"expected {pattern!r} in the hint, got:\n{message}"
    return message


def not_implemented(*args):
    """An exercise left as the notebook hands it out."""
    raise NotImplementedError("Exercise 1: replace this line with your code")
