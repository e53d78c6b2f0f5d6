"""Training: typed configuration, the loop, checkpoints and validation."""

from patchforcing.io.atomic import DiskWriteError
from patchforcing.pretrained import CheckpointError
from patchforcing.train.config import OptimConfig, TimeSamplerConfig, TrainConfig, config_from_dict, config_to_dict
from patchforcing.train.loop import NonFiniteLossError, TrainResult, train

__all__ = ["DiskWriteError", "CheckpointError", "OptimConfig", "TimeSamplerConfig", "TrainConfig",
           "config_from_dict", "config_to_dict", "NonFiniteLossError", "TrainResult", "train"]
