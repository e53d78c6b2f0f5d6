"""Process-group setup for runs launched by ``torchrun`` (or any launcher that sets the same
variables: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).

Without those variables everything runs as a single process (rank 0 of 1) and no process group is
created, so the same code path serves ``python -m patchforcing`` and ``torchrun -m patchforcing``.
NCCL is used when the device is a GPU, gloo on the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = [
    "DistEnv",
    "launched_by_torchrun",
    "init_distributed",
    "shutdown_distributed",
    "all_reduce_mean",
    "gather_objects",
    "broadcast_object",
]

_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: its global rank, the world size, its rank on the node and
    its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes checkpoints, logs and merged summaries."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in _VARS) and int(os.environ["WORLD_SIZE"]) > 1


def _local_device(device: torch.device, local_rank: int) -> torch.device:
    """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK``; an explicit index is refused."""
    if device.type != "cuda":
        return device
    if device.index not in (None, local_rank):
        raise ValueError(
            f"under torchrun each process uses the GPU of its LOCAL_RANK ({local_rank}); "
            f"pass --device cuda (not {device})"
        )
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) are visible; "
            f"set --nproc-per-node to at most the number of GPUs"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def init_distributed(device: torch.device) -> DistEnv:
    """Join the process group torchrun describes (once per process), or return the
    single-process env."""
    if not launched_by_torchrun():
        return DistEnv(device=device)
    rank, world, local = (int(os.environ[name]) for name in _VARS)
    device = _local_device(device, local)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl" and not dist.is_nccl_available():
            raise ValueError(
                "this torch build has no NCCL; use a CUDA build of torch for multi-GPU runs"
            )
        dist.init_process_group(
            backend=backend, device_id=device if device.type == "cuda" else None
        )
    return DistEnv(rank=rank, world_size=world, local_rank=local, device=device)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """The mean of a tensor over all ranks (a copy; the input is untouched)."""
    out = value.detach().clone()
    if env.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= env.world_size
    return out


def gather_objects(obj: T, env: DistEnv) -> list[T] | None:
    """Every rank's small picklable ``obj`` (summaries, CPU feature batches) on rank 0, in rank
    order; None on the other ranks, so nothing but rank 0 ever holds the whole set."""
    if not env.distributed:
        return [obj]
    out: list[Any] | None = (
        [None] * env.world_size if env.is_main else None
    )  # filled with the ranks' objects
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_object(obj: T | None, env: DistEnv) -> T:
    """Rank 0's small picklable ``obj`` on every rank (the other ranks pass None), so that a result
    gathered on rank 0 is returned by every process."""
    if not env.distributed:
        assert obj is not None, "a single process is rank 0: it has the object"
        return obj
    box: list[Any] = [obj if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
