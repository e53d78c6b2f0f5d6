"""File output: atomic writes, inter-process file locks and PNG images."""

from patchforcing.io.atomic import atomic_directory, atomic_write
from patchforcing.io.images import make_grid, save_grid, save_images
from patchforcing.io.lock import file_lock

__all__ = ["atomic_directory", "atomic_write", "file_lock", "make_grid", "save_grid", "save_images"]
