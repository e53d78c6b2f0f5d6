"""Samplers: stateless functions of (model, noise, labels, schedule, options) returning a SampleResult."""

from patchforcing.sampling.euler import euler, euler_pf
from patchforcing.sampling.guidance import Guidance, Prediction, predict
from patchforcing.sampling.noise import labels_for_seeds, noise_for_seeds
from patchforcing.sampling.result import SampleResult, TraceStep
from patchforcing.sampling.schedule import check_schedule, uniform_schedule

__all__ = ["euler", "euler_pf", "Guidance", "Prediction", "predict", "labels_for_seeds", "noise_for_seeds",
           "SampleResult", "TraceStep", "check_schedule", "uniform_schedule"]
