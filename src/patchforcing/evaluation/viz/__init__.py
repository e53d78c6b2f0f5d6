"""Pictures of sampling (Pillow only): denoising traces and sampler comparison grids, and writing
them into a sample folder."""

from patchforcing.evaluation.viz.compare import compare_grid, save_compare_grid
from patchforcing.evaluation.viz.render import colorize, image_panel, patch_panel
from patchforcing.evaluation.viz.sample_pictures import (
    COMPARE_IMAGES,
    ComparedSampler,
    Comparison,
    write_comparison,
    write_trace,
)
from patchforcing.evaluation.viz.trace import save_trace, trace_frames

__all__ = [
    "compare_grid",
    "save_compare_grid",
    "colorize",
    "image_panel",
    "patch_panel",
    "trace_frames",
    "save_trace",
    "COMPARE_IMAGES",
    "ComparedSampler",
    "Comparison",
    "write_comparison",
    "write_trace",
]
