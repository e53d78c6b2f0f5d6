"""Resuming and replacing a sample folder without touching files the package did not write.

A sample folder records what it is made of before its first image (``sample.json``: the model's
weights fingerprint and every option that changes an image, the batch size included), and lists each
batch's images in a journal (``samples.partial.jsonl``, one per process) before writing them. So
an interrupted folder is still recognised as a sample folder, the same request run again writes only
the images still missing (image i depends only on seed i), and a replace (``overwrite``) deletes
exactly the image files the manifest or a journal names: anything else a user put into ``images/``
stays, and is named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from patchforcing.model import PatchModel
from patchforcing.sampling.generation.config import GenerationConfig
from patchforcing.sampling.generation.manifest import MANIFEST, ImageRecord
from patchforcing.utils.io.atomic import atomic_write, fsync_dir

__all__ = [
    "REQUEST",
    "JOURNAL_PATTERN",
    "DEFAULT_SAMPLE_FOLDER",
    "sample_request",
    "read_request",
    "write_request",
    "journal_name",
    "append_journal",
    "written_records",
    "remove_journals",
    "clear_images",
    "default_sample_folder",
]

REQUEST = "sample.json"  # what the folder is made of; written before the first image
JOURNAL_PATTERN = r"samples\.partial(?:_rank\d+)?\.jsonl"  # the images written so far, per process
DEFAULT_SAMPLE_FOLDER = "samples"  # `sample` without --out: this, or samples-2, samples-3, ...


def _jsonable(value: Any) -> Any:
    """Options as plain JSON, so that two requests compare by value: a tensor (a --matrix or an
    --inpaint image) by its shape and a hash of its bytes."""
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous()
        digest = hashlib.sha256(data.numpy().tobytes()).hexdigest()[:16]
        return {"tensor": list(data.shape), "sha256": digest}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _weights_fingerprint(model: PatchModel) -> str:
    """A short hash of every parameter's shape and sum (to 6 digits): another checkpoint (or the raw
    weights instead of the EMA) changes it, the device it was computed on does not."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for p in model.parameters():
            digest.update(f"{tuple(p.shape)}{float(p.double().sum()):.6g};".encode())
    return digest.hexdigest()[:16]


def sample_request(
    model: PatchModel, config: GenerationConfig, decoded: bool = False
) -> dict[str, Any]:
    """Everything the images of ``config`` depend on, the batch size included (another one gives the
    same images only to float rounding), not the progress bar."""
    options = {
        f.name: _jsonable(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in ("progress", "sampler")
    }
    sampler = config.resolved_sampler(model.config.time_mode)
    request = {
        "command": "sample",
        "weights": _weights_fingerprint(model),
        "sampler": _jsonable(sampler),
        "decoded": decoded,
        **options,
    }
    return json.loads(json.dumps(request))  # as read back from the folder


def read_request(folder: Path) -> dict[str, Any] | None:
    """The request recorded in a sample folder (None when it has none or it is unreadable)."""
    try:
        recorded = json.loads((folder / REQUEST).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def write_request(folder: Path, request: dict[str, Any]) -> None:
    text = json.dumps(request, indent=1) + "\n"
    atomic_write(folder / REQUEST, lambda tmp: tmp.write_text(text))


def journal_name(rank: int) -> str:
    return f"samples.partial{'' if rank == 0 else f'_rank{rank}'}.jsonl"


def append_journal(path: Path, records: list[ImageRecord]) -> None:
    """List ``records`` in the journal before their images are written (so an interrupted write is
    never an image nobody listed), flushed to disk."""
    lines = "".join(
        json.dumps({k: v for k, v in vars(r).items() if v is not None}) + "\n" for r in records
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())


def _listed(folder: Path) -> list[ImageRecord]:
    """Every image record of the manifest and the journals (a line cut short by an interruption,
    or one that is not a record, is skipped)."""
    records = []
    sources = [folder / MANIFEST, *sorted(folder.glob("samples.partial*.jsonl"))]
    for path in sources:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            try:
                records.append(ImageRecord(**json.loads(line)))
            except (ValueError, TypeError):
                continue
    return records


def _inside_images(folder: Path, file: str) -> Path | None:
    """``folder/file`` when it names a file directly inside ``folder/images`` (never elsewhere)."""
    path = folder / file
    return path if path.parent == folder / "images" and path.name not in ("", ".", "..") else None


def written_records(folder: Path) -> dict[int, ImageRecord]:
    """The images already in the folder, by seed: listed and present."""
    done = {}
    for record in _listed(folder):
        path = _inside_images(folder, record.file)
        if path is not None and path.is_file():
            done[record.seed] = record
    return done


def remove_journals(folder: Path) -> None:
    """Remove every journal once the manifest lists the images (called on rank 0 after the
    manifest's merge, by which every rank has written its images)."""
    for path in folder.glob("samples.partial*.jsonl"):
        if re.fullmatch(JOURNAL_PATTERN, path.name):
            path.unlink(missing_ok=True)


def clear_images(folder: Path) -> list[Path]:
    """Delete the image files the manifest or a journal names from ``folder/images`` (and the folder
    itself when nothing else is left in it); returns what was left there: files the package did not
    write."""
    images = folder / "images"
    if not images.is_dir() or images.is_symlink():
        return []
    for record in _listed(folder):
        path = _inside_images(folder, record.file)
        if path is not None and path.is_file() and not path.is_symlink():
            path.unlink()
    kept = sorted(images.iterdir())
    if not kept:
        images.rmdir()
    fsync_dir(folder)
    return kept


def default_sample_folder(request: dict[str, Any], base: str = DEFAULT_SAMPLE_FOLDER) -> Path:
    """Where ``sample`` writes without --out: ``base``, or ``base-2``, ``base-3``, ... the first
    that is missing, empty, or an earlier folder of this very request (which is then resumed), so
    that commands run one after another never stop on each other's output."""
    for number in range(1, 10_000):
        folder = Path(base if number == 1 else f"{base}-{number}")
        if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
            return folder
        if folder.is_dir() and read_request(folder) == request:
            return folder
    raise ValueError(f"{base}-2 ... {base}-9999 are all taken; give --out")
