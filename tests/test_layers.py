"""The house is one-way: settings → composition → components → domain facts (docs/architecture.md).

Walks every import statement of the program's packages, those inside functions too (a lazy import
is still a dependency), and fails on an edge against the layer order or on any import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "components", "stacks", "policy", "mindiectl")

# What each layer may import (besides the standard library and third-party packages). A module
# belongs to the longest prefix listed. Nothing imports mindiectl: it is the top, beside __main__.
ALLOWED: dict[str, tuple[str, ...]] = {
    "domain": ("domain",),
    "components": ("components", "domain"),
    "stacks.settings": ("stacks.settings", "domain"),
    "stacks.composition": ("stacks.composition", "stacks.settings", "components", "domain"),
    "stacks": (),
    "policy": ("policy", "domain"),
    "mindiectl": ("mindiectl", "stacks", "components", "policy", "domain"),
    "__main__": ("stacks.composition", "stacks.settings"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def program_modules() -> dict[str, Path]:
    found = {"__main__": ROOT / "__main__.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The program modules `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            if base == "rules" or base.startswith("rules."):
                base = "policy." + base  # the pack's entry, on CrossGuard's sys.path (policy/)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer(name: str) -> str:
    return max((key for key in ALLOWED if name == key or name.startswith(key + ".")), key=len)


def import_graph() -> dict[str, set[str]]:
    modules = program_modules()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def test_every_import_follows_the_layer_order():
    graph = import_graph()
    back_edges = [
        f"{source} imports {target} ({layer(source)} may import only {', '.join(ALLOWED[layer(source)])})"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if not any(target == ok or target.startswith(ok + ".") for ok in ALLOWED[layer(source)])
    ]
    assert not back_edges, "\n".join(back_edges)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = _pop_component(stack, on_stack, node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> list[str]:
    """Tarjan: pop the strongly connected component rooted at `root` off the stack."""
    component = []
    while True:
        top = stack.pop()
        on_stack.discard(top)
        component.append(top)
        if top == root:
            return component


def test_no_import_cycle():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder_finds_cycles(graph, expected):
    assert cycles(graph) == expected


def test_a_lazy_back_edge_is_seen(tmp_path, monkeypatch):
    """An import inside a function counts: the walker is not fooled by laziness."""
    source = tmp_path / "components" / "late.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from stacks.settings.stack import Settings\n    return Settings\n")
    modules = {"components.late": source, "stacks.settings.stack": tmp_path / "stack.py"}
    assert imported("components.late", source, modules) == {"stacks.settings.stack"}
