"""The shape DESIGN.md gives the code, checked statically (ast over
studio/**/*.py; every import counts, including those inside functions and
under TYPE_CHECKING, since each is a dependency someone has to follow):

- no import circles among studio's modules;
- studio.engine, studio.canvas and studio.mercury never import studio.ui,
  studio.server or each other; they may share the top-level leaf modules
  (studio.atomicfile, studio.paths, ...) that import nothing from studio's
  sub-packages;
- studio.ui never imports studio.server, and studio.server never imports
  studio.ui or studio.canvas;
- studio.remote (the client of a remote engine) imports only studio.engine and
  the leaf modules, and no Qt;
- no Qt in studio.engine except worker.py, its Qt adapter."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

STUDIO = Path(__file__).resolve().parents[1] / "studio"
QT_PACKAGES = {"PySide6", "shiboken6", "qasync"}
INDEPENDENT = ("studio.engine", "studio.canvas", "studio.mercury")
QT_IN_ENGINE = {"studio.engine.worker"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(STUDIO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(STUDIO.rglob("*.py"))}


@cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the studio modules `module` imports, the top-level names of the others)."""
    modules = _modules()
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from . import x` imports the module x when there is one, else
            # a name defined in `source` itself.
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                named.add(submodule if submodule in modules else source)
    inside, outside = set(), set()
    for name in named:
        if name == "studio" or name.startswith("studio."):
            while name not in modules:
                name = name.rpartition(".")[0]
            if name != module:
                inside.add(name)
        else:
            outside.add(name.partition(".")[0])
    return frozenset(inside), frozenset(outside)


def _graph() -> dict[str, frozenset[str]]:
    return {module: _imports(module)[0] for module in _modules()}


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _top_level_leaves(graph: dict[str, frozenset[str]]) -> set[str]:
    """Top-level modules (and studio itself) whose imports, followed all the
    way, reach no module of a sub-package."""
    packages = {m for m, p in _modules().items() if p.name == "__init__.py" and m != "studio"}

    def in_subpackage(module: str) -> bool:
        return any(_within(module, package) for package in packages)

    leaves = set()
    for module in graph:
        if in_subpackage(module):
            continue
        seen, todo = set(), [module]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        if not any(in_subpackage(m) for m in seen):
            leaves.add(module)
    return leaves


def _violations(graph: dict[str, frozenset[str]]) -> list[str]:
    leaves = _top_level_leaves(graph)
    problems = []
    for module, imported in sorted(graph.items()):
        for other in sorted(imported):
            for package in INDEPENDENT:
                outside = not _within(other, package) and other not in leaves
                if _within(module, package) and outside:
                    problems.append(f"{module} imports {other}")
            if _within(module, "studio.ui") and _within(other, "studio.server"):
                problems.append(f"{module} imports {other}")
            if _within(module, "studio.server") and (
                _within(other, "studio.ui") or _within(other, "studio.canvas")
            ):
                problems.append(f"{module} imports {other}")
            # The remote engine's client: the engine's types and leaf modules only (never
            # ui, server, canvas or mercury), so the CLI and the window can both use it.
            remote_may = ("studio.remote", "studio.engine")
            if (
                _within(module, "studio.remote")
                and not any(_within(other, package) for package in remote_may)
                and other not in leaves
            ):
                problems.append(f"{module} imports {other}")
    return problems


def test_the_checker_sees_imports_of_every_kind(tmp_path):
    """The checker itself: relative, absolute, function-level, TYPE_CHECKING."""
    graph = _graph()
    assert "studio.engine.worker" in graph["studio.ui.main_window"]  # from ..engine.worker
    assert "studio.canvas.layers" in graph["studio.canvas.document"]  # from .layers
    leaves = _top_level_leaves(graph)
    assert {"studio.atomicfile", "studio.paths"} <= leaves
    assert "studio.gui" not in leaves and "studio.app" not in leaves
    assert _cycles({"a": frozenset({"b"}), "b": frozenset({"a"}), "c": frozenset()}) == [["a", "b"]]


def test_no_import_circles():
    cycles = _cycles(_graph())
    assert not cycles, "import circles among studio modules:\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_the_layers_import_only_downwards():
    problems = _violations(_graph())
    assert not problems, "imports DESIGN.md's layering forbids:\n" + "\n".join(problems)


def test_the_remote_client_has_no_qt_and_stays_in_its_layer():
    """studio.remote is plain Python: the window wraps it in its own thread."""
    remote = [m for m in _modules() if _within(m, "studio.remote")]
    assert "studio.remote.client" in remote
    qt = [m for m in remote if _imports(m)[1] & QT_PACKAGES]
    assert not qt, f"Qt in studio.remote: {qt}"
    graph = _graph()
    with_bad = _violations({**graph, "studio.remote.x": frozenset({"studio.server.api"})})
    assert set(with_bad) - set(_violations(graph)) == {"studio.remote.x imports studio.server.api"}


def test_the_engine_has_no_qt_but_its_worker():
    problems = [
        f"{module} imports {', '.join(sorted(_imports(module)[1] & QT_PACKAGES))}"
        for module in _modules()
        if _within(module, "studio.engine")
        and module not in QT_IN_ENGINE
        and _imports(module)[1] & QT_PACKAGES
    ]
    assert not problems, "Qt in the engine outside worker.py:\n" + "\n".join(problems)
