"""Reading the authors' released checkpoints and writing them in our format."""

from patchforcing.model.convert.authors import (
    authors_model_config,
    map_authors_state,
    mapped_shapes,
    read_authors_file,
)
from patchforcing.model.convert.convert import (
    authors_meta,
    convert_authors_checkpoint,
    load_authors_model,
)

__all__ = [
    "authors_model_config",
    "map_authors_state",
    "mapped_shapes",
    "read_authors_file",
    "authors_meta",
    "convert_authors_checkpoint",
    "load_authors_model",
]
