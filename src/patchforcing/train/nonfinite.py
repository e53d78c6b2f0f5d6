"""Non-finite losses and gradients: detect, report the step, stop or skip, never save poison."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "NonFiniteLossError",
    "MAX_CONSECUTIVE_SKIPS",
    "nonfinite_reason",
    "check_finite_weights",
]

MAX_CONSECUTIVE_SKIPS = (
    20  # past this, skipping is hiding a diverged run rather than riding out a spike
)


class NonFiniteLossError(RuntimeError):
    """Training met a NaN/inf loss, gradient or weight; the last good checkpoint is kept."""


def nonfinite_reason(loss: float, grad_norm: float) -> str | None:
    """What went non-finite in a step (``"loss"`` or ``"gradient norm"``), or None if
    nothing did."""
    if not math.isfinite(loss):
        return "loss"
    if not math.isfinite(grad_norm):
        return "gradient norm"
    return None


@torch.no_grad()
def check_finite_weights(modules: dict[str, nn.Module], step: int) -> None:
    """Raise before a checkpoint would store a NaN/inf weight (online or EMA), naming the tensor."""
    for label, module in modules.items():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise NonFiniteLossError(
                    f"{label} weight {name!r} is non-finite after step {step}; "
                    f"not saving a poisoned checkpoint"
                )
