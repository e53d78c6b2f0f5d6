"""The scope every sampler runs in: no gradients, and the model's reused gather buffer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, TypeVar

import torch

from patchforcing.model import PatchModel

__all__ = ["sampling_scope"]

F = TypeVar("F", bound=Callable[..., Any])


def sampling_scope(fn: F) -> F:
    """Run ``fn(model, ...)`` under ``torch.no_grad()`` and, when ``model`` offers it (a
    :class:`~patchforcing.model.PatchForcingDiT`, not a wrapper), inside ``model.reuse_buffers()``."""

    @functools.wraps(fn)
    def run(model: PatchModel, *args: Any, **kwargs: Any) -> Any:
        reuse = getattr(model, "reuse_buffers", None)
        with torch.no_grad(), (reuse() if callable(reuse) else nullcontext()):
            return fn(model, *args, **kwargs)

    return run  # type: ignore[return-value]
