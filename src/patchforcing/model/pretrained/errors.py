"""The error raised for model folders and checkpoints that are missing, unreadable or do not fit."""

from __future__ import annotations

__all__ = ["CheckpointError", "NewerFormatError"]


class CheckpointError(ValueError):
    """A checkpoint or model folder is missing, unreadable or does not fit the model."""


class NewerFormatError(CheckpointError):
    """A file written by a newer patchforcing: intact, but not readable by this version."""
