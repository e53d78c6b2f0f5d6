"""One network pass of a run as the page draws it: the image, the per-patch time map, the difficulty
map and the certain patches of the current outer step, in about 2 KB.

The certain set is read off the time map. In dual-loop (and its controls) and look-ahead the
certain patches of an outer step are the ones ahead of the others (at t_{k+1} in dual-loop's inner
passes, at the context time t_c in look-ahead's second pass), so a pass whose patches are not all at
one time names its certain set: the patches with t above the smallest t. A pass that leaves every
patch at the schedule's next time t_{k+1} ends outer step k; it shows the certain set of that step.
Euler, Euler-PF and the matrix sampler on the uniform schedule never have certain patches.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import torch

from patchforcing.sampling import TraceStep
from patchforcing.utils.io.pixels import from_model_range

__all__ = ["Frame", "OuterSteps", "encode_frame"]

_TOLERANCE = 1e-6  # times are float32; distinct times of one pass differ by far more


@dataclass(frozen=True)
class Frame:
    """One pass of one sampler (lane) of a run."""

    lane: int
    index: int  # 0-based pass; ``index + 1`` passes (NFE) are spent once it is drawn
    nfe: int
    outer: int  # 0-based outer step the pass belongs to
    image: str  # base64 of the uint8 pixels, (H, W, C) row-major
    t: list[float]  # (N,) per-patch time of the image
    difficulty: (
        list[float] | None
    )  # (N,) log of the pooled exp(logvar), None without a difficulty head
    certain: list[int]  # patches certain at this outer step


class OuterSteps:
    """Places the passes of one sampler run on the outer steps of its uniform schedule."""

    def __init__(self, schedule: list[float]) -> None:
        self.times = schedule  # t_0 = 0 < t_1 < ... < t_S = 1
        self.step = 0
        self.certain: list[int] = []

    def place(self, t: torch.Tensor) -> tuple[int, list[int]]:
        """(outer step, its certain patches) of a pass that leaves the patches at times t (N,)."""
        lo, hi = float(t.min()), float(t.max())
        ahead = torch.nonzero(t > lo + _TOLERANCE).flatten().tolist()
        if ahead:
            self.certain = ahead
        placed = (self.step, self.certain)
        next_step = self.step + 1
        if (
            hi - lo <= _TOLERANCE
            and next_step < len(self.times)
            and abs(lo - self.times[next_step]) <= _TOLERANCE
        ):
            self.step, self.certain = next_step, []
        return placed


def encode_frame(step: TraceStep, lane: int, index: int, outer: int, certain: list[int]) -> Frame:
    """The first image of a traced pass as a :class:`Frame`."""
    pixels = (
        from_model_range(step.x[0]).permute(1, 2, 0).contiguous().cpu().numpy()
    )  # (H, W, C) uint8
    difficulty = None
    if step.difficulty is not None:
        difficulty = [round(v, 4) for v in step.difficulty[0].clamp_min(1e-20).log().tolist()]
    return Frame(
        lane=lane,
        index=index,
        nfe=index + 1,
        outer=outer,
        image=base64.b64encode(pixels.tobytes()).decode("ascii"),
        t=[round(v, 4) for v in step.t[0].tolist()],
        difficulty=difficulty,
        certain=certain,
    )
