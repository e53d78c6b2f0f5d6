"""Patch Forcing: flow matching with a time per patch, a difficulty head and difficulty-aware
samplers; class- or text-conditioned."""

from patchforcing._moved import install as _install_moved
from patchforcing._moved import moved_names as _moved_names
from patchforcing._version import __version__
from patchforcing.core.path import (
    broadcast_patches,
    interpolate,
    patchify,
    pool_patches,
    sample_path,
    unpatchify,
)
from patchforcing.core.time_dist import TIME_DISTRIBUTIONS, build_time_distribution
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
    HardestFirst,
    KnownContent,
    LookAhead,
    RandomControl,
    Sampler,
    SampleResult,
    ScheduleMatrix,
    noise_for_seeds,
    uniform_schedule,
)

# the sampler functions of 0.1 (deprecated: each warns and calls its sampler config)
from patchforcing.sampling.deprecated import dual_loop as dual_loop
from patchforcing.sampling.deprecated import euler as euler
from patchforcing.sampling.deprecated import euler_pf as euler_pf
from patchforcing.sampling.deprecated import lookahead as lookahead
from patchforcing.sampling.deprecated import random_control as random_control
from patchforcing.sampling.deprecated import schedule_matrix as schedule_matrix
from patchforcing.sampling.generation import (
    GenerationConfig,
    generate,
    generate_batches,
    recommended_config,
    save_grid,
    save_images,
    to_pil,
    to_pil_images,
)

_install_moved()  # old module paths (0.1) import with a DeprecationWarning

__getattr__ = _moved_names(
    __name__,
    {
        "TIME_SAMPLERS": "patchforcing.core.time_dist:TIME_DISTRIBUTIONS",
        "build_time_sampler": "patchforcing.core.time_dist:build_time_distribution",
    },
)

__all__ = [
    "GenerationConfig",
    "generate",
    "generate_batches",
    "recommended_config",
    "to_pil",
    "to_pil_images",
    "save_images",
    "save_grid",
    "ModelConfig",
    "ModelOutput",
    "PatchForcingDiT",
    "PatchForcingT2I",
    "TextCondition",
    "TextModelConfig",
    "load_model",
    "text_model_config_from_preset",
    "PatchModel",
    "model_config_from_preset",
    "broadcast_patches",
    "interpolate",
    "patchify",
    "pool_patches",
    "sample_path",
    "unpatchify",
    "Guidance",
    "SampleResult",
    "KnownContent",
    "SAMPLERS",
    "Sampler",
    "Euler",
    "EulerPF",
    "DualLoop",
    "LookAhead",
    "RandomControl",
    "HardestFirst",
    "ScheduleMatrix",
    "noise_for_seeds",
    "uniform_schedule",
    "TIME_DISTRIBUTIONS",
    "build_time_distribution",
    "__version__",
]
