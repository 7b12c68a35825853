"""docs/architecture.md's "chapter -> modules" table says what every notebook imports.

For each chapter of ``solutions/`` the table names its exercises modules (under
``mattinglib.exercises``) and the library modules it imports, both read from the
notebook's own import statements. The test fails when the table lacks a chapter,
names a module that does not exist, or disagrees with the notebook's imports, so
a reader who follows it lands in the code the chapter really uses.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
CHAPTERS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
#: A row of the table: | `01_compositing` | `exercises.ch01_...`, ... | `classical`, ... |
ROW = re.compile(r"^\|\s*`(\d\d_\w+)`\s*\|([^|]*)\|([^|]*)\|\s*$")
EXERCISES = "exercises."


def _is_module(name: str) -> bool:
    """Whether ``mattinglib.<name>`` is a module or package (found without importing it)."""
    try:
        return importlib.util.find_spec(f"mattinglib.{name}") is not None
    except ModuleNotFoundError:
        return False


def imported_modules(source: str) -> set[str]:
    """The ``mattinglib`` modules the code ``source`` imports, relative to ``mattinglib``.

    ``from P import n`` counts ``P.n`` when ``n`` is a submodule, else ``P``; the bare
    package (``import mattinglib``) is left out. Lines of IPython magic are skipped.

    >>> sorted(imported_modules("import mattinglib.notebook\\nfrom mattinglib import viz\\n"
    ...                         "from mattinglib.losses import bgm as losses\\n"
    ...                         "from mattinglib.train import Trainer"))
    ['losses.bgm', 'notebook', 'train', 'viz']
    """
    code = "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("%", "!")))
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("mattinglib.")]
            found.update(n.removeprefix("mattinglib.") for n in names)
        elif (isinstance(node, ast.ImportFrom) and node.module
              and node.module.split(".")[0] == "mattinglib"):
            package = node.module.removeprefix("mattinglib").lstrip(".")
            for alias in node.names:
                sub = f"{package}.{alias.name}" if package else alias.name
                found.add(sub if _is_module(sub) else package)
    found.discard("")
    return found


def notebook_modules(chapter: str) -> tuple[set[str], set[str]]:
    """``(exercises modules, library modules)`` that ``solutions/<chapter>.ipynb`` imports."""
    nb = nbformat.read(ROOT / "solutions" / f"{chapter}.ipynb", as_version=4)
    modules = set().union(*(imported_modules(c.source) for c in nb.cells if c.cell_type == "code"))
    exercises = {m for m in modules if m.startswith(EXERCISES)}
    return exercises, modules - exercises


def table_rows(text: str) -> dict[str, tuple[set[str], set[str]]]:
    """The chapter table of ``text``: chapter -> (exercises modules, library modules).

    >>> row = "| `01_compositing` | `exercises.ch01_compositing` | `viz`, `metrics` |"
    >>> exercises, library = table_rows(row)["01_compositing"]
    >>> sorted(exercises), sorted(library)
    (['exercises.ch01_compositing'], ['metrics', 'viz'])
    """
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line.strip())
        if match:
            chapter, exercises, library = match.groups()
            rows[chapter] = tuple(set(re.findall(r"`([\w.]+)`", cell))
                                  for cell in (exercises, library))
    return rows


def format_row(chapter: str) -> str:
    """The table row ``chapter`` should have, as derived from its notebook."""
    exercises, library = notebook_modules(chapter)
    cells = (", ".join(f"`{m}`" for m in sorted(ms)) for ms in (exercises, library))
    return f"| `{chapter}` | " + " | ".join(cells) + " |"


@pytest.fixture(scope="module")
def rows():
    return table_rows(DOC.read_text(encoding="utf-8"))


def test_every_chapter_has_a_row(rows):
    assert len(CHAPTERS) == 8
    missing = [c for c in CHAPTERS if c not in rows]
    assert not missing, ("docs/architecture.md lacks the rows:\n"
                         + "\n".join(map(format_row, missing)))
    extra = set(rows) - set(CHAPTERS)
    assert not extra, f"rows for chapters that do not exist: {extra}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_named_module_exists(rows, chapter):
    for module in set().union(*rows.get(chapter, (set(), set()))):
        assert _is_module(module), (f"{chapter}: the table names mattinglib.{module}, "
                                    "which does not exist")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_row_matches_the_notebooks_imports(rows, chapter):
    exercises, library = rows.get(chapter, (set(), set()))
    assert exercises and all(m.startswith(EXERCISES) for m in exercises), \
        f"{chapter}: the exercises column must name the chapter's mattinglib.exercises module"
    assert (exercises, library) == notebook_modules(chapter), \
        f"{chapter}: the notebook imports other modules; the row should read\n{format_row(chapter)}"


def test_the_derivation_reads_a_real_notebook():
    # Guards the checks above against a parser that finds nothing (every set empty and equal).
    exercises, library = notebook_modules("06_bgm_losses")
    assert exercises == {"exercises.ch06_bgm_losses", "exercises.questions"}
    assert {"losses.bgm", "losses.gradient", "train.bgm_recipes", "notebook", "viz"} <= library
