"""Frozen image encoders for representation alignment (REPA): the built-in ImageNet-trained
EfficientNet-Lite0 (the ``[repa]`` extra) and local Hugging Face vision models."""

from patchforcing.model.vision.efficientnet import EfficientNetLite0, load_lite0
from patchforcing.model.vision.encoders import (
    BUILTIN_ENCODER,
    BuiltinEncoder,
    ImageEncoder,
    PretrainedImageEncoder,
    build_image_encoder,
    encoder_stride,
)

__all__ = [
    "EfficientNetLite0",
    "load_lite0",
    "BUILTIN_ENCODER",
    "ImageEncoder",
    "BuiltinEncoder",
    "PretrainedImageEncoder",
    "build_image_encoder",
    "encoder_stride",
]
