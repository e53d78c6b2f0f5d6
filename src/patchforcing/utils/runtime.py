"""Process-wide settings that make CPU runs faster; the ``patchforcing`` command applies them
at start.

glibc's malloc serves large blocks (above a threshold that adapts, up to 32 MiB) with fresh ``mmap``
mappings and unmaps them on ``free``, and it trims the top of its heap whenever enough of it is
free. PyTorch's CPU allocator frees every intermediate tensor at once, so a forward pass maps,
touches and unmaps megabytes again and again: on a 2-core test machine, S/2 at batch 8 (16x16) took
about 2,000 to 3,000 minor page faults and 7-9 ms of kernel time per 30-40 ms forward, and how much
depended on the order of allocations, which also made timings noisy. :func:`keep_freed_memory` fixes
the threshold at 32 MiB and trims only above 1 GiB of free heap, so freed blocks are reused instead
(PyTorch's performance guide suggests a caching allocator, jemalloc or tcmalloc, for the same
reason). The cost is that the process keeps its peak memory until it exits. Set
``PATCHFORCING_KEEP_HEAP=0`` to leave the C library's defaults alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["KEEP_HEAP_ENV", "keep_freed_memory", "heap_kept"]

KEEP_HEAP_ENV = "PATCHFORCING_KEEP_HEAP"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
_MMAP_THRESHOLD = 32 << 20  # glibc's own upper bound for its adaptive threshold on 64-bit systems
_TRIM_THRESHOLD = 1 << 30
_kept = False


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse; True when applied (now or before). False
    on other platforms and C libraries, or when ``$PATCHFORCING_KEEP_HEAP`` is ``0``."""
    global _kept
    if _kept:
        return True
    if os.environ.get(KEEP_HEAP_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    _kept = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _kept


def heap_kept() -> bool:
    """Whether :func:`keep_freed_memory` is in effect in this process."""
    return _kept
