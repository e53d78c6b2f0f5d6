"""The resolved configuration of a training run, saved with the run and inside every checkpoint."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from patchforcing.data import DataConfig
from patchforcing.loss import LossConfig
from patchforcing.model import ModelConfig
from patchforcing.timesamplers import build_time_sampler

__all__ = ["FORMAT_VERSION", "TimeSamplerConfig", "OptimConfig", "TrainConfig", "config_to_dict",
           "config_from_dict", "config_to_json"]

FORMAT_VERSION = 1
PRECISIONS = ("fp32", "bf16")
ON_NONFINITE = ("stop", "skip")


@dataclass(frozen=True)
class TimeSamplerConfig:
    name: str = "ltg"
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        build_time_sampler(self.name, self.params)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up then a constant rate, gradient clipping and EMA (authors' recipe)."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 1000
    grad_clip: float = 1.0
    ema_decay: float = 0.9999

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    time_sampler: TimeSamplerConfig = field(default_factory=TimeSamplerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    out_dir: str = "runs/fmnist-pf"
    steps: int = 10_000
    batch_size: int = 64
    seed: int = 0
    precision: str = "fp32"
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    on_nonfinite: str = "stop"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.on_nonfinite not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite must be one of {ON_NONFINITE}, got {self.on_nonfinite!r}")
        sampler = build_time_sampler(self.time_sampler.name, self.time_sampler.params)
        if self.model.time_mode == "global" and not sampler.is_global:
            raise ValueError(f"a global-time model needs a global time sampler, not {sampler.name!r}")
        if self.data.image_size not in (None, self.model.image_size):
            raise ValueError(f"data image_size {self.data.image_size} differs from model image_size {self.model.image_size}")


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, **asdict(config)}


def _build(cls, values: dict[str, Any], where: str):
    if not isinstance(values, dict):
        raise ValueError(f"config section {where!r} must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) in {where!r}: {unknown}")
    kwargs = {}
    for name, value in values.items():
        sub = _SECTIONS.get((cls, name))
        if sub is not None:
            value = _build(sub, value, f"{where}.{name}" if where else name)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


_SECTIONS = {(TrainConfig, "model"): ModelConfig, (TrainConfig, "data"): DataConfig,
             (TrainConfig, "time_sampler"): TimeSamplerConfig, (TrainConfig, "loss"): LossConfig,
             (TrainConfig, "optim"): OptimConfig}


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict`; refuses newer format versions and unknown keys."""
    values = dict(values)
    version = values.pop("format_version", None)
    if version is None or not isinstance(version, int):
        raise ValueError("config has no integer 'format_version'")
    if version > FORMAT_VERSION:
        raise ValueError(f"config format version {version} is newer than this patchforcing supports "
                         f"({FORMAT_VERSION}); upgrade patchforcing")
    return _build(TrainConfig, values, "")


def config_to_json(config: TrainConfig) -> str:
    return json.dumps(config_to_dict(config), indent=2, sort_keys=True)
