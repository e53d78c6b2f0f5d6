"""Finding a pretrained text encoder's folder on this machine from what a model folder records.

A model records its encoder by name, fingerprint (:mod:`patchforcing.model.text.fingerprint`),
the hub id and revision when the folder came from the Hugging Face hub cache, and the absolute path
it was read from. An explicit folder (``--text-encoder DIR``, ``model.relocate_text_encoder(DIR)``)
is used as given, after checking its fingerprint. Otherwise the first folder holding the recorded
fingerprint among these is used: the recorded path, a folder of the recorded name beside the model
folder, one inside it, and the hub id's snapshots in the hub cache (``huggingface_hub``, the
``[hub]`` extra, local files only). A folder holding the same tensors in another dtype is used, with
a warning, only when no place holds the exact fingerprint; any other mismatch is refused. Model
folders written before fingerprints record only the path: that path is used as before, and where it
is gone the first folder of its name found in the other places, with a warning.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchforcing.model.text.fingerprint import Comparison, Fingerprint, fingerprint_folder

__all__ = ["EncoderRecord", "locate_encoder"]

_HOW_TO_POINT = (
    "put the folder beside the model folder, or pass --text-encoder DIR (sample, eval) or call "
    "model.relocate_text_encoder(DIR)"
)


def _origin(folder: Path) -> tuple[str, str | None, str | None]:
    """(name, hub id, revision) of an encoder folder. A snapshot of the hub cache
    (``models--owner--name/snapshots/REV``) is named after its repository, ``name``; another folder
    by its own name, with the hub id its config.json names (``_name_or_path`` as ``owner/name``)
    and no revision."""
    repo, snapshots = folder.parent.parent.name, folder.parent.name
    if snapshots == "snapshots" and repo.startswith("models--"):  # hub ids never hold "--"
        hub_id = repo.removeprefix("models--").replace("--", "/")
        return hub_id.split("/")[-1], hub_id, folder.name
    try:
        named = json.loads((folder / "config.json").read_text()).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        return folder.name, None, None
    parts = named.split("/") if isinstance(named, str) else []
    if len(parts) == 2 and all(parts) and not named.startswith((".", "~")):
        return folder.name, named, None
    return folder.name, None, None


@dataclass(frozen=True)
class EncoderRecord:
    """What a model folder records of where its pretrained encoder came from; ``fingerprint`` is
    None for model folders written before fingerprints."""

    name: str
    path: str | None
    hub_id: str | None
    revision: str | None
    fingerprint: Fingerprint | None

    @classmethod
    def of_folder(cls, folder: Path) -> EncoderRecord:
        name, hub_id, revision = _origin(folder)
        return cls(name, str(folder), hub_id, revision, fingerprint_folder(folder))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncoderRecord:
        path, name, stored = data.get("path"), data.get("name"), data.get("fingerprint")
        if isinstance(name, str):
            hub_id, revision = data.get("hub_id"), data.get("revision")
            return cls(
                name,
                path if isinstance(path, str) else None,
                hub_id if isinstance(hub_id, str) else None,
                revision if isinstance(revision, str) else None,
                None if stored is None else Fingerprint.from_json(stored),
            )
        if not isinstance(path, str):
            raise ValueError(f"not a pretrained text encoder description: {str(data)[:80]!r}")
        name, hub_id, revision = _origin(Path(path))  # written before names: what the path says
        return cls(name, path, hub_id, revision, None)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hub_id": self.hub_id,
            "revision": self.revision,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.to_json(),
            "path": self.path,
        }

    def describe(self) -> str:
        what = self.fingerprint.describe() if self.fingerprint else "no fingerprint recorded"
        return f"text encoder {self.name!r} ({what})"


def _hub_snapshots(hub_id: str, revision: str | None) -> tuple[list[Path], str]:
    """The cached snapshots of ``hub_id`` (the recorded revision, then the default branch), and
    what to say when there is none."""
    try:
        import huggingface_hub
    except ImportError:
        return [], "not searched: it needs huggingface_hub, pip install 'patchforcing[hub]'"
    found: list[Path] = []
    for rev in dict.fromkeys([revision, None]):
        try:
            folder = huggingface_hub.snapshot_download(hub_id, revision=rev, local_files_only=True)
        except Exception:  # the hub client raises several types for "not in the cache"
            continue
        found.append(Path(folder))
    return found, f"no snapshot of {hub_id}"


def _candidates(
    record: EncoderRecord, model_folder: str | Path | None
) -> tuple[list[tuple[str, Path]], list[str]]:
    """The places to look, in order, as (label, folder), and notes on places not looked at."""
    places: list[tuple[str, Path]] = []
    if record.path:
        places.append(("recorded path", Path(record.path)))
    if model_folder is not None:
        model_folder = Path(model_folder).resolve()
        places.append(("beside the model folder", model_folder.parent / record.name))
        places.append(("inside the model folder", model_folder / record.name))
    if record.hub_id is None:
        return places, ["hub cache: not searched (no hub id recorded)"]
    snapshots, note = _hub_snapshots(record.hub_id, record.revision)
    places += [("hub cache", folder) for folder in snapshots]
    return places, [] if snapshots else [f"hub cache: {note}"]


def _compare(record: EncoderRecord, folder: Path) -> Comparison:
    """How ``folder`` relates to the recorded encoder (any folder with a config.json is the same
    when no fingerprint is recorded)."""
    if not (folder / "config.json").is_file():
        return Comparison(False, False, "no config.json" if folder.exists() else "missing")
    if record.fingerprint is None:
        return Comparison(True, False, "")
    try:
        return record.fingerprint.compare(fingerprint_folder(folder))
    except ValueError as err:
        return Comparison(False, False, str(err))


def _use_cast(record: EncoderRecord, folder: Path, comparison: Comparison) -> Path:
    warnings.warn(
        f"{folder} holds {record.describe()} with {comparison.detail}; using it (its features "
        "agree with the recorded encoder's up to rounding if it is a cast copy)",
        stacklevel=4,
    )
    return folder


def locate_encoder(
    record: EncoderRecord,
    model_folder: str | Path | None = None,
    encoder_folder: str | Path | None = None,
) -> Path:
    """The folder of the recorded encoder: ``encoder_folder`` when given, else the first place
    holding it (see the module docstring); one-line errors otherwise."""
    if encoder_folder is not None:
        folder = Path(encoder_folder).expanduser().resolve()
        if not (folder / "config.json").is_file():
            return folder  # the encoder's constructor says what a folder must hold
        comparison = _compare(record, folder)
        if comparison.dtype_only:
            return _use_cast(record, folder, comparison)
        if not comparison.same:
            raise ValueError(
                f"{folder} does not hold the {record.describe()} this model was trained with "
                f"(found: {comparison.detail})"
            )
        return folder
    places, notes = _candidates(record, model_folder)
    looked: list[str] = []
    cast: tuple[Path, Comparison] | None = None
    for label, folder in places:
        comparison = _compare(record, folder)
        if comparison.same:
            if record.fingerprint is None and label != "recorded path":
                warnings.warn(
                    f"the model folder records no fingerprint of its text encoder (written by an "
                    f"older version); using {folder} ({label}), checked by its feature size only",
                    stacklevel=3,
                )
            return folder
        if comparison.dtype_only and cast is None:
            cast = (folder, comparison)
        looked.append(f"{folder} ({label}): {comparison.detail}")
    if cast is not None:
        return _use_cast(record, *cast)
    raise FileNotFoundError(
        f"{record.describe()} not found; looked at " + "; ".join(looked + notes) + f". To use it, "
        f"{_HOW_TO_POINT}"
    )
