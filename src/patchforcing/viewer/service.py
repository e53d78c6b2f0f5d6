"""The viewer without its web layer: the catalog of models, one worker per model, and the store
of runs.

:mod:`patchforcing.viewer.app` puts HTTP around it; tests and the static page can use it directly.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

import torch

from patchforcing.sampling import SAMPLERS
from patchforcing.viewer.catalog import Checkpoint, describe_checkpoint
from patchforcing.viewer.request import Limits, RequestError, describe_options, parse_run_request
from patchforcing.viewer.runs import Run, RunStore
from patchforcing.viewer.worker import ModelWorker, QueueFull

__all__ = ["Viewer"]


class Viewer:
    """Accepts run requests, queues them on their model's worker and keeps the recent runs."""

    def __init__(
        self,
        catalog: dict[str, Checkpoint],
        limits: Limits = Limits(),
        device: torch.device | str = "cpu",
    ) -> None:
        if not catalog:
            raise ValueError("the viewer needs at least one checkpoint")
        self.catalog = catalog
        self.limits = limits
        self.store = RunStore(limits.max_runs)
        self.workers = {name: ModelWorker(device, limits.max_queue) for name in catalog}

    def models(self) -> dict[str, Any]:
        """The checkpoints, samplers, sampler options and limits, for the page's form (JSON)."""
        return {
            "checkpoints": [describe_checkpoint(c) for c in self.catalog.values()],
            "samplers": list(SAMPLERS),
            "options": describe_options(),
            "limits": asdict(self.limits),
        }

    def submit(self, body: bytes) -> Run:
        """Check a request body, queue its run (cancelling the page's previous run) and return it;
        raises :class:`RequestError` for a bad request or a full queue."""
        request = parse_run_request(body, self.catalog, self.limits)
        run = Run(uuid.uuid4().hex, request, self.catalog[request.checkpoint])
        self.store.add(run)
        try:
            self.workers[request.checkpoint].submit(run)
        except QueueFull:
            message = (
                f"{request.checkpoint} already has {self.limits.max_queue} runs waiting; "
                "try again when one has finished"
            )
            run.finish("error", message)
            raise RequestError(message, status=429) from None
        return run

    def close(self) -> None:
        """Cancel every run and stop the workers."""
        self.store.cancel_all()
        for worker in self.workers.values():
            worker.close()
