"""What ``bench quality`` trains and evaluates: its configuration, the arms and the evaluations.

An *arm* is one trained model (backbone, time distribution, training seed); every arm is built from
the same recipe (:func:`patchforcing.train.recipes.recipe_setup`: ``fmnist-global`` for the
global-time baseline, ``fmnist-pf`` for every Patch Forcing arm) plus the arm's changes, so arms
differ only in what the ablation varies. An *evaluation* is (arm, sampler, NFE budget, sampling
seed). Parts share arms and evaluations: the recipe's PF arm ("pf": LTG with a quarter of the
samples at one global time) serves all three parts, and each arm and evaluation is trained and
scored once (cached on disk by key).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from patchforcing.data import ArrayData, DataConfig, load_dataset
from patchforcing.model import PRESETS
from patchforcing.sampling import SAMPLERS, Sampler
from patchforcing.sampling.options import sampler_options
from patchforcing.train.config import LR_SCHEDULES, TrainConfig, config_to_dict
from patchforcing.train.recipes import recipe_setup
from patchforcing.train.setup import train_config_for
from patchforcing.utils.device import PRECISION_CHOICES, resolve_precision

__all__ = [
    "QualityBenchConfig",
    "Arm",
    "EvalSpec",
    "PARTS",
    "TIME_DIST_ARMS",
    "PF_SAMPLERS",
    "CONTROL_SAMPLERS",
    "RECIPE_ARMS",
    "RECIPE_SHARE",
    "FEATURE_SPACES",
    "plan_part",
    "plan_arms",
    "arm_train_config",
    "bench_config_from_dict",
    "SMOKE",
]

PARTS = ("timesamplers", "sampling", "main")  # "timesamplers": the time distribution ablation
RECIPE_ARMS = {
    "pf": "fmnist-pf",
    "baseline": "fmnist-global",
}  # arm label -> the `train --recipe` that builds it
_RECIPE = recipe_setup(
    RECIPE_ARMS["pf"]
)  # the bench's defaults are its values (the baseline's are the same)
assert _RECIPE.preset is not None  # the recipe names its backbone
_BACKBONE = PRESETS[_RECIPE.preset]
RECIPE_SHARE = tuple(
    sorted(_RECIPE.time_dist_params.items())
)  # the recipe's LTG parameters (its global share)
# (label, time distribution, parameters) of the time distribution ablation: the paper's as SPEC.md
# section 3 ("ltg" is plain LTG), then the recipe's LTG ("pf"), so the ablation holds the A/B of its
# global share.
TIME_DIST_ARMS: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = (
    ("global-uniform", "uniform", ()),
    ("global-logit-normal", "logit_normal", ()),
    ("independent", "independent", ()),
    ("srm-s1", "srm", (("sharpness", 1.0),)),
    ("srm-s4", "srm", (("sharpness", 4.0),)),
    ("srm-s10", "srm", (("sharpness", 10.0),)),
    ("truncated-gaussian", "truncated_gaussian", ()),
    ("ltg", "ltg", ()),
    ("pf", "ltg", RECIPE_SHARE),
)
PF_SAMPLERS = ("euler-pf", "dual-loop", "look-ahead")
CONTROL_SAMPLERS = ("random", "hardest-first")
FEATURE_SPACES = (
    "fmnist-classifier",
    "fmnist-resnet-aug",
)  # shipped classifiers; the first is the primary space


@dataclass(frozen=True)
class QualityBenchConfig:
    """The training fields default to the ``fmnist-pf`` recipe's values (read from it); 3
    training seeds.

    ``precision`` "auto" is resolved for the device when the bench runs (:meth:`resolved`), and the
    results record the resolved value."""

    out_dir: str = "bench-quality"
    depth: int = _BACKBONE["depth"]
    width: int = _BACKBONE["width"]
    num_heads: int = _BACKBONE["num_heads"]
    patch_size: int = _BACKBONE["patch_size"]
    train_steps: int = _RECIPE.steps
    batch_size: int = _RECIPE.batch_size
    lr: float = _RECIPE.optim.lr
    warmup_steps: int = _RECIPE.optim.warmup_steps
    lr_schedule: str = _RECIPE.optim.schedule
    ema_decay: float = _RECIPE.optim.ema_decay
    ema_warmup: bool = _RECIPE.optim.ema_warmup
    precision: str = "auto"
    train_seeds: tuple[int, ...] = (0, 1, 2)
    sample_seeds: tuple[int, ...] = (0, 1, 2)
    num_images: int = 500
    eval_batch: int = 250
    nfe: int = 16
    nfe_sweep: tuple[int, ...] = (8, 16, 32, 64)
    reference_size: int | None = None  # first images of the 10k test set (None: all)
    data_dir: str | None = None
    classifiers: tuple[str, ...] = FEATURE_SPACES  # feature spaces every evaluation is scored in
    sampler_options: tuple[
        tuple[str, float | int | bool], ...
    ] = ()  # (field, value) for every sampler taking it

    def sampler(self, name: str) -> Sampler:
        """The sampler config ``name`` with the bench's sampler options that it takes."""
        cls = SAMPLERS[name]
        accepted = {info.name for info in sampler_options(cls)}
        known = {info.name for c in SAMPLERS.values() for info in sampler_options(c)}
        unknown = {k for k, _ in self.sampler_options} - known
        if unknown:
            raise ValueError(f"unknown sampler options {sorted(unknown)}")
        return cls(**{k: v for k, v in self.sampler_options if k in accepted})

    @property
    def options_tag(self) -> str:
        """A file-name part naming non-default sampler options ('' for the defaults)."""
        return "".join(f"-{k}{v}" for k, v in sorted(self.sampler_options))

    def resolved(self, device: torch.device) -> QualityBenchConfig:
        """This configuration with ``precision`` "auto" replaced by what it means on ``device``."""
        return replace(self, precision=resolve_precision(self.precision, device))

    def __post_init__(self) -> None:
        if not self.train_seeds or not self.sample_seeds or not self.nfe_sweep:
            raise ValueError(
                "bench quality needs at least one training seed, sampling seed and sweep NFE"
            )
        if (
            min(
                self.train_steps,
                self.batch_size,
                self.num_images,
                self.eval_batch,
                self.nfe,
                *self.nfe_sweep,
            )
            < 1
        ):
            raise ValueError(
                f"bench quality: steps, batch sizes, image counts and NFEs must be >= 1, got {self}"
            )
        if self.num_images <= 5:
            raise ValueError(
                "bench quality needs more than 5 images per evaluation (k-NN metrics use k = 5)"
            )
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(
                f"bench quality: precision must be one of {PRECISION_CHOICES}, got "
                f"{self.precision!r}"
            )
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"bench quality: lr_schedule must be one of {LR_SCHEDULES}, got "
                f"{self.lr_schedule!r}"
            )
        if not self.classifiers or len(set(self.classifiers)) != len(self.classifiers):
            raise ValueError(
                f"bench quality needs one or more distinct classifiers, got {self.classifiers}"
            )


SMOKE = QualityBenchConfig(
    depth=1,
    width=32,
    num_heads=2,
    patch_size=7,
    train_steps=6,
    batch_size=16,
    lr=3e-3,
    warmup_steps=2,
    ema_decay=0.0,
    ema_warmup=False,
    precision="fp32",
    train_seeds=(0,),
    sample_seeds=(0, 1, 2),
    num_images=24,
    eval_batch=24,
    nfe=4,
    nfe_sweep=(4, 8),
    reference_size=500,
)


def bench_config_from_dict(values: dict[str, Any]) -> QualityBenchConfig:
    """The configuration a results file records (JSON lists back to tuples); fields it lacks (files
    written before they existed) take today's defaults, fields unknown today are left out."""
    known = {f.name for f in fields(QualityBenchConfig)}
    kept = {k: v for k, v in values.items() if k in known}
    for name in ("train_seeds", "sample_seeds", "nfe_sweep", "classifiers"):
        if name in kept:
            kept[name] = tuple(kept[name])
    if "sampler_options" in kept:
        kept["sampler_options"] = tuple(tuple(pair) for pair in kept["sampler_options"])
    return QualityBenchConfig(**kept)


@dataclass(frozen=True)
class Arm:
    label: str  # e.g. "pf", "baseline", "ltg"
    time_dist: str
    params: tuple[tuple[str, float], ...]
    global_time: bool  # the SiT-style baseline: one time per image, no difficulty head
    train_seed: int


@dataclass(frozen=True)
class EvalSpec:
    arm: Arm
    sampler: str
    nfe: int
    sample_seed: int

    @property
    def key(self) -> tuple[str, int, str, int, int]:
        """(arm, training seed, sampler, requested NFE, sampling seed): what identifies
        its result."""
        return self.arm.label, self.arm.train_seed, self.sampler, self.nfe, self.sample_seed


@functools.cache
def _train_data(data_dir: str | None) -> ArrayData:
    """The training set, loaded once: the arms' model sizes follow from it."""
    return load_dataset(DataConfig(data_dir=data_dir))


def _digest(train: TrainConfig) -> str:
    """A digest of the run configuration, the time distribution hashed under its key of release 0.1
    ("time_sampler") so that arm folders made before it was renamed keep their names."""
    values = config_to_dict(train)
    values["time_sampler"] = values.pop("time_dist")
    return hashlib.sha256(json.dumps(values, indent=2, sort_keys=True).encode()).hexdigest()[:10]


def arm_train_config(config: QualityBenchConfig, arm: Arm, out_root: str) -> TrainConfig:
    """The run configuration of an arm: its recipe with the arm's training seed and time
    distribution and the bench's backbone, budget, schedule and precision. With the default bench
    configuration the "pf" and "baseline" arms are what
    ``patchforcing train --recipe fmnist-pf|fmnist-global --seed S`` builds (but the folder). The
    folder's name holds a digest of everything but the folder."""
    if config.precision not in ("fp32", "bf16"):
        raise ValueError(
            f"resolve the bench's precision {config.precision!r} first "
            "(QualityBenchConfig.resolved)"
        )
    setup = recipe_setup(RECIPE_ARMS["baseline" if arm.global_time else "pf"], seed=arm.train_seed)
    optim = replace(
        setup.optim,
        lr=config.lr,
        warmup_steps=config.warmup_steps,
        ema_decay=config.ema_decay,
        ema_warmup=config.ema_warmup,
        schedule=config.lr_schedule,
    )
    setup = replace(
        setup,
        data=replace(setup.data, data_dir=config.data_dir),
        depth=config.depth,
        width=config.width,
        num_heads=config.num_heads,
        patch_size=config.patch_size,
        time_dist=arm.time_dist,
        time_dist_params=dict(arm.params),
        optim=optim,
        steps=config.train_steps,
        batch_size=config.batch_size,
        precision=config.precision,
        out_dir="",
    )
    train = train_config_for(setup, _train_data(config.data_dir))
    return replace(train, out_dir=f"{out_root}/{arm.label}-seed{arm.train_seed}-{_digest(train)}")


def _arms(
    config: QualityBenchConfig, label: str, time_dist: str, params=(), global_time: bool = False
) -> list[Arm]:
    return [Arm(label, time_dist, params, global_time, seed) for seed in config.train_seeds]


def plan_part(config: QualityBenchConfig, part: str) -> list[EvalSpec]:
    """Every evaluation a part needs (arms follow from them)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose from {PARTS}")
    pf = _arms(config, "pf", "ltg", RECIPE_SHARE)
    baseline = _arms(config, "baseline", "uniform", global_time=True)
    runs: list[tuple[list[Arm], str, int]] = []
    if part == "timesamplers":
        runs = [
            (_arms(config, label, name, params), "euler-pf", config.nfe)
            for label, name, params in TIME_DIST_ARMS
        ]
    elif part == "sampling":
        runs = [
            (pf, s, config.nfe) for s in (*CONTROL_SAMPLERS, *PF_SAMPLERS)
        ]  # the two controls first
        runs += [(baseline, "euler", n) for n in config.nfe_sweep]
        runs += [(pf, s, n) for s in PF_SAMPLERS for n in config.nfe_sweep]
    else:
        runs = [(baseline, "euler", config.nfe)] + [(pf, s, config.nfe) for s in PF_SAMPLERS]
    specs = [
        EvalSpec(arm, sampler, nfe, seed)
        for arms, sampler, nfe in runs
        for arm in arms
        for seed in config.sample_seeds
    ]
    return list(dict.fromkeys(specs))


def plan_arms(config: QualityBenchConfig, parts: tuple[str, ...] = PARTS) -> list[Arm]:
    """The arms the parts need, each once, in plan order."""
    return list(dict.fromkeys(spec.arm for part in parts for spec in plan_part(config, part)))
