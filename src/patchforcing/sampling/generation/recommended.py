"""A model's recommended sampling settings, applied to what the user left unset.

A model folder may record the sampler, NFE and guidance measured best for that model
(:class:`~patchforcing.model.pretrained.recommended.RecommendedSampling`). :func:`fill_recommended`
puts them into a :class:`GenerationConfig` for the settings the caller names as unset, one setting
at a time, so that a user who gives only ``--cfg`` keeps the recommended sampler and NFE.
``GenerationConfig()``'s own defaults stay the library's (the model's default sampler, 50 steps,
no guidance: the setting of the paper's FID tables); :func:`recommended_config` is the Python way
to ask for the recommended ones, and ``generate(model)`` without a config uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from patchforcing.model.pretrained.recommended import RecommendedSampling, recommended_sampling
from patchforcing.sampling import SAMPLERS, Sampler
from patchforcing.sampling.generation.config import GenerationConfig
from patchforcing.sampling.options import sampler_options

__all__ = ["RECOMMENDABLE", "FilledConfig", "fill_recommended", "recommended_config"]

# the settings a recommendation holds; "cost" is steps or NFE (a recommendation gives an NFE)
RECOMMENDABLE = ("sampler", "cost", "guidance_scale", "guidance_interval")


@dataclass(frozen=True)
class FilledConfig:
    """The config with the recommended settings filled in, the record they came from (None: the
    model records none) and which of :data:`RECOMMENDABLE` it filled."""

    config: GenerationConfig
    recommended: RecommendedSampling | None
    applied: tuple[str, ...]

    def note(self, name: str) -> str | None:
        """One line saying which recommended settings of model ``name`` were applied (None when
        none were)."""
        if self.recommended is None or not self.applied:
            return None
        r = self.recommended
        lo, hi = r.guidance_interval
        parts = {
            "sampler": f"sampler {r.sampler}",
            "cost": f"NFE {r.nfe}",
            "guidance_scale": f"CFG {r.guidance_scale:g}",
            "guidance_interval": f"guidance interval [{lo:g}, {hi:g}]",
        }
        listed = ", ".join(parts[s] for s in self.applied)
        return f"using the recommended settings of {name}: {listed} (--cfg 1: unguided)"


def _recommended_sampler(record: RecommendedSampling, options: Mapping[str, Any]) -> Sampler:
    """The recorded sampler with those of ``options`` it takes (the others are ignored, as for
    the default sampler)."""
    if record.sampler not in SAMPLERS or record.sampler == "matrix":
        raise ValueError(
            f"the model recommends the sampler {record.sampler!r}, which this patchforcing does "
            f"not have ({', '.join(n for n in SAMPLERS if n != 'matrix')}); choose one"
        )
    cls = SAMPLERS[record.sampler]
    accepted = {info.name for info in sampler_options(cls)}
    return cls(**{k: v for k, v in options.items() if k in accepted})


def fill_recommended(
    config: GenerationConfig,
    record: RecommendedSampling | None,
    unset: Collection[str] = RECOMMENDABLE,
    sampler_options: Mapping[str, Any] | None = None,
) -> FilledConfig:
    """``config`` with the settings named in ``unset`` (of :data:`RECOMMENDABLE`) replaced by
    those of ``record`` (a model's, :func:`~patchforcing.model.pretrained.recommended_sampling`);
    unchanged when it is None. ``sampler_options`` (field name -> value) go to a recommended
    sampler that takes them."""
    unknown = sorted(set(unset) - set(RECOMMENDABLE))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; choose from {RECOMMENDABLE}")
    if record is None:
        return FilledConfig(config, None, ())
    applied = tuple(s for s in RECOMMENDABLE if s in unset)
    changes: dict[str, Any] = {}
    if "sampler" in applied:
        changes["sampler"] = _recommended_sampler(record, sampler_options or {})
    if "cost" in applied:
        changes.update(steps=None, nfe=record.nfe)
    guidance = config.guidance
    if "guidance_scale" in applied:
        guidance = dataclasses.replace(guidance, scale=record.guidance_scale)
    if "guidance_interval" in applied:
        guidance = dataclasses.replace(guidance, interval=record.guidance_interval)
    return FilledConfig(dataclasses.replace(config, guidance=guidance, **changes), record, applied)


def recommended_config(model: Any, **fields: Any) -> GenerationConfig:
    """``GenerationConfig(**fields)`` with the model's recommended sampler, NFE and guidance where
    ``fields`` gives none of them (``sampler``; ``steps`` or ``nfe``; ``guidance``); the library's
    defaults where the model records none.

    Example::

        model = load_model("fmnist-pf")
        images = generate(model, recommended_config(model, num_images=8))
        unguided = recommended_config(model, num_images=8, guidance=Guidance())  # CFG 1
    """
    unset = [
        setting
        for setting, names in (
            ("sampler", ("sampler",)),
            ("cost", ("steps", "nfe")),
            ("guidance_scale", ("guidance",)),
            ("guidance_interval", ("guidance",)),
        )
        if not any(fields.get(n) is not None for n in names)
    ]
    return fill_recommended(GenerationConfig(**fields), recommended_sampling(model), unset).config
