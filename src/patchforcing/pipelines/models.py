"""The class and text models as diffusers models (``ModelMixin`` + ``ConfigMixin``).

A wrapper holds one of our models as ``.model``, unchanged, and records what rebuilds it in its
diffusers config: the ``architecture`` fields of our config.json, the ``data`` it was trained on
(channels, size, value range, space, class names), the sampling settings its folder recommends
(``recommended_sampling``, None where it records none) and, for the text model, the
``text_encoder`` description. So diffusers' ``save_pretrained`` / ``from_pretrained`` round-trip it
(``config.json`` + ``diffusion_pytorch_model.safetensors``, weights under ``model.``), and
:meth:`forward` speaks diffusers' convention (:mod:`patchforcing.pipelines.convention`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from patchforcing.core.condition import Condition
from patchforcing.model import AnyModel, PatchForcingDiT, PatchForcingT2I
from patchforcing.model.pretrained import DataSpec, RecommendedSampling, recommended_sampling
from patchforcing.pipelines.convention import t_from_timestep

__all__ = [
    "PatchForcingDiTModel",
    "PatchForcingT2IModel",
    "PatchForcingModelOutput",
    "wrap_model",
]


@dataclass
class PatchForcingModelOutput(BaseOutput):
    """What the diffusers models return: diffusers' velocity and the difficulty head's output."""

    sample: torch.Tensor  # (B, C, H, W) velocity in diffusers' convention: noise minus data
    logvar: torch.Tensor | None = None  # (B, 1, H, W) log-variance of its error (difficulty head)


class _Wrapper(ModelMixin, ConfigMixin):  # type: ignore[misc]  # diffusers' two config_name
    """What both wrappers share: the data and recommended-settings properties and the
    diffusers-convention forward."""

    model: AnyModel

    @property
    def recommended_sampling(self) -> RecommendedSampling | None:
        """The sampling settings the model's folder recorded (None: none recorded)."""
        values = self.config.get("recommended_sampling")
        return None if values is None else RecommendedSampling.from_dict(values, "the pipeline")

    @property
    def data(self) -> DataSpec:
        """The data the model was trained on (its value range and space decide the decoding)."""
        values = dict(self.config["data"])
        values["value_range"] = tuple(values["value_range"])
        values["class_names"] = tuple(values["class_names"])
        return DataSpec(**values)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor | float, condition: Condition
    ) -> PatchForcingModelOutput:
        """``sample`` (B, C, H, W) at diffusers' ``timestep`` = sigma * 1000: a number, (B,) or
        per patch (B, N); ``condition`` labels (B,) or a TextCondition. Returns the velocity
        noise minus data (for diffusers' flow-match schedulers) and the log-variance."""
        timestep = torch.as_tensor(timestep, device=sample.device, dtype=sample.dtype)
        t = t_from_timestep(timestep)
        if t.dim() == 0:
            t = t.expand(sample.shape[0])  # (B,)
        out = self.model(sample, t, condition)
        return PatchForcingModelOutput(sample=-out.v, logvar=out.logvar)


def _data_json(model: AnyModel) -> dict[str, Any]:
    spec = model.meta.data if model.meta is not None else model.data_spec()
    return asdict(spec)


def _recommended_json(model: AnyModel) -> dict[str, Any] | None:
    record = recommended_sampling(model)
    return None if record is None else record.to_dict()


class PatchForcingDiTModel(_Wrapper):
    """A :class:`~patchforcing.model.PatchForcingDiT` (class-conditional) as a diffusers model."""

    model: PatchForcingDiT

    @register_to_config
    def __init__(
        self,
        architecture: dict[str, Any],
        data: dict[str, Any],
        recommended_sampling: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = PatchForcingDiT(PatchForcingDiT.config_from_architecture(dict(architecture)))


class PatchForcingT2IModel(_Wrapper):
    """A :class:`~patchforcing.model.PatchForcingT2I` (text-to-image) and the description of its
    text encoder as a diffusers model."""

    model: PatchForcingT2I

    @register_to_config
    def __init__(
        self,
        architecture: dict[str, Any],
        data: dict[str, Any],
        text_encoder: dict[str, Any] | None = None,
        recommended_sampling: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = PatchForcingT2I(PatchForcingT2I.config_from_architecture(dict(architecture)))
        if text_encoder is not None:
            self.model.text_encoder_spec = dict(text_encoder)


def wrap_model(model: AnyModel) -> PatchForcingDiTModel | PatchForcingT2IModel:
    """The diffusers model holding ``model`` itself (no copy of its weights)."""
    architecture = dict(vars(model.config))
    if isinstance(model, PatchForcingT2I):
        wrapper: PatchForcingDiTModel | PatchForcingT2IModel = PatchForcingT2IModel(
            architecture, _data_json(model), model.text_encoder_spec, _recommended_json(model)
        )
    else:
        wrapper = PatchForcingDiTModel(architecture, _data_json(model), _recommended_json(model))
    wrapper.model = model  # the wrapper's only module: it lies where the model does
    return wrapper.eval()
