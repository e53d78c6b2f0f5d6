"""The resolved configuration of a training run, saved with the run and inside every checkpoint."""

from __future__ import annotations

import json
import math
import types
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Union, get_args, get_origin, get_type_hints

from patchforcing._moved import moved_names
from patchforcing.core.loss import LossConfig
from patchforcing.core.time_dist import TimeDistribution, build_time_distribution
from patchforcing.data import DataConfig
from patchforcing.model import AnyModelConfig, ModelConfig
from patchforcing.model.text_config import TextModelConfig
from patchforcing.train.repa_config import RepaConfig
from patchforcing.utils.limits import MAX_TRAIN_STEPS, LimitError, check_limit, check_seeds

__all__ = [
    "FORMAT_VERSION",
    "TimeDistConfig",
    "OptimConfig",
    "TextConfig",
    "TrainConfig",
    "config_to_dict",
    "config_from_dict",
    "config_to_json",
    "TEXT_ENCODERS",
]

FORMAT_VERSION = 1
PRECISIONS = ("fp32", "bf16")
ON_NONFINITE = ("stop", "skip")
LR_SCHEDULES = ("constant", "cosine")
TEXT_ENCODERS = ("builtin", "pretrained")


@dataclass(frozen=True)
class TimeDistConfig:
    """The training time distribution by name
    (:data:`~patchforcing.core.time_dist.TIME_DISTRIBUTIONS`) and its parameters."""

    name: str = "ltg"
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.build()

    def build(self) -> TimeDistribution:
        return build_time_distribution(self.name, self.params)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up then a constant rate, gradient clipping and EMA
    (authors' recipe)."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 1000
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    ema_warmup: bool = (
        False  # decay_k = min(ema_decay, (1 + k) / (10 + k)): for runs too short to forget the init
    )
    schedule: str = (
        "constant"  # after the warm-up: constant (authors) or cosine decay to 0 at the last step
    )

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
        if self.schedule not in LR_SCHEDULES:
            raise ValueError(f"schedule must be one of {LR_SCHEDULES}, got {self.schedule!r}")


@dataclass(frozen=True)
class TextConfig:
    """How a text-to-image run encodes its captions: the built-in word tokenizer (its vocabulary
    built from the training captions, words seen at least ``min_count`` times; embeddings trained
    with the model) or a frozen Hugging Face model from the local folder ``pretrained_path`` (hidden
    states of ``layer``; the captions' states are computed once and cached)."""

    encoder: str = "builtin"
    pretrained_path: str | None = None
    layer: int = -1
    min_count: int = 1
    max_length: int = 32

    def __post_init__(self) -> None:
        if self.encoder not in TEXT_ENCODERS:
            raise ValueError(f"text encoder must be one of {TEXT_ENCODERS}, got {self.encoder!r}")
        if (self.encoder == "pretrained") != (self.pretrained_path is not None):
            raise ValueError(
                "a pretrained text encoder needs its local folder (pretrained_path), and only it"
            )
        if self.min_count < 1 or self.max_length < 2:
            raise ValueError(
                f"need min_count >= 1 and max_length >= 2, got {self.min_count}, {self.max_length}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """``model`` is a class-conditional :class:`ModelConfig`, or a :class:`TextModelConfig` together
    with ``text`` (how captions are encoded) for a text-to-image run; ``repa`` adds representation
    alignment (None: none, the paper's main setting)."""

    model: AnyModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    time_dist: TimeDistConfig = field(default_factory=TimeDistConfig)
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
    text: TextConfig | None = None
    repa: RepaConfig | None = None

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "batch_size",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "keep_checkpoints",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_seeds(self.seed, 1)
        if self.steps > MAX_TRAIN_STEPS:
            raise LimitError(
                f"steps is {self.steps:,}; a run has at most {MAX_TRAIN_STEPS:,} steps (checkpoint "
                "folders are named with eight digits)"
            )
        check_limit("batch_size", self.batch_size, "images")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.on_nonfinite not in ON_NONFINITE:
            raise ValueError(
                f"on_nonfinite must be one of {ON_NONFINITE}, got {self.on_nonfinite!r}"
            )
        if self.model.time_mode == "global" and not self.time_dist.build().is_global:
            raise ValueError(
                f"a global-time model needs a global time distribution, not {self.time_dist.name!r}"
            )
        if isinstance(self.model, TextModelConfig) != (self.text is not None):
            raise ValueError(
                "a text-to-image model needs a text section (how captions are encoded), and only it"
            )
        if self.repa is not None:
            self.repa.check_model(self.model.depth)
        if self.data.image_size not in (None, self.model.image_size):
            raise ValueError(
                f"data image_size {self.data.image_size} differs from "
                f"model image_size {self.model.image_size}"
            )

    @property
    def time_sampler(self) -> TimeDistConfig:
        """Deprecated name of :attr:`time_dist` (removed in patchforcing 0.3)."""
        warnings.warn(
            "TrainConfig.time_sampler is renamed time_dist; "
            "the old name is removed in patchforcing 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.time_dist


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The JSON form of a training config (with its format version), as runs save it. A run
    without REPA has no ``repa`` key, so its form (and what is keyed by it, like the quality bench's
    arm folders) is the one of configs written before the section existed."""
    values = asdict(config)
    if values["repa"] is None:
        del values["repa"]
    return {"format_version": FORMAT_VERSION, **values}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the annotated type (JSON lists -> tuples, ints -> floats), else ``ValueError``.

    Checking types here, before the dataclasses' own range checks run, keeps a hand-edited or
    corrupted config.json from surfacing as an arbitrary ``TypeError`` deep inside a constructor."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except ValueError:
                pass
        raise ValueError(
            f"{where} must be {' or '.join(getattr(a, '__name__', str(a)) for a in args)}, "
            f"got {_short(value)}"
        )
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{where} must be a list of {len(args)} values, got {_short(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {_short(value)}")
        return {
            _coerce(k, args[0], f"{where} key"): _coerce(v, args[1], f"{where}.{k}")
            for k, v in value.items()
        }
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {_short(value)}")
        return float(value)
    if (
        hint in (int, str, bool)
        and isinstance(value, hint)
        and (hint is bool or not isinstance(value, bool))
    ):
        return value
    raise ValueError(f"{where} must be {getattr(hint, '__name__', hint)}, got {_short(value)}")


def _build(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ValueError(
            f"config section {where or 'top level'!r} must be a mapping, got "
            f"{type(values).__name__}"
        )
    hints = get_type_hints(cls)
    unknown = sorted(map(str, set(values) - set(hints)))
    if unknown:
        raise ValueError(f"unknown config key(s) in {where or 'top level'!r}: {unknown}")
    kwargs = {}
    for name, value in values.items():
        path = f"{where}.{name}" if where else name
        sub = _SECTIONS.get((cls, name))
        if sub is _model_section:
            sub = _model_section(value)
        if sub is not None and not (value is None and type(None) in get_args(hints[name])):
            kwargs[name] = _build(sub, value, path)
        else:
            kwargs[name] = _coerce(value, hints[name], path)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, ArithmeticError) as err:
        raise ValueError(f"config section {where or 'top level'!r}: {err}") from err


def _model_section(values: Any) -> type:
    """The model section's class: a text-to-image model has a text refiner."""
    return (
        TextModelConfig if isinstance(values, dict) and "refiner_width" in values else ModelConfig
    )


_SECTIONS: dict[tuple[type, str], Any] = {
    (TrainConfig, "model"): _model_section,
    (TrainConfig, "data"): DataConfig,
    (TrainConfig, "time_dist"): TimeDistConfig,
    (TrainConfig, "loss"): LossConfig,
    (TrainConfig, "optim"): OptimConfig,
    (TrainConfig, "text"): TextConfig,
    (TrainConfig, "repa"): RepaConfig,
}


_OLD_TIME_KEY = "time_sampler"  # the key of `time_dist` in configs of release 0.1, still read


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict`; refuses newer format versions, unknown keys and values of
    the wrong type or range, always with a ``ValueError`` naming the key."""
    if not isinstance(values, dict):
        raise ValueError(f"a config must be a mapping, got {type(values).__name__}")
    values = dict(values)
    version = values.pop("format_version", None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"config has no valid 'format_version' (got {_short(version)})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"config format version {version} is newer than this patchforcing supports "
            f"({FORMAT_VERSION}); upgrade patchforcing"
        )
    if _OLD_TIME_KEY in values:  # written before the time distributions were named so
        if "time_dist" in values:
            raise ValueError(f"config has both 'time_dist' and its old name {_OLD_TIME_KEY!r}")
        values["time_dist"] = values.pop(_OLD_TIME_KEY)
    return _build(TrainConfig, values, "")


def config_to_json(config: TrainConfig) -> str:
    return json.dumps(config_to_dict(config), indent=2, sort_keys=True)


__getattr__ = moved_names(
    __name__, {"TimeSamplerConfig": "patchforcing.train.config:TimeDistConfig"}
)
