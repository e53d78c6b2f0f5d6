"""Samplers: frozen configs of their options, each called as ``sampler(model, noise, y, schedule,
guidance, generator, trace) -> SampleResult``; :data:`SAMPLERS` names them all."""

from patchforcing.sampling.base import Sampler
from patchforcing.sampling.budget import Budget, steps_for_nfe
from patchforcing.sampling.certainty import CertaintySampler, certain_mask

# the sampler functions of 0.1 (deprecated); bound after the sampler modules of the same names
from patchforcing.sampling.deprecated import dual_loop as dual_loop
from patchforcing.sampling.deprecated import euler as euler
from patchforcing.sampling.deprecated import euler_pf as euler_pf
from patchforcing.sampling.deprecated import lookahead as lookahead
from patchforcing.sampling.deprecated import lookahead_nfe as lookahead_nfe
from patchforcing.sampling.deprecated import masked_dual_loop as masked_dual_loop
from patchforcing.sampling.deprecated import random_control as random_control
from patchforcing.sampling.deprecated import schedule_matrix as schedule_matrix
from patchforcing.sampling.dual_loop import DualLoop, HardestFirst
from patchforcing.sampling.euler import Euler, EulerPF
from patchforcing.sampling.guidance import Guidance, Prediction, predict
from patchforcing.sampling.lookahead import LookAhead
from patchforcing.sampling.matrix import KnownContent, ScheduleMatrix, inpainting_matrix
from patchforcing.sampling.noise import labels_for_seeds, noise_for_seeds
from patchforcing.sampling.random_control import RandomControl
from patchforcing.sampling.registry import SAMPLERS
from patchforcing.sampling.result import SampleResult, Trace, TraceStep
from patchforcing.sampling.schedule import check_schedule, uniform_schedule

__all__ = [
    "SAMPLERS",
    "Sampler",
    "CertaintySampler",
    "Euler",
    "EulerPF",
    "DualLoop",
    "HardestFirst",
    "LookAhead",
    "RandomControl",
    "ScheduleMatrix",
    "KnownContent",
    "inpainting_matrix",
    "Guidance",
    "Prediction",
    "predict",
    "SampleResult",
    "Trace",
    "TraceStep",
    "Budget",
    "steps_for_nfe",
    "certain_mask",
    "check_schedule",
    "uniform_schedule",
    "labels_for_seeds",
    "noise_for_seeds",
]
