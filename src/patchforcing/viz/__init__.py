"""Pictures of sampling (Pillow only): denoising traces and sampler comparison grids."""

from patchforcing.viz.compare import compare_grid, save_compare_grid
from patchforcing.viz.render import colorize, image_panel, patch_panel
from patchforcing.viz.trace import save_trace, trace_frames

__all__ = ["compare_grid", "save_compare_grid", "colorize", "image_panel", "patch_panel", "trace_frames",
           "save_trace"]
