"""Runs of the viewer: what each will compute, the events it publishes while its passes are
computed, and the bounded store of recent runs.

A run's events are kept in order (every pass of every sampler, then one per finished sampler and a
last one with the outcome), so a page that connects late, or reconnects, reads them from any point.
The store keeps at most ``max_runs`` runs, dropping (and cancelling) the least recently used, and
remembers each page's newest run: a page's new run cancels its previous one.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from patchforcing.sampling import Sampler, TraceStep
from patchforcing.viewer.catalog import Checkpoint
from patchforcing.viewer.command import sample_command
from patchforcing.viewer.frames import Frame, panel_scale
from patchforcing.viewer.request import RunRequest

__all__ = ["LanePlan", "LaneResult", "Event", "Run", "RunStore", "FINISHED"]

FINISHED = ("done", "cancelled", "error")  # after "queued" and "running"


@dataclass(frozen=True)
class LanePlan:
    """One sampler of a run, before it runs."""

    sampler: str
    steps: int  # outer steps that spend the NFE budget
    nfe: int  # the NFE those steps cost, as the sampler counts it
    command: str  # the ``patchforcing sample`` command that reproduces its image
    words: list[str]  # its shell words, each quoted: joined by spaces they are ``command``


@dataclass(frozen=True)
class LaneResult:
    """One sampler of a run, after it ran."""

    lane: int
    nfe: int  # NFE the sampler reported
    passes: int  # passes traced (one frame each)
    steps: int
    seconds: float


@dataclass(frozen=True)
class Event:
    """``frame`` (a :class:`Frame`), ``lane`` (a :class:`LaneResult`) or ``end``
    (status, message)."""

    kind: str
    data: dict[str, Any]

    def sse(self, index: int) -> str:
        """The event as Server-Sent Events text; its id lets a reconnecting page resume after it."""
        return (
            f"id: {index}\nevent: {self.kind}\ndata: "
            f"{json.dumps(self.data, separators=(',', ':'))}\n\n"
        )


def _plan(sampler: Sampler, request: RunRequest, checkpoint: str, num_patches: int) -> LanePlan:
    budget = sampler.budget(request.nfe, num_patches)
    command = sample_command(
        checkpoint,
        sampler,
        request.nfe,
        request.seed,
        request.label,
        request.guidance,
        request.prompt,
    )
    words = [shlex.quote(word) for word in shlex.split(command)]
    return LanePlan(sampler.name, budget.steps, budget.nfe, command, words)


class Run:
    """One request, its plan, its state and its events (safe to read while a worker writes)."""

    def __init__(self, run_id: str, request: RunRequest, checkpoint: Checkpoint) -> None:
        self.id = run_id
        self.request = request
        self.checkpoint = checkpoint
        patches = checkpoint.model.config.num_patches
        self.lanes = [_plan(s, request, checkpoint.name, patches) for s in request.samplers]
        self.status = "queued"
        self.message = ""
        self.traces: list[list[TraceStep]] = [[] for _ in self.lanes]  # for the GIF export
        self.results: list[LaneResult | None] = [None for _ in self.lanes]
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def cancel(self) -> None:
        """Ask the worker to stop this run at its next pass (or to skip it if it has
        not started)."""
        self._cancel.set()

    def start(self) -> None:
        with self._lock:
            self.status = "running"

    def add_frame(self, step: TraceStep, frame: Frame) -> None:
        with self._lock:
            self.traces[frame.lane].append(step)
            self._events.append(Event("frame", asdict(frame)))

    def finish_lane(self, result: LaneResult) -> None:
        with self._lock:
            self.results[result.lane] = result
            self._events.append(Event("lane", asdict(result)))

    def finish(self, status: str, message: str = "") -> None:
        with self._lock:
            self.status, self.message = status, message
            self._events.append(Event("end", {"status": status, "message": message}))

    def events_from(self, index: int) -> list[Event]:
        """The events published since the first ``index`` ones."""
        with self._lock:
            return self._events[index:]

    def summary(self) -> dict[str, Any]:
        """The run as the page sees it (JSON)."""
        r, c = self.request, self.checkpoint
        with self._lock:
            return {
                "id": self.id,
                "status": self.status,
                "message": self.message,
                "checkpoint": r.checkpoint,
                "seed": r.seed,
                "label": r.label,
                "class_name": None if r.label is None else c.class_names[r.label],
                "prompt": r.prompt,
                "nfe_budget": r.nfe,
                "cfg": r.guidance.scale,
                "cfg_interval": list(r.guidance.interval),
                "image_size": c.model.config.image_size,
                "scale": panel_scale(c.model.config.image_size),
                "channels": c.model.config.in_channels,
                "grid": c.model.config.grid_size,
                "lanes": [asdict(plan) for plan in self.lanes],
                "results": [None if res is None else asdict(res) for res in self.results],
                "frames": [len(trace) for trace in self.traces],
            }


class RunStore:
    """The most recent ``max_runs`` runs by id, and each page's newest run."""

    def __init__(self, max_runs: int) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._newest: dict[str, str] = {}  # page (client id) -> its newest run
        self._lock = threading.Lock()

    def add(self, run: Run) -> None:
        """Keep ``run``, cancel the page's previous run and drop the least recently used beyond
        the limit."""
        client = run.request.client
        with self._lock:
            previous = self._runs.get(self._newest.get(client, ""))
            if previous is not None:
                previous.cancel()
            self._newest[client] = run.id
            self._runs[run.id] = run
            while len(self._runs) > self.max_runs:
                _, old = self._runs.popitem(last=False)
                old.cancel()
                if self._newest.get(old.request.client) == old.id:
                    del self._newest[old.request.client]

    def cancel_all(self) -> None:
        with self._lock:
            for run in self._runs.values():
                run.cancel()

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                self._runs.move_to_end(run_id)
            return run

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
