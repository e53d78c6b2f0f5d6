"""Checks run before the first step, so that a bad combination of data, model and run folder fails
at once with a message saying what to change, not minutes later inside the loop."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from patchforcing.data import ArrayData
from patchforcing.train.checkpoint import read_config
from patchforcing.train.config import TrainConfig, config_to_json

__all__ = ["check_data_fits_model", "check_same_run"]


def check_data_fits_model(data: ArrayData, config: TrainConfig) -> None:
    """Image shape, class count and dataset size against the model and batch size."""
    m, source = config.model, config.data.source
    if (data.channels, data.image_size) != (m.in_channels, m.image_size):
        raise ValueError(f"the data ({source}) has {data.channels}-channel {data.image_size}x{data.image_size} images "
                         f"but the model expects {m.in_channels}-channel {m.image_size}x{m.image_size}")
    if m.num_classes and data.num_classes > m.num_classes:
        raise ValueError(f"the data ({source}) has labels for {data.num_classes} classes but the model has "
                         f"{m.num_classes}; train with the data's classes or --unconditional")
    if len(data) < config.batch_size:
        raise ValueError(f"the dataset ({source}) has {len(data)} images, fewer than the batch size "
                         f"{config.batch_size}; lower --batch-size or add images")


def check_same_run(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to resume a run with a different configuration (the step count may grow)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"the run folder {run_dir} exists and is not a folder")
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        return
    saved = read_config(saved_path)
    if replace(saved, steps=config.steps) != config:
        a, b = json.loads(config_to_json(saved)), json.loads(config_to_json(config))
        diff = [k for k in a if a[k] != b[k]]
        raise ValueError(f"{run_dir} holds a run with a different configuration (sections {diff}); "
                         f"use another --out or the same options")
