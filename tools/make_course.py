"""Write the student notebooks in ``course/`` from the solved ones in ``solutions/``.

``solutions/`` is the source of truth. In a solution notebook an exercise is a
code cell tagged ``exercise`` whose answer sits between two marker lines::

    def my_compose(fg, bg, alpha):
        ### BEGIN SOLUTION
        return alpha[..., None] * fg + (1 - alpha[..., None]) * bg
        ### END SOLUTION

and the cell right after it, tagged ``exercise-check``, runs the checker. In the
student copy an answer inside a function becomes a stub that raises
``NotImplementedError``; an answer at the top level of a cell (a question's
``answer = "b"`` or an experiment's ``prediction = "a"``) becomes
``answer = ...``. The checkers (``mattinglib.exercises.exercise_check``) treat
both stubs as "not done yet": they print a note instead of failing, so "Run All"
goes through an unfinished chapter, whose later cells use the library's
implementation; a finished but wrong answer still fails its check cell. Both
cells are also tagged ``nbval-skip``, so ``pytest --nbval course/`` checks the
rest of the chapter whatever the answers.

Usage::

    python tools/make_course.py            # rewrite course/ from solutions/
    python tools/make_course.py --check    # exit 1 and list the stale files
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
COURSE = ROOT / "course"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_TAG = "exercise"
CHECK_TAG = "exercise-check"
SKIP_TAG = "nbval-skip"

_REGION = re.compile(
    r"^(?P<indent>[ \t]*)" + re.escape(BEGIN) + r"[^\n]*\n.*?^[ \t]*"
    + re.escape(END) + r"[^\n]*(\n|$)",
    re.MULTILINE | re.DOTALL,
)


_ASSIGNED = re.compile(r"^([A-Za-z_]\w*)\s*=(?!=)", re.MULTILINE)


def stub_source(source: str, label: str) -> str:
    """Replace every solution region of a cell's source with a stub.

    >>> cell = "def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION\\n"
    >>> print(stub_source(cell, "Exercise 1"))
    def f(x):
        # YOUR CODE HERE
        raise NotImplementedError("Exercise 1: replace this line with your code")
    <BLANKLINE>

    At the top level (no indentation) the region holds answer variables; each
    assignment keeps its name and gets ``...``, which the checkers read as
    "not answered yet" (raising there would stop "Run All"):

    >>> cell = "### BEGIN SOLUTION\\nanswer = 'b'\\n### END SOLUTION\\ncheck(answer)\\n"
    >>> print(stub_source(cell, "Exercise 2"))
    # YOUR ANSWER HERE (Exercise 2): replace ... with your answer
    answer = ...
    check(answer)
    <BLANKLINE>
    """
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"source: unbalanced {BEGIN!r} / {END!r} markers in {label}")

    def repl(match: re.Match) -> str:
        indent = match.group("indent")
        if not indent:
            names = _ASSIGNED.findall(match.group(0))
            if not names:
                raise ValueError(f"source: a top-level solution region in {label} must assign "
                                 "the answer variables (e.g. `answer = 'b'`)")
            return (f"# YOUR ANSWER HERE ({label}): replace ... with your answer\n"
                    + "".join(f"{name} = ...\n" for name in dict.fromkeys(names)))
        return (f"{indent}# YOUR CODE HERE\n"
                f'{indent}raise NotImplementedError("{label}: replace this line with your code")\n')

    return _REGION.sub(repl, source)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _set_tags(cell, tags: list[str]) -> None:
    cell.setdefault("metadata", {})["tags"] = sorted(set(tags), key=tags.index)


def clean_cell(cell) -> None:
    """Drop outputs and execution counts (notebooks are stored without them)."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None


def student_version(nb, name: str = "notebook"):
    """The student copy of a solved notebook (a new object; ``nb`` is not changed)."""
    out = copy.deepcopy(nb)
    exercise_no = 0
    previous_was_exercise = False
    for cell in out.cells:
        clean_cell(cell)
        tags = _tags(cell)
        if cell.cell_type == "code" and BEGIN in cell.source:
            if EXERCISE_TAG not in tags:
                raise ValueError(f"{name}: a cell with {BEGIN!r} must be tagged {EXERCISE_TAG!r}")
            exercise_no += 1
            cell.source = stub_source(cell.source, f"Exercise {exercise_no}")
            _set_tags(cell, tags + [SKIP_TAG])
            previous_was_exercise = True
            continue
        if CHECK_TAG in tags:
            if not previous_was_exercise:
                raise ValueError(f"{name}: a cell tagged {CHECK_TAG!r} must follow "
                                 "an exercise cell")
            _set_tags(cell, tags + [SKIP_TAG])
        previous_was_exercise = False
    return out


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def build(check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) every course notebook; returns the stale paths."""
    stale = []
    expected_names = set()
    for src in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        if not check:
            # Keep the solutions stripped too: outputs never get committed.
            for cell in nb.cells:
                clean_cell(cell)
            src_text = render(nb)
            if src.read_text(encoding="utf-8") != src_text:
                src.write_text(src_text, encoding="utf-8")
        text = render(student_version(nb, src.name))
        dst = COURSE / src.name
        expected_names.add(dst.name)
        if not dst.exists() or dst.read_text(encoding="utf-8") != text:
            stale.append(dst)
            if not check:
                COURSE.mkdir(exist_ok=True)
                dst.write_text(text, encoding="utf-8")
    extra = [p for p in COURSE.glob("*.ipynb") if p.name not in expected_names]
    stale.extend(extra)
    if not check:
        for p in extra:
            p.unlink()
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale course notebooks")
    args = parser.parse_args(argv)
    stale = build(check=args.check)
    if args.check and stale:
        print("stale student notebooks (run: python tools/make_course.py):")
        for p in stale:
            print(f"  {p.relative_to(ROOT)}")
        return 1
    verb = "would update" if args.check else "updated"
    print(f"{verb} {len(stale)} notebook(s) in course/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
