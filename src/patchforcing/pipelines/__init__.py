"""The diffusers integration (the ``[diffusers]`` extra): our models, samplers and time grid as a
``DiffusionPipeline``, diffusers models and a flow-match scheduler."""

from importlib.util import find_spec

if find_spec("diffusers") is None:
    raise ImportError(
        "patchforcing.pipelines needs diffusers: pip install 'patchforcing[diffusers]'"
    )

from patchforcing.pipelines.convention import TIMESTEP_SCALE, t_from_timestep, timestep_from_t
from patchforcing.pipelines.export import export_diffusers, pipeline_for
from patchforcing.pipelines.models import (
    PatchForcingDiTModel,
    PatchForcingModelOutput,
    PatchForcingT2IModel,
    wrap_model,
)
from patchforcing.pipelines.pipeline import (
    OUTPUT_TYPES,
    PatchForcingPipeline,
    PatchForcingPipelineOutput,
    draw_noise,
)
from patchforcing.pipelines.scheduler import (
    PatchForcingEulerScheduler,
    PatchForcingSchedulerOutput,
)

__all__ = [
    "PatchForcingPipeline",
    "PatchForcingPipelineOutput",
    "OUTPUT_TYPES",
    "draw_noise",
    "PatchForcingEulerScheduler",
    "PatchForcingSchedulerOutput",
    "PatchForcingDiTModel",
    "PatchForcingT2IModel",
    "PatchForcingModelOutput",
    "wrap_model",
    "pipeline_for",
    "export_diffusers",
    "TIMESTEP_SCALE",
    "t_from_timestep",
    "timestep_from_t",
]
