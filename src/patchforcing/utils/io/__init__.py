"""File output and the pixel convention: atomic writes, inter-process file locks, PNG images,
uint8 <-> [-1, 1]."""

from patchforcing.utils.io.atomic import atomic_directory, atomic_write
from patchforcing.utils.io.images import make_grid, save_grid, save_images
from patchforcing.utils.io.lock import file_lock
from patchforcing.utils.io.pixels import from_model_range, to_model_range

__all__ = [
    "atomic_directory",
    "atomic_write",
    "file_lock",
    "make_grid",
    "save_grid",
    "save_images",
    "to_model_range",
    "from_model_range",
]
