"""Splitting work over ranks: disjoint, contiguous ranges that together cover everything once.

Ranges are cut at multiples of a ``block`` (the batch size), so every rank runs exactly the batches
a single process would run for those items: the same seeds in the same batch composition, hence the
same images bit for bit on the same kind of device, and metrics equal to a single-process run.
"""

from __future__ import annotations

__all__ = ["rank_range", "rank_slice"]


def rank_range(total: int, rank: int, world_size: int, block: int = 1, start: int = 0) -> range:
    """The items ``start + [lo, hi)`` of ``rank``: the ``ceil(total / block)`` blocks are dealt out
    as evenly as possible in rank order (earlier ranks take one more block when they do
    not divide)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of {world_size}")
    if total < 0 or block < 1:
        raise ValueError(f"need total >= 0 and block >= 1, got total {total}, block {block}")
    blocks = -(-total // block)
    per, extra = divmod(blocks, world_size)
    first = rank * per + min(rank, extra)
    count = per + (rank < extra)
    lo, hi = min(first * block, total), min((first + count) * block, total)
    return range(start + lo, start + hi)


def rank_slice(global_batch: int, rank: int, world_size: int) -> slice:
    """The rows of a global training batch that ``rank`` computes; the batch must split evenly so
    that the mean of the ranks' mean losses is the mean loss over the global batch."""
    if global_batch % world_size:
        raise ValueError(
            f"the global batch size {global_batch} does not split evenly over {world_size} "
            f"processes; pick a multiple of {world_size}"
        )
    local = global_batch // world_size
    return slice(rank * local, (rank + 1) * local)
