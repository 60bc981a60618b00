"""The import graph of ``parsers/``: no circles, nothing from ``agent``, and
``parsers.bgp`` never imports ``parsers.bmp`` (BMP carries BGP, not the reverse)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARSERS = ROOT / "parsers"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports at any depth (in functions too)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PARSERS.rglob("*.py")}
    return {name: {m for m in _imports(p) if m in modules} for name, p in modules.items()}


def test_parsers_import_nothing_from_agent() -> None:
    offenders = {
        _module(p): sorted(m for m in _imports(p) if m == "agent" or m.startswith("agent."))
        for p in PARSERS.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_bgp_does_not_import_bmp() -> None:
    graph = _graph()
    assert {
        name: sorted(m for m in deps if m.startswith("parsers.bmp"))
        for name, deps in graph.items()
        if name.startswith("parsers.bgp") and any(m.startswith("parsers.bmp") for m in deps)
    } == {}


def test_no_import_circles() -> None:
    graph = _graph()
    # a package __init__ is imported with each of its modules; it is not a dependency edge
    graph = {k: {m for m in v if not k.startswith(m + ".")} for k, v in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []
    assert len(graph) >= 15  # the walk saw the package
