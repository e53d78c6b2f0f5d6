"""File output: atomic writes and PNG images."""

from patchforcing.io.atomic import atomic_directory, atomic_write
from patchforcing.io.images import make_grid, save_grid, save_images

__all__ = ["atomic_directory", "atomic_write", "make_grid", "save_grid", "save_images"]
