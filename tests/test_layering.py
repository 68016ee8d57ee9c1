"""The import structure, checked: what the layering promises stays true.

- ``shared/`` (contracts) imports nothing of ours but itself; ``services/`` (the runtime)
  imports ``shared/`` and itself; a service imports ``services/``, ``shared/`` and its own
  package, never another service's.
- The production runtime never imports the development tools (``services.dev``).
- No import circles, counting deferred imports inside functions too (imports made only
  for the type checker, under ``TYPE_CHECKING``, do not count: they never run).

Run it to see the graph's faults named: ``pytest tests/test_layering.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"services": ROOT / "services", "shared": ROOT / "shared"} | {
    name: ROOT / f"{name}-svc" / name for name in ("intake", "routing", "sla", "notify")
}


def modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGES.values():
        for path in folder.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(folder.parent).with_suffix("")
            name = ".".join(rel.parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Our modules this file imports, at its top or inside a function (not under ``TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    out.add(full if full in known else node.module)
            else:  # inside functions and classes too: a deferred import is still a dependency
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit([n for n in getattr(node, field, []) if isinstance(n, ast.stmt | ast.excepthandler)])

    visit(tree.body)
    return {m for m in out if m in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found)) for name, path in found.items()}


def test_each_layer_imports_only_what_is_below_it() -> None:
    wrong = []
    for module, imported in graph().items():
        top = module.split(".")[0]
        allowed = {"shared"} if top == "shared" else {"services", "shared"} | {top}
        wrong += [f"{module} -> {m}" for m in imported if m.split(".")[0] not in allowed]
    assert not wrong, wrong


def test_the_runtime_never_imports_the_development_tools() -> None:
    wrong = [
        f"{module} -> {m}"
        for module, imported in graph().items()
        if not module.startswith("services.dev")
        for m in imported
        if m.startswith("services.dev")
    ]
    assert not wrong, wrong


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            walk(start, [start])
    assert not circles, [" -> ".join(c) for c in circles]
