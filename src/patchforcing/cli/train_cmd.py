"""``patchforcing train``: build the config from flags, print it with --dry-run, or train / resume."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from patchforcing.cli.common import (
    HelpFormatter,
    key_value,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    unit_float,
)
from patchforcing.cli.recipes import RECIPES
from patchforcing.core.loss import LossConfig
from patchforcing.core.time_dist import TIME_SAMPLERS
from patchforcing.data import BAD_FILE_POLICIES, BUILTIN_SOURCES, ArrayData, DataConfig, load_dataset
from patchforcing.model import (
    PRESETS,
    TEXT_PRESETS,
    ModelConfig,
    TextModelConfig,
    model_config_from_preset,
    text_model_config_from_preset,
)
from patchforcing.train.config import (
    LR_SCHEDULES,
    OptimConfig,
    TextConfig,
    TimeSamplerConfig,
    TrainConfig,
    config_to_json,
)
from patchforcing.train.data_parallel import STRATEGIES, Parallel
from patchforcing.utils.device import PRECISION_CHOICES, resolve_device, resolve_precision

__all__ = ["add_train_parser", "run_train", "build_train_config", "TEXT_LTG_LOC"]

TEXT_LTG_LOC = 0.5  # the authors' LTG location for text-to-image (SPEC.md section 3)


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train or resume a model", allow_abbrev=False, formatter_class=HelpFormatter,
                       description="Train a Patch Forcing model (or the global-time baseline). Rerun the same "
                       "command to resume from the last checkpoint; SIGINT/SIGTERM save one and exit.")
    p.add_argument("--data", default="fashion-mnist",
                   help="'fashion-mnist', 'emoji' (colour, 32 px by default), an image folder, or an .npz file")
    p.add_argument("--data-dir", help="where a built-in data set is installed (default: its usual place)")
    p.add_argument("--image-size", type=positive_int, help="model image size (folders are resized to it)")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="image folders: 1 (grey) or 3 (RGB); default: from the data")
    p.add_argument("--on-bad-file", choices=BAD_FILE_POLICIES, default="error",
                   help="image folders: 'error' lists every unusable file and stops; 'skip' leaves them "
                   "out, names each and prints the count")
    p.add_argument("--recipe", choices=sorted(RECIPES),
                   help="a named set of the flags below (flags given as well override it): "
                   + "; ".join(f"{name}: {text}" for name, (_, text) in sorted(RECIPES.items())))
    p.add_argument("--preset", choices=sorted(PRESETS) + sorted(TEXT_PRESETS),
                   help="backbone size (default: S/4, or T2I-S/4 with --text)")
    p.add_argument("--depth", type=positive_int, help="transformer blocks (default: the preset's)")
    p.add_argument("--width", type=positive_int, help="hidden width D (default: the preset's)")
    p.add_argument("--heads", type=positive_int, help="attention heads (default: the preset's)")
    p.add_argument("--patch-size", type=positive_int, help="patch size p in pixels (default: the preset's)")
    p.add_argument("--baseline", action="store_true",
                   help="global-time SiT-style baseline: one time per image, no difficulty head")
    p.add_argument("--time-sampler", choices=sorted(TIME_SAMPLERS),
                   help="default: ltg (Patch Forcing) or uniform (--baseline)")
    p.add_argument("--ts-param", type=key_value, action="append", default=[], metavar="NAME=VALUE",
                   help="time-sampler parameter, e.g. std=0.6 loc=0.7 sharpness=4")
    p.add_argument("--unconditional", action="store_true", help="ignore class labels")
    t = p.add_argument_group("text-to-image (--text)")
    t.add_argument("--text", action="store_true",
                   help="train a text-to-image model on the data's captions (the emoji set, or folders with .txt / "
                   "captions.jsonl captions); --label-dropout is then the caption dropout; LTG loc defaults to 0.5")
    t.add_argument("--text-encoder", default="builtin",
                   help="'builtin' (a word tokenizer of the training captions, embeddings trained with the model) or "
                   "a local Hugging Face model folder whose frozen hidden states are used (needs the text extra)")
    t.add_argument("--text-layer", type=int, default=TextConfig.layer,
                   help="pretrained encoder: the hidden layer used (0 = embeddings, -1 = last)")
    t.add_argument("--text-max-length", type=positive_int, default=TextConfig.max_length,
                   help="most text tokens per caption")
    t.add_argument("--text-min-count", type=positive_int, default=TextConfig.min_count,
                   help="built-in encoder: words seen fewer times in the captions are unknown")
    p.add_argument("--steps", type=positive_int, default=TrainConfig.steps, help="total training steps")
    p.add_argument("--batch-size", type=positive_int, default=TrainConfig.batch_size,
                   help="global batch size, split across processes under torchrun")
    p.add_argument("--lr", type=positive_float, default=OptimConfig.lr, help="AdamW learning rate after warm-up")
    p.add_argument("--weight-decay", type=nonneg_float, default=OptimConfig.weight_decay, help="AdamW weight decay")
    p.add_argument("--warmup", type=nonneg_int, default=OptimConfig.warmup_steps, help="warm-up steps")
    p.add_argument("--grad-clip", type=positive_float, default=OptimConfig.grad_clip, help="gradient norm clip")
    p.add_argument("--ema-decay", type=unit_float, default=OptimConfig.ema_decay,
                   help="decay of the EMA weights that sampling uses")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="after the warm-up: constant (the authors' recipe) or cosine decay to 0 at the last step")
    p.add_argument("--ema-warmup", action="store_true",
                   help="EMA decay min(decay, (1+k)/(10+k)) at step k; for short runs (not in the authors' recipe)")
    p.add_argument("--nll-weight", type=nonneg_float, default=LossConfig.nll_weight,
                   help="weight of the difficulty head's NLL term in the loss")
    p.add_argument("--label-dropout", type=unit_float, default=LossConfig.label_dropout,
                   help="probability of dropping the class label, which trains classifier-free guidance")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="bf16: autocast the forward and backward; auto: bf16 where it is faster (a GPU with bf16, "
                   "an x86 CPU with AVX512-BF16 or AMX), else fp32; a resumed run keeps its own")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the initial weights, data order and noise")
    p.add_argument("--out", default=TrainConfig.out_dir, help="run folder: checkpoints, logs, samples")
    p.add_argument("--log-every", type=positive_int, default=TrainConfig.log_every, help="steps between log lines")
    p.add_argument("--sample-every", type=positive_int, default=TrainConfig.sample_every,
                   help="steps between sample grids")
    p.add_argument("--checkpoint-every", type=positive_int, default=TrainConfig.checkpoint_every,
                   help="steps between checkpoints")
    p.add_argument("--keep-checkpoints", type=positive_int, default=TrainConfig.keep_checkpoints,
                   help="newest checkpoints kept on disk")
    p.add_argument("--on-nonfinite", choices=("stop", "skip"), default="stop",
                   help="on a NaN/inf loss or gradient: stop, or skip the step")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--parallel", choices=STRATEGIES, default="ddp",
                   help="under torchrun: DDP, or FSDP (shards weights and optimizer state; large presets)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs, long runs)")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def _data_config(args: argparse.Namespace) -> DataConfig:
    """The data section; options that only apply to some sources are refused where they would
    otherwise be silently ignored."""
    folder = args.data not in BUILTIN_SOURCES and not args.data.endswith(".npz")
    if args.data_dir is not None and args.data not in BUILTIN_SOURCES:
        raise ValueError(f"--data-dir only applies to the built-in data sets ({', '.join(BUILTIN_SOURCES)})")
    if not folder and (args.channels is not None or args.on_bad_file != "error"):
        raise ValueError("--channels and --on-bad-file only apply to image folders")
    return DataConfig(source=args.data, data_dir=args.data_dir, image_size=args.image_size,
                      channels=args.channels, on_bad_file=args.on_bad_file)


def _precision(args: argparse.Namespace) -> str:
    """The resolved --precision; ``auto`` keeps the precision of a run being resumed."""
    saved = Path(args.out) / "config.json"
    if args.precision == "auto" and saved.is_file():
        try:
            return str(json.loads(saved.read_text())["precision"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable run config is reported by the resume check with its own message
    return resolve_precision(args.precision, resolve_device(args.device))


def build_train_config(args: argparse.Namespace, data: ArrayData | None = None) -> TrainConfig:
    """The run's config from the flags; ``data`` (loaded from the flags if None) sets image size,
    channels and classes."""
    data_config = _data_config(args)
    arrays = data if data is not None else load_dataset(data_config)
    size, channels, classes = arrays.image_size, arrays.channels, arrays.num_classes
    overrides = {k: v for k, v in (("depth", args.depth), ("width", args.width), ("num_heads", args.heads),
                                   ("patch_size", args.patch_size)) if v is not None}
    time = {"time_mode": "global" if args.baseline else "patch", "difficulty_head": not args.baseline}
    model: ModelConfig | TextModelConfig
    text: TextConfig | None = None
    if args.text:
        text, model = _text_model(args, arrays, time, overrides)
    else:
        if args.preset in TEXT_PRESETS:
            raise ValueError(f"--preset {args.preset} is a text-to-image model: add --text")
        model = model_config_from_preset(args.preset or "S/4", image_size=size, in_channels=channels,
                                         num_classes=0 if args.unconditional else classes, **time, **overrides)
    sampler = args.time_sampler or ("uniform" if args.baseline else "ltg")
    repeated = sorted({k for k, _ in args.ts_param if [n for n, _ in args.ts_param].count(k) > 1})
    if repeated:
        raise ValueError(f"--ts-param {', '.join(repeated)} given more than once")
    params = dict(args.ts_param)
    if args.text and sampler == "ltg":
        params.setdefault("loc", TEXT_LTG_LOC)
    return TrainConfig(
        model=model, text=text, data=data_config, time_sampler=TimeSamplerConfig(sampler, params),
        loss=LossConfig(nll_weight=args.nll_weight, label_dropout=args.label_dropout),
        optim=OptimConfig(lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup,
                          grad_clip=args.grad_clip, ema_decay=args.ema_decay, ema_warmup=args.ema_warmup,
                          schedule=args.lr_schedule),
        out_dir=args.out, steps=args.steps, batch_size=args.batch_size, seed=args.seed, precision=_precision(args),
        log_every=args.log_every, sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, on_nonfinite=args.on_nonfinite)


def _text_model(args: argparse.Namespace, data: ArrayData, time: dict, overrides: dict
                ) -> tuple[TextConfig, TextModelConfig]:
    """The text section and the text-to-image model config (its input size from the run's encoder)."""
    from patchforcing.train.text import build_text_encoder

    if args.preset is not None and args.preset not in TEXT_PRESETS:
        raise ValueError(f"--text needs a text-to-image preset ({', '.join(sorted(TEXT_PRESETS))}), "
                         f"not {args.preset}")
    if args.unconditional:
        raise ValueError("--text and --unconditional exclude each other (a text model drops captions with "
                         "--label-dropout)")
    pretrained = args.text_encoder != "builtin"
    text = TextConfig(encoder="pretrained" if pretrained else "builtin",
                      pretrained_path=str(Path(args.text_encoder).resolve()) if pretrained else None,
                      layer=args.text_layer, min_count=args.text_min_count, max_length=args.text_max_length)
    encoder = build_text_encoder(text, data)
    model = text_model_config_from_preset(
        args.preset or "T2I-S/4", image_size=data.image_size, in_channels=data.channels,
        text_vocab_size=encoder.vocab_size, text_feature_dim=encoder.feature_dim or 0,
        max_text_length=encoder.max_length, **time, **overrides)
    return text, model


def _report_skipped(data: ArrayData) -> None:
    for line in data.skipped:
        print(f"skipped bad file {line}", file=sys.stderr)
    if data.skipped:
        print(f"skipped {len(data.skipped)} bad file(s); training on {len(data)} images", file=sys.stderr)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from patchforcing.train import train
    from patchforcing.utils.distributed import shutdown_distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(_data_config(args))
    _report_skipped(data)
    config = build_train_config(args, data)
    if args.dry_run:
        print(config_to_json(config))
        return 0
    result = train(config, device=args.device, progress=not args.no_progress, data=data,
                   parallel=Parallel(args.parallel, args.compile))
    shutdown_distributed()
    if result.stopped_by_signal is not None:
        name = signal.Signals(result.stopped_by_signal).name
        print(f"stopped by {name} after step {result.steps_done}; checkpoint saved in {result.run_dir}; "
              f"rerun the same command to resume", file=sys.stderr)
        return 128 + result.stopped_by_signal
    total = "" if result.train_seconds is None else f" ({result.train_seconds / 60:.1f} min of training in all)"
    print(f"trained steps {result.resumed_from}..{result.steps_done} at {result.images_per_s:.1f} images/s{total}; "
          f"run folder: {result.run_dir}")
    for key, value in result.val.items():
        print(f"{key}: {value:.5f}" if value is not None else f"{key}: -")
    return 0
