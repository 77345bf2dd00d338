"""The import graph of faceocc, read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` between faceocc modules, at module level or inside functions, and ``importlib.import_module``
(of a literal name, or of a computed one: then every faceocc module named in a string of that module counts).

Checked: no cycle between modules, none between packages, imports run down the layers (vocabulary, runtime,
evaluation and training, command line and server), and no module uses another package's private (underscore)
names.

The implicit import of a parent package's ``__init__`` (importing ``faceocc.train.export`` runs
``faceocc/train/__init__.py`` first) is not an edge: only the imports written in the code are.

A "unit" is a top-level module (``faceocc.io``) or a top-level subpackage with all of its modules
(``faceocc.synthesis``). Modules of one unit may share private names; other units may not use them.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

PACKAGE = "faceocc"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Cycles known today in code that is being restructured elsewhere (issue 15), each as the sorted list of the
#: modules (or units) of one strongly connected component. The test fails if a cycle appears that is not listed,
#: and also if a listed one is gone (then delete its entry): this list can only shrink.
KNOWN_CYCLES: list[list[str]] = []

#: Private names used across units today, as (importer, "module.name"); the same rule: it can only shrink.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()


def _module_names() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package (a package is its ``__init__``)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_names()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, level: int, module: str | None) -> str:
    """The absolute dotted name of a (possibly relative) ``from`` import's module."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _closest_module(name: str) -> str | None:
    """``name`` if it is a faceocc module, else its longest prefix that is one (``faceocc.io.load_image`` ->
    ``faceocc.io``); None outside faceocc."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def unit(module: str) -> str:
    """The owner of private names: ``faceocc.x`` for a top-level module or subpackage ``x``; ``faceocc`` itself."""
    return ".".join(module.split(".")[:2])


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Imports(ast.NodeVisitor):
    """The faceocc modules one module imports (line numbers kept for messages) and its cross-unit private names."""

    def __init__(self, importer: str):
        self.importer = importer
        self.edges: dict[str, int] = {}
        self.private: list[tuple[int, str]] = []
        self.module_aliases: dict[str, str] = {}  # local name -> faceocc module it is bound to
        self.dynamic_import = 0  # the line of an import_module call with a computed name

    def _edge(self, target: str | None, line: int) -> None:
        if target is not None and target != self.importer:
            self.edges.setdefault(target, line)

    def _check_private(self, module: str, name: str, line: int) -> None:
        if _is_private(name) and unit(module) != unit(self.importer):
            self.private.append((line, f"{module}.{name}"))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            target = _closest_module(alias.name)
            self._edge(target, node.lineno)
            if target is not None and alias.asname:
                self.module_aliases[alias.asname] = target
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _resolve(self.importer, node.level, node.module)
        base = _closest_module(source)
        if base is None:
            return
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in MODULES:  # from package import module
                self._edge(submodule, node.lineno)
                self.module_aliases[alias.asname or alias.name] = submodule
            else:  # from module import name
                self._edge(base, node.lineno)
                self._check_private(base, alias.name, node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self._edge(_closest_module(arg.value), node.lineno)
            else:  # a computed name: every faceocc module named in a string of this module may be the one
                self.dynamic_import = node.lineno
        self.generic_visit(node)

    def visit_Module(self, node: ast.Module) -> None:
        self.generic_visit(node)
        if self.dynamic_import:
            for const in ast.walk(node):
                if isinstance(const, ast.Constant) and isinstance(const.value, str) and const.value in MODULES:
                    self._edge(const.value, const.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.module_aliases:
            self._check_private(self.module_aliases[node.value.id], node.attr, node.lineno)
        self.generic_visit(node)


def _scan() -> tuple[dict[str, dict[str, int]], list[tuple[str, str, str]]]:
    """The import graph (module -> {imported module: line}) and every cross-unit private name as
    (importer, "module.name", "file:line")."""
    graph, private = {}, []
    for name, path in MODULES.items():
        visitor = _Imports(name)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        graph[name] = visitor.edges
        private += [(name, what, f"{path.relative_to(ROOT.parent)}:{line}") for line, what in visitor.private]
    return graph, private


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module (a module importing itself is not an edge)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _cycle_path(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """The shortest cycle through the first module of a component, with the line of each import:
    ``a (line 3) -> b (line 9) -> a``."""
    members, start = set(component), component[0]
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:  # breadth first
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])  # type: ignore[arg-type]
                hops = path[::-1] + [start]
                return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(hops)) + f" -> {start}"
            if w in members and w not in previous:
                previous[w] = v
                queue.append(w)
    return " <-> ".join(component)


GRAPH, PRIVATE = _scan()


def unit_graph(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """The graph between units: ``faceocc.train`` imports ``faceocc.evaluate`` if one of its modules imports one of
    evaluate's (a cycle here, as ``export`` <-> ``train`` was, hides from the module graph when the two modules
    on each side differ)."""
    units: dict[str, dict[str, int]] = {unit(m): {} for m in graph}
    for importer, targets in graph.items():
        for target in targets:
            if unit(target) != unit(importer):
                units[unit(importer)].setdefault(unit(target), 0)
    return units


#: Who may import whom: a unit imports only units of its own layer or below. At the bottom the vocabulary and the
#: leaves that import no other faceocc module (onnxruntime sessions, reading images); the runtime in the middle
#: (alignment, detection, model, policy, pipeline: everything not named here); evaluation and training above it; the
#: command line and the HTTP service on top, and nothing imports them.
BOTTOM = {f"{PACKAGE}.schema", f"{PACKAGE}.runtime", f"{PACKAGE}.io", f"{PACKAGE}.files", f"{PACKAGE}.headers"}
UPPER = {f"{PACKAGE}.evaluate", f"{PACKAGE}.train"}
TOP = {f"{PACKAGE}.cli", f"{PACKAGE}.server", f"{PACKAGE}.__main__"}


def layer(name: str) -> int:
    u = unit(name)
    return 0 if u in BOTTOM else 2 if u in UPPER else 3 if u in TOP else 1


def test_the_scan_sees_the_package():
    assert len(MODULES) > 20 and f"{PACKAGE}.pipeline" in GRAPH
    assert f"{PACKAGE}.schema" in GRAPH[f"{PACKAGE}.pipeline"]  # a module-level relative import
    assert any(GRAPH[m] for m in GRAPH if m.startswith(f"{PACKAGE}.cli"))  # function-level imports count too


def test_no_import_cycles():
    components = strongly_connected(GRAPH)
    new = [c for c in components if c not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(_cycle_path(GRAPH, c) for c in new)


def _imports_between(units: list[str]) -> str:
    """The module imports that tie the units of a cycle together, one per line."""
    members = set(units)
    return "\n".join(
        f"  {importer} -> {target} (line {line})"
        for importer, targets in sorted(GRAPH.items())
        for target, line in sorted(targets.items())
        if unit(importer) in members and unit(target) in members and unit(importer) != unit(target)
    )


def test_no_import_cycles_between_packages():
    components = strongly_connected(unit_graph(GRAPH))
    new = [c for c in components if c not in KNOWN_CYCLES]
    assert not new, "import cycles between packages:\n" + "\n".join(
        " <-> ".join(c) + "\n" + _imports_between(c) for c in new
    )


def test_imports_run_down_the_layers():
    upward = [
        f"{importer} (layer {layer(importer)}) imports {target} (layer {layer(target)}) at line {line}"
        for importer, targets in GRAPH.items()
        for target, line in targets.items()
        if layer(target) > layer(importer) and unit(target) != unit(importer)
    ]
    assert not upward, "imports that run upwards:\n" + "\n".join(upward)


def test_known_cycles_are_still_there():
    """A known cycle that is gone is deleted from KNOWN_CYCLES, so that it cannot come back unnoticed."""
    now = strongly_connected(GRAPH) + strongly_connected(unit_graph(GRAPH))
    gone = [cycle for cycle in KNOWN_CYCLES if cycle not in now]
    assert not gone, f"no longer cycles, delete them from KNOWN_CYCLES: {gone}"


def test_no_private_names_across_packages():
    new = [
        f"{where}: {importer} uses {what}"
        for importer, what, where in PRIVATE
        if (importer, what) not in KNOWN_PRIVATE_IMPORTS
    ]
    assert not new, "private names used outside their package:\n" + "\n".join(new)


def test_known_private_imports_are_still_there():
    gone = KNOWN_PRIVATE_IMPORTS - {(importer, what) for importer, what, _ in PRIVATE}
    assert not gone, f"no longer used, delete them from KNOWN_PRIVATE_IMPORTS: {sorted(gone)}"


def test_the_checker_finds_a_cycle_and_a_private_import():
    """The checks themselves can fail: a made-up graph with a cycle, a made-up private import."""
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert _cycle_path(graph, ["a", "b", "c"]) == "a (line 1) -> b (line 2) -> c (line 3) -> a"
    visitor = _Imports(f"{PACKAGE}.evaluate.report")  # a module of a subpackage
    code = (
        "def f():\n    from ..datasets import _hidden, visible\n    from .metrics import _shared\n"
        "    from .. import io\n    io._private()\n    import importlib\n    importlib.import_module('faceocc.model')\n"
    )
    visitor.visit(ast.parse(code))
    assert visitor.private == [(2, f"{PACKAGE}.datasets._hidden"), (5, f"{PACKAGE}.io._private")]  # _shared: same unit
    assert set(visitor.edges) == {f"{PACKAGE}.{m}" for m in ("datasets", "evaluate.metrics", "io", "model")}
    visitor = _Imports(f"{PACKAGE}.evaluate.report")  # the name of a module imported from a variable
    visitor.visit(ast.parse("import importlib\nfor m in ('faceocc.cli', 'x'):\n    importlib.import_module(m)\n"))
    assert set(visitor.edges) == {f"{PACKAGE}.cli"}
    modules = {
        f"{PACKAGE}.train.network": {},
        f"{PACKAGE}.train.trainer": {f"{PACKAGE}.export": 1},
        f"{PACKAGE}.export": {f"{PACKAGE}.train.network": 1},
    }
    assert strongly_connected(modules) == []  # export <-> train as it was: no cycle between modules...
    assert strongly_connected(unit_graph(modules)) == [[f"{PACKAGE}.export", f"{PACKAGE}.train"]]  # ...one here
