"""The viewer's web layer (Starlette): the page, its two assets and a small JSON + Server-Sent
Events API.

    GET  /                               the page
    GET  /assets/{app.js,style.css}      its script and style sheet (nothing else is served)
    GET  /api/models                     checkpoints, samplers, sampler options, limits
    POST /api/runs                       start a run (JSON body); answers its summary
    GET  /api/runs/{id}                  a run's summary: plan, state, results
    GET  /api/runs/{id}/events           its passes as they are computed (Server-Sent Events)
    POST /api/runs/{id}/cancel           stop it
    GET  /api/runs/{id}/lanes/{i}.gif    the GIF of one finished sampler of it

Bad requests are answered with a JSON ``{"error": message}`` and a 4xx status; the server keeps
running. Request bodies are read up to the size limit and no further. Only the Host names given are
answered (loopback by default), which keeps other web sites from reaching the viewer through DNS
rebinding; a POST must be ``application/json``, which a cross-site form cannot send.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from patchforcing.evaluation.viz import trace_frames
from patchforcing.viewer.frames import panel_scale
from patchforcing.viewer.page import ASSETS, read_asset
from patchforcing.viewer.request import RequestError, parse_last_event_id
from patchforcing.viewer.runs import Run
from patchforcing.viewer.service import Viewer

__all__ = ["create_app", "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
POLL_SECONDS = 0.02  # how often an event stream looks for new passes
GIF_FRAME_MS = 150
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_NOSNIFF = {"X-Content-Type-Options": "nosniff"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NOSNIFF)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(f"the request body is larger than {limit} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(f"the request body is larger than {limit} bytes", status=413)
    return bytes(body)


def _gif(run: Run, lane: int) -> bytes:
    """The frames of ``sample --trace`` with their panels at the page's whole scale (crisp)."""
    image_size = run.checkpoint.model.config.image_size
    frames = trace_frames(run.traces[lane], 0, size=image_size * panel_scale(image_size))
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0
    )
    return buffer.getvalue()


def create_app(viewer: Viewer, allowed_hosts: Sequence[str] = LOOPBACK_HOSTS) -> Starlette:
    """The web app around ``viewer``; its workers stop when the app shuts down."""
    page = read_asset("index.html")
    assets = {name: read_asset(name) for name in ASSETS}

    def find_run(request: Request) -> Run:
        run = viewer.store.get(request.path_params["run_id"])
        if run is None:
            raise RequestError(
                "no such run (runs are kept for a while only: start a new one)", status=404
            )
        return run

    async def index(request: Request) -> Response:
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": _PAGE_POLICY, **_NOSNIFF},
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return _error("not found", 404)
        return Response(assets[name], media_type=ASSETS[name], headers=_NOSNIFF)

    async def models(request: Request) -> Response:
        return JSONResponse(viewer.models(), headers=_NOSNIFF)

    async def start_run(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error("a run request must be application/json", 415)
        body = await _read_body(request, viewer.limits.max_body)
        run = await anyio.to_thread.run_sync(viewer.submit, body)
        return JSONResponse(run.summary(), headers=_NOSNIFF)

    async def summary(request: Request) -> Response:
        return JSONResponse(find_run(request).summary(), headers=_NOSNIFF)

    async def events(request: Request) -> Response:
        run = find_run(request)
        start = parse_last_event_id(request.headers.get("last-event-id", ""))

        async def stream() -> AsyncIterator[str]:
            index = start
            while True:
                finished = (
                    run.finished
                )  # read first: every event of a finished run is already published
                for event in run.events_from(index):
                    yield event.sse(index)
                    index += 1
                if finished:
                    return
                await anyio.sleep(POLL_SECONDS)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", **_NOSNIFF},
        )

    async def cancel(request: Request) -> Response:
        run = find_run(request)
        run.cancel()
        return JSONResponse({"id": run.id, "status": run.status}, headers=_NOSNIFF)

    async def gif(request: Request) -> Response:
        run = find_run(request)
        lane = request.path_params["lane"]
        if lane >= len(run.lanes):
            return _error(f"the run has {len(run.lanes)} sampler(s)", 404)
        if run.results[lane] is None:
            return _error("this sampler has not finished yet", 409)
        data = await anyio.to_thread.run_sync(_gif, run, lane)
        name = f"{run.lanes[lane].sampler}-seed{run.request.seed}.gif"
        return Response(
            data,
            media_type="image/gif",
            headers={"Content-Disposition": f'attachment; filename="{name}"', **_NOSNIFF},
        )

    async def refused(request: Request, err: Exception) -> Response:
        return _error(str(err), err.status if isinstance(err, RequestError) else 400)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        viewer.close()

    routes = [
        Route("/", index),
        Route("/assets/{name}", asset),
        Route("/api/models", models),
        Route("/api/runs", start_run, methods=["POST"]),
        Route("/api/runs/{run_id}", summary),
        Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/lanes/{lane:int}.gif", gif),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={RequestError: refused},
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
    )
