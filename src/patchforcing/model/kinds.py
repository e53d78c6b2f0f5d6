"""The two model kinds by one name each, for the code that builds, loads or serializes a model.

Code that only calls a model or reads its config types against
:class:`~patchforcing.core.protocol.PatchModel` and
:class:`~patchforcing.core.protocol.PatchModelConfig` instead, which wrappers and test doubles
satisfy too.
"""

from __future__ import annotations

from typing import TypeAlias

from patchforcing.model.config import ModelConfig
from patchforcing.model.dit import PatchForcingDiT
from patchforcing.model.text_config import TextModelConfig
from patchforcing.model.text_dit import PatchForcingT2I

__all__ = ["AnyModel", "AnyModelConfig"]

AnyModel: TypeAlias = PatchForcingDiT | PatchForcingT2I  # class-conditional or text-to-image
AnyModelConfig: TypeAlias = ModelConfig | TextModelConfig  # the config each of them is built from
