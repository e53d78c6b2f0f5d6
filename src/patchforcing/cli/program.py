"""How a command runs its job (``patchforcing`` and the repository's benchmark programs alike): an
error a user can act on is one clear line (``PROG: error: ...``) with exit status 2, never
a traceback."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["run_program", "Interrupted"]


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised where the job is, as Ctrl-C raises KeyboardInterrupt: the job stops with the
    same one line (its atomic writes leave no half-written file; a rerun finishes the job)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` during the block (``train`` installs its own handlers
    for a clean stop, and restores this one after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_program(prog: str, job: Callable[[], int], sizes: str = "") -> int:
    """Run ``job`` (the parsed program) and turn the errors a user can act on into one line on
    stderr; ``sizes`` names the options that make a job smaller, for the out-of-memory line."""
    from patchforcing.train.nonfinite import NonFiniteLossError
    from patchforcing.utils.io.atomic import DiskWriteError
    from patchforcing.utils.limits import current_limits
    from patchforcing.utils.runtime import keep_freed_memory

    keep_freed_memory()
    try:
        current_limits()  # a bad $PATCHFORCING_LIMITS blamed on itself, not on a file read later
        with _sigterm_interrupts():
            return job()
    except KeyboardInterrupt as stop:
        name = "SIGTERM" if isinstance(stop, Interrupted) else "Ctrl-C"
        print(
            f"{prog}: interrupted ({name}); what was written is kept, run the same command again "
            "to finish",
            file=sys.stderr,
        )
        return 143 if isinstance(stop, Interrupted) else 130
    except (ValueError, FileNotFoundError, NonFiniteLossError, DiskWriteError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except MemoryError:  # a size the limits (patchforcing.utils.limits) could not foresee
        hint = f" ({sizes})" if sizes else ""
        print(f"{prog}: error: out of memory; use smaller sizes{hint}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
        os.dup2(
            os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno()
        )  # no second error at interpreter exit
        return 1
    except OSError as err:
        print(f"{prog}: error: {err.strerror or err} ({err.filename or 'file'})", file=sys.stderr)
        return 2
