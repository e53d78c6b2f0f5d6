"""Explicit limits on the sizes that flags and files ask for, checked before anything is allocated.

A tiny file or a mistyped flag can ask for more memory than the machine has (a label of 10**12 in an
``.npz``, ``"depth": 10**9`` in a config.json, ``--classes 0-10000000000``, ``--num 10**15``);
without a check the process is killed by the kernel or ends in a traceback. Every such size is
compared here with a named limit, far above any real use, and with the memory available where the
need can be estimated.
Raise a limit deliberately with the environment variable::

    PATCHFORCING_LIMITS="images=5000000,classes=500000,memory=0" patchforcing sample ...

(``memory=0`` turns the free-memory check off). Two limits are fixed by formats, not by taste: seeds
up to 2**63 - 1 (what a torch generator takes, with room for the per-image offsets) and at most
99,999,999 training steps (checkpoint folders are named with eight digits).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

__all__ = [
    "LIMITS_ENV",
    "MAX_SEED",
    "MAX_TRAIN_STEPS",
    "Limits",
    "LimitError",
    "current_limits",
    "check_limit",
    "check_seeds",
    "available_memory",
    "check_memory",
]

LIMITS_ENV = "PATCHFORCING_LIMITS"
MAX_SEED = (
    2**63 - 1
)  # the largest seed of any image (torch generators take 64 bits; offsets up to 2**41 are added)
MAX_TRAIN_STEPS = 99_999_999  # checkpoint folders are step_XXXXXXXX


class LimitError(ValueError):
    """A requested size is above its limit (or above the memory available)."""


@dataclass(frozen=True)
class Limits:
    """Default limits; each can be raised through ``$PATCHFORCING_LIMITS`` (``name=value,...``)."""

    images: int = (
        1_000_000  # images one command generates, scores or lists (--num, --classes, batch sizes)
    )
    classes: int = 100_000  # class labels of a dataset or a model (ImageNet-21k has 21,841)
    image_size: int = 4_096  # pixels (or latents) per side
    depth: int = 512  # transformer blocks (the authors' XL/2 has 28)
    width: int = 16_384  # hidden width, frequency features, classifier channels
    parameters: int = 20_000_000_000  # parameters of one model (XL/2: 675M)
    sample_steps: int = 100_000  # outer steps or NFE of one sampling run
    memory: int = 1  # 1: refuse what would not fit in the available memory; 0: do not check


def current_limits() -> Limits:
    """The defaults, with the values of ``$PATCHFORCING_LIMITS`` in place."""
    text = os.environ.get(LIMITS_ENV, "").strip()
    if not text:
        return Limits()
    names = [f.name for f in fields(Limits)]
    values: dict[str, int] = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        if name not in names:
            raise LimitError(f"{LIMITS_ENV}: unknown limit {name!r}; known: {', '.join(names)}")
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            raise LimitError(f"{LIMITS_ENV}: {name} needs a whole number >= 0, got {value!r}")
        values[name] = number
    return replace(Limits(), **values)


def check_limit(what: str, value: int, limit: str) -> int:
    """``value`` if it is at most the limit named ``limit``, else a LimitError saying how to
    raise it."""
    bound = getattr(current_limits(), limit)
    if value > bound:
        raise LimitError(
            f"{what} is {value:,}, above the limit of {bound:,}; if you mean it, raise the limit "
            f"with {LIMITS_ENV}={limit}=N"
        )
    return value


def check_seeds(first: int, count: int, what: str = "seed") -> None:
    """Seeds ``first .. first + count - 1`` must lie in [0, MAX_SEED]."""
    if first < 0 or first + max(count, 1) - 1 > MAX_SEED:
        raise LimitError(
            f"{what} {first:,}{f' with {count:,} images' if count > 1 else ''} leaves the seed "
            f"range [0, 2**63 - 1]; use a smaller {what}"
        )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # missing, "max" (no limit) or unreadable
        return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the kernel's MemAvailable, or less where a cgroup (a
    container, a job scheduler) caps the memory; None where neither can be read."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            pass
    cap, used = (
        _read_int(Path("/sys/fs/cgroup/memory.max")),
        _read_int(Path("/sys/fs/cgroup/memory.current")),
    )
    if cap is not None and used is not None:
        found.append(max(cap - used, 0))
    return min(found) if found else None


def check_memory(need: int, what: str) -> None:
    """Refuse a step that needs ``need`` bytes when less is available (unless the check is off)."""
    if not current_limits().memory:
        return
    free = available_memory()
    if free is not None and need > free:
        raise LimitError(
            f"{what} needs about {need / 2**30:,.1f} GiB of memory, but only {free / 2**30:,.1f} "
            f"GiB is available; make it smaller, or set {LIMITS_ENV}=memory=0 to try anyway"
        )
