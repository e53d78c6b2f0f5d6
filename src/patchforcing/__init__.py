"""Patch Forcing: flow matching with a time per patch, a difficulty head and difficulty-aware samplers; class- or
text-conditioned."""

from patchforcing._moved import install as _install_moved
from patchforcing._version import __version__
from patchforcing.core.path import broadcast_patches, interpolate, patchify, pool_patches, sample_path, unpatchify
from patchforcing.core.time_dist import TIME_SAMPLERS, build_time_sampler
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
from patchforcing.sampling.generation import GenerationConfig, generate, generate_batches

_install_moved()  # old module paths (0.1) import with a DeprecationWarning


__all__ = ["GenerationConfig", "generate", "generate_batches", "ModelConfig", "ModelOutput", "PatchForcingDiT",
           "PatchForcingT2I", "TextCondition", "TextModelConfig", "load_model", "text_model_config_from_preset",
           "PatchModel", "model_config_from_preset", "broadcast_patches",
           "interpolate", "patchify", "pool_patches", "sample_path", "unpatchify", "Guidance", "SampleResult",
           "euler", "euler_pf", "dual_loop", "lookahead", "random_control", "schedule_matrix", "KnownContent",
           "SAMPLERS", "Euler", "EulerPF", "DualLoop", "LookAhead", "RandomControl", "ScheduleMatrix",
           "noise_for_seeds", "uniform_schedule", "TIME_SAMPLERS", "build_time_sampler", "__version__"]
