"""Small pieces of the training loop: per-step randomness, EMA, lr warm-up, metrics log."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from patchforcing.data.order import seed64
from patchforcing.utils.io.atomic import DiskWriteError, atomic_write

__all__ = [
    "step_generator",
    "update_ema",
    "ema_decay_at",
    "warmup_factor",
    "lr_factor",
    "MetricsLog",
]


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator for the noise, times and label dropout of one step's global batch (every
    data-parallel rank draws the whole batch and keeps its rows)."""
    return torch.Generator().manual_seed(seed64(seed * 1_000_003 * 10_000_019 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for every parameter (buffers are copied)."""
    ema_params: list[torch.Tensor] = list(ema.parameters())
    params = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def ema_decay_at(step: int, decay: float, warmup: bool) -> float:
    """The EMA decay used after optimizer step ``step``: constant (the authors' recipe) or, with
    ``warmup``, min(decay, (1 + step) / (10 + step)) so that short runs do not keep the
    initial weights."""
    return min(decay, (1 + step) / (10 + step)) if warmup else decay


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up over ``warmup_steps`` optimizer steps, then constant."""
    return 1.0 if warmup_steps == 0 else min(1.0, (step + 1) / warmup_steps)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str = "constant") -> float:
    """The learning-rate multiplier at ``step``: linear warm-up, then constant (the authors' recipe)
    or a cosine decay from 1 at the end of the warm-up to 0 at ``total_steps``."""
    warm = warmup_factor(step, warmup_steps)
    if schedule == "constant" or step < warmup_steps:
        return warm
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class MetricsLog:
    """Append-only JSONL log. On resume, entries past the resumed step (and a line cut short by a
    kill) are dropped, in one atomic rewrite, so that the log matches the run that continues; a run
    started afresh (step 0) starts a new log."""

    def __init__(self, path: str | Path, resume_step: int) -> None:
        self.path = Path(path)
        if self.path.exists():
            kept = []
            for line in self.path.read_text().splitlines() if resume_step else []:
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except json.JSONDecodeError:
                    break
            atomic_write(
                self.path,
                lambda tmp: tmp.write_text("".join(line + "\n" for line in kept)),
                "metrics log",
            )

    def write(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as err:
            raise DiskWriteError("metrics log", self.path, err) from err
