"""Named training recipes: the runs behind the shipped models and the quality bench.

A recipe is a :class:`~patchforcing.train.setup.TrainSetup` that names its data set;
:func:`recipe` resolves it into the run's :class:`TrainConfig`. ``patchforcing train --recipe NAME``
starts from :func:`recipe_setup` and changes what the command line gives; the quality bench starts
its arms from it and changes what it ablates.
"""

from __future__ import annotations

from dataclasses import replace

from patchforcing.data import ArrayData, DataConfig
from patchforcing.train.config import OptimConfig, TextConfig, TrainConfig
from patchforcing.train.setup import TrainSetup, train_config_for

__all__ = ["RECIPES", "recipe", "recipe_setup"]

RECIPES: dict[str, str] = {
    "fmnist-pf": "Patch Forcing on Fashion-MNIST: T/4, 4000 steps of 128, cosine lr 8e-4, EMA "
    "0.999 with warm-up, LTG with a quarter of the samples at one global time t ~ U(0, 1)",
    "fmnist-global": (
        "the global-time baseline with the same backbone, steps, batch, schedule and seed"
    ),
    "emoji-t2i": "text-to-image Patch Forcing on the emoji set (32x32 RGB, captions): T2I-T/4 with "
    "the built-in word tokenizer, 3000 steps of 64, cosine lr 8e-4, EMA 0.999 with warm-up, LTG "
    "loc 0.5 with a quarter of the samples at one global time",
    "emoji-t2i-global": "the global-time text-to-image baseline with the same backbone, steps, "
    "batch, schedule and seed",
    "fmnist-pf-gpu": "the larger Fashion-MNIST model for one GPU: depth 6, width 256, 4 heads, 2x2 "
    "patches (7.4M parameters), 2000 steps of 512, cosine lr 5e-4, EMA 0.999 with warm-up, bf16, "
    "LTG with a quarter of the samples at one global time",
    "fmnist-global-gpu": "its global-time baseline with the same backbone, steps, batch, schedule "
    "and seed",
    "emoji-t2i-gpu": "the larger text-to-image emoji model for one GPU: T2I-S/4 at depth 6, width "
    "256, 4 heads, 2x2 patches (8.4M parameters), 2000 steps of 256, cosine lr 5e-4, EMA 0.999 "
    "with warm-up, bf16, LTG loc 0.5 with a quarter of the samples at one global time",
    "emoji-t2i-global-gpu": "its global-time baseline with the same backbone, steps, batch, "
    "schedule and seed",
}

# short CPU runs: a higher rate decayed to 0, and an EMA that forgets the initial weights
_OPTIM = OptimConfig(lr=8e-4, warmup_steps=100, schedule="cosine", ema_decay=0.999, ema_warmup=True)
_FMNIST = TrainSetup(
    data=DataConfig(source="fashion-mnist"),
    preset="T/4",
    optim=_OPTIM,
    steps=4000,
    batch_size=128,
    checkpoint_every=500,
    sample_every=500,
)
_EMOJI = TrainSetup(
    data=DataConfig(source="emoji"),
    text=TextConfig(),
    preset="T2I-T/4",
    optim=_OPTIM,
    steps=3000,
    batch_size=64,
    checkpoint_every=250,
    sample_every=500,
)
# one GPU (bf16, compiled; docs/shipped.md): all four -gpu runs fit 8 minutes of one H200 together
_GPU_OPTIM = replace(_OPTIM, lr=5e-4, warmup_steps=200)
_FMNIST_GPU = replace(
    _FMNIST,
    preset="S/2",
    depth=6,
    width=256,
    num_heads=4,
    patch_size=2,
    optim=_GPU_OPTIM,
    steps=2000,
    batch_size=512,
    precision="bf16",
    checkpoint_every=250,
    sample_every=1000,
)
_EMOJI_GPU = replace(
    _FMNIST_GPU,
    data=_EMOJI.data,
    text=_EMOJI.text,
    preset="T2I-S/4",
    batch_size=256,
)
_GLOBAL_SHARE = (
    0.25  # LTG's samples at one global time: covers t near 1, which plain LTG rarely trains
)
_SETUPS: dict[str, tuple[TrainSetup, bool]] = {  # name -> (setup, the global-time baseline)
    "fmnist-pf": (_FMNIST, False),
    "fmnist-global": (_FMNIST, True),
    "emoji-t2i": (_EMOJI, False),
    "emoji-t2i-global": (_EMOJI, True),
    "fmnist-pf-gpu": (_FMNIST_GPU, False),
    "fmnist-global-gpu": (_FMNIST_GPU, True),
    "emoji-t2i-gpu": (_EMOJI_GPU, False),
    "emoji-t2i-global-gpu": (_EMOJI_GPU, True),
}


def recipe_setup(name: str, *, seed: int = 0) -> TrainSetup:
    """The choices of recipe ``name`` with training seed ``seed``, to change before resolving."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    setup, baseline = _SETUPS[name]
    params = {} if baseline else {"global_share": _GLOBAL_SHARE}
    return replace(
        setup, baseline=baseline, time_dist_params=params, seed=seed, out_dir=f"runs/{name}"
    )


def recipe(
    name: str,
    *,
    seed: int = 0,
    data: ArrayData | None = None,
    data_dir: str | None = None,
    precision: str | None = None,
    out_dir: str | None = None,
) -> TrainConfig:
    """The run configuration of recipe ``name``. ``data`` is its data set, loaded (from
    ``data_dir``, default: its usual place) when None; a class model needs only its sizes, a text
    model builds its word tokenizer from the captions. ``precision`` None is the recipe's (bf16
    for the -gpu recipes, fp32 for the others), ``out_dir`` None its own folder, ``runs/NAME``."""
    setup = recipe_setup(name, seed=seed)
    setup = replace(
        setup,
        data=replace(setup.data, data_dir=data_dir),
        precision=precision or setup.precision,
        out_dir=out_dir or setup.out_dir,
    )
    return train_config_for(setup, data)
