"""Model folders: one ``config.json`` schema, safetensors weights and a model card for every model
the package writes, with ``save_pretrained`` / ``from_pretrained`` and optional hub push / pull."""

from patchforcing.model.pretrained.errors import CheckpointError, NewerFormatError
from patchforcing.model.pretrained.folder import (
    latest_checkpoint,
    list_checkpoints,
    load_state_dict_checked,
    read_weights,
    resolve_model_folder,
    weights_file,
    write_weights,
)
from patchforcing.model.pretrained.meta import (
    MODEL_FORMAT_VERSION,
    DataSpec,
    ModelMeta,
    meta_to_json,
    read_meta,
)
from patchforcing.model.pretrained.mixin import (
    MODEL_FOLDER_FILES,
    TEXT_ENCODER_FILE,
    PretrainedMixin,
    check_destination,
)
from patchforcing.model.pretrained.recommended import RecommendedSampling, recommended_sampling
from patchforcing.model.pretrained.update import update_model_folder

__all__ = [
    "CheckpointError",
    "NewerFormatError",
    "latest_checkpoint",
    "list_checkpoints",
    "load_state_dict_checked",
    "read_weights",
    "resolve_model_folder",
    "weights_file",
    "write_weights",
    "MODEL_FORMAT_VERSION",
    "DataSpec",
    "ModelMeta",
    "meta_to_json",
    "read_meta",
    "RecommendedSampling",
    "recommended_sampling",
    "update_model_folder",
    "MODEL_FOLDER_FILES",
    "TEXT_ENCODER_FILE",
    "PretrainedMixin",
    "check_destination",
]
