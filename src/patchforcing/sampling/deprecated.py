"""The sampler functions of release 0.1, kept for one more release (removed in 0.3).

Each takes its old arguments, warns with a :class:`DeprecationWarning` that names the sampler
config to use instead, and calls that config, so it returns exactly what the config returns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import Generators
from patchforcing.sampling.dual_loop import DualLoop, HardestFirst, MaskRule
from patchforcing.sampling.euler import Euler, EulerPF
from patchforcing.sampling.guidance import Guidance
from patchforcing.sampling.lookahead import LookAhead
from patchforcing.sampling.matrix import KnownContent, ScheduleMatrix
from patchforcing.sampling.random_control import RandomControl
from patchforcing.sampling.result import SampleResult, Trace
from patchforcing.sampling.schedule import uniform_schedule

__all__ = [
    "euler",
    "euler_pf",
    "dual_loop",
    "masked_dual_loop",
    "lookahead",
    "lookahead_nfe",
    "random_control",
    "schedule_matrix",
]


def _warn(old: str, new: str) -> None:
    warnings.warn(
        f"patchforcing.sampling.{old} is deprecated and removed in patchforcing 0.3; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def euler(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    schedule: torch.Tensor,
    guidance: Guidance = Guidance(),
    trace: Trace = False,
) -> SampleResult:
    _warn("euler(...)", "Euler()(model, noise, y, schedule, ...)")
    return Euler()(model, noise, y, schedule, guidance, trace=trace)


def euler_pf(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    schedule: torch.Tensor,
    guidance: Guidance = Guidance(),
    trace: Trace = False,
) -> SampleResult:
    _warn("euler_pf(...)", "EulerPF()(model, noise, y, schedule, ...)")
    return EulerPF()(model, noise, y, schedule, guidance, trace=trace)


def dual_loop(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    schedule: torch.Tensor,
    p: float = 0.4,
    n_inner: int = 4,
    strict_quantile: bool = True,
    pixel_quantile: bool = True,
    guidance: Guidance = Guidance(),
    trace: Trace = False,
    hardest_first: bool = False,
) -> SampleResult:
    _warn("dual_loop(...)", "DualLoop(p=..., n_inner=...)(model, noise, y, schedule, ...)")
    cls = HardestFirst if hardest_first else DualLoop
    sampler = cls(
        p=p, n_inner=n_inner, strict_quantile=strict_quantile, pixel_quantile=pixel_quantile
    )
    return sampler(model, noise, y, schedule, guidance, trace=trace)


@dataclass(frozen=True, kw_only=True)
class _RuleDualLoop(DualLoop):
    """Dual-loop with a given mask rule, what ``masked_dual_loop`` took."""

    difficulty: ClassVar[bool] = False  # the rule decides what it reads
    rule: MaskRule

    def mask_rule(
        self, model: PatchModel, noise: torch.Tensor, generator: Generators | None
    ) -> MaskRule:
        return self.rule


def masked_dual_loop(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    schedule: torch.Tensor,
    n_inner: int,
    rule: MaskRule,
    guidance: Guidance = Guidance(),
    trace: Trace = False,
) -> SampleResult:
    _warn("masked_dual_loop(...)", "a DualLoop subclass whose mask_rule returns the rule")
    sampler = _RuleDualLoop(n_inner=n_inner, rule=rule)
    return sampler(model, noise, y, schedule, guidance, trace=trace)


def lookahead(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    schedule: torch.Tensor,
    p: float = 0.4,
    ratio: float = 1.4,
    strict_quantile: bool = True,
    pixel_quantile: bool = True,
    early_t: float = 0.05,
    strict_early: bool = True,
    guided_early: bool = False,
    jump_guided: bool = False,
    guidance: Guidance = Guidance(),
    trace: Trace = False,
) -> SampleResult:
    _warn("lookahead(...)", "LookAhead(p=..., ratio=...)(model, noise, y, schedule, ...)")
    sampler = LookAhead(
        p=p,
        ratio=ratio,
        strict_quantile=strict_quantile,
        pixel_quantile=pixel_quantile,
        early_t=early_t,
        strict_early=strict_early,
        guided_early=guided_early,
        jump_guided=jump_guided,
    )
    return sampler(model, noise, y, schedule, guidance, trace=trace)


def lookahead_nfe(schedule: torch.Tensor, early_t: float = 0.05, strict_early: bool = True) -> int:
    _warn("lookahead_nfe(...)", "LookAhead(early_t=..., strict_early=...).nfe(schedule)")
    return LookAhead(early_t=early_t, strict_early=strict_early).nfe(schedule)


def random_control(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    schedule: torch.Tensor,
    generator: Generators | None,
    p: float = 0.4,
    n_inner: int = 4,
    strict_quantile: bool = True,
    pixel_quantile: bool = True,
    guidance: Guidance = Guidance(),
    trace: Trace = False,
) -> SampleResult:
    _warn(
        "random_control(...)",
        "RandomControl(p=..., n_inner=...)(model, noise, y, schedule, generator=...)",
    )
    sampler = RandomControl(
        p=p, n_inner=n_inner, strict_quantile=strict_quantile, pixel_quantile=pixel_quantile
    )
    return sampler(model, noise, y, schedule, guidance, generator, trace)


def schedule_matrix(
    model: PatchModel,
    noise: torch.Tensor,
    y: Condition,
    matrix: torch.Tensor,
    guidance: Guidance = Guidance(),
    known: KnownContent | None = None,
    trace: Trace = False,
) -> SampleResult:
    _warn("schedule_matrix(...)", "ScheduleMatrix(matrix=..., known=...)(model, noise, y, ...)")
    unused = uniform_schedule(1)  # a fixed matrix decides the times itself
    sampler = ScheduleMatrix(matrix=matrix, known=known)
    return sampler(model, noise, y, unused, guidance, trace=trace)
