"""What every sampler returns: the image and the compute it spent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from patchforcing.sampling.guidance import Prediction

__all__ = ["SampleResult", "TraceStep", "trace_step", "Trace", "TraceRecorder"]


@dataclass(frozen=True)
class TraceStep:
    """State after one network evaluation, recorded on request."""

    x: torch.Tensor  # (B, C, H, W)
    t: torch.Tensor  # (B, N) per-patch time of x
    difficulty: torch.Tensor | None  # (B, N), None for models without a difficulty head


@dataclass(frozen=True)
class SampleResult:
    """What a sampler returns: the image ``x`` (B, C, H, W) at t = 1, the network passes it spent
    (``nfe``; a guided pass on a doubled batch counts once), the images pushed through the network
    and, when asked for, one :class:`TraceStep` per pass."""

    x: torch.Tensor  # (B, C, H, W) final sample at t = 1
    nfe: int  # network forward passes (a CFG pass on a doubled batch counts once)
    images_forwarded: int  # images pushed through the network, CFG doubling included
    trace: list[TraceStep] = field(default_factory=list)


def trace_step(pred: Prediction, x: torch.Tensor, t: torch.Tensor, patch_size: int) -> TraceStep:
    """Record x at per-patch time t (B, N) with the difficulty of the pass that produced it."""
    difficulty = None if pred.logvar is None else pred.difficulty(patch_size)
    return TraceStep(x=x.clone(), t=t.clone(), difficulty=difficulty)


Trace = (
    bool | Callable[[TraceStep], None]
)  # record the steps; a callable also receives each as it happens


class TraceRecorder(list[TraceStep]):
    """The trace a sampler builds: a list of steps that also hands each new step to the caller's
    function when ``trace`` is one (so a viewer can show a run while it is computed)."""

    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self.on_step = trace if callable(trace) else None

    def append(self, step: TraceStep) -> None:
        super().append(step)
        if self.on_step is not None:
            self.on_step(step)
