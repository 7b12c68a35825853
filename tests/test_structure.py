"""The library's import structure: no import cycles, argparse only in the command line, and no
private name imported from another module.

Both checks read the source with :mod:`ast` instead of importing it, so an import
inside a function (run only when the function is called) counts like one at the
top of the module. A cycle through such imports works until someone moves one of
them to the top; a module graph without cycles keeps the layers of
``docs/architecture.md`` (data -> models -> losses -> train -> inference -> cli)
something a reader can rely on.

A name that starts with one underscore is private to its module: another module (of the
library or of ``benchmarks/``) that needs it makes it part of an interface nobody documents.
Such a function becomes public (documented, tested) or moves; the few imports that remain
are listed in :data:`PRIVATE_IMPORTS_ALLOWED`, each with its reason. A private *module*
(``_checks``, ``cli/_common``, ``benchmarks/_stages``) is a package-internal module:
importing it, and its public names, is fine.

Edges that are not counted: a package's ``__init__`` importing its own submodules
(to re-export their names). Importing ``mattinglib.train.recipes`` runs
``mattinglib/train/__init__.py`` first, so every submodule would otherwise depend on
its package and every re-export would close a cycle; a re-export is the package
presenting its parts, not a dependency between them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mattinglib"

#: Where argparse may be imported: the command-line package and the ``python -m`` entry.
ARGPARSE_ALLOWED = ("mattinglib.cli", "mattinglib.__main__")
#: The layers of docs/architecture.md, in the direction data flows: a module may import its
#: own layer and earlier ones.
LAYERS = ("data", "models", "losses", "train", "inference", "cli")
#: Modules every layer may import, which import none of the layers themselves.
LEAVES = ("_checks", "_progress", "config", "weights", "io", "compositing", "trimap", "metrics")
#: The scripts of the benchmarks, checked for private imports like the library.
BENCHMARKS = ROOT / "benchmarks"
#: Private names still imported from another module: (importer, module, name) -> why.
PRIVATE_IMPORTS_ALLOWED: dict[tuple[str, str, str], str] = {}


def module_name(path: Path, package_dir: Path = PACKAGE) -> str:
    """``mattinglib/train/recipes.py`` -> ``mattinglib.train.recipes``; a package's ``__init__``
    is the package itself.

    >>> module_name(PACKAGE / "train" / "__init__.py")
    'mattinglib.train'
    """
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules(package_dir: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` (file ``path``) imports, anywhere in its code.

    ``from pkg import x`` names the submodule ``pkg.x`` when there is one, else ``pkg``;
    relative imports are resolved against the module's package.
    """
    package = name if _is_package(path) else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # ``import mattinglib.train.recipes`` also runs the packages above it; the module
            # itself is the dependency that matters.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    found.discard(name)
    return found


def import_graph(package_dir: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules it imports, without a package's imports of its own submodules."""
    modules = all_modules(package_dir)
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        edges = imported_modules(name, path, known)
        if _is_package(path):
            edges = {t for t in edges if not t.startswith(name + ".")}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` when there is none.

    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    True
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def modules_importing(module: str, package_dir: Path = PACKAGE) -> list[str]:
    """The modules of the package that import ``module`` (a top-level name such as ``argparse``)."""
    users = []
    for name, path in all_modules(package_dir).items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            if any(n == module or n.startswith(module + ".") for n in names):
                users.append(name)
                break
    return users


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer in :data:`LAYERS`, or ``None`` outside them.

    >>> layer_of("mattinglib.train.recipes"), layer_of("mattinglib.cli"), layer_of("mattinglib.viz")
    (3, 5, None)
    """
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def _is_private(name: str) -> bool:
    """One leading underscore, not a dunder (``__version__`` is public).

    >>> _is_private("_recipe_of"), _is_private("__all__"), _is_private("recipe_of")
    (True, False, False)
    """
    return name.startswith("_") and not name.startswith("__")


def private_imports(package_dir: Path = PACKAGE,
                    scripts_dir: Path | None = BENCHMARKS) -> set[tuple[str, str, str]]:
    """``(importer, module, name)`` for every private name a module imports from another
    module of the package (or, for the scripts in ``scripts_dir``, from another script or
    the package), anywhere in its code; a private submodule (``from . import _common``)
    is a module, not a name, and is not counted.
    """
    modules = all_modules(package_dir)
    scripts = {} if scripts_dir is None else {p.stem: p for p in sorted(scripts_dir.glob("*.py"))}
    known = set(modules) | set(scripts)
    found = set()
    for name, path in {**modules, **scripts}.items():
        package = name if _is_package(path) else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)]
                                + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base not in known or base == name:
                continue
            for alias in node.names:
                if _is_private(alias.name) and f"{base}.{alias.name}" not in known:
                    found.add((name, base, alias.name))
    return found


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "mattinglib" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "mattinglib"


# --------------------------------------------------------------------------- the checks


def test_no_import_cycle_counting_imports_inside_functions():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_argparse_only_in_the_command_line():
    outside = [m for m in modules_importing("argparse")
               if not any(m == a or m.startswith(a + ".") for a in ARGPARSE_ALLOWED)]
    assert not outside, f"argparse imported outside mattinglib.cli: {outside}"


def test_progress_bars_come_from_one_place():
    # mattinglib._progress.progress_bar redraws at most once a second; a bare tqdm redraws ten
    # times a second, each redraw a message to a notebook's front-end (see its docstring).
    outside = [m for folder in (PACKAGE, ROOT / "data_scripts")
               for m in modules_importing("tqdm", folder) if not m.endswith("._progress")]
    assert not outside, f"tqdm imported directly (use mattinglib._progress.progress_bar): {outside}"


def test_both_trainers_share_one_loop():
    # Resume, checkpoints, Ctrl-C and callbacks live once, in mattinglib.train.loop; a trainer
    # provides its step, its data order and its checkpoint's contents.
    from mattinglib.train.adversarial import TeacherStudentTrainer
    from mattinglib.train.loop import TrainingLoop
    from mattinglib.train.trainer import Trainer

    for cls in (Trainer, TeacherStudentTrainer):
        assert issubclass(cls, TrainingLoop)
        again = sorted({"fit", "save", "resume"} & set(vars(cls)))
        assert not again, f"{cls.__name__} defines its own {again}"


def test_imports_follow_the_layers():
    graph = import_graph()
    upward = [f"{a} -> {b}" for a, targets in sorted(graph.items()) for b in sorted(targets)
              if layer_of(a) is not None and layer_of(b) is not None and layer_of(b) > layer_of(a)]
    assert not upward, f"imports against the data flow {' -> '.join(LAYERS)}: {upward}"


def test_the_leaves_import_no_layer():
    graph = import_graph()
    leaves = {f"mattinglib.{name}" for name in LEAVES}
    wrong = {leaf: sorted(t for t in graph[leaf] if t not in leaves) for leaf in sorted(leaves)}
    assert not any(wrong.values()), f"leaf modules importing more than leaves: {wrong}"


def test_no_private_name_is_imported_from_another_module():
    found = private_imports()
    new = sorted(found - set(PRIVATE_IMPORTS_ALLOWED))
    assert not new, ("private names imported from another module (make them public and "
                     f"document them, or move them): {new}")
    stale = sorted(set(PRIVATE_IMPORTS_ALLOWED) - found)
    assert not stale, f"PRIVATE_IMPORTS_ALLOWED lists imports that are gone: {stale}"


def test_the_library_modules_are_all_found():
    graph = import_graph()
    expected = {"mattinglib.cli", "mattinglib.train.recipes", "mattinglib.inference.matting"}
    assert expected <= set(graph)
    # recipes uses the checkpoints and the trainer: the graph sees its imports.
    recipes = graph["mattinglib.train.recipes"]
    assert {"mattinglib.train.checkpoint", "mattinglib.train.trainer"} <= recipes


# --------------------------------------------------------------------------- the checker itself


class TestChecker:
    def test_a_cycle_through_a_function_level_import_is_found(self, tmp_path):
        pkg = _write_package(tmp_path, {
            "__init__.py": "",
            "inference/__init__.py": "",
            "inference/matting.py": "def predict():\n    from ..train.recipes import load\n",
            "train/__init__.py": "",
            "train/recipes.py": "from ..inference.matting import predict\n",
        })
        cycle = find_cycle(import_graph(pkg))
        assert cycle == ["mattinglib.inference.matting", "mattinglib.train.recipes",
                         "mattinglib.inference.matting"]

    def test_from_package_import_submodule_and_absolute_imports_resolve(self, tmp_path):
        pkg = _write_package(tmp_path, {
            "__init__.py": "from . import io\n",
            "io.py": "import mattinglib.metrics as m\n",
            "metrics.py": "def f():\n    from mattinglib import io\n",
        })
        graph = import_graph(pkg)
        assert graph["mattinglib"] == set()  # the package's own re-export is not counted
        assert graph["mattinglib.io"] == {"mattinglib.metrics"}
        assert graph["mattinglib.metrics"] == {"mattinglib.io"}
        assert find_cycle(graph) == ["mattinglib.io", "mattinglib.metrics", "mattinglib.io"]

    def test_a_package_importing_from_outside_itself_counts(self, tmp_path):
        pkg = _write_package(tmp_path, {
            "__init__.py": "",
            "train/__init__.py": "from .runs import load\n",
            "train/runs.py": "from ..inference import predict\n",
            "inference/__init__.py": "from ..train import runs\n",
        })
        assert find_cycle(import_graph(pkg)) == ["mattinglib.inference", "mattinglib.train.runs",
                                                 "mattinglib.inference"]

    def test_private_names_are_found_and_private_modules_are_not(self, tmp_path):
        pkg = _write_package(tmp_path, {
            "__init__.py": "",
            "_checks.py": "def check_int(): ...\n",
            "train/__init__.py": "",
            "train/recipes.py": "def _recipe_of(): ...\nX = 1\n",
            "train/runs.py": ("from .._checks import check_int\n"
                              "from .recipes import X, _recipe_of as recipe_of\n"
                              "def f():\n    from mattinglib.train.recipes import _recipe_of\n"),
            "cli/__init__.py": "from . import _common\n",
            "cli/_common.py": "from ..train.recipes import __doc__\n",
        })
        scripts = tmp_path / "benchmarks"
        scripts.mkdir()
        (scripts / "_stages.py").write_text("from mattinglib.train.recipes import _recipe_of\n"
                                            "def _local(): ...\n")
        (scripts / "bench.py").write_text("from _stages import _local, X\n")
        assert private_imports(pkg, scripts) == {
            ("mattinglib.train.runs", "mattinglib.train.recipes", "_recipe_of"),
            ("_stages", "mattinglib.train.recipes", "_recipe_of"),
            ("bench", "_stages", "_local")}
        assert private_imports(pkg, None) == {
            ("mattinglib.train.runs", "mattinglib.train.recipes", "_recipe_of")}

    @pytest.mark.parametrize("line", ["import argparse", "from argparse import Namespace",
                                      "def f():\n    import argparse as ap"])
    def test_argparse_is_found_in_any_form(self, tmp_path, line):
        pkg = _write_package(tmp_path, {"__init__.py": "", "train/__init__.py": "",
                                        "train/recipes.py": line + "\n",
                                        "cli/__init__.py": "import argparse\n"})
        assert modules_importing("argparse", pkg) == ["mattinglib.cli", "mattinglib.train.recipes"]
