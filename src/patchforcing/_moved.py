"""Module paths and names of release 0.1 that moved in the 0.2 layout, usable for one more release.

``import patchforcing.loss`` (an old path) imports ``patchforcing.core.loss`` and warns with a
:class:`DeprecationWarning` that names the new path; a module whose names moved or were renamed
sets ``__getattr__ = moved_names(__name__, {...})``, so reading an old name warns and returns the
new object. Both are removed in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any

__all__ = ["MOVED", "install", "moved_names"]

# old prefix -> new prefix; a sub-module of an old prefix moved with it (the longest prefix wins)
MOVED = {
    "patchforcing.io": "patchforcing.utils.io",
    "patchforcing.limits": "patchforcing.utils.limits",
    "patchforcing.device": "patchforcing.utils.device",
    "patchforcing.runtime": "patchforcing.utils.runtime",
    "patchforcing.distributed": "patchforcing.utils.distributed",
    "patchforcing.path": "patchforcing.core.path",
    "patchforcing.timesamplers": "patchforcing.core.time_dist",
    "patchforcing.loss": "patchforcing.core.loss",
    "patchforcing.model.condition": "patchforcing.core.condition",
    "patchforcing.model.protocol": "patchforcing.core.protocol",
    "patchforcing.text": "patchforcing.model.text",
    "patchforcing.pretrained": "patchforcing.model.pretrained",
    "patchforcing.convert": "patchforcing.model.convert",
    "patchforcing.shipped": "patchforcing.model.shipped",
    "patchforcing.generation": "patchforcing.sampling.generation",
    "patchforcing.latent": "patchforcing.data.latent",
    "patchforcing.metrics": "patchforcing.evaluation.metrics",
    "patchforcing.analysis": "patchforcing.evaluation.analysis",
    "patchforcing.viz": "patchforcing.evaluation.viz",
    # its quality bench is benchmarks/quality
    "patchforcing.bench": "patchforcing.evaluation.speed",
    "patchforcing.bench.speed": "patchforcing.evaluation.speed.inference",
    "patchforcing.bench.train_speed": "patchforcing.evaluation.speed.training",
    "patchforcing.train.distributed": "patchforcing.train.data_parallel",
}


def new_name(name: str) -> str | None:
    """The module an old dotted path now lives at, or None when the path did not move."""
    for old in sorted(MOVED, key=len, reverse=True):
        if name == old or name.startswith(old + "."):
            return MOVED[old] + name[len(old) :]
    return None


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside the import machinery (the ``import`` line)."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_code.co_filename == __file__
    ):
        frame, level = frame.f_back, level + 1
    return level


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old path with the module at its new path."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname, path, target=None):
        if new_name(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = new_name(spec.name)
        assert new is not None
        warnings.warn(
            f"{spec.name} moved to {new}; the old path is removed in patchforcing 0.3",
            DeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )
        module = importlib.import_module(new)
        self._specs[new] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The new module is already executed; the import system has just given it the old path's
        spec, so it gets its own back (its name was kept)."""
        module.__spec__ = self._specs[module.__name__]


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(
            0, _MovedFinder()
        )  # before the path finder, which would load a second copy


def moved_names(module: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving the old names ``moved`` maps to
    ``"new.module:new_name"``."""

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where, _, new = moved[name].partition(":")
        now = f"moved to {where}.{new}" if new == name else f"renamed {new} ({where}.{new})"
        warnings.warn(
            f"{module}.{name} is {now}; the old name is removed in patchforcing 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(where), new)

    return __getattr__
