"""Denoising traces: per image, an animated GIF and a still PNG of three panels per recorded pass:
the current image, the per-patch time map (t in [0, 1], dark = noise) and the difficulty map
(log exp(logvar) pooled per patch, scaled to the image's range over the whole trace)."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import torch
from PIL import Image

from patchforcing.evaluation.viz.render import image_panel, labelled, patch_panel
from patchforcing.sampling.result import TraceStep
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["trace_frames", "save_trace"]


def trace_frames(steps: list[TraceStep], index: int, size: int = 96) -> list[Image.Image]:
    """One frame per recorded pass for image ``index`` of the batch:
    [image | t map | difficulty]."""
    if not steps:
        raise ValueError("the trace is empty: sample with trace=True")
    grid = math.isqrt(steps[0].t.shape[1])
    logs = [s.difficulty[index].clamp_min(1e-20).log() for s in steps if s.difficulty is not None]
    lo, hi = (
        (float(torch.stack(logs).min()), float(torch.stack(logs).max())) if logs else (0.0, 1.0)
    )
    frames = []
    for k, step in enumerate(steps):
        log_d = None if step.difficulty is None else step.difficulty[index].clamp_min(1e-20).log()
        t = step.t[index]
        panels = [
            image_panel(step.x[index], size),
            patch_panel(t, grid, size),
            patch_panel(log_d, grid, size, lo, hi),
        ]
        frames.append(labelled(panels, f"pass {k + 1}/{len(steps)}  mean t {float(t.mean()):.2f}"))
    return frames


def save_trace(
    steps: list[TraceStep],
    folder: str | Path,
    indices: list[int],
    stills: int = 5,
    size: int = 96,
    frame_ms: int = 150,
) -> list[Path]:
    """Write ``trace_<i>.gif`` (every pass) and ``trace_<i>.png`` (``stills`` passes stacked)
    per index."""
    folder = Path(folder)
    written = []
    for index in indices:
        frames = trace_frames(steps, index, size)
        gif = folder / f"trace_{index}.gif"
        written.append(
            atomic_write(
                gif,
                partial(
                    frames[0].save,
                    format="GIF",
                    save_all=True,
                    append_images=frames[1:],
                    duration=frame_ms,
                    loop=0,
                ),
            )
        )
        picks = sorted({round(i * (len(frames) - 1) / max(stills - 1, 1)) for i in range(stills)})
        still = Image.new("RGB", (frames[0].width, frames[0].height * len(picks)), (255, 255, 255))
        for row, k in enumerate(picks):
            still.paste(frames[k], (0, row * frames[0].height))
        written.append(
            atomic_write(folder / f"trace_{index}.png", partial(still.save, format="PNG"))
        )
    return written
