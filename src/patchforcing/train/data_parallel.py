"""Data-parallel training on top of :mod:`patchforcing.utils.distributed`: wrapping the model (DDP,
or FSDP2 for the large presets, optionally ``torch.compile``), each rank's rows of the global batch,
and full (unsharded) state dicts so that rank 0 writes checkpoints any world size can resume from.

The global batch ``TrainConfig.batch_size`` and its data order do not depend on the world size:
rank r computes rows ``[r * B/W, (r + 1) * B/W)`` of the same global batch, with the randomness of
the whole batch sliced (see :func:`~patchforcing.core.loss.patch_forcing_loss`). Gradients are
averaged over ranks, so W ranks take the same steps as one process on the global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from patchforcing.core.loss import LossOutput
from patchforcing.model import AnyModel, AnyModelConfig, PatchModel
from patchforcing.utils.distributed import DistEnv, all_reduce_mean, rank_slice

__all__ = [
    "STRATEGIES",
    "Parallel",
    "DataParallel",
    "compile_model",
    "wrap_model",
    "shard_ema",
    "model_state",
    "optimizer_state",
    "load_optimizer_state",
    "NullLog",
    "global_stats",
    "any_rank",
    "batch_report",
]

STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class Parallel:
    """How a run executes, not what it trains, so it is not part of the saved TrainConfig: a run may
    resume with another strategy, world size or compile setting. ``compile`` None: decided by
    :func:`patchforcing.train.compile.choose_compile` when the run starts."""

    strategy: str = "ddp"
    compile: bool | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"parallel strategy must be one of {STRATEGIES}, got {self.strategy!r}"
            )


class DataParallel(DistributedDataParallel):
    """DDP that still exposes the wrapped model's ``config`` (the loss reads the patch size)."""

    module: AnyModel  # what it wraps (DDP types it as any Module)

    @property
    def config(self) -> AnyModelConfig:
        return self.module.config


def compile_model(model: PatchModel) -> PatchModel:
    """``torch.compile(model)``: an OptimizedModule that runs the compiled model and forwards every
    other attribute (``config``, ``parameters``) to it, so it is a PatchModel too."""
    return torch.compile(model)  # type: ignore[return-value]  # torch types the result as a bare callable


def _fsdp(model: AnyModel) -> AnyModel:
    """FSDP2: every block sharded on its own (so one block's weights are gathered at a time), then
    the root. ``fully_shard`` shards in place and returns the module it was given (its class now
    also an FSDPModule)."""
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)
    return model


def wrap_model(model: AnyModel, env: DistEnv, parallel: Parallel) -> PatchModel:
    """The module to train: ``model`` itself on one process, DDP or FSDP on several; compiled
    on request.
    FSDP shards ``model`` in place, so build the optimizer from the returned module's parameters."""
    net: AnyModel | DataParallel = model
    if env.distributed and parallel.strategy == "fsdp":
        net = _fsdp(model)
    elif env.distributed:
        ids = [env.device.index] if env.device.type == "cuda" else None
        net = DataParallel(model, device_ids=ids)
    return compile_model(net) if parallel.compile else net


def shard_ema(ema: AnyModel, env: DistEnv, parallel: Parallel) -> AnyModel:
    """The EMA copy, sharded like the online model under FSDP (so the update is shard
    against shard)."""
    return _fsdp(ema) if env.distributed and parallel.strategy == "fsdp" else ema


def _base(module: PatchModel | nn.Module) -> nn.Module:
    """The model under compile / DDP wrappers (FSDP2 keeps the module itself)."""
    base = getattr(module, "_orig_mod", module)
    base = base.module if isinstance(base, DistributedDataParallel) else base
    if not isinstance(base, nn.Module):
        raise TypeError(
            f"expected a torch module or a DDP / compiled wrapper of one, got {type(base).__name__}"
        )
    return base


def _sharded(module: PatchModel | nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(_base(module), FSDPModule)


def _options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def model_state(module: PatchModel | nn.Module) -> dict[str, torch.Tensor]:
    """Full CPU state dict with plain names. Under FSDP every rank must call it
    (it gathers shards)."""
    if _sharded(module):
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        # full_state_dict: plain tensors (torch types the values as any state-dict value); empty on
        # ranks but 0
        return get_model_state_dict(_base(module), options=_options())  # type: ignore[return-value]
    return {k: v.detach().cpu() for k, v in _base(module).state_dict().items()}


def _rekey(state: dict, mapping: dict) -> dict:
    """An optimizer state dict with its parameter keys renamed (ids <-> names)."""
    groups = [{**g, "params": [mapping[p] for p in g["params"]]} for g in state["param_groups"]]
    return {"state": {mapping[k]: v for k, v in state["state"].items()}, "param_groups": groups}


def optimizer_state(module: PatchModel | nn.Module, opt: torch.optim.Optimizer) -> dict:
    """The optimizer's full state dict in ``opt.state_dict()`` form (parameters numbered in model
    order), whatever the strategy, so checkpoints resume under DDP, FSDP or one process alike.
    Collective under FSDP, where only rank 0 receives it."""
    if not _sharded(module):
        return opt.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    full = get_optimizer_state_dict(_base(module), opt, options=_options())
    names = [name for name, _ in _base(module).named_parameters()]
    return _rekey(full, {name: i for i, name in enumerate(names)}) if full else {}


def load_optimizer_state(
    module: PatchModel | nn.Module, opt: torch.optim.Optimizer, state: dict
) -> None:
    """Load a state dict written by :func:`optimizer_state` (every rank passes the full dict)."""
    if not _sharded(module):
        opt.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    names = [name for name, _ in _base(module).named_parameters()]
    set_optimizer_state_dict(
        _base(module), opt, _rekey(state, dict(enumerate(names))), options=_options()
    )


class NullLog:
    """What ranks other than 0 log to: nothing (rank 0 writes the run's metrics.jsonl)."""

    def write(self, record: dict) -> None:
        del record


def global_stats(out: LossOutput, env: DistEnv) -> tuple[float, float, float | None]:
    """(loss, mse, nll) averaged over the ranks: the values of the global batch, equal on every
    rank, so that every rank takes the same decision on a non-finite loss."""
    nll = out.nll if out.nll is not None else torch.zeros_like(out.mse)
    loss, mse, mean_nll = all_reduce_mean(
        torch.stack([out.loss, out.mse, nll]).detach().float(), env
    ).tolist()
    return loss, mse, None if out.nll is None else mean_nll


def any_rank(flag: bool, env: DistEnv) -> bool:
    """True on every rank if it is True on any (a signal may reach the ranks one step apart)."""
    if not env.distributed:
        return flag
    return bool(all_reduce_mean(torch.tensor([float(flag)], device=env.device), env).item() > 0)


def batch_report(global_batch: int, env: DistEnv, parallel: Parallel) -> str:
    """One line naming the effective (global) batch and how it is split; also checks that
    it splits."""
    rows = rank_slice(global_batch, env.rank, env.world_size)
    how = (
        f"{parallel.strategy.upper()} over {env.world_size} processes"
        if env.distributed
        else "1 process"
    )
    return (
        f"effective batch size {global_batch} = {rows.stop - rows.start} per "
        f"process x {env.world_size} ({how}, "
        f"{env.device.type}{', compiled' if parallel.compile else ''})"
    )
