"""``patchforcing train``: map the flags to a :class:`TrainSetup` (over a recipe's, when one is
named), print the resolved config with --dry-run, or train / resume."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from patchforcing._moved import moved_names
from patchforcing.cli.common import (
    HelpFormatter,
    key_value,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    unit_float,
)
from patchforcing.cli.repa_args import add_repa_arguments, repa_from_args
from patchforcing.core.loss import LossConfig
from patchforcing.core.time_dist import TIME_DISTRIBUTIONS
from patchforcing.data import (
    BAD_FILE_POLICIES,
    BUILTIN_SOURCES,
    ArrayData,
    DataConfig,
    load_dataset,
)
from patchforcing.model import PRESETS, TEXT_PRESETS
from patchforcing.train.config import (
    LR_SCHEDULES,
    OptimConfig,
    TextConfig,
    TrainConfig,
    config_to_json,
)
from patchforcing.train.data_parallel import STRATEGIES, Parallel
from patchforcing.train.recipes import RECIPES, recipe_setup
from patchforcing.train.setup import TrainSetup, train_config_for
from patchforcing.utils.device import PRECISION_CHOICES, resolve_device, resolve_precision

__all__ = ["add_train_parser", "run_train", "build_train_config", "train_setup", "given_options"]


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train or resume a model",
        allow_abbrev=False,
        formatter_class=HelpFormatter,
        description="Train a Patch Forcing model (or the global-time baseline). Rerun the same "
        "command to resume from the last checkpoint; SIGINT/SIGTERM save one and exit.",
    )
    _add_arguments(p)
    p.set_defaults(func=run_train, given=None)


def given_options(argv: list[str]) -> frozenset[str]:
    """The options ``argv`` (what follows ``train``) gives, by destination: parsed once more with
    every default suppressed, so that only what was typed lands in the namespace. A recipe keeps its
    values of the others."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _add_arguments(parser)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return frozenset(vars(parser.parse_args(argv)))


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default="fashion-mnist",
        help=(
            "'fashion-mnist', 'emoji' (colour, 32 px by default), an image folder, or an .npz file"
        ),
    )
    p.add_argument(
        "--data-dir", help="where a built-in data set is installed (default: its usual place)"
    )
    p.add_argument(
        "--image-size", type=positive_int, help="model image size (folders are resized to it)"
    )
    p.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="image folders: 1 (grey) or 3 (RGB); default: from the data",
    )
    p.add_argument(
        "--on-bad-file",
        choices=BAD_FILE_POLICIES,
        default="error",
        help="image folders: 'error' lists every unusable file and stops; 'skip' leaves them "
        "out, names each and prints the count",
    )
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        help="a named training recipe (patchforcing.train.recipes; flags given as well override "
        "its values): " + "; ".join(f"{name}: {text}" for name, text in sorted(RECIPES.items())),
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS) + sorted(TEXT_PRESETS),
        help="backbone size (default: S/4, or T2I-S/4 with --text)",
    )
    p.add_argument("--depth", type=positive_int, help="transformer blocks (default: the preset's)")
    p.add_argument("--width", type=positive_int, help="hidden width D (default: the preset's)")
    p.add_argument("--heads", type=positive_int, help="attention heads (default: the preset's)")
    p.add_argument(
        "--patch-size", type=positive_int, help="patch size p in pixels (default: the preset's)"
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="global-time SiT-style baseline: one time per image, no difficulty head",
    )
    p.add_argument(
        "--time-dist",
        choices=sorted(TIME_DISTRIBUTIONS),
        help="training time distribution; default: ltg (Patch Forcing) or uniform (--baseline)",
    )
    p.add_argument(
        "--time-dist-param",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="time distribution parameter, e.g. std=0.6 loc=0.7 sharpness=4 (adds to a recipe's)",
    )
    p.add_argument(
        "--time-sampler", choices=sorted(TIME_DISTRIBUTIONS), help="deprecated name of --time-dist"
    )
    p.add_argument(
        "--ts-param",
        type=key_value,
        action="append",
        metavar="NAME=VALUE",
        help="deprecated name of --time-dist-param",
    )
    p.add_argument("--unconditional", action="store_true", help="ignore class labels")
    t = p.add_argument_group("text-to-image (--text)")
    t.add_argument(
        "--text",
        action="store_true",
        help="train a text-to-image model on the data's captions (the emoji set, or folders with "
        ".txt / captions.jsonl captions); --label-dropout is then the caption dropout; "
        "LTG loc defaults to 0.5",
    )
    t.add_argument(
        "--text-encoder",
        default="builtin",
        help="'builtin' (a word tokenizer of the training captions, embeddings trained with the "
        "model) or a local Hugging Face model folder whose frozen hidden states are used "
        "(needs the text extra)",
    )
    t.add_argument(
        "--text-layer",
        type=int,
        default=TextConfig.layer,
        help="pretrained encoder: the hidden layer used (0 = embeddings, -1 = last)",
    )
    t.add_argument(
        "--text-max-length",
        type=positive_int,
        default=TextConfig.max_length,
        help="most text tokens per caption",
    )
    t.add_argument(
        "--text-min-count",
        type=positive_int,
        default=TextConfig.min_count,
        help="built-in encoder: words seen fewer times in the captions are unknown",
    )
    add_repa_arguments(p)
    p.add_argument(
        "--steps", type=positive_int, default=TrainConfig.steps, help="total training steps"
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=TrainConfig.batch_size,
        help="global batch size, split across processes under torchrun",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=OptimConfig.lr,
        help="AdamW learning rate after warm-up",
    )
    p.add_argument(
        "--weight-decay",
        type=nonneg_float,
        default=OptimConfig.weight_decay,
        help="AdamW weight decay",
    )
    p.add_argument(
        "--warmup", type=nonneg_int, default=OptimConfig.warmup_steps, help="warm-up steps"
    )
    p.add_argument(
        "--grad-clip", type=positive_float, default=OptimConfig.grad_clip, help="gradient norm clip"
    )
    p.add_argument(
        "--ema-decay",
        type=unit_float,
        default=OptimConfig.ema_decay,
        help="decay of the EMA weights that sampling uses",
    )
    p.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="constant",
        help=(
            "after the warm-up: constant (the authors' recipe) or cosine decay "
            "to 0 at the last step"
        ),
    )
    p.add_argument(
        "--ema-warmup",
        action="store_true",
        help=(
            "EMA decay min(decay, (1+k)/(10+k)) at step k; for short runs "
            "(not in the authors' recipe)"
        ),
    )
    p.add_argument(
        "--nll-weight",
        type=nonneg_float,
        default=LossConfig.nll_weight,
        help="weight of the difficulty head's NLL term in the loss",
    )
    p.add_argument(
        "--label-dropout",
        type=unit_float,
        default=LossConfig.label_dropout,
        help="probability of dropping the class label, which trains classifier-free guidance",
    )
    p.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="auto",
        help="bf16: autocast the forward and backward; auto: bf16 where it is faster (a GPU with "
        "bf16, an x86 CPU with AVX512-BF16 or AMX), else fp32; a resumed run keeps its own",
    )
    p.add_argument(
        "--seed",
        type=nonneg_int,
        default=0,
        help="seed of the initial weights, data order and noise",
    )
    p.add_argument(
        "--out", default=TrainConfig.out_dir, help="run folder: checkpoints, logs, samples"
    )
    p.add_argument(
        "--log-every",
        type=positive_int,
        default=TrainConfig.log_every,
        help="steps between log lines",
    )
    p.add_argument(
        "--sample-every",
        type=positive_int,
        default=TrainConfig.sample_every,
        help="steps between sample grids",
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=TrainConfig.checkpoint_every,
        help="steps between checkpoints",
    )
    p.add_argument(
        "--keep-checkpoints",
        type=positive_int,
        default=TrainConfig.keep_checkpoints,
        help="newest checkpoints kept on disk",
    )
    p.add_argument(
        "--on-nonfinite",
        choices=("stop", "skip"),
        default="stop",
        help="on a NaN/inf loss or gradient: stop, or skip the step",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--parallel",
        choices=STRATEGIES,
        default="ddp",
        help="under torchrun: DDP, or FSDP (shards weights and optimizer state; large presets)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model (default: on a CUDA GPU for class-conditional runs of "
        "2,000 steps or more, not on the CPU, where it gains little at small sizes; a failed "
        "compilation trains eager with one line)",
    )
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument(
        "--dry-run", action="store_true", help="print the resolved configuration and exit"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


_SETUP_FIELDS: dict[
    str, tuple[str, str]
] = {  # option -> (section of TrainSetup, "" for the setup itself; field)
    "data": ("data", "source"),
    "data_dir": ("data", "data_dir"),
    "image_size": ("data", "image_size"),
    "channels": ("data", "channels"),
    "on_bad_file": ("data", "on_bad_file"),
    "preset": ("", "preset"),
    "depth": ("", "depth"),
    "width": ("", "width"),
    "heads": ("", "num_heads"),
    "patch_size": ("", "patch_size"),
    "baseline": ("", "baseline"),
    "unconditional": ("", "unconditional"),
    "steps": ("", "steps"),
    "batch_size": ("", "batch_size"),
    "seed": ("", "seed"),
    "out": ("", "out_dir"),
    "log_every": ("", "log_every"),
    "sample_every": ("", "sample_every"),
    "checkpoint_every": ("", "checkpoint_every"),
    "keep_checkpoints": ("", "keep_checkpoints"),
    "on_nonfinite": ("", "on_nonfinite"),
    "lr": ("optim", "lr"),
    "weight_decay": ("optim", "weight_decay"),
    "warmup": ("optim", "warmup_steps"),
    "grad_clip": ("optim", "grad_clip"),
    "ema_decay": ("optim", "ema_decay"),
    "ema_warmup": ("optim", "ema_warmup"),
    "lr_schedule": ("optim", "schedule"),
    "nll_weight": ("loss", "nll_weight"),
    "label_dropout": ("loss", "label_dropout"),
    "text_layer": ("text", "layer"),
    "text_max_length": ("text", "max_length"),
    "text_min_count": ("text", "min_count"),
}


def _given(args: argparse.Namespace) -> frozenset[str]:
    """The options the command line gave (:func:`given_options`, filled in by ``main``). A namespace
    parsed without it counts every option with a value, which is exact unless a recipe is named."""
    if args.given is not None:
        return args.given
    if args.recipe is not None:
        raise ValueError(
            "--recipe needs to know which options were given: run the command through "
            "patchforcing.cli.main.main"
        )
    return frozenset(dest for dest, value in vars(args).items() if value is not None)


def _check_data(data: DataConfig) -> None:
    """Options that only apply to some sources are refused where they would otherwise be
    silently ignored."""
    folder = data.source not in BUILTIN_SOURCES and not data.source.endswith(".npz")
    if data.data_dir is not None and data.source not in BUILTIN_SOURCES:
        raise ValueError(
            f"--data-dir only applies to the built-in data sets ({', '.join(BUILTIN_SOURCES)})"
        )
    if not folder and (data.channels is not None or data.on_bad_file != "error"):
        raise ValueError("--channels and --on-bad-file only apply to image folders")


def _precision(requested: str, out_dir: str, device: str) -> str:
    """The resolved --precision; ``auto`` keeps the precision of a run being resumed."""
    saved = Path(out_dir) / "config.json"
    if requested == "auto" and saved.is_file():
        try:
            return str(json.loads(saved.read_text())["precision"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable run config is reported by the resume check with its own message
    return resolve_precision(requested, resolve_device(device))


def _old_name(old: str, new: str) -> None:
    print(
        f"patchforcing train: {old} is deprecated; use {new} (the old name is removed "
        "in patchforcing 0.3)",
        file=sys.stderr,
    )


def _time_dist(args: argparse.Namespace, given: frozenset[str], base: TrainSetup) -> dict[str, Any]:
    """The setup's time distribution fields: the name given (or the base's), parameters added to
    the base's."""
    name = base.time_dist
    if "time_sampler" in given:
        if "time_dist" in given:
            raise ValueError("--time-sampler is the old name of --time-dist: give one of them")
        _old_name("--time-sampler", "--time-dist")
        name = args.time_sampler
    if "time_dist" in given:
        name = args.time_dist
    pairs = list(args.time_dist_param) if "time_dist_param" in given else []
    if "ts_param" in given:
        _old_name("--ts-param", "--time-dist-param")
        pairs += args.ts_param
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"--time-dist-param {', '.join(repeated)} given more than once")
    return {"time_dist": name, "time_dist_params": {**base.time_dist_params, **dict(pairs)}}


def _text(args: argparse.Namespace, given: frozenset[str], base: TrainSetup) -> TextConfig | None:
    """The text section: the base's (a text recipe), or the built-in encoder with --text, changed by
    the options given."""
    if not args.text and base.text is None:
        return None
    text = base.text or TextConfig()
    if "text_encoder" in given:
        pretrained = args.text_encoder != "builtin"
        text = replace(
            text,
            encoder="pretrained" if pretrained else "builtin",
            pretrained_path=str(Path(args.text_encoder).resolve()) if pretrained else None,
        )
    return text


def train_setup(args: argparse.Namespace) -> TrainSetup:
    """The run's choices: the recipe's (or the defaults), changed by every option given."""
    given = _given(args)
    base = recipe_setup(args.recipe) if args.recipe is not None else TrainSetup()
    changes: dict[str, dict[str, Any]] = {"": {}, "data": {}, "optim": {}, "loss": {}, "text": {}}
    for dest in sorted(given & _SETUP_FIELDS.keys()):
        section, name = _SETUP_FIELDS[dest]
        changes[section][name] = getattr(args, dest)
    text = _text(args, given, base)
    setup = replace(
        base,
        **changes[""],
        data=replace(base.data, **changes["data"]),
        optim=replace(base.optim, **changes["optim"]),
        loss=replace(base.loss, **changes["loss"]),
        text=None if text is None else replace(text, **changes["text"]),
        repa=repa_from_args(args, given, base.repa),
        **_time_dist(args, given, base),
    )
    _check_data(setup.data)
    return replace(setup, precision=_precision(args.precision, setup.out_dir, args.device))


def build_train_config(args: argparse.Namespace, data: ArrayData | None = None) -> TrainConfig:
    """The run's config from the flags; ``data`` is the loaded data set (loaded here if None)."""
    return train_config_for(train_setup(args), data)


def _report_skipped(data: ArrayData) -> None:
    for line in data.skipped:
        print(f"skipped bad file {line}", file=sys.stderr)
    if data.skipped:
        print(
            f"skipped {len(data.skipped)} bad file(s); training on {len(data)} images",
            file=sys.stderr,
        )


def run_train(args: argparse.Namespace) -> int:
    import torch

    from patchforcing.train import train
    from patchforcing.utils.distributed import shutdown_distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    setup = train_setup(args)
    data = load_dataset(setup.data)
    _report_skipped(data)
    config = train_config_for(setup, data)
    if args.dry_run:
        print(config_to_json(config))
        return 0
    result = train(
        config,
        device=args.device,
        progress=not args.no_progress,
        data=data,
        parallel=Parallel(args.parallel, args.compile),
    )
    shutdown_distributed()
    if result.stopped_by_signal is not None:
        name = signal.Signals(result.stopped_by_signal).name
        print(
            f"stopped by {name} after step {result.steps_done}; checkpoint saved in "
            f"{result.run_dir}; rerun the same command to resume",
            file=sys.stderr,
        )
        return 128 + result.stopped_by_signal
    total = (
        ""
        if result.train_seconds is None
        else f" ({result.train_seconds / 60:.1f} min of training in all)"
    )
    print(
        f"trained steps {result.resumed_from}..{result.steps_done} at {result.images_per_s:.1f} "
        f"images/s{total}; run folder: {result.run_dir}"
    )
    for key, value in result.val.items():
        print(f"{key}: {value:.5f}" if value is not None else f"{key}: -")
    return 0


__getattr__ = moved_names(__name__, {"TEXT_LTG_LOC": "patchforcing.train.setup:TEXT_LTG_LOC"})
