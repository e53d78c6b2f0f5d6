"""Model folders on the Hugging Face hub (the ``[hub]`` extra): the folder layout is already a hub
model repository, so pushing uploads it and pulling is a snapshot download into the hub's own cache,
as Hugging Face libraries do it. Nothing here is called unless a hub id is given. Pulling reads only
the local cache when asked to (``local_files_only``) or when the hub's offline setting
(``HF_HUB_OFFLINE=1``) is on, read at call time so that setting it late still counts."""

from __future__ import annotations

import os
from pathlib import Path

from patchforcing._version import __version__
from patchforcing.model.pretrained.card import CARD_IMAGE
from patchforcing.model.pretrained.errors import CheckpointError

__all__ = ["HUB_FILES", "hub_offline", "hub_snapshot", "push_to_hub"]

HUB_FILES = (
    "config.json",
    "model.safetensors",
    "README.md",
    "text_encoder.json",
    CARD_IMAGE,
)  # what is shared


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise CheckpointError(
            "hub ids need huggingface_hub: pip install 'patchforcing[hub]'"
        ) from None
    return huggingface_hub


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for the local hub cache only (the hub's own spellings)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_snapshot(repo_id: str, local_files_only: bool = False) -> Path:
    """Local folder of the hub model repository ``repo_id``: downloaded into the hub cache (or found
    there up to date), or only looked up in the cache when ``local_files_only`` or offline."""
    hub = _hub()
    cache_only = local_files_only or hub_offline()
    try:
        folder = hub.snapshot_download(
            repo_id,
            local_files_only=cache_only,
            allow_patterns=list(HUB_FILES),
            library_name="patchforcing",
            library_version=__version__,
        )
    except Exception as err:  # the hub client raises several types (not cached, offline, not found)
        hint = (
            " (only the local hub cache is read: HF_HUB_OFFLINE or local_files_only is set)"
            if cache_only
            else ""
        )
        raise CheckpointError(
            f"cannot get hub model {repo_id}: {type(err).__name__}: {err}{hint}"
        ) from err
    return Path(str(folder))


def push_to_hub(folder: str | Path, repo_id: str, private: bool = True) -> str:
    """Upload a model folder as the hub repository ``repo_id``; returns the commit URL."""
    hub = _hub()
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder} is not a model folder (no config.json)")
    api = hub.HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, allow_patterns=list(HUB_FILES)
    )
    return str(info)
