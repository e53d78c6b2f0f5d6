"""The sampling settings measured best for a model, recorded in its folder's ``config.json``.

``patchforcing sample`` and ``eval``, :func:`~patchforcing.sampling.generation.
recommended_config` and the diffusers pipeline use them for every setting the user leaves unset. A
folder without a record (every folder written before this record existed, and every fresh export
of a training run) reads as "none recorded": the model samples with the library's defaults
(its time mode's default sampler, 50 steps, no guidance), as it always did.

The record names a sampler of :data:`patchforcing.sampling.SAMPLERS` by its name (this layer does
not import the samplers; the sampling layer checks the name when it builds one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patchforcing.model.pretrained.errors import CheckpointError

__all__ = ["RECOMMENDED_KEY", "RecommendedSampling", "recommended_sampling"]

RECOMMENDED_KEY = "recommended_sampling"  # its key in config.json


@dataclass(frozen=True)
class RecommendedSampling:
    """A sampler (by name), its NFE budget and the classifier-free guidance scale and interval
    measured best for a model; ``chosen_by`` says how (metric, images, commands)."""

    sampler: str
    nfe: int
    guidance_scale: float
    guidance_interval: tuple[float, float] = (0.0, 1.0)
    chosen_by: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.sampler, str) or not self.sampler:
            raise ValueError(f"recommended sampler must be a sampler name, got {self.sampler!r}")
        if isinstance(self.nfe, bool) or not isinstance(self.nfe, int) or self.nfe < 1:
            raise ValueError(f"recommended NFE must be an integer >= 1, got {self.nfe!r}")
        if not self.guidance_scale >= 0:
            raise ValueError(f"recommended guidance scale must be >= 0, got {self.guidance_scale}")
        lo, hi = self.guidance_interval
        if not 0 <= lo <= hi <= 1:
            raise ValueError(
                "recommended guidance interval must satisfy 0 <= t_lo <= t_hi <= 1, got "
                f"{self.guidance_interval}"
            )

    def describe(self) -> str:
        """One line: ``dual-loop, NFE 32, CFG 2.5`` (and the interval when it is not [0, 1])."""
        lo, hi = self.guidance_interval
        interval = "" if (lo, hi) == (0.0, 1.0) else f" on t in [{lo:g}, {hi:g}]"
        return f"{self.sampler}, NFE {self.nfe}, CFG {self.guidance_scale:g}{interval}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler,
            "nfe": self.nfe,
            "guidance_scale": self.guidance_scale,
            "guidance_interval": list(self.guidance_interval),
            "chosen_by": self.chosen_by,
        }

    @classmethod
    def from_dict(cls, values: Any, source: str = "config.json") -> RecommendedSampling:
        """The record as ``config.json`` stores it; anything else is a CheckpointError naming
        ``source``."""
        try:
            if not isinstance(values, dict):
                raise TypeError(f"expected an object, got {type(values).__name__}")
            lo, hi = values.get("guidance_interval", (0.0, 1.0))
            return cls(
                sampler=values["sampler"],
                nfe=values["nfe"],
                guidance_scale=float(values["guidance_scale"]),
                guidance_interval=(float(lo), float(hi)),
                chosen_by=str(values.get("chosen_by", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(
                f"{source}: invalid {RECOMMENDED_KEY}: {type(err).__name__}: {err}"
            ) from err


def recommended_sampling(model: Any) -> RecommendedSampling | None:
    """The settings recorded for ``model`` (one loaded by ``from_pretrained`` / ``load_model``):
    None when its folder records none, or when it was not loaded from a folder.

    Example::

        recommended_sampling(load_model("fmnist-pf")).describe()  # "look-ahead, NFE 32, CFG 3"
    """
    meta = getattr(model, "meta", None)
    return getattr(meta, "recommended_sampling", None)
