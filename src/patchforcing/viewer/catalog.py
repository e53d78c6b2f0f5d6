"""The checkpoints a viewer offers: the shipped models and the folders named on its command line,
each loaded once when the viewer starts (a text-to-image model with its text encoder). A page picks
one by its name; no path from a request is ever opened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from patchforcing.model import AnyModel, PatchForcingT2I, PatchModel, load_model
from patchforcing.model.pretrained import recommended_sampling
from patchforcing.model.shipped import SHIPPED
from patchforcing.sampling import SAMPLERS
from patchforcing.sampling.registry import default_sampler

__all__ = ["Checkpoint", "load_catalog", "describe_checkpoint"]


@dataclass(frozen=True)
class Checkpoint:
    """A loaded model and the samplers that run on it, under the name the viewer was given."""

    name: str  # a shipped name or a folder, exactly as given on the command line
    model: AnyModel
    samplers: tuple[str, ...]
    class_names: tuple[str, ...]  # one per class label (none for a text-to-image model)

    @property
    def takes_prompts(self) -> bool:
        """A text-to-image model: a run gives it a prompt instead of a class."""
        return isinstance(self.model, PatchForcingT2I)


def _class_names(names: tuple[str, ...], num_classes: int) -> tuple[str, ...]:
    """The model folder's class names, or ``class i`` where it names none."""
    return names if len(names) == num_classes else tuple(f"class {i}" for i in range(num_classes))


def _suitable_samplers(model: PatchModel) -> tuple[str, ...]:
    names = []
    for name, cls in SAMPLERS.items():
        try:
            cls().check_model(model)
        except ValueError:
            continue
        names.append(name)
    return tuple(names)


def load_catalog(names: Sequence[str], device: torch.device | str = "cpu") -> dict[str, Checkpoint]:
    """Load every named checkpoint (shipped name, model folder or run folder); a model that is not a
    pixel-space image generator is refused with a clear error."""
    catalog: dict[str, Checkpoint] = {}
    for name in dict.fromkeys(names):
        model = load_model(name, device=device)
        if model.meta is None:
            raise ValueError(f"{name}: the model folder has no config.json")
        data = model.meta.data
        if data.space != "pixels" or data.channels not in (1, 3):
            raise ValueError(
                f"{name}: the viewer shows pixel models with 1 or 3 channels; this one has "
                f"{data.channels} channels in {data.space} space"
            )
        if isinstance(model, PatchForcingT2I):
            model.text_encoder()  # a missing encoder stops the viewer here, not at the first run
            class_names: tuple[str, ...] = ()
        else:
            class_names = _class_names(data.class_names, model.config.num_classes)
        catalog[name] = Checkpoint(
            name=name, model=model, samplers=_suitable_samplers(model), class_names=class_names
        )
    return catalog


def describe_checkpoint(checkpoint: Checkpoint) -> dict[str, Any]:
    """What the page needs to know about a checkpoint (JSON), with the sampling settings its
    model folder recommends (the page starts from them; None where it records none)."""
    c, recommended = checkpoint.model.config, recommended_sampling(checkpoint.model)
    return {
        "name": checkpoint.name,
        "description": SHIPPED.get(checkpoint.name, "model folder"),
        "time_mode": c.time_mode,
        "difficulty_head": c.difficulty_head,
        "image_size": c.image_size,
        "channels": c.in_channels,
        "patch_size": c.patch_size,
        "grid": c.grid_size,
        "class_names": list(checkpoint.class_names),
        "prompt": checkpoint.takes_prompts,
        "samplers": list(checkpoint.samplers),
        "default_sampler": default_sampler(c.time_mode).name,
        "recommended": None if recommended is None else recommended.to_dict(),
    }
