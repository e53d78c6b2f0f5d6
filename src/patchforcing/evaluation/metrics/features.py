"""Feature extractors for the quality metrics: a trained classifier (default) or Inception-v3.

Every extractor maps images in the model range [-1, 1], (B, C, H, W), to features (B, D) and has a
``key`` naming its weights, so cached reference statistics are never mixed between extractors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from patchforcing.data.arrays import from_model_range
from patchforcing.evaluation.metrics.classifier import SHIPPED_CLASSIFIER, load_classifier
from patchforcing.model.pretrained import resolve_model_folder

__all__ = [
    "FeatureExtractor",
    "ClassifierFeatures",
    "InceptionFeatures",
    "build_extractor",
    "embed_batches",
    "file_digest",
]

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


class FeatureExtractor(Protocol):
    """Images (B, C, H, W) in [-1, 1] -> features (B, ``num_features``); ``key`` names the
    feature space (and the weights) in reference caches."""

    key: str
    num_features: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class ClassifierFeatures:
    """Penultimate activations of a
    :class:`~patchforcing.evaluation.metrics.classifier.FeatureClassifier`."""

    def __init__(self, path: str | Path | None = None, device: torch.device | str = "cpu") -> None:
        folder = resolve_model_folder(path or SHIPPED_CLASSIFIER)
        self.model = load_classifier(folder, device)
        self.device = torch.device(device)
        self.key = f"classifier-{file_digest(folder / 'model.safetensors')}"
        self.num_features = self.model.num_features

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features(images.to(self.device)).float().cpu()  # (B, D)


class InceptionFeatures:
    """The standard FID network (2048-d pool features), through torchmetrics / torch-fidelity.

    Needs ``pip install torch-fidelity`` and the weights file
    ``pt_inception-2015-12-05-6726825d.pth`` (this machine has no internet, so nothing is
    downloaded). Grey images are repeated to RGB."""

    def __init__(self, weights: str | Path | None, device: torch.device | str = "cpu") -> None:
        if weights is None or not Path(weights).is_file():
            raise FileNotFoundError(
                f"Inception FID needs the weights file {INCEPTION_FILE}; pass its path with "
                f"--inception-weights (got {weights!r})"
            )
        try:
            import torch_fidelity  # noqa: F401  (NoTrainInceptionV3 is a stub without it)
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as err:
            raise ValueError(
                "Inception FID needs torch-fidelity: pip install torch-fidelity "
                "(check that it does not replace your torch)"
            ) from err
        self.model: nn.Module = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(weights),
        ).to(device)
        self.device = torch.device(device)
        self.key = f"inception-{file_digest(Path(weights))}"
        self.num_features = 2048

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = from_model_range(images).to(self.device)  # (B, C, H, W) uint8
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.model(x).float().reshape(x.shape[0], -1).cpu()  # (B, 2048)


def build_extractor(
    kind: str = "classifier",
    classifier: str | Path | None = None,
    inception_weights: str | Path | None = None,
    device: torch.device | str = "cpu",
) -> FeatureExtractor:
    """The feature space of the metrics: ``"classifier"`` (a classifier folder, default the
    shipped one) or ``"inception"`` (Inception-v3 weights, the ``[inception]`` extra)."""
    if kind == "classifier":
        return ClassifierFeatures(classifier, device)
    if kind == "inception":
        return InceptionFeatures(inception_weights, device)
    raise ValueError(f"unknown feature extractor {kind!r}; choose 'classifier' or 'inception'")


def embed_batches(extractor: FeatureExtractor, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """Features of a stream of image batches; only one batch of images is held at a time. (M, D)."""
    feats = [extractor(images) for images in batches]
    if not feats:
        raise ValueError("no images to embed")
    return torch.cat(feats)
