"""The package's layers, read from the source (AST, nothing imported): every top-level folder of
``src/patchforcing`` belongs to one layer, a module imports only from its own layer or those below
it, no group of modules imports itself in a circle, and nothing in the package imports the
benchmarks. A new folder must be given a layer here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = SRC / "patchforcing"

LAYERS = {  # top-level entry -> layer, lowest first
    "utils": 0,
    "core": 1,
    "model": 2,
    "sampling": 3,
    "data": 4,
    "train": 5,
    "evaluation": 6,
    "pipelines": 7,
    "viewer": 8,
    "cli": 9,
}
ROOT_MODULES = {"__init__", "__main__", "_moved", "_version"}
OUTSIDE = ("benchmarks",)  # never imported by the package


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}


def imports_of(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.update(
                f"{base}.{alias.name}" for alias in node.names
            )  # a module, or a name in base
    return found


def resolve(target: str, known: dict[str, Path]) -> str | None:
    """The module of ``known`` an import names (``from a.b import c`` names a.b, or a.b.c where that
    is a module); None outside them."""
    while target not in known and "." in target:
        target = target.rpartition(".")[0]
    return target if target in known else None


def layer_of(name: str) -> int | None:
    """The layer of a module; None for the package's front (``patchforcing``, ``__main__``), which
    may import any layer; -1 for its own metadata modules, which import nothing of it."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return None
    return -1 if parts[1] in ROOT_MODULES else LAYERS[parts[1]]


def import_graph(known: dict[str, Path]) -> dict[str, set[str]]:
    return {
        name: {m for t in imports_of(path, name) if (m := resolve(t, known)) and m != name}
        for name, path in known.items()
    }


GRAPH = import_graph(modules())


def test_every_entry_has_a_layer_and_says_what_it_owns() -> None:
    entries = {
        p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert entries - ROOT_MODULES == set(LAYERS), "give the new entry a layer in LAYERS"
    for entry in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / entry / "__init__.py").read_text()))
        assert doc and len(doc.split(".")[0]) < 300, (
            f"patchforcing.{entry} needs a docstring saying what it owns"
        )


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_flow_down(name: str) -> None:
    own = layer_of(name)
    if own is None:
        return
    upward = sorted(m for m in GRAPH[name] if (layer := layer_of(m)) is None or layer > own)
    assert not upward, f"{name} (layer {own}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_nothing_imports_the_benchmarks(name: str) -> None:
    outside = sorted(t for t in imports_of(modules()[name], name) if t.split(".")[0] in OUTSIDE)
    assert not outside, f"{name} imports {outside}"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert circles(GRAPH) == []
    assert circles(import_graph(modules(REPO / "benchmarks"))) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_relative_import_resolves_against_its_package(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text("from . import y\nfrom ..core import path\n")
    assert imports_of(path, "patchforcing.model.x") == {
        "patchforcing.model.y",
        "patchforcing.core.path",
    }
    known = {"patchforcing.model": path, "patchforcing.core.path": path}
    assert resolve("patchforcing.model.y", known) == "patchforcing.model"  # a name, not a module
    assert resolve("patchforcing.core.path", known) == "patchforcing.core.path"
