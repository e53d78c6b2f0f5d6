"""The error raised for model folders and checkpoints that are missing, unreadable or do not fit."""

from __future__ import annotations

__all__ = ["CheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint or model folder is missing, unreadable or does not fit the model."""
