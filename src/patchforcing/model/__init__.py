"""Patch Forcing DiT: per-token time conditioning, class or text conditioning and a
difficulty head."""

from patchforcing.core.condition import Condition, TextCondition
from patchforcing.core.protocol import ModelOutput, PatchModel, PatchModelConfig
from patchforcing.model.conditioning import Conditioning
from patchforcing.model.config import PRESETS, ModelConfig, model_config_from_preset
from patchforcing.model.dit import PatchForcingDiT
from patchforcing.model.kinds import AnyModel, AnyModelConfig
from patchforcing.model.load import GENERATORS, load_model
from patchforcing.model.text_config import (
    TEXT_PRESETS,
    TextModelConfig,
    text_model_config_from_preset,
)
from patchforcing.model.text_dit import PatchForcingT2I

__all__ = [
    "PRESETS",
    "ModelConfig",
    "model_config_from_preset",
    "TEXT_PRESETS",
    "TextModelConfig",
    "text_model_config_from_preset",
    "PatchForcingDiT",
    "PatchForcingT2I",
    "AnyModel",
    "AnyModelConfig",
    "PatchModel",
    "PatchModelConfig",
    "ModelOutput",
    "Conditioning",
    "Condition",
    "TextCondition",
    "GENERATORS",
    "load_model",
]
