"""Every sampler as a frozen config with one call signature, for the CLI, the bench and comparisons.

``config(model, noise, y, schedule, guidance, generator, trace) -> SampleResult`` calls the
sampler's function with the config's options; ``config.nfe(schedule)`` is the NFE it will spend and
``config.budget(nfe)`` the uniform outer steps that spend an NFE budget (or the closest it can).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.model import Condition, PatchModel
from patchforcing.sampling.budget import Budget, steps_for_nfe
from patchforcing.sampling.certainty import check_fraction
from patchforcing.sampling.dual_loop import check_inner, dual_loop
from patchforcing.sampling.euler import euler, euler_pf
from patchforcing.sampling.guidance import Guidance
from patchforcing.sampling.lookahead import check_early_t, check_ratio, lookahead, lookahead_nfe
from patchforcing.sampling.matrix import KnownContent, check_matrix, inpainting_matrix, schedule_matrix
from patchforcing.sampling.options import OptionInfo, option, sampler_options
from patchforcing.sampling.random_control import Generators, random_control
from patchforcing.sampling.result import SampleResult, Trace
from patchforcing.sampling.schedule import check_schedule, uniform_schedule

__all__ = ["Sampler", "Euler", "EulerPF", "DualLoop", "LookAhead", "RandomControl", "ScheduleMatrix",
           "SAMPLERS", "registry_options", "default_sampler"]


@dataclass(frozen=True)
class Sampler:
    """Base of the sampler configs. ``patch_time``: needs a Patch Forcing model (per-patch t);
    ``difficulty``: needs its difficulty head."""

    name: ClassVar[str] = ""
    patch_time: ClassVar[bool] = True
    difficulty: ClassVar[bool] = False

    def __post_init__(self) -> None:
        """Every declared option's range check (the one the front ends run on their input)."""
        for info in sampler_options(type(self)):
            if info.check is not None:
                info.check(getattr(self, info.name))

    def nfe(self, schedule: torch.Tensor) -> int:
        return check_schedule(schedule).numel() - 1

    def budget(self, nfe: int) -> Budget:
        return steps_for_nfe(lambda steps: self.nfe(uniform_schedule(steps)), nfe)

    def check_model(self, model: PatchModel) -> None:
        c = model.config
        if self.patch_time and c.time_mode != "patch":
            raise ValueError(f"sampler {self.name!r} needs a Patch Forcing model (per-patch time); "
                             "this is a global-time model (use euler)")
        if self.difficulty and not c.difficulty_head:
            raise ValueError(f"sampler {self.name!r} needs a model with a difficulty head")

    def __call__(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
                 guidance: Guidance = Guidance(), generator: Generators | None = None,
                 trace: Trace = False) -> SampleResult:
        self.check_model(model)
        return self.run(model, noise, y, schedule, guidance, generator, trace)

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        raise NotImplementedError(f"{type(self).__name__} does not implement run")


@dataclass(frozen=True)
class Euler(Sampler):
    name: ClassVar[str] = "euler"
    patch_time: ClassVar[bool] = False

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return euler(model, noise, y, schedule, guidance, trace)


@dataclass(frozen=True)
class EulerPF(Sampler):
    name: ClassVar[str] = "euler-pf"

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return euler_pf(model, noise, y, schedule, guidance, trace)


@dataclass(frozen=True)
class DualLoop(Sampler):
    name: ClassVar[str] = "dual-loop"
    difficulty: ClassVar[bool] = True
    p: float = option(0.4, "fraction of patches made certain at each outer step", check=check_fraction)
    n_inner: int = option(4, "inner steps per outer step", check=check_inner)
    strict_quantile: bool = option(True, "certain = difficulty <= quantile instead of < (authors: strict <)",
                                   flag="--inclusive-quantile")
    pixel_quantile: bool = option(True, "certainty quantile over the N patch values instead of the pixel-level map "
                                  "(authors: each patch's value counted patch_size^2 times)", flag="--patch-quantile")

    def nfe(self, schedule: torch.Tensor) -> int:
        return super().nfe(schedule) * self.n_inner

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return dual_loop(model, noise, y, schedule, self.p, self.n_inner, self.strict_quantile, self.pixel_quantile,
                         guidance, trace)


@dataclass(frozen=True)
class HardestFirst(DualLoop):
    """Control: dual-loop with the difficulty ranking inverted, the hardest patches moved ahead. With
    the random-mask control it separates "easy patches as context" from mixed-time passes as such."""

    name: ClassVar[str] = "hardest-first"

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return dual_loop(model, noise, y, schedule, self.p, self.n_inner, self.strict_quantile, self.pixel_quantile,
                         guidance, trace, hardest_first=True)


@dataclass(frozen=True)
class RandomControl(DualLoop):
    name: ClassVar[str] = "random"
    difficulty: ClassVar[bool] = False

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return random_control(model, noise, y, schedule, generator, self.p, self.n_inner, self.strict_quantile,
                              self.pixel_quantile, guidance, trace)


@dataclass(frozen=True)
class LookAhead(Sampler):
    name: ClassVar[str] = "look-ahead"
    difficulty: ClassVar[bool] = True
    p: float = option(0.4, "fraction of patches made certain at each step", check=check_fraction)
    ratio: float = option(1.4, "context ratio: certain patches jump to t_c = min(ratio * t, 1)", check=check_ratio)
    strict_quantile: bool = option(True, "certain = difficulty <= quantile instead of < (authors: strict <)",
                                   flag="--inclusive-quantile")
    pixel_quantile: bool = option(True, "certainty quantile over the N patch values instead of the pixel-level map "
                                  "(authors: each patch's value counted patch_size^2 times)", flag="--patch-quantile")
    early_t: float = option(0.05, "plain single-pass steps while t < this (negative: none)", check=check_early_t)
    strict_early: bool = option(True, "plain early steps while t <= early_t instead of < (authors: their float32 "
                                "test, in effect <)", flag="--inclusive-early")
    guided_early: bool = option(False, "guided v in the plain early steps (authors: unguided v_c)")
    jump_guided: bool = option(False, "jump ahead along the guided v (authors: unguided v_c)", flag="--guided-jump")

    def nfe(self, schedule: torch.Tensor) -> int:
        return lookahead_nfe(schedule, self.early_t, self.strict_early)

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return lookahead(model, noise, y, schedule, self.p, self.ratio, self.strict_quantile, self.pixel_quantile,
                         self.early_t, self.strict_early, self.guided_early, self.jump_guided, guidance, trace)


@dataclass(frozen=True)
class ScheduleMatrix(Sampler):
    """A fixed ``matrix`` ((S + 1, N) or (B, S + 1, N)) or, without one, rows built from the schedule:
    every patch follows it, except patches fully inside ``known`` content, which stay at t = 1."""

    name: ClassVar[str] = "matrix"
    matrix: torch.Tensor | None = None
    known: KnownContent | None = None

    def nfe(self, schedule: torch.Tensor) -> int:
        return super().nfe(schedule) if self.matrix is None else self.matrix.shape[-2] - 1

    def budget(self, nfe: int) -> Budget:
        if self.matrix is None:
            return super().budget(nfe)
        return Budget(steps=self.matrix.shape[-2] - 1, nfe=self.matrix.shape[-2] - 1, requested=nfe)

    def rows(self, model: PatchModel, noise: torch.Tensor, schedule: torch.Tensor) -> torch.Tensor:
        """The (B, S + 1, N) matrix this config integrates."""
        c = model.config
        if self.matrix is not None:
            return check_matrix(self.matrix, noise.shape[0], c.num_patches)
        known = (torch.zeros(noise.shape[0], c.num_patches, dtype=torch.bool, device=noise.device)
                 if self.known is None else self.known.known_patches(c.patch_size))
        return inpainting_matrix(known, schedule)

    def run(self, model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
            guidance: Guidance, generator: Generators | None, trace: Trace) -> SampleResult:
        return schedule_matrix(model, noise, y, self.rows(model, noise, schedule), guidance, self.known, trace)


SAMPLERS: dict[str, type[Sampler]] = {cls.name: cls for cls in (Euler, EulerPF, DualLoop, LookAhead,
                                                                 RandomControl, HardestFirst, ScheduleMatrix)}


def registry_options() -> dict[str, tuple[OptionInfo, list[str]]]:
    """Option field name -> (its declaration, the names of the samplers that take it), over the registry."""
    options: dict[str, tuple[OptionInfo, list[str]]] = {}
    for name, cls in SAMPLERS.items():
        for info in sampler_options(cls):
            options.setdefault(info.name, (info, []))[1].append(name)
    return options


def default_sampler(time_mode: str) -> Sampler:
    """The sampler a model uses unless told otherwise: Euler-PF for Patch Forcing (per-patch time)
    models, Euler for global-time models."""
    return EulerPF() if time_mode == "patch" else Euler()
