"""Finding model folders and reading / writing their weights.

A name passed to ``from_pretrained`` (or ``--checkpoint``) is, in this order: an existing path (a
model folder, a checkpoint folder, or a training run, meaning its newest checkpoint), a shipped name
(``fmnist-pf``), or a Hugging Face hub id (``org/name``: downloaded into the hub cache as Hugging
Face libraries do, or read from that cache alone with ``local_files_only`` or ``HF_HUB_OFFLINE=1``;
needs the ``[hub]`` extra).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from patchforcing.model.pretrained.errors import CheckpointError, NewerFormatError
from patchforcing.model.pretrained.meta import MODEL_FORMAT_VERSION
from patchforcing.model.shipped import is_shipped, shipped_path
from patchforcing.utils.io.atomic import as_umask_allows, aside_path

__all__ = [
    "CHECKPOINT_PATTERN",
    "checkpoint_name",
    "list_checkpoints",
    "latest_checkpoint",
    "resolve_model_folder",
    "weights_file",
    "read_weights",
    "write_weights",
    "load_state_dict_checked",
    "check_format_version",
]

CHECKPOINT_PATTERN = re.compile(r"step_\d{8}")  # exactly the names the training loop writes
_CHECKPOINT_FILES = ("config.json", "model.safetensors", "ema.safetensors", "train_state.pt")


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


def _recorded_step(folder: Path) -> int | None:
    """The step a checkpoint's weights were saved at (their safetensors metadata); None when it was
    not recorded or cannot be read (the load then says what is wrong)."""
    try:
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            step = (f.metadata() or {}).get("step")
    except (OSError, SafetensorError):
        return None
    return int(step) if step is not None and step.isdigit() else None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders of a run (named ``step_XXXXXXXX``, all files present, and the
    step stored in the weights the one of the name: a copy of an older checkpoint under a newer name
    is not one), oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir()
        and CHECKPOINT_PATTERN.fullmatch(p.name)
        and all((p / name).is_file() for name in _CHECKPOINT_FILES)
        and _recorded_step(p) in (None, int(p.name.removeprefix("step_")))
    )


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None before the first."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _hub_folder(name: str, local_files_only: bool) -> Path:
    from patchforcing.model.pretrained.hub import hub_snapshot

    return hub_snapshot(name, local_files_only)


def resolve_model_folder(name: str | Path, local_files_only: bool = False) -> Path:
    """The folder holding ``config.json`` and weights that ``name`` refers to
    (see the module doc)."""
    path = Path(name)
    if not path.exists() and is_shipped(str(name)):
        path = shipped_path(str(name))
    elif (
        not path.exists()
        and re.fullmatch(r"[\w.-]+/[\w.-]+", str(name))
        and not str(name).startswith(".")
    ):
        path = _hub_folder(str(name), local_files_only)
    if not path.exists() and aside_path(path).is_dir():
        raise CheckpointError(
            f"checkpoint {name} is missing: a replace of it was interrupted and its previous "
            f"version waits in {aside_path(path)}; the next export or convert "
            f"to {name} puts it back"
        )
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {name} does not exist (not a folder, a shipped name or a hub id)"
        )
    if path.is_file():
        raise CheckpointError(
            f"{path} is a file: pass the folder holding config.json and the .safetensors weights "
            "(convert an authors' .pt file first with `patchforcing convert FILE FOLDER`)"
        )
    if (path / "checkpoints").is_dir() and not (path / "model.safetensors").is_file():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"run folder {path} holds no complete checkpoint yet")
        return latest
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} holds neither config.json nor checkpoints/step_*")
    return path


def weights_file(folder: Path, ema: bool = True) -> Path:
    """``ema.safetensors`` (when ``ema`` and present) or ``model.safetensors`` of a folder."""
    names = ["ema.safetensors", "model.safetensors"] if ema else ["model.safetensors"]
    found = next((folder / n for n in names if (folder / n).is_file()), None)
    if found is None:
        raise CheckpointError(f"{folder} has no weights file ({' or '.join(names)})")
    return found


def check_format_version(version: object, path: Path, newest: int = MODEL_FORMAT_VERSION) -> None:
    """Refuse a file whose ``format_version`` is invalid or newer than ``newest``
    (this version's)."""
    try:
        number = int(str(version))
    except ValueError:
        raise CheckpointError(f"{path} has an invalid format_version {version!r}") from None
    if number > newest:
        raise NewerFormatError(
            f"{path} has checkpoint format version {number}, newer than this patchforcing "
            f"supports ({newest}); upgrade patchforcing"
        )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file, refusing files of a newer format version and weights that are not finite
    (a damaged file, or a diverged run: such weights sample to black images)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        check_format_version(meta.get("format_version", MODEL_FORMAT_VERSION), path)
        state = load_file(str(path))
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"cannot read weights {path}: {err}") from err
    bad = {k: int((~torch.isfinite(v)).sum()) for k, v in state.items() if v.is_floating_point()}
    bad = {k: n for k, n in bad.items() if n}
    if bad:
        first = next(iter(bad))
        raise CheckpointError(
            f"weights {path} hold {sum(bad.values()):,} non-finite values (NaN or inf) in "
            f"{len(bad)} tensor(s), e.g. {first!r}; the file is damaged or the run diverged"
        )
    return state


def write_weights(
    weights: nn.Module | dict[str, torch.Tensor], path: Path, **metadata: str
) -> None:
    """Save a module's (or a state dict's) tensors as safetensors on the CPU."""
    state = weights if isinstance(weights, dict) else weights.state_dict()
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(
        tensors, str(path), metadata={"format_version": str(MODEL_FORMAT_VERSION), **metadata}
    )
    as_umask_allows(
        path
    )  # safetensors creates private files; weights are as readable as any output


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights, naming the first missing, unexpected or mis-shaped tensor on mismatch."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise CheckpointError(
                f"{source}: missing tensor {name!r} (shape {tuple(tensor.shape)})"
            )
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, "
                f"the model expects {tuple(tensor.shape)}"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(
            f"{source}: unexpected tensor {extra[0]!r} (the model has no such parameter)"
        )
    model.load_state_dict(state)
