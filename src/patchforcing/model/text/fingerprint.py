"""What identifies a pretrained text encoder's folder wherever it lies: its model type, a digest of
its weight files and a digest of its tensors' names and shapes.

Reading every byte of a multi-gigabyte encoder at every load would cost seconds, so the weight
digest is a sha256 over each weight file's name and size and 16 blocks of 64 KiB spread evenly over
it (a file of up to 1 MiB is read whole): about 1 MiB per file, whatever the model's size. Other
weights (another model, another training or seed, another dtype) differ in every block and so in
the digest; an edit confined to the bytes between the blocks would not show. The tensor digest
(names and shapes from the safetensors headers, without dtypes) tells a copy of the same tensors
saved in another dtype from another model. The weight files are the folder's ``*.safetensors`` (what
transformers reads first), else its ``*.bin``. The tokenizer files are not part of the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

__all__ = ["Fingerprint", "Comparison", "fingerprint_folder"]

_BLOCKS, _BLOCK = 16, 64 * 1024
_VERSION = 1  # of the digests' recipe, recorded so another recipe is never compared with this one


@dataclass(frozen=True)
class Comparison:
    """How a found folder's fingerprint relates to the recorded one: the same, the same tensors in
    another dtype (``dtype_only``), or another model (``detail`` says what differs)."""

    same: bool
    dtype_only: bool
    detail: str


@dataclass(frozen=True)
class Fingerprint:
    """model_type from config.json; ``weights``: the sampled sha256 of the weight files;
    ``tensors``: sha256 of the tensor names and shapes (None for ``.bin`` weights); their dtypes
    (safetensors names, e.g. ``F32``) and total size in bytes."""

    model_type: str
    weights: str
    tensors: str | None
    dtypes: tuple[str, ...]
    size: int

    def describe(self) -> str:
        return f"{self.model_type}, weights sha256 {self.weights[:12]}, {self.size:,} bytes"

    def compare(self, found: Fingerprint) -> Comparison:
        if found.model_type != self.model_type:
            return Comparison(False, False, f"a {found.model_type} model, not {self.model_type}")
        if found.weights == self.weights:
            return Comparison(True, False, "")
        if self.tensors is not None and found.tensors == self.tensors:
            if found.dtypes != self.dtypes:
                return Comparison(
                    False,
                    True,
                    f"the same tensors stored as {'/'.join(found.dtypes)}, recorded as "
                    f"{'/'.join(self.dtypes)}; their values cannot be compared",
                )
            return Comparison(
                False,
                False,
                "other weights of the same tensors (another training or seed, or the same weights "
                "saved in other files)",
            )
        return Comparison(False, False, "other tensors (another model or size)")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "model_type": self.model_type,
            "weights": self.weights,
            "tensors": self.tensors,
            "dtypes": list(self.dtypes),
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: Any) -> Fingerprint:
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise ValueError(
                f"unknown text encoder fingerprint {str(data)[:80]!r} (this version reads "
                f"version {_VERSION})"
            )
        try:
            return cls(
                str(data["model_type"]),
                str(data["weights"]),
                None if data["tensors"] is None else str(data["tensors"]),
                tuple(str(d) for d in data["dtypes"]),
                int(data["size"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"damaged text encoder fingerprint {str(data)[:80]!r}") from err


def _weight_files(folder: Path) -> list[Path]:
    for suffix in (".safetensors", ".bin"):
        files = sorted(p for p in folder.iterdir() if p.suffix == suffix and p.is_file())
        if files:
            return files
    return []


def _sample(path: Path, digest: Any) -> None:
    """Name, size and the 16 evenly spread 64 KiB blocks of ``path`` (all of a small file)."""
    size = path.stat().st_size
    digest.update(f"{path.name}\0{size}\0".encode())
    with path.open("rb") as f:
        if size <= _BLOCKS * _BLOCK:
            digest.update(f.read())
            return
        for k in range(_BLOCKS):
            f.seek((size - _BLOCK) * k // (_BLOCKS - 1))
            digest.update(f.read(_BLOCK))


def _tensors(files: list[Path]) -> tuple[str | None, tuple[str, ...]]:
    """sha256 of the sorted (name, shape) of every tensor, and the dtypes; (None, ()) for .bin."""
    if files[0].suffix != ".safetensors":
        return None, ()
    shapes: dict[str, list[int]] = {}
    dtypes: set[str] = set()
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as f:
                for name in f.keys():
                    tensor = f.get_slice(name)
                    shapes[name] = list(tensor.get_shape())
                    dtypes.add(str(tensor.get_dtype()))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"cannot read the weights {path}: {err}") from err
    text = json.dumps(sorted(shapes.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), tuple(sorted(dtypes))


def fingerprint_folder(folder: str | Path) -> Fingerprint:
    """The fingerprint of the Hugging Face model saved in ``folder``; a ValueError when it holds no
    readable config.json or no weight files."""
    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {folder / 'config.json'}: {err}") from err
    files = _weight_files(folder)
    if not files:
        raise ValueError(f"{folder} holds no weight files (*.safetensors or *.bin)")
    digest = hashlib.sha256()
    for path in files:
        _sample(path, digest)
    tensors, dtypes = _tensors(files)
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return Fingerprint(
        str(model_type or "unknown"),
        digest.hexdigest(),
        tensors,
        dtypes,
        sum(p.stat().st_size for p in files),
    )
