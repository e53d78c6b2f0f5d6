"""``patchforcing classifier``: train / test the feature classifiers the quality metrics embed
images with."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, nonneg_int, positive_float, positive_int
from patchforcing.evaluation.metrics.classifier import ARCH_DEFAULTS

__all__ = ["add_classifier_parser"]

SHIPPED_COMMAND = (
    "patchforcing classifier train --data fashion-mnist --epochs 2 --seed 0 --threads 1 "
    "--out src/patchforcing/model/checkpoints/fmnist-classifier"
)
SHIPPED_RESNET_COMMAND = (
    "patchforcing classifier train --data fashion-mnist --arch resnet --augment --epochs 4 "
    "--seed 0 --threads 1 --out src/patchforcing/model/checkpoints/fmnist-resnet-aug"
)
SHIPPED_EMOJI_COMMAND = (
    "patchforcing classifier train --data emoji --epochs 10 --seed 0 --threads 1 "
    "--out src/patchforcing/model/checkpoints/emoji-classifier"
)


def add_classifier_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classifier",
        help="train or test the feature classifier used by the quality metrics",
        formatter_class=HelpFormatter,
        description=f"The shipped classifiers were made with: {SHIPPED_COMMAND}; "
        f"{SHIPPED_RESNET_COMMAND}; and {SHIPPED_EMOJI_COMMAND}",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser(
        "train",
        help="train a classifier on a dataset's train split, test it on its test split",
        formatter_class=HelpFormatter,
    )
    t.add_argument(
        "--data",
        default="fashion-mnist",
        help=(
            "'fashion-mnist', 'emoji' (its categories, 32 px by default), "
            "an image folder or an .npz file"
        ),
    )
    t.add_argument(
        "--data-dir", help="where a built-in data set is installed (default: its usual place)"
    )
    t.add_argument(
        "--test-data", help="held-out images for other sources (default: the train data itself)"
    )
    t.add_argument("--image-size", type=positive_int, help="image size (folders are resized to it)")
    t.add_argument(
        "--arch",
        choices=sorted(ARCH_DEFAULTS),
        default="cnn",
        help="cnn: plain conv blocks with max-pooling; resnet: a small residual network",
    )
    t.add_argument(
        "--augment",
        action="store_true",
        help="augment: random shifts (2 px, black fill), flips, pixel noise, random erasing "
        "(without it: flips only)",
    )
    t.add_argument("--epochs", type=positive_int, default=2, help="passes over the train split")
    t.add_argument("--batch-size", type=positive_int, default=128, help="images per step")
    t.add_argument("--lr", type=positive_float, default=2e-3, help="learning rate")
    t.add_argument(
        "--seed", type=nonneg_int, default=0, help="seed of the initial weights and data order"
    )
    t.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    t.add_argument("--out", required=True, help="folder for config.json and model.safetensors")
    t.set_defaults(func=run_train)
    e = actions.add_parser(
        "test", help="accuracy of a classifier on a dataset", formatter_class=HelpFormatter
    )
    e.add_argument(
        "--classifier", default="fmnist-classifier", help="a classifier folder or the shipped name"
    )
    e.add_argument(
        "--data",
        default="fashion-mnist",
        help="'fashion-mnist' or 'emoji' (test split), an image folder or an .npz file",
    )
    e.add_argument(
        "--data-dir", help="where a built-in data set is installed (default: its usual place)"
    )
    e.add_argument("--image-size", type=positive_int, help="image size (folders are resized to it)")
    e.set_defaults(func=run_test)


def run_train(args: argparse.Namespace) -> int:
    import platform
    import shlex
    import sys

    import torch

    from patchforcing.data import BUILTIN_SOURCES, DataConfig, load_images
    from patchforcing.evaluation.metrics.augment import AugmentConfig
    from patchforcing.evaluation.metrics.classifier import save_classifier
    from patchforcing.evaluation.metrics.classifier_train import (
        ClassifierTrainConfig,
        train_classifier,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_images(
        DataConfig(source=args.data, data_dir=args.data_dir, image_size=args.image_size)
    )
    if args.data in BUILTIN_SOURCES:
        test = load_images(
            DataConfig(
                source=args.data, data_dir=args.data_dir, image_size=args.image_size, split="test"
            )
        )
    else:
        test = load_images(
            DataConfig(source=args.test_data or args.data, image_size=args.image_size)
        )
    augment = AugmentConfig() if args.augment else None
    config = ClassifierTrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        arch=args.arch,
        augment=augment,
    )
    result = train_classifier(train, test, config, progress=True)
    info = {
        "test_accuracy": result.test_accuracy,
        "train_seconds": round(result.seconds, 1),
        "steps": result.steps,
        "data": args.data,
        "augment": repr(augment) if augment else "horizontal flips",
        "command": "patchforcing " + shlex.join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
    }
    folder = save_classifier(result.model, args.out, info, class_names=train.class_names)
    print(
        f"test accuracy {result.test_accuracy:.4f} after {result.steps} steps in "
        f"{result.seconds:.0f} s; wrote {folder}"
    )
    return 0


def run_test(args: argparse.Namespace) -> int:
    from patchforcing.data import DataConfig, held_out_split, load_images
    from patchforcing.evaluation.metrics.classifier import load_classifier
    from patchforcing.evaluation.metrics.classifier_train import classifier_accuracy

    data = load_images(
        DataConfig(
            source=args.data,
            data_dir=args.data_dir,
            image_size=args.image_size,
            split=held_out_split(args.data),
        )
    )
    accuracy = classifier_accuracy(load_classifier(args.classifier), data)
    print(f"accuracy {accuracy:.4f} on {len(data)} images of {args.data}")
    return 0
