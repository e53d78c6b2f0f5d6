"""Small classifiers whose penultimate activations are the feature spaces of the quality metrics.

No package here ships Inception, CLIP or DINO weights, so the metrics embed images with a classifier
trained on the target dataset (Fashion-MNIST for the shipped ones). Features are the ``feature_dim``
activations before the last linear layer; only distances between feature sets are used, so the
classifier's accuracy matters only as evidence that the features separate the classes. Two
architectures: ``"cnn"`` (plain conv blocks with max-pooling, the first shipped classifier) and
``"resnet"`` (:mod:`patchforcing.evaluation.metrics.resnet`), so that a claim can be checked in two
feature spaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from patchforcing.evaluation.metrics.resnet import resnet_body
from patchforcing.model.pretrained import DataSpec, PretrainedMixin
from patchforcing.utils.limits import check_limit

__all__ = [
    "ClassifierConfig",
    "FeatureClassifier",
    "save_classifier",
    "load_classifier",
    "classifier_config",
    "ARCH_DEFAULTS",
    "SHIPPED_CLASSIFIER",
]

SHIPPED_CLASSIFIER = "fmnist-classifier"


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of the metrics classifier: input size and channels, classes, stage widths,
    feature width and kind (``"cnn"`` or ``"resnet"``)."""

    image_size: int = 28
    in_channels: int = 1
    num_classes: int = 10
    widths: tuple[int, int, int] = (32, 64, 128)
    feature_dim: int = 128
    arch: str = (
        "cnn"  # "cnn" or "resnet"; folders written before the resnet existed have no key: "cnn"
    )

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.in_channels not in (1, 3) or self.num_classes < 2:
            raise ValueError(
                "classifier config needs image_size >= 8, 1 or 3 channels and >= 2 classes, got "
                f"{self}"
            )
        if self.arch not in ARCH_DEFAULTS:
            raise ValueError(
                f"unknown classifier arch {self.arch!r}; choose one of {sorted(ARCH_DEFAULTS)}"
            )
        sizes = {
            "image_size": (self.image_size, "image_size"),
            "num_classes": (self.num_classes, "classes"),
            "feature_dim": (self.feature_dim, "width"),
            "widths": (max(self.widths), "width"),
        }
        for name, (value, limit) in sizes.items():
            check_limit(
                f"classifier config: {name}", value, limit
            )  # a config.json may ask for any size


# widths and feature width of each architecture; the resnet's feature layer is deliberately
# another width
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"widths": (32, 64, 128), "feature_dim": 128},
    "resnet": {"widths": (16, 32, 64), "feature_dim": 96},
}


def classifier_config(
    arch: str, image_size: int, in_channels: int, num_classes: int
) -> ClassifierConfig:
    """The default config of ``arch`` for images of this size, channels and classes."""
    if arch not in ARCH_DEFAULTS:
        raise ValueError(f"unknown classifier arch {arch!r}; choose one of {sorted(ARCH_DEFAULTS)}")
    return ClassifierConfig(
        image_size=image_size,
        in_channels=in_channels,
        num_classes=num_classes,
        arch=arch,
        **ARCH_DEFAULTS[arch],
    )


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class FeatureClassifier(PretrainedMixin):
    """body -> (B, widths[-1]) -> features (B, feature_dim) -> logits (B, K). The body is conv
    blocks with two max-poolings (``arch="cnn"``) or a residual network (``"resnet"``), each ending
    in a global average pool.

    Input: images in the model range [-1, 1], (B, C, H, W)."""

    model_type: ClassVar[str] = "feature-classifier"

    @classmethod
    def config_from_architecture(cls, values: dict[str, Any]) -> ClassifierConfig:
        return ClassifierConfig(**{**values, "widths": tuple(values["widths"])})

    def data_spec(self, class_names: tuple[str, ...] = ()) -> DataSpec:
        return DataSpec(
            channels=self.config.in_channels,
            image_size=self.config.image_size,
            class_names=class_names,
        )

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        if config.arch == "resnet":
            self.body = resnet_body(config.in_channels, config.widths)
        else:
            w1, w2, w3 = config.widths
            self.body = nn.Sequential(
                *_conv(config.in_channels, w1),
                *_conv(w1, w1),
                nn.MaxPool2d(2),
                *_conv(w1, w2),
                *_conv(w2, w2),
                nn.MaxPool2d(2),
                *_conv(w2, w3),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
        self.neck = nn.Sequential(nn.Linear(config.widths[-1], config.feature_dim), nn.ReLU())
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    @property
    def num_features(self) -> int:
        return self.config.feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, feature_dim)."""
        c = self.config
        if x.dim() != 4 or tuple(x.shape[1:]) != (c.in_channels, c.image_size, c.image_size):
            raise ValueError(
                f"the classifier expects images (B, {c.in_channels}, {c.image_size}, "
                f"{c.image_size}), got {tuple(x.shape)}"
            )
        return self.neck(self.body(x.float()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K)


def save_classifier(
    model: FeatureClassifier,
    folder: str | Path,
    info: dict[str, Any],
    overwrite: bool = False,
    class_names: tuple[str, ...] = (),
) -> Path:
    """Write the classifier as a model folder; ``info`` (command, accuracy, ...) goes into its
    training record, the test accuracy also into its measured quality."""
    quality = {"test_accuracy": info["test_accuracy"]} if "test_accuracy" in info else {}
    meta = model.make_meta(training=dict(info), quality=quality, class_names=class_names)
    return model.export_folder(folder, meta, overwrite=overwrite)


def load_classifier(
    path: str | Path | None = None, device: torch.device | str = "cpu"
) -> FeatureClassifier:
    """Load a classifier folder (default: the shipped Fashion-MNIST one), in eval mode, frozen."""
    return FeatureClassifier.from_pretrained(
        path or SHIPPED_CLASSIFIER, device=device
    ).requires_grad_(False)
