"""``patchforcing clip``: train / test the image-text model that scores prompt alignment."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, nonneg_int, positive_float, positive_int
from patchforcing.data import BUILTIN_SOURCES, DataConfig, ImageArrays, held_out_split, load_images
from patchforcing.evaluation.metrics.alignment_train import ImageTextTrainConfig

__all__ = ["add_clip_parser"]

DEFAULTS = ImageTextTrainConfig()
SHIPPED_COMMAND = (
    "patchforcing clip train --data emoji --seed 0 --threads 1 "
    "--out src/patchforcing/model/checkpoints/emoji-clip"
)


def add_clip_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clip",
        help="train or test the image-text model that scores prompt alignment",
        formatter_class=HelpFormatter,
        description="A small contrastive image-text model trained here on a data set's captions; "
        f"its scores are not OpenAI CLIP scores. The emoji model is made with: {SHIPPED_COMMAND}",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser(
        "train",
        help="train on a captioned data set's train split, test on its test split",
        formatter_class=HelpFormatter,
    )
    t.add_argument("--data", default="emoji", help="'emoji', or a captioned image folder")
    t.add_argument("--data-dir", help="folder of the installed emoji data")
    t.add_argument(
        "--test-data",
        help="held-out captioned images for other sources (default: the train data itself)",
    )
    t.add_argument("--image-size", type=positive_int, help="image size (folders are resized to it)")
    t.add_argument(
        "--epochs", type=positive_int, default=DEFAULTS.epochs, help="passes over the train split"
    )
    t.add_argument(
        "--batch-size", type=positive_int, default=DEFAULTS.batch_size, help="images per step"
    )
    t.add_argument(
        "--lr", type=positive_float, default=DEFAULTS.lr, help="peak learning rate (one-cycle)"
    )
    t.add_argument(
        "--seed",
        type=nonneg_int,
        default=0,
        help="seed of the initial weights, data order and captions",
    )
    t.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    t.add_argument(
        "--out",
        required=True,
        help="model folder to write (config.json with the vocabulary, weights)",
    )
    t.add_argument(
        "--overwrite", action="store_true", help="replace an existing model folder at --out"
    )
    t.set_defaults(func=run_train)
    e = actions.add_parser(
        "test",
        help="image -> caption retrieval of a model on a data set",
        formatter_class=HelpFormatter,
    )
    e.add_argument(
        "--checkpoint", default="emoji-clip", help="an image-text model folder or the shipped name"
    )
    e.add_argument(
        "--data", default="emoji", help="'emoji' (test split) or a captioned image folder"
    )
    e.add_argument("--data-dir", help="folder of the installed emoji data")
    e.add_argument("--image-size", type=positive_int, help="image size (folders are resized to it)")
    e.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    e.set_defaults(func=run_test)


def _load(source: str, data_dir: str | None, image_size: int | None, split: str) -> ImageArrays:
    data = load_images(
        DataConfig(source=source, data_dir=data_dir, image_size=image_size, split=split)
    )
    if not data.has_captions:
        raise ValueError(
            f"{source} has no captions; give each image a .txt caption file or a captions.jsonl"
        )
    return data


def run_train(args: argparse.Namespace) -> int:
    import platform
    import shlex
    import sys
    from pathlib import Path

    import torch

    from patchforcing.evaluation.metrics.alignment_train import train_image_text
    from patchforcing.model.pretrained import check_destination

    if args.threads:
        torch.set_num_threads(args.threads)
    check_destination(Path(args.out), args.overwrite)  # before minutes of training, not after
    train = _load(args.data, args.data_dir, args.image_size, "train")
    held_out = args.data if args.data in BUILTIN_SOURCES else args.test_data or args.data
    test = _load(held_out, args.data_dir, args.image_size, held_out_split(held_out))
    config = ImageTextTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    result = train_image_text(train, test, config, seed=args.seed, progress=True)
    quality = {
        "test_retrieval_top1": round(result.test.retrieval_top1, 4),
        "test_retrieval_top5": round(result.test.retrieval_top5, 4),
        "test_score": round(result.test.clip_score, 2),
        "test_captions": result.test.num_prompts,
    }
    training = {
        "data": args.data,
        "seed": args.seed,
        "steps": result.steps,
        "config": repr(config),
        "train_seconds": round(result.seconds, 1),
        "final_loss": round(result.final_loss, 4),
        "command": "patchforcing " + shlex.join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
    }
    meta = result.model.make_meta(training=training, quality=quality, class_names=train.class_names)
    folder = result.model.export_folder(args.out, meta, overwrite=args.overwrite)
    print(
        f"test retrieval top-1 {result.test.retrieval_top1:.4f}, top-5 "
        f"{result.test.retrieval_top5:.4f} over {result.test.num_prompts} captions after "
        f"{result.steps} steps in {result.seconds:.0f} s; wrote {folder}"
    )
    return 0


def run_test(args: argparse.Namespace) -> int:
    import torch

    from patchforcing.evaluation.metrics.alignment_model import load_image_text_model
    from patchforcing.evaluation.metrics.alignment_train import caption_retrieval

    if args.threads:
        torch.set_num_threads(args.threads)
    data = _load(args.data, args.data_dir, args.image_size, held_out_split(args.data))
    result = caption_retrieval(load_image_text_model(args.checkpoint), data)
    print(
        f"retrieval top-1 {result.retrieval_top1:.4f}, top-5 {result.retrieval_top5:.4f} (chance "
        f"{1 / result.num_prompts:.4f}), score {result.clip_score:.2f} on {result.count} images of "
        f"{args.data} against {result.num_prompts} distinct captions"
    )
    return 0
