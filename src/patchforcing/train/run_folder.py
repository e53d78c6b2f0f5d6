"""The run folder (``--out``): one writer at a time, recognised by its content, resumed from its
newest intact checkpoint.

A run folder holds ``run_id`` (written when the run is created), ``config.json``, ``metrics.jsonl``,
``data.json`` (a fingerprint of the data, data_check.py), ``checkpoints/``, ``samples/`` and the
lock file ``.lock`` (the PID of the writer, which locks the folder itself). It is identified by
what it holds, never by how its path is spelled: ``runs/x``, ``runs/x/``, ``./runs/x``, its
absolute path or the folder moved elsewhere all resume the same run (the saved ``out_dir`` is not
compared). Until its first checkpoint exists a run may be restarted with other options.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from patchforcing.model.pretrained import CheckpointError, NewerFormatError, list_checkpoints
from patchforcing.train.checkpoint import load_train_state, read_config
from patchforcing.train.config import TrainConfig, config_to_dict
from patchforcing.train.data_check import DATA_FILE
from patchforcing.utils.io.atomic import atomic_write, clean_temporaries
from patchforcing.utils.io.lock import exclusive_folder

__all__ = [
    "RUN_ID",
    "RUN_FILES",
    "check_run_folder",
    "locked_run",
    "check_same_run",
    "run_id",
    "resume_point",
]

RUN_ID = "run_id"
RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints", "samples", RUN_ID, ".lock", DATA_FILE)


def _is_run_config(path: Path) -> bool:
    try:
        read_config(path)
    except CheckpointError:
        return False
    return True


def check_run_folder(run_dir: Path) -> None:
    """Refuse an ``--out`` that holds files of something else: training writes config.json and
    metrics.jsonl there, which would replace a user's files of those names."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise ValueError(f"the run folder {run_dir} exists and is not a folder")
    if (run_dir / RUN_ID).is_file():
        return
    config = run_dir / "config.json"
    foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_FILES)
    if config.is_file() and not _is_run_config(config):
        foreign.insert(0, "config.json (not a training config)")
    elif config.is_file():
        return  # a run written before run ids existed
    if foreign:
        raise ValueError(
            f"the run folder {run_dir} is not empty and holds no patchforcing run "
            f"({', '.join(foreign[:3])}); choose a new or empty folder for --out"
        )


@contextmanager
def locked_run(run_dir: Path, writer: bool = True) -> Iterator[None]:
    """The run folder for this process alone (``writer``; other ranks of a distributed run only
    read): a second ``train`` on the same folder stops at once with "run DIR is in use by PID N".
    Leftovers of interrupted writes are cleaned up once the lock is held."""
    if not writer:
        yield
        return
    with exclusive_folder(run_dir, "run"):
        for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples"):
            clean_temporaries(folder)
        yield


def check_same_run(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to resume a run with a different configuration (the step count may grow, the folder's
    path is not compared). A run without a checkpoint yet may be restarted with any options."""
    saved_path = run_dir / "config.json"
    if not list_checkpoints(run_dir) or not saved_path.exists():
        return
    saved = read_config(saved_path)
    if replace(saved, steps=config.steps, out_dir=config.out_dir) != config:
        a, b = config_to_dict(saved), config_to_dict(config)
        diff = [k for k in sorted(a | b) if a.get(k) != b.get(k) and k not in ("steps", "out_dir")]
        raise ValueError(
            f"{run_dir} holds a run with a different configuration (sections {diff}); "
            f"use another --out or the same options"
        )


def run_id(run_dir: Path) -> str:
    """The run's id, created with the run; it moves with the folder."""
    path = run_dir / RUN_ID
    if path.is_file():
        text = path.read_text().strip()
        if text:
            return text
    new = uuid.uuid4().hex
    atomic_write(path, lambda tmp: tmp.write_text(new + "\n"), what="run id")
    return new


def resume_point(
    run_dir: Path, model: nn.Module, ema: nn.Module
) -> tuple[Path | None, dict[str, Any] | None]:
    """Load the newest intact checkpoint into ``model`` and ``ema``; a damaged newer one is skipped
    with a note naming both. (None, None) for a run without checkpoints."""
    found = list_checkpoints(run_dir)
    damaged: list[str] = []
    for folder in reversed(found):
        try:
            state = load_train_state(folder, model, ema)
        except NewerFormatError:
            raise  # intact, only newer: falling back would overwrite it
        except CheckpointError as err:
            damaged.append(f"{folder.name} ({err})")
            continue
        if damaged:
            print(
                f"note: checkpoint(s) {'; '.join(damaged)} damaged; resuming from {folder} instead "
                "(the damaged ones are replaced as training passes their steps)",
                file=sys.stderr,
            )
        return folder, state
    if damaged:
        raise CheckpointError(f"no intact checkpoint in {run_dir}: {'; '.join(damaged)}")
    return None, None
