"""Running on several processes: torchrun process groups, rank sharding, distributed generation."""

from patchforcing.utils.distributed.env import (
    DistEnv,
    all_reduce_mean,
    broadcast_object,
    gather_objects,
    init_distributed,
    launched_by_torchrun,
    shutdown_distributed,
)
from patchforcing.utils.distributed.shard import rank_range, rank_slice

__all__ = [
    "DistEnv",
    "all_reduce_mean",
    "broadcast_object",
    "gather_objects",
    "init_distributed",
    "launched_by_torchrun",
    "shutdown_distributed",
    "rank_range",
    "rank_slice",
]
