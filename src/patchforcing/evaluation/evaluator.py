"""One evaluation setup, built once from plain options, used by ``eval``, the benchmarks and tests.

An :class:`Evaluator` owns what generated images are measured against: the reference images, their
features in every feature space (cached on disk), the per-class background masks of the reference,
and the image-text model that scores prompt alignment. It scores a model (generating through
:func:`~patchforcing.sampling.generation.generate_batches`) or a folder of images::

    evaluator = Evaluator.build(EvalOptions(reference="fashion-mnist"))
    result = evaluator.score_model(model, GenerationConfig(nfe=32, num_images=1000))
    print(result.metrics.fd)

Under several processes (``torchrun``) build it with the :class:`DistEnv` of
:func:`~patchforcing.utils.distributed.init_distributed`: each rank generates its share of the
seeds and every rank gets the gathered result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchforcing.data import DataConfig, ImageArrays, held_out_split, load_images
from patchforcing.evaluation.metrics import (
    BackgroundMasks,
    ClassifierFeatures,
    background_masks,
    build_extractor,
    reference_features,
)
from patchforcing.evaluation.metrics.alignment_model import SHIPPED_IMAGE_TEXT
from patchforcing.evaluation.prompt_scoring import (
    PromptScoring,
    build_prompt_scoring,
    reference_prompts,
)
from patchforcing.evaluation.result import EvalResult
from patchforcing.evaluation.scoring import FeatureSpace, score_generated, score_image_folder
from patchforcing.model import PatchModel
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.sampling.generation.prompts import PromptSet
from patchforcing.utils.distributed import DistEnv, broadcast_object

__all__ = ["DEFAULT_CLASSIFIER", "FEATURE_KINDS", "EvalOptions", "Evaluator"]

DEFAULT_CLASSIFIER = "fmnist-classifier"
FEATURE_KINDS = ("classifier", "inception")


@dataclass(frozen=True)
class EvalOptions:
    """What an :class:`Evaluator` measures against, as plain values (the flags of ``eval``)."""

    reference: str = "fashion-mnist"  # 'fashion-mnist', 'emoji', an image folder or an .npz file
    split: str | None = None  # of a built-in reference; None: the one training does not see
    reference_size: int | None = None  # score against the first images of the reference only
    image_size: int | None = None  # reference (and scored folder) images are resized to this
    data_dir: str | None = None  # where a built-in data set is installed (None: its usual place)
    features: str = "classifier"  # the kind of feature spaces, one of FEATURE_KINDS
    # shipped names or classifier folders, one feature space each; the first is the primary one
    classifiers: tuple[str, ...] = (DEFAULT_CLASSIFIER,)
    inception_weights: str | None = None  # pt_inception-2015-12-05-6726825d.pth, for 'inception'
    cache_dir: str | None = None  # of reference features (None: ~/.cache/patchforcing/reference)
    image_text: str = SHIPPED_IMAGE_TEXT  # image-text model of the prompt-alignment scores

    def __post_init__(self) -> None:
        if self.features not in FEATURE_KINDS:
            raise ValueError(
                f"unknown feature extractor {self.features!r}; choose one of {FEATURE_KINDS}"
            )
        if self.features == "classifier" and not self.classifiers:
            raise ValueError("name at least one classifier as a feature space")
        if self.reference_size is not None and self.reference_size < 1:
            raise ValueError(f"reference_size must be >= 1, got {self.reference_size}")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature spaces asked for, by the name given (each once, in order)."""
        if self.features == "inception":
            return ("inception",)
        return tuple(dict.fromkeys(self.classifiers))


def _first(data: ImageArrays, count: int | None) -> ImageArrays:
    if count is None or count >= len(data):
        return data
    captions = data.captions[:count] if data.captions else ()
    return ImageArrays(
        data.images[:count], data.labels[:count], data.class_names, captions=captions
    )


@dataclass(frozen=True, eq=False)
class Evaluator:
    """The reference, its features in every space (the first is the primary one), its background
    masks and level, the image-text model of prompt alignment, and the processes sharing the work
    (their device runs the feature networks and generates)."""

    spaces: tuple[FeatureSpace, ...]
    reference: ImageArrays | None = None  # None when only the reference features were given
    background: BackgroundMasks | None = None
    reference_background: float | None = None  # background level of the reference images
    image_text: str = SHIPPED_IMAGE_TEXT
    env: DistEnv = field(default_factory=DistEnv)

    def __post_init__(self) -> None:
        if not self.spaces:
            raise ValueError("an evaluator needs at least one feature space")

    @classmethod
    def build(cls, options: EvalOptions = EvalOptions(), env: DistEnv = DistEnv()) -> Evaluator:
        """Load the reference set, build one extractor per feature space on ``env.device`` and
        embed the reference (read from the cache when it holds these features)."""
        split = options.split or held_out_split(options.reference)
        loaded = load_images(
            DataConfig(
                source=options.reference,
                data_dir=options.data_dir,
                split=split,
                image_size=options.image_size,
            )
        )
        data = _first(loaded, options.reference_size)
        names = options.feature_names
        extractors = [
            build_extractor(options.features, name, options.inception_weights, env.device)
            for name in names
        ]
        spaces = tuple(
            FeatureSpace(name, e, reference_features(e, data, options.cache_dir))
            for name, e in zip(names, extractors)
        )
        masks = background_masks(data.images, data.labels, data.num_classes)
        level = masks.level(data.images, data.labels)
        return cls(spaces, data, masks, level, options.image_text, env)

    @property
    def names(self) -> dict[str, str]:
        """Extractor key -> the name each feature space was given, in order."""
        return {s.key: s.name for s in self.spaces}

    def score_model(
        self,
        model: PatchModel,
        config: GenerationConfig,
        *,
        alignment: PromptScoring | None = None,
        source: str = "model",
    ) -> EvalResult:
        """Generate the images of ``config`` (each rank its share of the seeds) and score them in
        every space, with their background level and, given ``alignment`` (see
        :meth:`prompt_scoring`), their prompt alignment; every rank returns the gathered result."""
        result = score_generated(
            model,
            config,
            self.spaces,
            env=self.env,
            background=self.background,
            reference_background=self.reference_background,
            alignment=alignment,
            source=source,
        )
        return broadcast_object(result, self.env)

    def score_folder(self, folder: str | Path) -> EvalResult:
        """Score the images of ``folder`` (those its ``samples.jsonl`` lists, when it has one),
        read at the reference's size and channels; their background level needs that manifest's
        classes."""
        if self.reference is None:
            raise ValueError(
                "scoring a folder reads its images at the reference's size: build "
                "the evaluator with its reference images"
            )
        return score_image_folder(
            folder,
            self.spaces,
            self.reference.image_size,
            self.reference.channels,
            background=self.background,
            reference_background=self.reference_background,
        )

    def reference_prompts(self) -> PromptSet:
        """The first caption of every reference image, with its class name as the category."""
        if self.reference is None:
            raise ValueError(
                "reference prompts need the reference images: build the evaluator with them"
            )
        return reference_prompts(self.reference)

    def prompt_scoring(self, categories: Sequence[str | None] = ()) -> PromptScoring:
        """A fresh prompt-alignment scorer for :meth:`score_model` (one per evaluation); category
        accuracy, with the primary classifier, when ``categories`` (one per prompt of the config)
        name some."""
        primary = self.spaces[0]
        extractor = primary.extractor
        classifier = extractor.model if isinstance(extractor, ClassifierFeatures) else None
        return build_prompt_scoring(
            self.image_text, categories, classifier, primary.name, self.env.device
        )
