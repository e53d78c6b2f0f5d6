"""Training: typed configuration, the choices that resolve into it, named recipes, the loop,
checkpoints, validation, and representation alignment (``RepaConfig``)."""

from patchforcing._moved import moved_names
from patchforcing.model.pretrained import CheckpointError
from patchforcing.train.config import (
    OptimConfig,
    TimeDistConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)
from patchforcing.train.loop import NonFiniteLossError, TrainResult, train
from patchforcing.train.recipes import RECIPES, recipe, recipe_setup
from patchforcing.train.repa_config import RepaConfig
from patchforcing.train.setup import TrainSetup, train_config_for
from patchforcing.utils.io.atomic import DiskWriteError

__all__ = [
    "DiskWriteError",
    "CheckpointError",
    "OptimConfig",
    "TimeDistConfig",
    "TrainConfig",
    "RepaConfig",
    "config_from_dict",
    "config_to_dict",
    "NonFiniteLossError",
    "TrainResult",
    "train",
    "TrainSetup",
    "train_config_for",
    "RECIPES",
    "recipe",
    "recipe_setup",
]


__getattr__ = moved_names(
    __name__, {"TimeSamplerConfig": "patchforcing.train.config:TimeDistConfig"}
)
