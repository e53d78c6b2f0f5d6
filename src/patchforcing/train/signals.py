"""SIGINT / SIGTERM during training: finish the current step, save a checkpoint, exit cleanly.

The handler only records the signal, so a checkpoint being written is always completed. A second
signal gets the previous behaviour back (Ctrl-C twice interrupts at once; the atomic writes keep
the checkpoints consistent even then).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["StopSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = (
    Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
)  # what signal.signal takes


class StopSignals:
    """Context manager; ``received`` is the first signal number caught, else None. Outside the main
    thread (where Python cannot install handlers) it does nothing."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, _Handler] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in _SIGNALS}
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        self._restore()

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()
