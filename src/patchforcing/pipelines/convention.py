"""Diffusers' time convention against ours, converted in one place.

Ours (:mod:`patchforcing.core.path`): ``t = 0`` is noise, ``t = 1`` is data, and the model predicts
``v = x1 - x0`` (data minus noise). Diffusers' flow-match schedulers run a noise level ``sigma``
from 1 (noise) to 0 (data), feed the network ``timestep = sigma * 1000`` and expect the velocity
``d x / d sigma = x0 - x1`` (noise minus data). So ``sigma = 1 - t`` and the velocity changes sign;
the Euler step ``x + (sigma' - sigma) * (-v)`` is ours, ``x + (t' - t) * v``.
"""

from __future__ import annotations

import torch

from patchforcing.core.path import from_sigma, to_sigma

__all__ = ["TIMESTEP_SCALE", "t_from_timestep", "timestep_from_t"]

TIMESTEP_SCALE = 1000.0  # diffusers' timestep = sigma * TIMESTEP_SCALE (its num_train_timesteps)


def t_from_timestep(timestep: torch.Tensor) -> torch.Tensor:
    """Diffusers' timestep (sigma * 1000, any shape) -> our t in [0, 1] (same shape)."""
    return from_sigma(timestep / TIMESTEP_SCALE)


def timestep_from_t(t: torch.Tensor) -> torch.Tensor:
    """Our t in [0, 1] (any shape) -> diffusers' timestep sigma * 1000 (same shape)."""
    return to_sigma(t) * TIMESTEP_SCALE
