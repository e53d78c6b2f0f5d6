"""One network pass of a run as the page draws it: the image, the per-patch time map, the difficulty
map and the certain patches of the current outer step, in about 2 KB; and the whole scale the page
and the GIF export draw a run's images at.

The certain set is read off the time map. In dual-loop (and its controls) and look-ahead the
certain patches of an outer step are the ones ahead of the others (at t_{k+1} in dual-loop's inner
passes, at the context time t_c in look-ahead's second pass), so a pass whose patches are not all at
one time names its certain set: the patches with t above the smallest t. A pass that leaves every
patch at the schedule's next time t_{k+1} ends outer step k; it shows the certain set of that step.
Euler, Euler-PF and the matrix sampler on the uniform schedule never have certain patches.

The difficulty map of a pass shows, on the certain patches, the difficulty of the step's first
pass, which chose them and whose velocity moved them (the later passes of the step do not move
them: dual-loop's inner passes update the other patches only, look-ahead's context pass gives the
velocity of the others). What the later passes predict there is the head's difficulty of a patch
already ahead in time, at t = 1 in the last outer step (and in look-ahead's context pass once
t_c = 1), which it rates among the hardest of the image: drawn as is, the certain patches would be
outlined as certain and coloured as hard.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import torch

from patchforcing.sampling import TraceStep
from patchforcing.utils.io.pixels import from_model_range

__all__ = ["Frame", "Placement", "OuterSteps", "encode_frame", "panel_scale"]

_TOLERANCE = 1e-6  # times are float32; distinct times of one pass differ by far more
PANEL_PIXELS = 168  # the size a panel aims at: 28 x 28 images at 6x, 32 x 32 at 5x
MIN_SCALE, MAX_SCALE = 4, 8


def panel_scale(image_size: int) -> int:
    """The whole factor a run's images are drawn at (nearest neighbour): about
    :data:`PANEL_PIXELS` pixels a panel, within [MIN_SCALE, MAX_SCALE]."""
    return min(max(PANEL_PIXELS // image_size, MIN_SCALE), MAX_SCALE)


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
    )  # (N,) log of the pooled exp(logvar) (certain patches: of the step's first pass)
    certain: list[int]  # patches certain at this outer step


@dataclass(frozen=True)
class Placement:
    """Where a pass falls: its outer step, that step's certain patches and the difficulty map to
    draw for it."""

    outer: int
    certain: list[int]
    difficulty: torch.Tensor | None  # (N,) pooled exp(logvar), None without a difficulty head


class OuterSteps:
    """Places the passes of one sampler run on the outer steps of its uniform schedule."""

    def __init__(self, schedule: list[float]) -> None:
        self.times = schedule  # t_0 = 0 < t_1 < ... < t_S = 1
        self.step = 0
        self.certain: list[int] = []
        self.chosen_by: torch.Tensor | None = None  # (N,) difficulty of the pass that chose them

    def place(self, t: torch.Tensor, difficulty: torch.Tensor | None) -> Placement:
        """The placement of a pass that leaves the patches at times t (N,) with the pooled
        difficulty (N,) it predicted."""
        lo, hi = float(t.min()), float(t.max())
        ahead = torch.nonzero(t > lo + _TOLERANCE).flatten().tolist()
        if ahead and not self.certain:  # the step's first pass named its certain set
            self.chosen_by = difficulty
        if ahead:
            self.certain = ahead
        shown = difficulty
        if self.certain and difficulty is not None and self.chosen_by is not None:
            shown = difficulty.clone()
            shown[self.certain] = self.chosen_by[self.certain]
        placed = Placement(self.step, self.certain, shown)
        next_step = self.step + 1
        if (
            hi - lo <= _TOLERANCE
            and next_step < len(self.times)
            and abs(lo - self.times[next_step]) <= _TOLERANCE
        ):
            self.step, self.certain = next_step, []
        return placed


def encode_frame(step: TraceStep, lane: int, index: int, placed: Placement) -> Frame:
    """The first image of a traced pass, placed on its outer step, as a :class:`Frame`."""
    pixels = (
        from_model_range(step.x[0]).permute(1, 2, 0).contiguous().cpu().numpy()
    )  # (H, W, C) uint8
    difficulty = None
    if placed.difficulty is not None:
        difficulty = [round(v, 4) for v in placed.difficulty.clamp_min(1e-20).log().tolist()]
    return Frame(
        lane=lane,
        index=index,
        nfe=index + 1,
        outer=placed.outer,
        image=base64.b64encode(pixels.tobytes()).decode("ascii"),
        t=[round(v, 4) for v in step.t[0].tolist()],
        difficulty=difficulty,
        certain=placed.certain,
    )
