"""What the exercise-checker tests share: a rejection with the expected hint, a stub, a
not-done note."""

from __future__ import annotations

import contextlib
import io

import pytest

from mattinglib.exercises import ExerciseError


def rejects(checker, fn, *patterns):
    """Assert that ``checker(fn)`` raises ExerciseError whose message holds every pattern;
    return it."""
    with pytest.raises(ExerciseError) as info:
        checker(fn)
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, f"expected {pattern!r} in the hint, got:\n{message}"
    return message


def not_implemented(*args):
    """An exercise left as the notebook hands it out."""
    raise NotImplementedError("Exercise 1: replace this line with your code")


def returns_ellipsis(*args):
    """An exercise whose body is the placeholder ``...``, returned as a value."""
    return ...


def reports_not_done(checker, fn, *patterns):
    """Assert that ``checker(fn)`` does not raise, returns None and prints a 'Not done yet' note.

    An unfinished exercise must not stop a chapter's "Run All". Returns the printed text.
    """
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = checker(fn)
    printed = buffer.getvalue()
    assert result is None
    assert printed.startswith("Not done yet: "), printed
    assert "library's implementation" in printed, printed
    for pattern in patterns:
        assert pattern in printed, f"expected {pattern!r} in the note, got:\n{printed}"
    return printed
