"""Serving the viewer with uvicorn. The socket is bound first, so that port 0 picks a free port and
the address announced is the one really listened on."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

__all__ = ["is_loopback", "serve"]

GRACEFUL_SHUTDOWN_S = 2  # open event streams are closed after this on Ctrl-C
BACKLOG = 128


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(app: Starlette, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Listen on ``host``:``port``, call ``announce`` with the page's address and serve until Ctrl-C
    (then return) or SIGTERM."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(
            BACKLOG
        )  # before announcing: a page opened at once waits in the backlog instead of failing
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    announce(f"http://{shown}:{sock.getsockname()[1]}/")
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=BACKLOG,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    with contextlib.suppress(
        KeyboardInterrupt
    ):  # uvicorn raises the Ctrl-C again once it has shut down
        uvicorn.Server(config).run(sockets=[sock])
