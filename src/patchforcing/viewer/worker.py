"""Computing runs: one worker thread per model takes runs from a bounded queue, one at a time, and
publishes every network pass as it is computed.

A run's samplers (lanes) go one after the other through the one generation path
(:func:`~patchforcing.sampling.generation.generate_batches` with one image of the run's seed and
class or prompt), so each image is the one ``patchforcing sample`` makes with the same options. The
trace function that receives each pass also checks the run's cancel flag and stops the sampler by
raising; a run that fails ends with an error event and leaves the worker (and the server) running.
"""

from __future__ import annotations

import queue
import threading
import time

import torch

from patchforcing.sampling import TraceStep, uniform_schedule
from patchforcing.sampling.generation import GenerationConfig, generate_batches
from patchforcing.viewer.frames import OuterSteps, encode_frame
from patchforcing.viewer.runs import LaneResult, Run

__all__ = ["execute", "ModelWorker", "QueueFull"]

QueueFull = queue.Full


class _Cancelled(Exception):
    """Raised from the trace function to stop a sampler mid-run."""


def _run_lane(run: Run, lane: int, device: torch.device | str) -> None:
    request, plan = run.request, run.lanes[lane]
    config = GenerationConfig(
        sampler=request.samplers[lane],
        nfe=request.nfe,
        guidance=request.guidance,
        num_images=1,
        seed=request.seed,
        classes=None if request.label is None else (request.label,),
        prompts=None if request.prompt is None else (request.prompt,),
    )
    outer = OuterSteps(uniform_schedule(plan.steps).tolist())

    def on_pass(step: TraceStep) -> None:
        if run.cancel_requested:
            raise _Cancelled
        difficulty = None if step.difficulty is None else step.difficulty[0]  # (N,)
        placed = outer.place(step.t[0], difficulty)
        run.add_frame(step, encode_frame(step, lane, len(run.traces[lane]), placed))

    start = time.perf_counter()
    batch = next(generate_batches(run.checkpoint.model, config, device, trace=on_pass))
    run.finish_lane(
        LaneResult(
            lane=lane,
            nfe=batch.nfe,
            passes=len(run.traces[lane]),
            steps=batch.steps,
            seconds=round(time.perf_counter() - start, 4),
        )
    )


def execute(run: Run, device: torch.device | str = "cpu") -> None:
    """Compute every lane of ``run`` in the calling thread, publishing its events; never raises."""
    if run.cancel_requested:
        run.finish("cancelled", "cancelled before it started")
        return
    run.start()
    try:
        for lane in range(len(run.lanes)):
            _run_lane(run, lane, device)
    except _Cancelled:
        run.finish("cancelled", "cancelled")
    except Exception as err:  # a failing run must not stop the worker: the page shows the message
        run.finish("error", f"{type(err).__name__}: {err}")
    else:
        run.finish("done")


class ModelWorker:
    """A thread that computes the runs of one model in order; at most ``max_queue`` wait."""

    def __init__(self, device: torch.device | str, max_queue: int) -> None:
        self.device = device
        self._queue: queue.Queue[Run | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(
            target=self._loop, name="patchforcing-viewer-worker", daemon=True
        )
        self._thread.start()

    def submit(self, run: Run) -> None:
        """Queue ``run``; raises :data:`QueueFull` when ``max_queue`` runs already wait."""
        self._queue.put_nowait(run)

    def close(self) -> None:
        """Stop after the queued runs (cancel them first to skip them) and wait for the thread."""
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while (run := self._queue.get()) is not None:
            execute(run, self.device)
