"""The representation-alignment section of a training configuration (``TrainConfig.repa``).

Defaults are the REPA recipe (SPEC.md section 7): the hidden tokens after block 8 of XL's 28
(scaled to the model's depth), a projector of hidden width 2048, weight 0.5, every token aligned
whatever its time. The encoder is the built-in EfficientNet-Lite0 (no download) or a local Hugging
Face vision model folder (DINOv2 in the paper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from patchforcing.model.repa import PROJECTOR_DIM, default_repa_depth
from patchforcing.model.vision import BUILTIN_ENCODER, encoder_stride

__all__ = ["REPA_FEATURES", "TIME_WEIGHTINGS", "RepaConfig", "resolve_repa"]

TIME_WEIGHTINGS = ("none", "t")
REPA_FEATURES = ("cached", "online")


@dataclass(frozen=True)
class RepaConfig:
    """``encoder``: ``efficientnet-lite0`` or a local Hugging Face model folder. ``depth``: the
    block whose output tokens are aligned (None: 8 of 28 scaled to the model). ``resolution``: the
    encoder's input size (None: the one whose feature grid is the token grid). ``time_weighting``
    "t" weights each token by its time over its image's mean time (default "none": every token
    alike). ``features``: for image data, the encoder's features of the whole training set computed
    once and cached on disk ("cached"), or per batch ("online"); latent data reads the features
    ``patchforcing encode --repa-encoder`` stored beside the latents."""

    encoder: str = BUILTIN_ENCODER
    depth: int | None = None
    weight: float = 0.5
    projector_dim: int = PROJECTOR_DIM
    resolution: int | None = None
    time_weighting: str = "none"
    features: str = "cached"

    def __post_init__(self) -> None:
        if not self.encoder:
            raise ValueError("repa encoder must name the built-in encoder or a model folder")
        for name in ("depth", "resolution"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"repa {name} must be a whole number >= 1, got {value!r}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"repa weight must be a number >= 0, got {self.weight}")
        if isinstance(self.projector_dim, bool) or self.projector_dim < 1:
            raise ValueError(f"repa projector_dim must be >= 1, got {self.projector_dim!r}")
        if self.time_weighting not in TIME_WEIGHTINGS:
            raise ValueError(
                f"repa time_weighting must be one of {TIME_WEIGHTINGS}, got {self.time_weighting!r}"
            )
        if self.features not in REPA_FEATURES:
            raise ValueError(f"repa features must be one of {REPA_FEATURES}, got {self.features!r}")

    def check_model(self, depth: int) -> None:
        """Refuse an aligned block the model does not have."""
        if self.depth is not None and self.depth > depth:
            raise ValueError(
                f"repa depth {self.depth} is past the model's {depth} blocks; choose 1..{depth}"
            )


def resolve_repa(repa: RepaConfig, depth: int, grid: int) -> RepaConfig:
    """``repa`` with its defaults made concrete for a model of ``depth`` blocks and a
    ``grid`` x ``grid`` token grid (a folder given as the encoder becomes an absolute path)."""
    encoder = repa.encoder if repa.encoder == BUILTIN_ENCODER else str(Path(repa.encoder).resolve())
    return replace(
        repa,
        encoder=encoder,
        depth=repa.depth or default_repa_depth(depth),
        resolution=repa.resolution or grid * encoder_stride(encoder),
    )
