"""Notebook hygiene: stored without outputs, student copies up to date, chapter structure.

These tests read the notebooks as files; running them is ``pytest --nbval``'s job.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
COURSE = sorted((ROOT / "course").glob("*.ipynb"))
ALL = SOLUTIONS + COURSE


def _load_make_course():
    spec = importlib.util.spec_from_file_location("make_course", ROOT / "tools" / "make_course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_course = _load_make_course()


def _ids(paths):
    return [f"{p.parent.name}/{p.name}" for p in paths]


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def test_there_are_chapters():
    assert SOLUTIONS, "solutions/ holds no notebook"
    assert [p.name for p in SOLUTIONS] == [p.name for p in COURSE]


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; run python tools/make_course.py"


def test_course_is_generated_from_solutions():
    stale = make_course.build(check=True)
    assert not stale, \
        f"stale student copies {[p.name for p in stale]}: run python tools/make_course.py"


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_chapter_starts_with_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in _tags(code[0]), \
        f"{path.name}: the first code cell must be tagged 'parameters'"
    assert re.search(r"^PROFILE\s*=", code[0].source, re.MULTILINE), \
        "the parameters cell sets PROFILE"
    assert "start(PROFILE)" in code[1].source, "the second code cell shows the active profile"


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_each_chapter_has_checked_exercises(path):
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    exercises = [i for i, c in enumerate(cells) if "exercise" in _tags(c)]
    assert len(exercises) >= 2, f"{path.name}: at least two exercises per chapter"
    for i in exercises:
        assert make_course.BEGIN in cells[i].source and make_course.END in cells[i].source
        assert i + 1 < len(cells) and "exercise-check" in _tags(cells[i + 1]), \
            f"{path.name}: exercise cell {i} must be followed by a check cell"
        assert "check_" in cells[i + 1].source, \
            "the check cell calls a checker from mattinglib.exercises"


@pytest.mark.parametrize("path", COURSE, ids=_ids(COURSE))
def test_student_copy_hides_solutions_and_skips_stubs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert "BEGIN SOLUTION" not in cell.source
        if "exercise" in _tags(cell) or "exercise-check" in _tags(cell):
            assert "nbval-skip" in _tags(cell)
        if "exercise" in _tags(cell):
            # a function body raises; an answer variable is left as `...`
            assert ("NotImplementedError" in cell.source
                    or re.search(r"^\w+ = \.\.\.$", cell.source, re.M))


def test_stub_replaces_only_the_region():
    src = "def f(x):\n    y = x\n    ### BEGIN SOLUTION\n    return 2 * y\n    ### END SOLUTION\n"
    out = make_course.stub_source(src, "Exercise 3")
    assert out.startswith("def f(x):\n    y = x\n    # YOUR CODE HERE\n")
    assert "return 2 * y" not in out and "Exercise 3" in out


def test_top_level_answers_become_ellipsis():
    src = ("### BEGIN SOLUTION\nanswer = 'b'\nprediction = 3  # why\n### END SOLUTION\n"
           "check(answer)\n")
    out = make_course.stub_source(src, "Exercise 2")
    assert "answer = ...\n" in out and "prediction = ...\n" in out
    assert "'b'" not in out and "3" not in out.replace("Exercise 2", "")
    assert out.endswith("check(answer)\n")


def test_top_level_region_without_assignment_is_rejected():
    with pytest.raises(ValueError, match="must assign"):
        make_course.stub_source("### BEGIN SOLUTION\nprint(1)\n### END SOLUTION\n", "Exercise 1")


def test_unbalanced_markers_are_rejected():
    with pytest.raises(ValueError, match="unbalanced"):
        make_course.stub_source("### BEGIN SOLUTION\nx = 1\n", "Exercise 1")


def test_check_cell_must_follow_an_exercise():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("check_x(f)", metadata={"tags": ["exercise-check"]})]
    with pytest.raises(ValueError, match="must follow an exercise"):
        make_course.student_version(nb)
