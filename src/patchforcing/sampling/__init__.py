"""Samplers: stateless functions of (model, noise, labels, schedule, options) returning a SampleResult,
and frozen configs (:mod:`patchforcing.sampling.registry`) calling them with one signature."""

from patchforcing.sampling.budget import Budget, steps_for_nfe
from patchforcing.sampling.certainty import certain_mask
from patchforcing.sampling.dual_loop import dual_loop, masked_dual_loop
from patchforcing.sampling.euler import euler, euler_pf
from patchforcing.sampling.guidance import Guidance, Prediction, predict
from patchforcing.sampling.lookahead import lookahead, lookahead_nfe
from patchforcing.sampling.matrix import KnownContent, inpainting_matrix, schedule_matrix
from patchforcing.sampling.noise import labels_for_seeds, noise_for_seeds
from patchforcing.sampling.random_control import random_control
from patchforcing.sampling.registry import (
    SAMPLERS,
    DualLoop,
    Euler,
    EulerPF,
    HardestFirst,
    LookAhead,
    RandomControl,
    Sampler,
    ScheduleMatrix,
)
from patchforcing.sampling.result import SampleResult, Trace, TraceStep
from patchforcing.sampling.schedule import check_schedule, uniform_schedule

__all__ = ["Budget", "steps_for_nfe", "certain_mask", "dual_loop", "masked_dual_loop", "euler", "euler_pf",
           "Guidance", "Prediction", "predict", "lookahead", "lookahead_nfe", "KnownContent", "inpainting_matrix",
           "schedule_matrix", "labels_for_seeds", "noise_for_seeds", "random_control", "SAMPLERS", "Sampler",
           "Euler", "EulerPF", "DualLoop", "LookAhead", "RandomControl", "HardestFirst", "ScheduleMatrix",
           "SampleResult", "Trace", "TraceStep", "check_schedule", "uniform_schedule"]
