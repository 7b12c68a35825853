"""What every chapter's checkers share: the "not done yet" rule and the tools that give hints.

A chapter's ``check_*`` function (in ``ch01_compositing.py`` ... ``ch08_your_photo.py``)
calls the student's function on several cases (ordinary ones and edge cases),
compares with the library's implementation, and either prints a one-line
success message or raises :class:`ExerciseError` (an ``AssertionError``) whose
message names the case and gives a hint for the typical mistake it recognises.

An exercise that is not done yet (the stub still raises ``NotImplementedError``,
or the function returns ``None`` or ``...``) is not an error: a checker wrapped
by :func:`exercise_check` says so and returns, so that "Run All" goes on through
the chapter, which uses the library's implementation from there on. A finished
but wrong answer still raises.

>>> @exercise_check
... def check_double(fn):
...     names = []
...     for case, x in (("x = 2", 2), ("x = 0", 0)):
...         out = call_student(fn, (x,), task="double", case=case)
...         if out != 2 * x:
...             raise ExerciseError(f"double, case {case!r}: got {out!r}, expected {2 * x}")
...         names.append(case)
...     report_success("double", names)
>>> check_double(lambda x: x + x)
Correct: double matches the library on 2 cases (x = 2, x = 0).
>>> check_double(lambda x: x + 2)
Traceback (most recent call last):
...
mattinglib.exercises.ExerciseError: double, case 'x = 0': got 2, expected 0
>>> def my_double(x):
...     raise NotImplementedError("Exercise 1: replace this line with your code")
>>> check_double(my_double)  # doctest: +ELLIPSIS
Not done yet: double: not implemented yet: ...
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from operator import methodcaller

import numpy as np

__all__ = [
    "ExerciseError",
    "ExerciseNotDone",
    "exercise_check",
    "is_unanswered",
    "call_student",
    "call_student_numpy",
    "call_student_torch",
    "as_number_array",
    "all_close",
    "worst_difference",
    "report_success",
]


class ExerciseError(AssertionError):
    """An exercise's answer is wrong; the message says where and suggests why."""

    # A student's traceback names the class where it is imported from: mattinglib.exercises.
    __module__ = "mattinglib.exercises"


class ExerciseNotDone(ExerciseError):
    """The answer is still the stub (it raises ``NotImplementedError``, or is ``None`` or ``...``).

    Raised inside a checker; :func:`exercise_check` turns it into a printed note.
    """

    __module__ = "mattinglib.exercises"


#: What the student copy's stubs leave behind: ``...`` for an answer variable,
#: ``None`` for a function body that was emptied or never returns.
_UNANSWERED = (None, Ellipsis)


def is_unanswered(value) -> bool:
    """Whether ``value`` is what a stub leaves: ``None`` or ``...`` (Ellipsis).

    >>> is_unanswered(...), is_unanswered(None), is_unanswered(0)
    (True, True, False)
    """
    return any(value is u for u in _UNANSWERED)


def exercise_check(check: Callable) -> Callable:
    """Decorator for a ``check_*`` function: an unfinished exercise prints a note instead of failing.

    Every public checker of the course is wrapped by it. When the checker finds
    the answer still a stub (:class:`ExerciseNotDone`) the wrapper prints
    ``Not done yet: ...`` and returns ``None``, so that running the whole chapter
    carries on (the chapter's later cells use the library, never the student's
    function). Any other :class:`ExerciseError` (a finished but wrong answer)
    propagates, and the cell fails with the checker's hint.
    """

    @wraps(check)
    def run(answer, *args, **kwargs):
        try:
            return check(answer, *args, **kwargs)
        except ExerciseNotDone as err:
            print(f"Not done yet: {err}\n(The chapter carries on with the library's implementation; "
                  "come back to this exercise whenever you like.)")
            return None

    return run


_BROADCAST_HINT = ("alpha is (H, W) while the images are (H, W, 3): give alpha a channel axis, "
                   "alpha[..., None], so that it multiplies all three colours of a pixel")


def call_student(fn: Callable, args: tuple, *, task: str, case: str, protect: str | None = None,
                 in_place_advice: str = "", crash_hint: Callable[[Exception], str] | None = None):
    """Call the student's ``fn(*args)``; turn a stub, a crash, an in-place change or no result into a hint.

    The tool every checker module shares (the ``check_*`` functions are the public API).

    Args:
        fn: the student's function.
        args: its arguments.
        task: the exercise's name and ``case`` the case's, both quoted in the messages.
        protect: ``"numpy"`` or ``"torch"``: ``fn`` gets copies of the numpy arrays (the
            torch tensors) among ``args``, and changing one of them in place is an error
            whose message ends with ``in_place_advice``; ``None`` passes ``args`` as they are.
        in_place_advice: what to do instead of changing an input in place.
        crash_hint: given the exception ``fn`` raised, text appended to the message.

    Returns:
        what ``fn`` returned, never ``None``.

    Raises:
        ExerciseNotDone: ``fn`` is still the stub: it raised ``NotImplementedError``
            or returned ``None`` or ``...``.
        ExerciseError: ``fn`` raised another exception or changed a protected input.
    """
    if protect == "numpy":
        kind, copy = np.ndarray, methodcaller("copy")
        same = partial(np.array_equal, equal_nan=True)
    elif protect == "torch":
        import torch

        kind, copy, same = torch.Tensor, methodcaller("clone"), torch.equal
    elif protect is None:
        kind, copy, same = (), None, None
    else:
        raise ValueError(f"protect: expected 'numpy', 'torch' or None, got {protect!r}")
    copies = tuple(copy(a) if isinstance(a, kind) else a for a in args)
    try:
        out = fn(*copies)
    except NotImplementedError:
        raise ExerciseNotDone(f"{task}: not implemented yet: replace the line "
                              "`raise NotImplementedError(...)` with your code") from None
    except Exception as err:  # any crash of the student's code becomes a hint
        hint = crash_hint(err) if crash_hint is not None else ""
        raise ExerciseError(f"{task}, case {case!r}: your function raised "
                            f"{type(err).__name__}: {err}{hint}") from err
    for a, c in zip(args, copies):
        if isinstance(a, kind) and not same(a, c):
            raise ExerciseError(f"{task}, case {case!r}: your function changed one of its inputs "
                                f"in place; {in_place_advice}")
    if is_unanswered(out):
        raise ExerciseNotDone(f"{task}: your function returned {out!r}, so it counts as not "
                              "written yet. If you did write it: did you forget `return`?")
    return out


def _broadcast_hint(err: Exception) -> str:
    return f"\nHint: {_BROADCAST_HINT}." if "broadcast" in str(err) else ""


def call_student_numpy(fn: Callable, args: tuple, *, task: str, case: str):
    """:func:`call_student` for a numpy exercise: inputs protected, a torch tensor refused as the result."""
    out = call_student(fn, args, task=task, case=case, protect="numpy",
                       in_place_advice="compute a new array instead (e.g. `x = x * a`, not `x *= a`)",
                       crash_hint=_broadcast_hint)
    if not isinstance(out, (np.ndarray, float, int, np.floating, np.integer)):
        try:
            import torch

            if isinstance(out, torch.Tensor):
                raise ExerciseError(f"{task}, case {case!r}: return a numpy array, not a torch tensor")
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    return out


def call_student_torch(fn: Callable, args: tuple, *, task: str, case: str, in_place_advice: str,
                       tensor_name: str = "torch tensor"):
    """:func:`call_student` for a torch exercise: inputs protected, the result must be a tensor.

    ``tensor_name`` is how the message calls the expected type (``"expected a {tensor_name}"``).
    """
    import torch

    out = call_student(fn, args, task=task, case=case, protect="torch", in_place_advice=in_place_advice)
    if not isinstance(out, torch.Tensor):
        raise ExerciseError(f"{task}, case {case!r}: expected a {tensor_name}, got {type(out).__name__}")
    return out


def as_number_array(out, *, task: str, case: str, shape: tuple[int, ...]) -> np.ndarray:
    """The student's result as a float64 array of ``shape``, or an :class:`ExerciseError`."""
    arr = np.asarray(out)
    if arr.shape != shape:
        raise ExerciseError(f"{task}, case {case!r}: expected an array of shape {shape}, got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ExerciseError(f"{task}, case {case!r}: expected numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def all_close(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> bool:
    """Same shape, ``a`` all finite, and no element more than ``tol`` from ``b``."""
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(np.abs(a - b).max() <= tol)


def worst_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """Where ``got`` (same shape) is furthest from ``expected`` (NaN counts as infinitely far)."""
    diff = np.abs(got - expected)
    diff = np.where(np.isfinite(diff), diff, np.inf)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return (f"largest difference {diff[idx]:.4g} at index {tuple(int(i) for i in idx)}: "
            f"got {got[idx]:.4g}, expected {expected[idx]:.4g}")


def report_success(task: str, cases: list[str]) -> None:
    """Print the one-line success message of a checker that passed ``cases``."""
    print(f"Correct: {task} matches the library on {len(cases)} cases ({', '.join(cases)}).")
