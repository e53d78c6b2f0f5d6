"""What a converted checkpoint is, as the converter can tell from the file, recorded in the model
folder's config.json (``training``) and model card instead of one label for every file.

The output layer tells the kinds apart (:mod:`patchforcing.model.convert.authors`): C + 1 channels
per pixel is Patch Forcing's difficulty head, the authors' release; C is a plain DiT/SiT velocity
model, 2C one with ``learn_sigma``. The weights do not tell DiT from SiT, nor what a plain model was
trained to predict, so plain checkpoints say so, and claim none of the authors' recipe (data,
precision). Which entry of the file held the weights (``ema``, ``state_dict``, ``model``, or a bare
state dict) is recorded as found: only an ``ema`` entry says the weights are the EMA ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from patchforcing.model import ModelConfig
from patchforcing.model.convert.authors import AuthorsFile

__all__ = ["CheckpointSource", "detect_source"]

Head = Literal["patch-forcing", "velocity", "learn-sigma"]

_LABELS: dict[Head, str] = {
    "patch-forcing": "the authors' Patch Forcing release",
    "velocity": "a plain DiT/SiT checkpoint (velocity output, no difficulty head)",
    "learn-sigma": "a plain DiT/SiT checkpoint with learn_sigma (the sigma channels dropped)",
}
_PLAIN_NOTE = (
    "converted as a global-time model; the weights tell neither DiT from SiT nor what the model "
    "was trained to predict: it samples correctly only as a rectified-flow velocity model on this "
    "package's time convention (t = 0 noise), such as SiT with its linear path and velocity "
    "target; facebookresearch/DiT's DDPM checkpoints convert but are not flow models"
)


@dataclass(frozen=True)
class CheckpointSource:
    """The kind of output layer a converted file has, the entry its weights came from (None: a
    bare state dict) and its per-pixel output channels."""

    head: Head
    entry: str | None
    outputs: int
    channels: int

    @property
    def label(self) -> str:
        return _LABELS[self.head]

    def output(self) -> str:
        c = self.channels
        parts = {
            "patch-forcing": f"{c} velocity channels and 1 log-variance channel",
            "velocity": f"{c} velocity channels",
            "learn-sigma": f"{c} velocity and {c} sigma channels",
        }
        return f"{self.outputs} per pixel: {parts[self.head]}"

    def training(self, file_name: str) -> dict[str, Any]:
        """The ``training`` record of the converted folder."""
        weights = (
            "ema"
            if self.entry == "ema"
            else f"the file's {self.entry!r} entry (EMA or not: the file does not say)"
            if self.entry
            else "a bare state dict (EMA or not: the file does not say)"
        )
        values: dict[str, Any] = {
            "source": self.label,
            "converted_from": file_name,
            "output": self.output(),
            "weights": weights,
        }
        if self.head == "patch-forcing":  # the authors' recipe (SPEC.md section 3)
            return {**values, "data": "ImageNet 256 SD-VAE latents", "precision": "bf16"}
        return {**values, "note": _PLAIN_NOTE}


def detect_source(file: AuthorsFile, config: ModelConfig) -> CheckpointSource:
    """What ``file`` is, given the config :func:`authors_model_config` inferred from it."""
    rows = file.state["final_layer.linear.weight"].shape[0]
    outputs = rows // (config.patch_size * config.patch_size)
    head: Head = (
        "patch-forcing"
        if config.difficulty_head
        else "learn-sigma"
        if outputs == 2 * config.in_channels
        else "velocity"
    )
    return CheckpointSource(head, file.entry, outputs, config.in_channels)
