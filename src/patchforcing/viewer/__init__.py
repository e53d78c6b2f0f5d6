"""A local web viewer of the samplers (``patchforcing view``, docs/viewer.md): every network pass of
one to four samplers, streamed to the page as it is computed, and a static page of precomputed runs.

The web layer (:mod:`patchforcing.viewer.app`, :mod:`patchforcing.viewer.serve`) needs the ``view``
extra (Starlette, uvicorn); everything this module exports works without it.
"""

from patchforcing.viewer.catalog import Checkpoint, describe_checkpoint, load_catalog
from patchforcing.viewer.command import sample_command
from patchforcing.viewer.frames import Frame, OuterSteps, encode_frame
from patchforcing.viewer.request import Limits, RequestError, RunRequest, parse_run_request
from patchforcing.viewer.runs import Event, LanePlan, LaneResult, Run, RunStore
from patchforcing.viewer.service import Viewer
from patchforcing.viewer.static_page import static_html, static_runs, write_static_page
from patchforcing.viewer.worker import ModelWorker, execute

__all__ = [
    "Checkpoint",
    "describe_checkpoint",
    "load_catalog",
    "sample_command",
    "Frame",
    "OuterSteps",
    "encode_frame",
    "Limits",
    "RequestError",
    "RunRequest",
    "parse_run_request",
    "Event",
    "LanePlan",
    "LaneResult",
    "Run",
    "RunStore",
    "Viewer",
    "static_html",
    "static_runs",
    "write_static_page",
    "ModelWorker",
    "execute",
]
