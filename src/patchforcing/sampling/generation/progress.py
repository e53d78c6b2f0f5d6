"""What long work shows while it runs, on stderr: a bar that every network pass moves, and one
line per stage.

The bar counts the calls of the model through a forward hook held for the duration
(:func:`pass_progress`), so no sampler knows of it and nothing it computes changes: the hook
returns None, which leaves every output as it was. Without ``enabled`` nothing is hooked and
nothing is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from patchforcing.core.protocol import PatchModel

__all__ = ["progress_bar", "pass_progress", "stage"]


def stage(message: str, enabled: bool = True) -> None:
    """Say on stderr which stage a long command has reached (one line, flushed at once)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "pass") -> tqdm:
    """A bar on stderr over ``total`` units of work (their rate and the time left), closed by
    ``with``; moved by ``bar.update()``."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr)


@contextmanager
def pass_progress(
    model: PatchModel, total: int, desc: str, enabled: bool = True, unit: str = "pass"
) -> Iterator[tqdm]:
    """A bar over ``total`` network passes of ``model`` on stderr, with their rate and the time
    left, moved by each forward of ``model`` while the block runs (its hook is removed after).

    Example::

        with pass_progress(model, total=batches * sampler.nfe(schedule), desc="euler-pf") as bar:
            ...  # every model(x, t, y) moves the bar by one; bar.set_postfix_str adds a note
    """
    with progress_bar(total, desc, enabled, unit) as bar:

        def count(*_: object) -> None:  # None: a forward hook's result would replace the output
            bar.update()

        register = getattr(model, "register_forward_hook", None)  # any torch module has one
        hook = register(count) if enabled and callable(register) else None
        try:
            yield bar
        finally:
            if hook is not None:
                hook.remove()
