"""docs/api.md lists every exported name: for each documented package, the names in its section
are exactly its ``__all__``; and every exported class and function has a docstring of its own."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"
PACKAGES = (
    "patchforcing",
    "patchforcing.core",
    "patchforcing.model",
    "patchforcing.model.pretrained",
    "patchforcing.sampling",
    "patchforcing.sampling.generation",
    "patchforcing.data",
    "patchforcing.train",
    "patchforcing.evaluation",
    "patchforcing.evaluation.metrics",
)


def _sections() -> dict[str, set[str]]:
    """Package -> the names in the first column of the tables of its ``## `package` `` section."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in API.read_text().splitlines():
        heading = re.fullmatch(r"## `([\w.]+)`", line)
        if heading:
            current = sections.setdefault(heading[1], set())
        elif line.startswith("## "):
            current = None
        elif current is not None and (row := re.match(r"\| `([\w.]+)` \|", line)):
            current.add(row[1])
    return sections


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_listed(package):
    listed = _sections().get(package)
    assert listed is not None, f"docs/api.md has no section ## `{package}`"
    exported = set(importlib.import_module(package).__all__)
    assert not exported - listed, f"{package}: not in docs/api.md: {sorted(exported - listed)}"
    assert not listed - exported, f"{package}: listed but not exported: {sorted(listed - exported)}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_class_and_function_has_a_docstring(package):
    module = importlib.import_module(package)
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        doc = obj.__doc__ or ""  # its own, not one inherited through inspect.getdoc
        if not doc.strip() or doc.startswith(f"{obj.__name__}("):  # dataclass's generated one
            missing.append(name)
    assert not missing, f"{package}: exported without a docstring: {missing}"


def test_the_example_at_the_top_runs(tmp_path, monkeypatch):
    """The first code block of docs/api.md, at a smaller size."""
    code = API.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(code.replace("nfe=32, num_images=8", "nfe=4, num_images=2"), {})
    assert (tmp_path / "first.png").is_file()
