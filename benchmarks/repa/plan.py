"""What the REPA bench trains and evaluates: its configuration, arms, evaluations and claims.

Four arms answer the paper's claim (SPEC.md section 7: REPA helps SiT and PF alike, and PF keeps
its lead with it) and a fifth the question the paper leaves open (how REPA weighs tokens with
different times): the global-time baseline and Patch Forcing, each without and with REPA, and PF
with time-weighted alignment. Every arm is the data's recipe (``emoji-t2i`` / ``emoji-t2i-global``
for the emoji set, ``fmnist-pf`` / ``fmnist-global`` for Fashion-MNIST) with the same budget, plus
REPA's options where it has them; the baseline arms are scored with Euler, the PF arms with Euler-PF
and look-ahead, at equal NFE and the same sampling seeds, so the quality bench's paired verdicts
apply (:mod:`benchmarks.quality.claims`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from benchmarks.quality.claims import Claim
from patchforcing.data import ArrayData
from patchforcing.train.config import TrainConfig, config_to_json
from patchforcing.train.recipes import recipe_setup
from patchforcing.train.repa_config import RepaConfig
from patchforcing.train.setup import train_config_for
from patchforcing.utils.device import PRECISION_CHOICES, resolve_precision

__all__ = [
    "DATA",
    "ARMS",
    "SAMPLERS",
    "SHIPPED_SPACES",
    "TRAINED_SPACE",
    "RepaBenchConfig",
    "RepaArm",
    "RepaEval",
    "CLAIMS",
    "SMOKE",
    "plan_evals",
    "plan_arms",
    "arm_train_config",
    "bench_config_from_dict",
]

DATA = {  # data set -> (PF recipe, baseline recipe)
    "emoji": ("emoji-t2i", "emoji-t2i-global"),
    "fashion-mnist": ("fmnist-pf", "fmnist-global"),
}
ARMS = (  # (label, global-time baseline, time weighting of the alignment or None: no REPA)
    ("baseline", True, None),
    ("baseline-repa", True, "none"),
    ("pf", False, None),
    ("pf-repa", False, "none"),
    ("pf-repa-t", False, "t"),
)
SAMPLERS = {True: ("euler",), False: ("euler-pf", "look-ahead")}  # by "global-time baseline"
SHIPPED_SPACES = {  # the feature spaces each data set is scored in; the first is the primary one
    "emoji": ("emoji-classifier",),
    "fashion-mnist": ("fmnist-classifier", "fmnist-resnet-aug"),
}
TRAINED_SPACE = "emoji-resnet-aug"  # the emoji set's second space: trained by the bench, once


@dataclass(frozen=True)
class RepaBenchConfig:
    """The budget and schedule fields None take the data's recipe; REPA's fields are the REPA
    recipe's but the projector width (256, not 2048: 2048 hidden units cost 3-4x the step of these
    2M-parameter models, where the authors' costs 2% of XL's; the ratio to the model width,
    1152 -> 2048, is kept roughly: 128 -> 256)."""

    out_dir: str = "bench-repa"
    data: str = "emoji"
    data_dir: str | None = None
    train_steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    ema_decay: float | None = None
    depth: int | None = None
    width: int | None = None
    num_heads: int | None = None
    patch_size: int | None = None
    precision: str = "auto"
    train_seeds: tuple[int, ...] = (0, 1, 2)
    sample_seeds: tuple[int, ...] = (0, 1, 2)
    num_images: int = 375  # the emoji test set; image i from the first caption of test image i
    eval_batch: int = 125
    nfe: int = 32
    cfg: float = 1.0  # the paper's REPA figures are without guidance
    encoder: str = "efficientnet-lite0"
    repa_weight: float = RepaConfig.weight
    repa_depth: int | None = None
    projector_dim: int = 256
    repa_resolution: int | None = None
    classifier_epochs: int = 10  # of the emoji set's second feature space
    reference_size: int | None = None

    def __post_init__(self) -> None:
        if self.data not in DATA:
            raise ValueError(f"bench repa: data must be one of {sorted(DATA)}, got {self.data!r}")
        if not self.train_seeds or not self.sample_seeds:
            raise ValueError("bench repa needs at least one training seed and sampling seed")
        if min(self.num_images, self.eval_batch, self.nfe, self.classifier_epochs) < 1:
            raise ValueError(f"bench repa: counts and NFE must be >= 1, got {self}")
        if self.num_images <= 5:
            raise ValueError("bench repa needs more than 5 images per evaluation (k-NN metrics)")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"bench repa: precision must be one of {PRECISION_CHOICES}")

    @property
    def text(self) -> bool:
        """Whether the arms are text-to-image models (the emoji set's recipes)."""
        return self.data == "emoji"

    def resolved(self, device: Any) -> RepaBenchConfig:
        return replace(self, precision=resolve_precision(self.precision, device))


SMOKE = RepaBenchConfig(
    out_dir="bench-repa-smoke",
    train_steps=6,
    batch_size=16,
    lr=3e-3,
    warmup_steps=1,
    ema_decay=0.0,
    depth=1,
    width=32,
    num_heads=2,
    patch_size=8,
    precision="fp32",
    train_seeds=(0,),
    sample_seeds=(0, 1),
    num_images=24,
    eval_batch=24,
    nfe=4,
    projector_dim=32,
    classifier_epochs=1,
    reference_size=100,
)


def bench_config_from_dict(values: dict[str, Any]) -> RepaBenchConfig:
    """The configuration a results file records (JSON lists back to tuples)."""
    values = dict(values)
    for name in ("train_seeds", "sample_seeds"):
        values[name] = tuple(values[name])
    return RepaBenchConfig(**values)


@dataclass(frozen=True)
class RepaArm:
    label: str
    baseline: bool  # global time, no difficulty head
    repa: str | None  # the alignment's time weighting; None: no REPA
    train_seed: int


@dataclass(frozen=True)
class RepaEval:
    arm: RepaArm
    sampler: str
    nfe: int
    sample_seed: int

    @property
    def key(self) -> tuple[str, int, str, int, int]:
        """(arm, training seed, sampler, requested NFE, sampling seed), as the quality bench's."""
        return self.arm.label, self.arm.train_seed, self.sampler, self.nfe, self.sample_seed


def plan_arms(config: RepaBenchConfig) -> list[RepaArm]:
    return [
        RepaArm(label, baseline, repa, seed)
        for label, baseline, repa in ARMS
        for seed in config.train_seeds
    ]


def plan_evals(config: RepaBenchConfig) -> list[RepaEval]:
    """Every evaluation: each arm with its samplers at ``nfe`` and every sampling seed."""
    return [
        RepaEval(arm, sampler, config.nfe, seed)
        for arm in plan_arms(config)
        for sampler in SAMPLERS[arm.baseline]
        for seed in config.sample_seeds
    ]


def _given(**values: Any) -> dict[str, Any]:
    """The values that are not None: the bench's changes to a recipe."""
    return {k: v for k, v in values.items() if v is not None}


def arm_train_config(
    config: RepaBenchConfig, arm: RepaArm, root: str, data: ArrayData
) -> TrainConfig:
    """The arm's run: its recipe with the bench's budget, backbone and precision, and REPA's
    options for a REPA arm; the folder ``root/LABEL-seedS-DIGEST`` names a digest of the rest."""
    if config.precision not in ("fp32", "bf16"):
        raise ValueError(f"resolve the bench's precision {config.precision!r} first (resolved)")
    pf, baseline = DATA[config.data]
    setup = recipe_setup(baseline if arm.baseline else pf, seed=arm.train_seed)
    backbone = _given(
        steps=config.train_steps,
        batch_size=config.batch_size,
        depth=config.depth,
        width=config.width,
        num_heads=config.num_heads,
        patch_size=config.patch_size,
    )
    repa = (
        RepaConfig(
            encoder=config.encoder,
            depth=config.repa_depth,
            weight=config.repa_weight,
            projector_dim=config.projector_dim,
            resolution=config.repa_resolution,
            time_weighting=arm.repa,
        )
        if arm.repa is not None
        else None
    )
    optim = _given(lr=config.lr, warmup_steps=config.warmup_steps, ema_decay=config.ema_decay)
    setup = replace(
        setup,
        data=replace(setup.data, data_dir=config.data_dir),
        optim=replace(setup.optim, **optim),
        precision=config.precision,
        out_dir="",
        repa=repa,
        **backbone,
    )
    train = train_config_for(setup, data)
    digest = hashlib.sha256(config_to_json(train).encode()).hexdigest()[:10]
    return replace(train, out_dir=f"{root}/{arm.label}-seed{arm.train_seed}-{digest}")


_EULER, _LOOK, _PF = ("baseline", "euler"), ("pf", "look-ahead"), ("pf", "euler-pf")
CLAIMS = (  # FID without guidance, SiT-XL/2 and PF-XL/2 at 400k steps (SPEC.md sections 5 and 7)
    Claim(
        "repa",
        "REPA improves the global-time baseline",
        ("baseline-repa", "euler"),
        _EULER,
        7.9,
        17.2,
    ),
    Claim("repa", "REPA improves PF + look-ahead", ("pf-repa", "look-ahead"), _LOOK, 6.7, 9.8),
    Claim(
        "repa",
        "with REPA, PF + look-ahead beats the global-time baseline",
        ("pf-repa", "look-ahead"),
        ("baseline-repa", "euler"),
        6.7,
        7.9,
    ),
    Claim(
        "repa",
        "PF + look-ahead beats the global-time baseline (without REPA)",
        _LOOK,
        _EULER,
        9.8,
        17.2,
        "control",
        "the paper's main claim on these arms, the reference the REPA claims are read against",
    ),
    Claim(
        "repa",
        "REPA improves PF + Euler-PF",
        ("pf-repa", "euler-pf"),
        _PF,
        None,
        None,
        "extra",
        "REPA with PF's training alone, without its adaptive sampler",
    ),
    Claim(
        "repa",
        "time-weighted alignment beats aligning every token alike (PF + look-ahead)",
        ("pf-repa-t", "look-ahead"),
        ("pf-repa", "look-ahead"),
        None,
        None,
        "extra",
        "the paper does not say how REPA weighs tokens of different times; plain is the default",
    ),
)
