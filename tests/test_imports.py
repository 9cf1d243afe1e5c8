"""The package's shape: no import circle (imports inside functions count too), no module too long.

The graph is read from the source, as /work/shared/tools/import-cycles reads it: every
`import` and `from ... import` anywhere in a module (in a function, under TYPE_CHECKING) is an
edge to the package's module it names; a package that holds the importer is no edge (Python
imports it first anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mosaic_invoke"
MAX_LINES = 300
"""Lines that hold something (code, docstrings, comments; blank lines are layout) in one module."""


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(node: ast.AST, base: list[str]) -> list[str]:
    """The dotted names an import statement may mean (a module, or a name in one); none for other nodes."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: from the importer's package, one level up per extra dot
        prefix = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at ``root`` and the package's modules it imports."""
    modules = {module_name(root, path): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in imported(node, base):
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each set of modules that import each other, directly or around a loop (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def around(graph: dict[str, set[str]], circle: list[str]) -> str:
    """One way around ``circle``, as `a -> b -> a` (the shortest from its first module), for the message."""
    start, members = circle[0], set(circle)
    paths = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for other in sorted(graph[module] & members):
            if other == start:
                return " -> ".join([*paths[module], start])
            if other not in paths:
                paths[other] = [*paths[module], other]
                queue.append(other)
    return ", ".join(circle)


def test_the_package_has_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 50 and "mosaic_invoke.loop.loop" in graph  # the whole package was read
    found = [f"{len(circle)} modules, one way around: {around(graph, circle)}" for circle in circles(graph)]
    assert found == []


def test_a_circle_hidden_by_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {
        "__init__.py": "",
        "a.py": "from pkg.b import helper\n",
        "b.py": "def helper():\n    from pkg import a  # hidden: runs only when called\n    return a\n",
        "c.py": "import pkg.a\nfrom . import b\n",  # imports both, in no circle
        "sub/__init__.py": "",
        "sub/d.py": "from ..sub import e\n",  # e; its own package sub is no edge
        "sub/e.py": "if True:\n    from .. import c\n",
    }
    for name, source in sources.items():
        (package / name).write_text(source)
    graph = import_graph(package)
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.a"},
        "pkg.c": {"pkg.a", "pkg.b"},
        "pkg.sub": set(),
        "pkg.sub.d": {"pkg.sub.e"},
        "pkg.sub.e": {"pkg.c"},
    }
    assert circles(graph) == [["pkg.a", "pkg.b"]]
    assert around(graph, ["pkg.a", "pkg.b"]) == "pkg.a -> pkg.b -> pkg.a"


def lines_held(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_no_module_is_over_300_lines() -> None:
    """~300 lines hold two concepts: such a module is split by concept (STYLE.md)."""
    counts = {module_name(PACKAGE, path): lines_held(path) for path in PACKAGE.rglob("*.py")}
    assert max(counts.values()) > 100  # the modules were read
    assert {name: count for name, count in counts.items() if count > MAX_LINES} == {}
