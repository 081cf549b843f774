"""The floor plan holds: every import goes down the layers (or stays in its package), and no
module imports itself back through others. docs/decisions.md says why the layers are these."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import segmint

SOURCE = Path(segmint.__file__).parent

# Lowest first. A module may import its own package and any lower layer; within one layer,
# two packages (api and worker, say) never import each other.
LAYERS: list[set[str]] = [
    {"__init__", "model", "clock", "errors", "folding", "bucketing", "signing"},
    {"storable", "passwords", "outbound", "store"},
    {"projects", "auth"},
    {"filters"},
    {"index"},
    {"engine"},
    {"ingest"},
    {"campaigns"},
    {"worker", "api", "bootstrap", "demo", "portability"},
    {"web"},
    {"app"},
    {"bench"},
    {"cli"},
    {"__main__"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _module_names() -> dict[str, Path]:
    names = {}
    for path in SOURCE.rglob("*.py"):
        parts = ["segmint", *path.relative_to(SOURCE).with_suffix("").parts]
        if parts[-1] == "__init__" and len(parts) > 2:
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[str]:
    """Every segmint module `module` imports, at any depth of its code (lazy imports too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            found = _resolve(target)
            if found and found.startswith("segmint") and found != module:
                yield found


def _room(module: str) -> str:
    """The top-level package or module under segmint (`engine`, `app`, `__init__`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {module: set(_imports(module, path)) for module, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    assert {_room(module) for module in MODULES} <= set(RANK)


def test_imports_only_go_down_the_layers() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _room(target) != _room(module) and RANK[_room(target)] >= RANK[_room(module)]
    )
    assert wrong == []


def test_there_is_no_import_cycle() -> None:
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycles.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(GRAPH.get(module, ())):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert cycles == []


def test_the_filter_language_does_no_io() -> None:
    """filters/ builds trees and SQL expressions; it never holds a connection or an engine."""
    offenders = sorted(
        str(path.relative_to(SOURCE))
        for path in (SOURCE / "filters").rglob("*.py")
        if "sa.Connection" in path.read_text() or ".execute(" in path.read_text()
    )
    assert offenders == []
