"""What every chapter's checkers share (mattinglib.exercises._harness): errors, the not-done rule."""

from __future__ import annotations

import ast
import importlib
import pickle
import pkgutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import mattinglib.exercises
from mattinglib.exercises import ExerciseError, ExerciseNotDone, ch01_compositing, exercise_check
from tests.exercise_helpers import rejects

ROOT = Path(__file__).resolve().parent.parent
#: Modules of the package that hold no checker of their own.
NOT_CHECKERS = {"_harness"}
#: Modules whose checkers may let a stub raise (none: every chapter's "Run All" must pass).
NOT_WRAPPED: set[str] = set()


def checker_modules() -> list[str]:
    """Every module of mattinglib.exercises that holds checkers, by short name."""
    return sorted(m.name for m in pkgutil.iter_modules(mattinglib.exercises.__path__)
                  if m.name not in NOT_CHECKERS)


def test_one_module_per_chapter_and_the_shared_questions():
    assert checker_modules() == ["ch01_compositing", "ch02_trimaps", "ch03_training_data", "ch04_mnet",
                                 "ch05_bgm_generator", "ch06_bgm_losses", "ch07_teacher_student",
                                 "ch08_your_photo", "questions"]


def test_exercise_error_is_an_assertion_error():
    # nbval and plain `assert`-style cells treat it as a failed check.
    assert issubclass(ExerciseError, AssertionError)
    assert issubclass(ExerciseNotDone, ExerciseError)


def test_errors_carry_their_public_name():
    # A student's traceback says mattinglib.exercises.ExerciseError, and that name resolves.
    for cls in (ExerciseError, ExerciseNotDone):
        assert f"{cls.__module__}.{cls.__qualname__}" == f"mattinglib.exercises.{cls.__name__}"
        err = pickle.loads(pickle.dumps(cls("compose, case 'random': wrong")))
        assert type(err) is cls and str(err) == "compose, case 'random': wrong"


def test_importing_the_package_imports_no_chapter():
    code = ("import sys, mattinglib.exercises; "
            "print(sorted(m for m in sys.modules if m.startswith('mattinglib.exercises.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mattinglib.exercises._harness']"


class TestNotDoneMechanism:
    @pytest.mark.parametrize("module", sorted(set(checker_modules()) - NOT_WRAPPED))
    def test_every_public_checker_tolerates_a_stub(self, module):
        # "Run All" must pass every check cell of an unfinished chapter.
        mod = importlib.import_module(f"mattinglib.exercises.{module}")
        checkers = [n for n in mod.__all__ if n.startswith("check_")]
        assert checkers, module
        for name in checkers:
            assert getattr(getattr(mod, name), "__wrapped__", None) is not None, \
                f"{module}.{name} is not wrapped by exercise_check"

    def test_a_wrong_answer_still_raises(self):
        rejects(ch01_compositing.check_compose, lambda f, b, a: b, "case 'random'")

    def test_other_errors_of_the_checker_propagate(self):
        @exercise_check
        def broken(fn):
            raise ValueError("a bug in the checker itself")

        with pytest.raises(ValueError, match="a bug"):
            broken(lambda: 1)


NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for folder in ("solutions", "course")
                   for p in (ROOT / folder).glob("*.ipynb"))


def exercises_names(source: str) -> set[tuple[str, str]]:
    """``(module, attribute)`` for every ``m.attr`` in ``source`` where ``m`` was imported
    ``from mattinglib.exercises import m``.

    >>> sorted(exercises_names("from mattinglib.exercises import ch06_bgm_losses, questions\\n"
    ...                        "questions.check_answer(answer, 'ch06-threshold')\\nx.check_y()"))
    [('questions', 'check_answer')]
    """
    tree = ast.parse("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    aliases = {a.asname or a.name: a.name for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module == "mattinglib.exercises"
               for a in node.names}
    return {(aliases[n.value.id], n.attr) for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_exercises_name_a_notebook_uses_exists(notebook):
    # Runs in a second, without the chapter: its code cells' names must resolve in the package.
    nb = nbformat.read(ROOT / notebook, as_version=4)
    used = exercises_names("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    assert any(name.startswith("check_") for _module, name in used), f"{notebook} calls no checker"
    for module, name in sorted(used):
        mod = importlib.import_module(f"mattinglib.exercises.{module}")
        assert hasattr(mod, name), f"{notebook} uses mattinglib.exercises.{module}.{name}, which does not exist"
