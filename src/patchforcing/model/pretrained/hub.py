"""Model folders on the Hugging Face hub (the ``[hub]`` extra): the folder layout is already a hub
model repository, so pushing uploads it and pulling reads a snapshot. Nothing here is called unless
a hub id is given; pulling uses the local hub cache only unless downloads are allowed."""

from __future__ import annotations

from pathlib import Path

from patchforcing.model.pretrained.errors import CheckpointError

__all__ = ["hub_snapshot", "push_to_hub"]


def _hub():
    try:
        import huggingface_hub
    except ImportError:
        raise CheckpointError(
            "hub ids need huggingface_hub: pip install 'patchforcing[hub]'"
        ) from None
    return huggingface_hub


def hub_snapshot(repo_id: str, download: bool = False) -> Path:
    """Local folder of a hub model repository (from the cache; fetched only when ``download``)."""
    hub = _hub()
    try:
        return Path(hub.snapshot_download(repo_id, local_files_only=not download))
    except Exception as err:  # the hub client raises several types (not cached, offline, not found)
        hint = (
            "" if download else " (only the local hub cache is read; allow downloads to fetch it)"
        )
        raise CheckpointError(
            f"cannot get hub model {repo_id}: {type(err).__name__}: {err}{hint}"
        ) from err


def push_to_hub(folder: str | Path, repo_id: str, private: bool = True) -> str:
    """Upload a model folder as the hub repository ``repo_id``; returns the commit URL."""
    hub = _hub()
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder} is not a model folder (no config.json)")
    api = hub.HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        allow_patterns=["config.json", "model.safetensors", "README.md", "text_encoder.json"],
    )
    return str(info)
