"""Running a test function on several CPU processes joined by gloo
(as torchrun would set them up)."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, fn, world: int, port: int, args: tuple) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    from patchforcing.utils.distributed import shutdown_distributed

    try:
        fn(rank, *args)
    finally:
        shutdown_distributed()


def run_on_ranks(fn, world: int, *args) -> None:
    """Call ``fn(rank, *args)`` in ``world`` spawned processes; any failure fails the test."""
    mp.start_processes(
        _entry, args=(fn, world, free_port(), args), nprocs=world, start_method="spawn"
    )
