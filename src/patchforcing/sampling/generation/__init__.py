"""Generation: one typed config, one function that turns a model into batches of images, and the
sample folder those images are written to."""

from patchforcing.sampling.generation.batches import (
    NO_LABEL,
    GeneratedBatch,
    NonFiniteOutputError,
    batch_conditions,
    batch_labels,
    generate,
    generate_batches,
    mask_generators,
    rank_seeds,
    single_image_config,
)
from patchforcing.sampling.generation.config import DEFAULT_STEPS, GenerationConfig
from patchforcing.sampling.generation.folder import (
    GRID_IMAGES,
    SAMPLE_FOLDER,
    SampleFolder,
    check_sample_folder,
    write_sample_folder,
)
from patchforcing.sampling.generation.manifest import (
    MANIFEST,
    ImageRecord,
    merge_records,
    read_manifest,
)
from patchforcing.sampling.generation.output import save_grid, save_images, to_pil, to_pil_images
from patchforcing.sampling.generation.recommended import (
    RECOMMENDABLE,
    FilledConfig,
    fill_recommended,
    recommended_config,
)

__all__ = [
    "DEFAULT_STEPS",
    "GenerationConfig",
    "GeneratedBatch",
    "NO_LABEL",
    "NonFiniteOutputError",
    "batch_labels",
    "batch_conditions",
    "generate",
    "generate_batches",
    "mask_generators",
    "rank_seeds",
    "single_image_config",
    "RECOMMENDABLE",
    "FilledConfig",
    "fill_recommended",
    "recommended_config",
    "MANIFEST",
    "ImageRecord",
    "merge_records",
    "read_manifest",
    "GRID_IMAGES",
    "SAMPLE_FOLDER",
    "SampleFolder",
    "check_sample_folder",
    "write_sample_folder",
    "save_grid",
    "save_images",
    "to_pil",
    "to_pil_images",
]
