"""The layering of ``agent`` and ``parsers``, read from the source with ``ast``.

Every ``import`` counts: module level, inside functions, and under
``TYPE_CHECKING`` too (a type-only circle is still a circle a reader has to
untangle). Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first,
so those packages are edges as well, except the importer's own ancestors.
Dynamic imports (``importlib.import_module`` of a computed name) are not seen.

The rules (issue #13):

* no import circles among the modules of ``agent`` and ``parsers``;
* ``parsers`` imports nothing from ``agent``;
* ``agent.core`` imports nothing from the sources, exporters, components or
  the daemon (``agent.sources``, ``agent.export``, ``agent.fib``,
  ``agent.health``, ``agent.app``, ``agent.daemon``, ``agent.cli``);
* sources and exporters import the core, never each other (nor one source
  another);
* components reach the daemon only through ``agent.host``: nothing below
  ``agent.core``, ``agent.sources``, ``agent.export``, ``agent.fib``,
  ``agent.health`` imports ``agent.app``, ``agent.daemon`` or ``agent.cli``
  (except each package's ``cmd`` subcommand, which uses the CLI's API client
  ``agent.cli.api``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "parsers")

#: Circles another branch removes (issue #13: parsers/ is restructured on
#: branch layout-parsers). An entry that no longer matches a circle fails
#: the test, so it is deleted when that branch lands.
PENDING_CYCLES: set[frozenset[str]] = set()


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            out[module_name(root, path)] = path
    return out


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``agent``/``parsers`` that importing it imports."""
    modules = find_modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
                continue
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets.add(mod)
            targets.update(f"{mod}.{a.name}" for a in node.names)
        own = {*_ancestors(name), name}
        edges: set[str] = set()
        for t in targets:
            for m in (*_ancestors(t), t):
                if m in modules and m not in own:
                    edges.add(m)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a layering rule, as ``importer -> imported: rule``."""
    out: list[str] = []
    above_core = (
        "agent.sources",
        "agent.export",
        "agent.fib",
        "agent.health",
        "agent.history",
        "agent.app",
        "agent.daemon",
        "agent.cli",
    )
    components = (
        "agent.core",
        "agent.sources",
        "agent.export",
        "agent.fib",
        "agent.health",
        "agent.history",
    )
    sources = ("agent.sources.bmp", "agent.sources.bird")
    for src, dsts in sorted(graph.items()):
        for dst in sorted(dsts):
            if src.startswith("parsers") and dst.startswith("agent"):
                out.append(f"{src} -> {dst}: parsers imports nothing from agent")
            if _under(src, "parsers.bgp") and _under(dst, "parsers.bmp"):
                out.append(f"{src} -> {dst}: BMP carries BGP, never the reverse")
            if _under(src, "agent.core") and _under(dst, *above_core):
                out.append(f"{src} -> {dst}: the core imports no source, exporter or component")
            if _under(src, "agent.sources") and _under(dst, "agent.export"):
                out.append(f"{src} -> {dst}: a source imports no exporter")
            if _under(src, "agent.export") and _under(dst, "agent.sources"):
                out.append(f"{src} -> {dst}: an exporter imports no source")
            for s in sources:
                if _under(src, s) and _under(dst, *sources) and not _under(dst, s):
                    out.append(f"{src} -> {dst}: one source imports no other")
            if (
                _under(src, *components)
                and _under(dst, "agent.app", "agent.daemon", "agent.cli")
                and not (src.endswith(".cmd") and dst in ("agent.cli", "agent.cli.api"))
            ):
                out.append(f"{src} -> {dst}: components reach the daemon through agent.host")
    return out


def test_the_graph_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    """The parser of the graph itself: relative, function-level and type-only imports."""
    (tmp_path / "agent" / "core").mkdir(parents=True)
    (tmp_path / "parsers").mkdir()
    (tmp_path / "agent" / "__init__.py").write_text("")
    (tmp_path / "parsers" / "__init__.py").write_text("")
    (tmp_path / "agent" / "core" / "__init__.py").write_text("from .router import Router\n")
    (tmp_path / "agent" / "core" / "router.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .core import Core\n"
    )
    (tmp_path / "agent" / "core" / "core.py").write_text(
        "def f():\n    from . import router\n    import agent.daemon\n"
    )
    (tmp_path / "agent" / "daemon.py").write_text("from parsers import x\n")
    graph = import_graph(tmp_path)
    assert graph == {
        "agent": set(),
        "agent.core": {"agent.core.router"},
        "agent.core.core": {"agent.core.router", "agent.daemon"},
        "agent.core.router": {"agent.core.core"},
        "agent.daemon": {"parsers"},
        "parsers": set(),
    }
    assert cycles(graph) == [frozenset({"agent.core.core", "agent.core.router"})]
    assert violations(graph) == [
        "agent.core.core -> agent.daemon: the core imports no source, exporter or component",
        "agent.core.core -> agent.daemon: components reach the daemon through agent.host",
    ]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    g = import_graph()
    # the tree is really there: the test cannot pass on an empty graph
    assert {"agent.core.router", "agent.daemon", "parsers.bmp.session"} <= set(g)
    return g


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    found = cycles(graph)
    unexpected = [sorted(c) for c in found if c not in PENDING_CYCLES]
    stale = [sorted(c) for c in PENDING_CYCLES if c not in found]
    assert unexpected == [], f"import circles: {unexpected}"
    assert stale == [], f"PENDING_CYCLES lists circles that are gone, remove them: {stale}"


def test_layering(graph: dict[str, set[str]]) -> None:
    assert violations(graph) == []
