"""What the model cards of the shipped models and of ``scripts/gpu_train_shipped.sh`` share: the
metrics of an evaluation as a row of the card's table, the rule that picks the recommended
settings from a grid, and the sample grid of a card.

Imported by ``scripts/gpu_train_shipped.py`` and ``scripts/record_shipped.py`` (run as
``python scripts/NAME.py``, which puts this folder on the import path).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from patchforcing.model import AnyModel, PatchForcingT2I
from patchforcing.sampling.generation import recommended_config, write_sample_folder
from patchforcing.utils.distributed import DistEnv

__all__ = ["CARD_PROMPTS", "best_row", "metrics_of", "card_row", "write_sample_grid"]

CARD_PROMPTS = (
    *("red heart", "a cat face", "grinning face", "a flag", "food"),
    *("a dog face", "sun", "a car", "smiling face with sunglasses", "an animal"),
)  # the text models' sample grid: everyday names, category keywords, Unicode names


def metrics_of(record: dict[str, Any]) -> dict[str, float | None]:
    """The card's metrics of one evaluation, as ``patchforcing eval`` writes it (``EvalResult.
    to_dict`` with ``feature_names``): FD in every feature space, precision and recall of the
    primary one, and the prompt alignment of a text model."""
    names, spaces = record["feature_names"], record["feature_spaces"]
    keys = [record["features"], *(k for k in spaces if k != record["features"])]  # primary first
    metrics: dict[str, float | None] = {f"FD ({names[k]})": spaces[k]["fd"] for k in keys}
    metrics |= {"precision": record["metrics"]["precision"], "recall": record["metrics"]["recall"]}
    a = record.get("alignment")
    if a:
        metrics |= {"alignment score": a["clip_score"], "top-1": a["retrieval_top1"]}
        metrics |= {"top-5": a["retrieval_top5"], "category accuracy": a["category_accuracy"]}
    return metrics


def card_row(
    record: dict[str, Any], sampler: str, scale: float, command: str = "", label: str = ""
) -> dict[str, Any]:
    """One evaluation as a row of the card's table (``quality["evaluations"]``)."""
    settings = f"{sampler}, NFE {record['nfe']}, CFG {scale:g}"
    values = {
        "settings": f"{label}: {settings}" if label else settings,
        "sampler": sampler,
        "nfe": record["nfe"],
        "guidance_scale": scale,
        "images": record["num_images"],
        "metrics": metrics_of(record),
    }
    return values | ({"command": command} if command else {})


def best_row(rows: list[dict[str, Any]], text: bool) -> dict[str, Any]:
    """The recommended settings of a grid: the highest prompt-alignment score for a text model,
    else the lowest FD in the primary (first) feature space."""
    if text:
        return max(rows, key=lambda r: r["metrics"]["alignment score"])
    primary = next(k for k in rows[0]["metrics"] if k.startswith("FD"))
    return min(rows, key=lambda r: r["metrics"][primary])


def write_sample_grid(model: AnyModel, out: Path, checkpoint: str, device: torch.device) -> str:
    """Write ``samples.png`` into the model's folder: the grid ``patchforcing sample`` writes with
    the model's recommended settings (20 images: classes 0-9, or :data:`CARD_PROMPTS`, twice);
    returns that command."""
    text = isinstance(model, PatchForcingT2I)
    fields: dict[str, Any] = {"num_images": 20}
    fields |= {"prompts": CARD_PROMPTS} if text else {"classes": tuple(range(10))}
    env = DistEnv(device=device)
    config = recommended_config(model, **fields)
    folder = write_sample_folder(model, config, out, env=env, overwrite=True)
    assert folder.grid is not None and model.source is not None
    shutil.copyfile(folder.grid, Path(model.source) / "samples.png")
    given = " ".join(f'--prompt "{p}"' for p in CARD_PROMPTS) if text else "--classes 0-9"
    return f"patchforcing sample --checkpoint {checkpoint} --num 20 {given}"
