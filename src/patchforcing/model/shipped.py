"""Models shipped inside the package, addressed by name (e.g.
``PatchForcingDiT.from_pretrained("fmnist-pf")``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = [
    "SHIPPED",
    "TEXT_TO_IMAGE",
    "SHIPPED_CLASSIFIERS",
    "SHIPPED_ALIGNMENT",
    "is_shipped",
    "shipped_path",
]

SHIPPED = {
    "fmnist-pf": "Patch Forcing (LTG) on Fashion-MNIST",
    "fmnist-global": "global-time baseline on Fashion-MNIST",
    "emoji-t2i": (
        "text-to-image Patch Forcing on the emoji set (32x32 RGB, built-in word tokenizer)"
    ),
}
TEXT_TO_IMAGE = ("emoji-t2i",)  # the shipped generators that take prompts instead of class labels
SHIPPED_CLASSIFIERS = {
    "fmnist-classifier": "Fashion-MNIST classifier whose features the quality metrics use",
    "fmnist-resnet-aug": "second feature space: a small ResNet trained with augmentation",
    "emoji-classifier": "emoji category classifier: the feature space of FD on the emoji set",
}
SHIPPED_ALIGNMENT = {"emoji-clip": "image-text model scoring prompt alignment on the emoji set"}


def is_shipped(name: str) -> bool:
    return name in SHIPPED or name in SHIPPED_CLASSIFIERS or name in SHIPPED_ALIGNMENT


def shipped_path(name: str) -> Path:
    """Folder of a shipped model."""
    if not is_shipped(name):
        raise ValueError(
            f"unknown shipped model {name!r}; "
            "choose one of "
            f"{sorted(SHIPPED) + sorted(SHIPPED_CLASSIFIERS) + sorted(SHIPPED_ALIGNMENT)}"
        )
    return Path(str(files("patchforcing.model") / "checkpoints" / name))
