"""How a command runs its job (``patchforcing`` and the repository's benchmark programs alike): an
error a user can act on is one clear line (``PROG: error: ...``) with exit status 2, never
a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

__all__ = ["run_program"]


def run_program(prog: str, job: Callable[[], int], sizes: str = "") -> int:
    """Run ``job`` (the parsed program) and turn the errors a user can act on into one line on
    stderr; ``sizes`` names the options that make a job smaller, for the out-of-memory line."""
    from patchforcing.train.nonfinite import NonFiniteLossError
    from patchforcing.utils.io.atomic import DiskWriteError
    from patchforcing.utils.runtime import keep_freed_memory

    keep_freed_memory()
    try:
        return job()
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
