"""Checkpoints shipped inside the package, addressed by name (e.g. ``load_model("fmnist-pf")``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["SHIPPED", "shipped_path"]

SHIPPED = {"fmnist-pf": "Patch Forcing (LTG) on Fashion-MNIST",
           "fmnist-global": "global-time baseline on Fashion-MNIST"}


def shipped_path(name: str) -> Path:
    """Folder of a shipped checkpoint."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped checkpoint {name!r}; choose one of {sorted(SHIPPED)}")
    return Path(str(files("patchforcing") / "checkpoints" / name))
