"""What every sampler is: a frozen config of its options, called with one signature.

``sampler(model, noise, y, schedule, guidance, generator, trace) -> SampleResult`` integrates from
noise (t = 0) to data (t = 1) along ``schedule``; ``sampler.nfe(schedule, num_patches)`` is the NFE
it will spend there on a model of ``num_patches`` patches and ``sampler.budget(nfe, num_patches)``
the uniform outer steps that spend an NFE budget (or the closest it can). Only look-ahead's count
depends on the patch count (its early-step test, see :mod:`patchforcing.sampling.lookahead`); the
default is the authors' 256 px setting, N = 256. A sampler's algorithm is its :meth:`Sampler.run`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.budget import Budget, steps_for_nfe
from patchforcing.sampling.guidance import Guidance
from patchforcing.sampling.options import sampler_options
from patchforcing.sampling.result import SampleResult, Trace
from patchforcing.sampling.schedule import check_schedule, uniform_schedule

__all__ = ["Sampler", "Generators", "DEFAULT_PATCHES"]

DEFAULT_PATCHES = 256  # N of the authors' setting (32 x 32 latents, p = 2)

Generators = torch.Generator | Sequence[torch.Generator]  # one for the batch, or one per image


@contextmanager
def _sampling_scope(model: PatchModel) -> Iterator[None]:
    """No gradients and, when ``model`` offers it (a model class, not a wrapper), its reused
    gather buffer for the whole run."""
    reuse = getattr(model, "reuse_buffers", None)
    with torch.no_grad(), reuse() if callable(reuse) else nullcontext():
        yield


@dataclass(frozen=True, kw_only=True)
class Sampler:
    """Base of the sampler configs. ``patch_time``: needs a Patch Forcing model (per-patch t);
    ``difficulty``: needs its difficulty head.

    A sampler is a frozen config of its options, called on a model; ``generate`` calls it for
    whole batches, and it can be called directly for one.

    Example::

        noise = noise_for_seeds(range(4), (1, 28, 28))  # (4, 1, 28, 28)
        result = DualLoop(p=0.4)(model, noise, torch.arange(4), uniform_schedule(8))
        result.x, result.nfe  # (4, 1, 28, 28) images at t = 1, the passes spent (32)
    """

    name: ClassVar[str] = ""
    patch_time: ClassVar[bool] = True
    difficulty: ClassVar[bool] = False

    def __post_init__(self) -> None:
        """Every declared option's range check (the one the front ends run on their input)."""
        for info in sampler_options(type(self)):
            if info.check is not None:
                info.check(getattr(self, info.name))

    def nfe(self, schedule: torch.Tensor, num_patches: int = DEFAULT_PATCHES) -> int:
        """The NFE spent along ``schedule`` on a model of ``num_patches`` patches."""
        return check_schedule(schedule).numel() - 1

    def budget(self, nfe: int, num_patches: int = DEFAULT_PATCHES) -> Budget:
        """The uniform outer steps whose NFE is closest to ``nfe`` (see :mod:`..budget`)."""
        return steps_for_nfe(lambda steps: self.nfe(uniform_schedule(steps), num_patches), nfe)

    def check_model(self, model: PatchModel) -> None:
        c = model.config
        if self.patch_time and c.time_mode != "patch":
            raise ValueError(
                f"sampler {self.name!r} needs a Patch Forcing model (per-patch time); "
                "this is a global-time model (use euler)"
            )
        if self.difficulty and not c.difficulty_head:
            raise ValueError(f"sampler {self.name!r} needs a model with a difficulty head")

    def __call__(
        self,
        model: PatchModel,
        noise: torch.Tensor,
        y: Condition,
        schedule: torch.Tensor,
        guidance: Guidance = Guidance(),
        generator: Generators | None = None,
        trace: Trace = False,
    ) -> SampleResult:
        """Sample from ``noise`` (B, C, H, W) with condition ``y`` along ``schedule`` (S + 1,).
        ``generator`` feeds the samplers that draw (the random control); ``trace`` records every
        pass (a callable also receives each step as it happens)."""
        self.check_model(model)
        with _sampling_scope(model):
            return self.run(
                model, noise, y, schedule, guidance=guidance, generator=generator, trace=trace
            )

    def run(
        self,
        model: PatchModel,
        noise: torch.Tensor,
        y: Condition,
        schedule: torch.Tensor,
        *,
        guidance: Guidance,
        generator: Generators | None,
        trace: Trace,
    ) -> SampleResult:
        """The algorithm, called by ``__call__`` after the model check, without gradients."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run")
