"""Patch Forcing: flow matching with a time per patch, a difficulty head and difficulty-aware samplers; class- or
text-conditioned."""

from patchforcing.generation import GenerationConfig, generate, generate_batches
from patchforcing.model import (
    ModelConfig,
    ModelOutput,
    PatchForcingDiT,
    PatchForcingT2I,
    PatchModel,
    TextCondition,
    TextModelConfig,
    load_model,
    model_config_from_preset,
    text_model_config_from_preset,
)
from patchforcing.path import broadcast_patches, interpolate, patchify, pool_patches, sample_path, unpatchify
from patchforcing.sampling import (
    SAMPLERS,
    DualLoop,
    Euler,
    EulerPF,
    Guidance,
    KnownContent,
    LookAhead,
    RandomControl,
    SampleResult,
    ScheduleMatrix,
    dual_loop,
    euler,
    euler_pf,
    lookahead,
    noise_for_seeds,
    random_control,
    schedule_matrix,
    uniform_schedule,
)
from patchforcing.timesamplers import TIME_SAMPLERS, build_time_sampler

__version__ = "0.1.0"

__all__ = ["GenerationConfig", "generate", "generate_batches", "ModelConfig", "ModelOutput", "PatchForcingDiT",
           "PatchForcingT2I", "TextCondition", "TextModelConfig", "load_model", "text_model_config_from_preset",
           "PatchModel", "model_config_from_preset", "broadcast_patches",
           "interpolate", "patchify", "pool_patches", "sample_path", "unpatchify", "Guidance", "SampleResult",
           "euler", "euler_pf", "dual_loop", "lookahead", "random_control", "schedule_matrix", "KnownContent",
           "SAMPLERS", "Euler", "EulerPF", "DualLoop", "LookAhead", "RandomControl", "ScheduleMatrix",
           "noise_for_seeds", "uniform_schedule", "TIME_SAMPLERS", "build_time_sampler", "__version__"]
