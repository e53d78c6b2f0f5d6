"""Command-line interface."""

from patchforcing.cli.main import main

__all__ = ["main"]
