"""Every sampler by its name, for the CLI, the viewer, the benchmarks and comparisons."""

from __future__ import annotations

from patchforcing.sampling.base import Sampler
from patchforcing.sampling.dual_loop import DualLoop, HardestFirst
from patchforcing.sampling.euler import Euler, EulerPF
from patchforcing.sampling.lookahead import LookAhead
from patchforcing.sampling.matrix import ScheduleMatrix
from patchforcing.sampling.options import OptionInfo, sampler_options
from patchforcing.sampling.random_control import RandomControl

__all__ = ["SAMPLERS", "registry_options", "default_sampler"]

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls
    for cls in (Euler, EulerPF, DualLoop, LookAhead, RandomControl, HardestFirst, ScheduleMatrix)
}


def registry_options() -> dict[str, tuple[OptionInfo, list[str]]]:
    """Option field name -> (its declaration, the names of the samplers that take it)."""
    options: dict[str, tuple[OptionInfo, list[str]]] = {}
    for name, cls in SAMPLERS.items():
        for info in sampler_options(cls):
            options.setdefault(info.name, (info, []))[1].append(name)
    return options


def default_sampler(time_mode: str) -> Sampler:
    """The sampler a model uses unless told otherwise: Euler-PF for Patch Forcing (per-patch time)
    models, Euler for global-time models."""
    return EulerPF() if time_mode == "patch" else Euler()
