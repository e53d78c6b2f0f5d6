"""Reading the authors' released checkpoints (and plain DiT/SiT ones) and writing them in our
format, labelled with what each file was."""

from patchforcing.model.convert.authors import (
    AuthorsFile,
    authors_model_config,
    map_authors_state,
    mapped_shapes,
    open_authors_file,
    read_authors_file,
)
from patchforcing.model.convert.convert import (
    authors_meta,
    convert_authors_checkpoint,
    load_authors_model,
)
from patchforcing.model.convert.source import CheckpointSource, detect_source

__all__ = [
    "AuthorsFile",
    "CheckpointSource",
    "authors_model_config",
    "map_authors_state",
    "mapped_shapes",
    "open_authors_file",
    "read_authors_file",
    "detect_source",
    "authors_meta",
    "convert_authors_checkpoint",
    "load_authors_model",
]
