"""What ``bench quality`` trains and evaluates: its configuration, the arms and the evaluations.

An *arm* is one trained model (backbone, time sampler, training seed); every arm uses the same
backbone, steps, batch and optimizer, so arms differ only in what the ablation varies. An
*evaluation* is (arm, sampler, NFE budget, sampling seed). Parts share arms and evaluations: the LTG
arm serves all three parts, and each is trained and scored once (both are cached on disk by key).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from patchforcing.data import DataConfig
from patchforcing.model import ModelConfig
from patchforcing.sampling import SAMPLERS, Sampler
from patchforcing.sampling.options import sampler_options
from patchforcing.train.config import OptimConfig, TimeSamplerConfig, TrainConfig, config_to_json

__all__ = ["QualityBenchConfig", "Arm", "EvalSpec", "PARTS", "TIME_SAMPLER_ARMS", "PF_SAMPLERS", "plan_part",
           "arm_train_config", "SMOKE"]

PARTS = ("timesamplers", "sampling", "main")
# (label, time sampler, parameters) of the time-sampler ablation; "ltg" is the Patch Forcing default.
TIME_SAMPLER_ARMS: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = (
    ("global-uniform", "uniform", ()), ("global-logit-normal", "logit_normal", ()), ("independent", "independent", ()),
    ("srm-s1", "srm", (("sharpness", 1.0),)), ("srm-s4", "srm", (("sharpness", 4.0),)),
    ("srm-s10", "srm", (("sharpness", 10.0),)), ("truncated-gaussian", "truncated_gaussian", ()), ("ltg", "ltg", ()))
PF_SAMPLERS = ("euler-pf", "dual-loop", "look-ahead")


@dataclass(frozen=True)
class QualityBenchConfig:
    """Defaults are sized for a 2-core CPU in about 3 hours (see docs/metrics.md for the measurement)."""

    out_dir: str = "bench-quality"
    depth: int = 3
    width: int = 96
    num_heads: int = 4
    patch_size: int = 4
    train_steps: int = 2500
    batch_size: int = 64
    lr: float = 5e-4
    warmup_steps: int = 200
    ema_decay: float = 0.995  # an averaging horizon of ~200 steps: the zero-output init is forgotten
    train_seeds: tuple[int, ...] = (0,)
    sample_seeds: tuple[int, ...] = (0, 1, 2)
    num_images: int = 500
    eval_batch: int = 250
    nfe: int = 16
    nfe_sweep: tuple[int, ...] = (8, 16, 32, 64)
    reference_size: int | None = None  # first images of the 10k test set (None: all)
    data_dir: str | None = None
    sampler_options: tuple[tuple[str, float | int | bool], ...] = ()  # (field, value) for every sampler taking it

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

    def __post_init__(self) -> None:
        if not self.train_seeds or not self.sample_seeds or not self.nfe_sweep:
            raise ValueError("bench quality needs at least one training seed, sampling seed and sweep NFE")
        if min(self.train_steps, self.batch_size, self.num_images, self.eval_batch, self.nfe, *self.nfe_sweep) < 1:
            raise ValueError(f"bench quality: steps, batch sizes, image counts and NFEs must be >= 1, got {self}")
        if self.num_images <= 5:
            raise ValueError("bench quality needs more than 5 images per evaluation (k-NN metrics use k = 5)")


SMOKE = QualityBenchConfig(depth=1, width=32, num_heads=2, patch_size=7, train_steps=6, batch_size=16, lr=3e-3,
                           warmup_steps=2, ema_decay=0.0, sample_seeds=(0, 1, 2), num_images=24, eval_batch=24,
                           nfe=4, nfe_sweep=(4, 8), reference_size=500)


@dataclass(frozen=True)
class Arm:
    label: str  # e.g. "ltg", "baseline"
    time_sampler: str
    params: tuple[tuple[str, float], ...]
    global_time: bool  # the SiT-style baseline: one time per image, no difficulty head
    train_seed: int


@dataclass(frozen=True)
class EvalSpec:
    arm: Arm
    sampler: str
    nfe: int
    sample_seed: int


def arm_train_config(config: QualityBenchConfig, arm: Arm, out_root: str) -> TrainConfig:
    """The run configuration of an arm; its folder name holds a digest of everything but the folder."""
    model = ModelConfig(image_size=28, in_channels=1, patch_size=config.patch_size, depth=config.depth,
                        width=config.width, num_heads=config.num_heads, num_classes=10,
                        time_mode="global" if arm.global_time else "patch", difficulty_head=not arm.global_time)
    train = TrainConfig(model=model, data=DataConfig(data_dir=config.data_dir),
                        time_sampler=TimeSamplerConfig(arm.time_sampler, dict(arm.params)),
                        optim=OptimConfig(lr=config.lr, warmup_steps=config.warmup_steps, ema_decay=config.ema_decay),
                        out_dir="", steps=config.train_steps, batch_size=config.batch_size, seed=arm.train_seed,
                        log_every=max(1, config.train_steps // 20), sample_every=config.train_steps,
                        checkpoint_every=max(1, min(500, config.train_steps)), keep_checkpoints=1)
    digest = hashlib.sha256(config_to_json(train).encode()).hexdigest()[:10]
    return replace(train, out_dir=f"{out_root}/{arm.label}-seed{arm.train_seed}-{digest}")


def _arms(config: QualityBenchConfig, label: str, sampler: str, params=(), global_time: bool = False) -> list[Arm]:
    return [Arm(label, sampler, params, global_time, seed) for seed in config.train_seeds]


def plan_part(config: QualityBenchConfig, part: str) -> list[EvalSpec]:
    """Every evaluation a part needs (arms follow from them)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose from {PARTS}")
    ltg = _arms(config, "ltg", "ltg")
    baseline = _arms(config, "baseline", "uniform", global_time=True)
    runs: list[tuple[list[Arm], str, int]] = []
    if part == "timesamplers":
        runs = [(_arms(config, label, name, params), "euler-pf", config.nfe)
                for label, name, params in TIME_SAMPLER_ARMS]
    elif part == "sampling":
        runs = [(ltg, s, config.nfe) for s in ("random", "hardest-first", *PF_SAMPLERS)]  # two controls first
        runs += [(baseline, "euler", n) for n in config.nfe_sweep]
        runs += [(ltg, s, n) for s in PF_SAMPLERS for n in config.nfe_sweep]
    else:
        runs = [(baseline, "euler", config.nfe)] + [(ltg, s, config.nfe) for s in PF_SAMPLERS]
    specs = [EvalSpec(arm, sampler, nfe, seed) for arms, sampler, nfe in runs for arm in arms
             for seed in config.sample_seeds]
    return list(dict.fromkeys(specs))
