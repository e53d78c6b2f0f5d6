"""Load any generator folder by the ``model_type`` in its config.json."""

from __future__ import annotations

from pathlib import Path

import torch

from patchforcing.model.dit import PatchForcingDiT
from patchforcing.model.kinds import AnyModel
from patchforcing.model.pretrained import CheckpointError, read_meta, resolve_model_folder
from patchforcing.model.text_dit import PatchForcingT2I

__all__ = ["GENERATORS", "load_model"]

GENERATORS: dict[str, type[AnyModel]] = {
    cls.model_type: cls for cls in (PatchForcingDiT, PatchForcingT2I)
}


def load_model(
    name: str | Path,
    ema: bool = True,
    device: torch.device | str = "cpu",
    local_files_only: bool = False,
    torch_dtype: torch.dtype | str | None = None,
) -> AnyModel:
    """A class-conditional or text-to-image model from a folder, run, shipped name or hub id, in
    eval mode on ``device``; the arguments are those of ``from_pretrained`` (see
    :meth:`~patchforcing.model.pretrained.PretrainedMixin.from_pretrained`).

    Example::

        model = load_model("emoji-t2i")  # a PatchForcingT2I; "fmnist-pf" gives a PatchForcingDiT
    """
    folder = resolve_model_folder(name, local_files_only)
    model_type = read_meta(folder).model_type
    if model_type not in GENERATORS:
        raise CheckpointError(
            f"{folder} holds a {model_type!r} model, not an image generator "
            f"({', '.join(sorted(GENERATORS))})"
        )
    return GENERATORS[model_type].from_pretrained(
        folder, ema=ema, device=device, torch_dtype=torch_dtype
    )
