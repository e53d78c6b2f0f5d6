"""Euler-PF as a diffusers scheduler, for a denoising loop written the diffusers way.

``set_timesteps(S)`` lays the uniform grid of the samplers (our t 0 -> 1, stored as ``schedule``)
out in diffusers' terms: ``sigmas`` (S + 1,) from 1 to 0 and ``timesteps`` (S,) = sigma * 1000.
``step(model_output, timestep, sample)`` moves every patch to the next noise level of the grid;
with ``per_token_timesteps`` (B, N) each patch moves from its own level to the next grid level
below it (the hook of diffusers' ``FlowMatchEulerDiscreteScheduler.step``, on images instead of
token sequences). ``model_output`` is diffusers' velocity (noise minus data), what
:class:`~patchforcing.pipelines.models.PatchForcingDiTModel` returns, in both cases (diffusers' own
per-token branch steps by sigma - sigma_next, so it takes the opposite sign). The step keeps no
hidden counter: the next level is looked up from the timestep given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput

from patchforcing.core.path import broadcast_patches, to_sigma
from patchforcing.pipelines.convention import TIMESTEP_SCALE
from patchforcing.sampling import uniform_schedule

__all__ = ["PatchForcingEulerScheduler", "PatchForcingSchedulerOutput"]

_BELOW = 1e-6  # a grid level counts as below a patch's level when lower by more than this


@dataclass
class PatchForcingSchedulerOutput(BaseOutput):
    """What a scheduler step returns (diffusers' field name)."""

    prev_sample: torch.Tensor  # (B, C, H, W) the sample one step closer to data


class PatchForcingEulerScheduler(SchedulerMixin, ConfigMixin):  # type: ignore[misc]
    """Euler steps on the uniform grid, one noise level per image or per patch."""

    order = 1

    @register_to_config
    def __init__(self) -> None:
        self.schedule = uniform_schedule(1)  # (S + 1,) our t, float64
        self.sigmas = to_sigma(self.schedule).float()  # (S + 1,) 1 -> 0
        self.timesteps = self.sigmas[:-1] * TIMESTEP_SCALE  # (S,)
        self.num_inference_steps: int | None = None

    def set_timesteps(
        self, num_inference_steps: int, device: torch.device | str | None = None
    ) -> None:
        """The grid of ``num_inference_steps`` uniform steps (the samplers' default schedule)."""
        self.schedule = uniform_schedule(num_inference_steps, device or "cpu")
        self.sigmas = to_sigma(self.schedule).float()
        self.timesteps = self.sigmas[:-1] * TIMESTEP_SCALE
        self.num_inference_steps = num_inference_steps

    def scale_model_input(
        self, sample: torch.Tensor, timestep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Flow matching feeds the sample unscaled."""
        return sample

    def step(
        self,
        model_output: torch.Tensor,
        timestep: float | torch.Tensor,
        sample: torch.Tensor,
        per_token_timesteps: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> PatchForcingSchedulerOutput | tuple[torch.Tensor]:
        """x + (sigma_next - sigma) * model_output, with sample and model_output (B, C, H, W) and
        sigma from ``timestep`` (a grid timestep) or from ``per_token_timesteps`` (B, N)."""
        if model_output.shape != sample.shape:
            raise ValueError(
                f"model_output {tuple(model_output.shape)} and sample {tuple(sample.shape)} differ"
            )
        sigmas = self.sigmas.to(sample.device)
        if per_token_timesteps is None:
            index = int((self.timesteps.to(sample.device) - float(timestep)).abs().argmin())
            dt: torch.Tensor | float = float(sigmas[index + 1] - sigmas[index])
        else:
            dt = self._per_token_dt(per_token_timesteps.to(sample.device), sigmas, sample)
        prev = (sample + dt * model_output).to(sample.dtype)
        return PatchForcingSchedulerOutput(prev_sample=prev) if return_dict else (prev,)

    @staticmethod
    def _per_token_dt(
        timesteps: torch.Tensor, sigmas: torch.Tensor, sample: torch.Tensor
    ) -> torch.Tensor:
        """Per-pixel sigma_next - sigma (B, 1, H, W) for patch levels ``timesteps`` (B, N)."""
        B, _, H, W = sample.shape
        if timesteps.dim() != 2 or timesteps.shape[0] != B:
            raise ValueError(f"per_token_timesteps must be (B, N), got {tuple(timesteps.shape)}")
        patch_size = math.isqrt(H * W // timesteps.shape[1])
        sigma = timesteps.float() / TIMESTEP_SCALE  # (B, N)
        lower = sigmas[:, None, None] < sigma[None] - _BELOW  # (S + 1, B, N)
        sigma_next = (lower * sigmas[:, None, None]).amax(dim=0)  # (B, N) 0 when none is lower
        return broadcast_patches(sigma_next - sigma, patch_size, H, W).to(sample.dtype)

    def __len__(self) -> int:
        return self.num_inference_steps or 0
