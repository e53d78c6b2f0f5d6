"""Checks run before the first step, so that a bad combination of data and model fails at once with
a message saying what to change, not minutes later inside the loop (the run folder's own checks are
in :mod:`patchforcing.train.run_folder`)."""

from __future__ import annotations

from patchforcing.data import ArrayData
from patchforcing.train.config import TrainConfig

__all__ = ["check_data_fits_model"]


def check_data_fits_model(data: ArrayData, config: TrainConfig) -> None:
    """Image shape, class count and dataset size against the model and batch size."""
    m, source = config.model, config.data.source
    if (data.channels, data.image_size) != (m.in_channels, m.image_size):
        raise ValueError(
            f"the data ({source}) has {data.channels}-channel {data.image_size}x{data.image_size} "
            f"images but the model expects {m.in_channels}-channel {m.image_size}x{m.image_size}"
        )
    if m.num_classes and data.num_classes > m.num_classes:
        raise ValueError(
            f"the data ({source}) has labels for {data.num_classes} classes but the model has "
            f"{m.num_classes}; train with the data's classes or --unconditional"
        )
    if len(data) < config.batch_size:
        raise ValueError(
            f"the dataset ({source}) has {len(data)} images, fewer than the batch size "
            f"{config.batch_size}; lower --batch-size or add images"
        )
