"""Offline image-quality metrics: FD, KID, precision/recall, density/coverage on
classifier features."""

from patchforcing.evaluation.metrics.augment import AugmentConfig, augment
from patchforcing.evaluation.metrics.background import BackgroundMasks, background_masks
from patchforcing.evaluation.metrics.classifier import (
    SHIPPED_CLASSIFIER,
    ClassifierConfig,
    FeatureClassifier,
    classifier_config,
    load_classifier,
    save_classifier,
)
from patchforcing.evaluation.metrics.features import (
    ClassifierFeatures,
    FeatureExtractor,
    InceptionFeatures,
    build_extractor,
    embed_batches,
)
from patchforcing.evaluation.metrics.manifold import ManifoldMetrics, manifold_metrics
from patchforcing.evaluation.metrics.quality import (
    QualityMetrics,
    compute_quality,
    frechet_distance,
    kernel_distance,
)
from patchforcing.evaluation.metrics.reference import (
    default_cache_dir,
    image_batches,
    reference_features,
)

__all__ = [
    "AugmentConfig",
    "augment",
    "BackgroundMasks",
    "background_masks",
    "SHIPPED_CLASSIFIER",
    "ClassifierConfig",
    "FeatureClassifier",
    "classifier_config",
    "load_classifier",
    "save_classifier",
    "ClassifierFeatures",
    "FeatureExtractor",
    "InceptionFeatures",
    "build_extractor",
    "embed_batches",
    "ManifoldMetrics",
    "manifold_metrics",
    "QualityMetrics",
    "compute_quality",
    "frechet_distance",
    "kernel_distance",
    "default_cache_dir",
    "image_batches",
    "reference_features",
]
