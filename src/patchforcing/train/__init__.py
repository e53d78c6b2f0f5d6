"""Training: typed configuration, the loop, checkpoints and validation."""

from patchforcing.model.pretrained import CheckpointError
from patchforcing.train.config import OptimConfig, TimeSamplerConfig, TrainConfig, config_from_dict, config_to_dict
from patchforcing.train.loop import NonFiniteLossError, TrainResult, train
from patchforcing.utils.io.atomic import DiskWriteError

__all__ = ["DiskWriteError", "CheckpointError", "OptimConfig", "TimeSamplerConfig", "TrainConfig",
           "config_from_dict", "config_to_dict", "NonFiniteLossError", "TrainResult", "train"]
