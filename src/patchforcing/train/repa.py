"""What representation alignment adds to a training run (``TrainConfig.repa``; SPEC.md section 7).

:class:`RepaTraining` attaches three things beside the model, none of which enters a model folder:

- a forward hook on block ``depth`` (1-based) that keeps its output tokens (B, N, D) for the step
  (with gradients every token is in patch order: the conditioning layouts reorder tokens only
  in no-grad forwards);
- the projector (:class:`~patchforcing.model.repa.RepaProjector`) with its own AdamW, of the run's
  settings, stepped with the model's and clipped with it (one gradient norm over both, as REPA
  clips its model and projector together); its weights and optimizer state are saved in the
  checkpoint's ``train_state.pt``;
- the clean images' encoder features: a table of the whole data set (image data, computed once,
  :mod:`patchforcing.train.repa_features`), the features ``patchforcing encode`` stored beside
  latents, or the encoder run on every batch (``features="online"``).

:meth:`RepaTraining.add_to` adds ``weight * alignment_loss`` (:mod:`patchforcing.core.repa`) to the
flow loss of a step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from patchforcing.core.loss import LossOutput
from patchforcing.core.repa import alignment_loss, features_to_tokens, time_weights
from patchforcing.data import ArrayData
from patchforcing.data.latent.repa_features import load_repa_features
from patchforcing.data.latents import is_latent_folder
from patchforcing.data.order import seed64
from patchforcing.model import AnyModel
from patchforcing.model.repa import RepaProjector
from patchforcing.model.vision import ImageEncoder, build_image_encoder
from patchforcing.train.config import OptimConfig, TrainConfig
from patchforcing.train.data_parallel import (
    Parallel,
    load_optimizer_state,
    model_state,
    optimizer_state,
)
from patchforcing.train.repa_config import RepaConfig
from patchforcing.train.repa_features import dataset_features
from patchforcing.utils.distributed import DistEnv, all_reduce_mean

__all__ = ["RepaLoss", "RepaFeatures", "RepaTraining", "stored_encoder_check"]

_PROJECTOR_STREAM = 104_729  # keeps the projector's initial weights apart from the model's


@dataclass(frozen=True)
class RepaLoss:
    """A step's loss with the alignment term added (``loss.loss``), and the term alone: the mean
    negative cosine similarity (from -1, perfectly aligned, to 1)."""

    loss: LossOutput
    align: torch.Tensor  # ()


def stored_encoder_check(stored: dict[str, Any], repa: RepaConfig) -> None:
    """Refuse stored features of another encoder or resolution than the run asks for."""
    wanted: dict[str, Any] = {"path": repa.encoder} if stored.get("kind") == "pretrained" else {}
    wanted["resolution"] = repa.resolution
    differs = {k: stored.get(k) for k, v in wanted.items() if stored.get(k) != v}
    if stored.get("kind") not in ("pretrained", repa.encoder):
        differs["kind"] = stored.get("kind")
    if differs:
        raise ValueError(
            f"the latents' stored REPA features were made with {stored}, but the run asks for "
            f"encoder {repa.encoder!r} at resolution {repa.resolution}; encode again or pass "
            "the stored encoder's options"
        )


def _wrap(projector: nn.Module, env: DistEnv, parallel: Parallel) -> nn.Module:
    """The projector as the model is: itself on one process, DDP or FSDP2 on several."""
    if env.distributed and parallel.strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        fully_shard(projector)  # in place
        return projector
    if env.distributed:
        ids = [env.device.index] if env.device.type == "cuda" else None
        return DistributedDataParallel(projector, device_ids=ids)
    return projector


@dataclass(frozen=True)
class RepaFeatures:
    """The clean images' encoder features of a batch: rows of a ``table`` (M, Z, h, w) of the whole
    data set, or the ``encoder`` run on the batch."""

    feature_dim: int
    table: torch.Tensor | None = None  # float16 on the CPU
    encoder: ImageEncoder | None = None

    def __call__(self, x1: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(B, Z, h, w) float32 on x1's device for the images ``x1`` at rows ``index``."""
        if self.table is not None:
            return self.table[index.cpu()].to(x1.device, torch.float32)
        assert self.encoder is not None  # one of the two is given
        return self.encoder(x1)

    @classmethod
    def for_run(cls, config: TrainConfig, data: ArrayData, device: torch.device) -> RepaFeatures:
        """What a run reads: the features stored beside latents, the cached table of image data,
        or (``features="online"``) the encoder."""
        repa = config.repa
        assert repa is not None and repa.resolution  # resolved (resolve_repa)
        if is_latent_folder(config.data.source):
            stored = load_repa_features(config.data.source, len(data))
            stored_encoder_check(stored.encoder, repa)
            return cls(int(stored.encoder["feature_dim"]), table=stored.features)
        encoder = build_image_encoder(repa.encoder, repa.resolution, device)
        if repa.features == "cached":
            return cls(encoder.feature_dim, table=dataset_features(encoder, data))
        return cls(encoder.feature_dim, encoder=encoder)


class RepaTraining:
    """The projector, its optimizer and the hook of a REPA run on ``model`` (the unwrapped model
    being trained), aligning to ``features``. ``state`` is the ``"repa"`` entry of the train state
    being resumed (None for a new run)."""

    def __init__(
        self,
        config: RepaConfig,
        model: AnyModel,
        features: RepaFeatures,
        optim: OptimConfig,
        seed: int,
        env: DistEnv = DistEnv(),
        parallel: Parallel = Parallel(),
        state: dict[str, Any] | None = None,
    ) -> None:
        assert config.depth is not None  # resolved (resolve_repa)
        self.config, self.features, self.env = config, features, env
        self.grid = (model.config.grid_size, model.config.grid_size)
        generator = torch.Generator().manual_seed(seed64(seed * _PROJECTOR_STREAM + 1))
        projector = RepaProjector(
            model.config.width, features.feature_dim, config.projector_dim, generator
        )
        if state is not None:
            projector.load_state_dict(state["projector"])
        self.net = _wrap(projector.to(env.device), env, parallel)
        self.optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
        if state is not None:
            load_optimizer_state(self.net, self.optimizer, state["optimizer"])
        self.hidden: torch.Tensor | None = None
        self.hook = model.blocks[config.depth - 1].register_forward_hook(self._keep)

    @classmethod
    def for_run(
        cls,
        config: TrainConfig,
        model: AnyModel,
        data: ArrayData,
        env: DistEnv,
        parallel: Parallel,
        state: dict[str, Any] | None,
    ) -> RepaTraining | None:
        """What a run with ``config.repa`` attaches to ``model`` (None without REPA), resumed from
        the train ``state`` of its checkpoint. Build it after the EMA copy of the model, which must
        not carry the hook."""
        if config.repa is None:
            return None
        features = RepaFeatures.for_run(config, data, env.device)
        resumed = state["repa"] if state is not None else None
        return cls(config.repa, model, features, config.optim, config.seed, env, parallel, resumed)

    def _keep(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.hidden = output  # (B, N, D)

    def parameters(self) -> list[nn.Parameter]:
        return list(self.net.parameters())

    def add_to(self, out: LossOutput, x1: torch.Tensor, index: torch.Tensor) -> RepaLoss:
        """The step's loss plus ``weight`` times the alignment of the tokens the hook kept
        (``x1`` the batch's clean images, ``index`` their rows of the data set)."""
        if self.hidden is None:
            raise RuntimeError(
                "the REPA hook saw no forward of the model: compute the loss before add_to"
            )
        projected, self.hidden = self.net(self.hidden), None  # (B, N, Z)
        weights = None
        if self.config.time_weighting == "t":
            assert out.t is not None  # patch_forcing_loss records the times it drew
            weights = time_weights(out.t)
        features = features_to_tokens(self.features(x1, index), self.grid)  # (B, N, Z)
        align = alignment_loss(projected, features, weights)
        return RepaLoss(replace(out, loss=out.loss + self.config.weight * align), align)

    def align_mean(self, step: RepaLoss) -> float:
        """The alignment term averaged over the ranks (equal on every rank)."""
        return float(all_reduce_mean(step.align.detach().float().reshape(1), self.env))

    def state(self) -> dict[str, Any]:
        """Projector weights and optimizer state for the checkpoint (collective under FSDP)."""
        return {
            "projector": model_state(self.net),
            "optimizer": optimizer_state(self.net, self.optimizer),
        }
