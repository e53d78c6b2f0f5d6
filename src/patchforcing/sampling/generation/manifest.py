"""The manifest of a folder of generated images: one JSON line per image (seed, label, file, NFE,
and the prompt for text-to-image models), sorted by seed. ``write_sample_folder`` (folder.py) writes
it; ``eval --folder`` scores exactly the files it lists, so the contact sheet and other files in the
folder are never mistaken for samples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from patchforcing.utils.distributed import DistEnv, gather_objects
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["MANIFEST", "ImageRecord", "merge_records", "read_manifest"]

MANIFEST = "samples.jsonl"


@dataclass(frozen=True)
class ImageRecord:
    """One written image; ``file`` is relative to the manifest's folder."""

    seed: int
    label: int  # -1 for an image of a text-to-image model
    file: str
    nfe: int
    prompt: str | None = None  # text-to-image models only


def merge_records(
    records: list[ImageRecord], env: DistEnv, path: str | Path
) -> list[ImageRecord] | None:
    """Gather every rank's records on rank 0, check that no seed appears twice, write them sorted by
    seed as JSON lines and return them; other ranks return None."""
    gathered = gather_objects(records, env)
    if gathered is None:
        return None
    merged = sorted((r for part in gathered for r in part), key=lambda r: r.seed)
    seeds = [r.seed for r in merged]
    if len(set(seeds)) != len(seeds):
        raise RuntimeError("two ranks generated the same seed; the seed ranges overlap")
    text = "".join(
        json.dumps({k: v for k, v in vars(r).items() if v is not None}) + "\n" for r in merged
    )
    atomic_write(Path(path), lambda tmp: tmp.write_text(text))
    return merged


def read_manifest(folder: str | Path) -> list[tuple[Path, int]] | None:
    """(file, class label) of every image a folder's manifest lists, in seed order (None when the
    folder has no manifest)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return None
    listed = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = ImageRecord(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"{path} line {number} is not an image record: {err}") from err
        file = (folder / record.file).resolve()
        if folder.resolve() not in file.parents:
            raise ValueError(f"{path} line {number} names a file outside {folder}: {record.file}")
        if not file.is_file():
            raise ValueError(f"{path} lists {record.file}, which does not exist")
        listed.append((file, record.label))
    return listed
