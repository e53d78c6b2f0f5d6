"""``python -m benchmarks.metric_sensitivity``: the sensitivity of each feature space's FD to noise,
blur and missing classes.

Run from the repository's root folder; ``--help`` lists the options."""

from __future__ import annotations

import argparse
import shlex
import sys

from patchforcing.cli.common import HelpFormatter, int_list, nonneg_int, positive_int
from patchforcing.cli.program import run_program

__all__ = ["PROG", "METRICS_COMMAND", "DEFAULT_SPACES", "build_parser", "main"]

PROG = "python -m benchmarks.metric_sensitivity"
DEFAULT_SPACES = ("fmnist-classifier", "fmnist-resnet-aug")
METRICS_COMMAND = f"{PROG} --threads 1 --out bench-metrics/sensitivity.json"


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected numbers > 0, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    from benchmarks.metric_sensitivity.bench import SensitivityConfig

    d = SensitivityConfig()
    p = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=HelpFormatter,
        description="Scores the first --num train images, clean and corrupted (pixel noise, noise "
        "on the background only, blur, missing classes), against the reference set with FD in "
        "every --classifier's feature space, and lists the pairs of corruptions the spaces order "
        "differently. The classifiers are not Inception-v3: these FDs are not FIDs. Documented "
        f"run: {METRICS_COMMAND}",
    )
    p.add_argument(
        "--classifier",
        action="append",
        help=(
            f"classifier folder or shipped name, repeatable (default: {', '.join(DEFAULT_SPACES)})"
        ),
    )
    p.add_argument(
        "--data",
        default="fashion-mnist",
        help=(
            "images to corrupt: 'fashion-mnist' or 'emoji' (train split), "
            "an image folder or an .npz file"
        ),
    )
    p.add_argument(
        "--reference",
        default="fashion-mnist",
        help=(
            "real images: 'fashion-mnist' or 'emoji' (its test split), "
            "an image folder or an .npz file"
        ),
    )
    p.add_argument(
        "--data-dir", help="where a built-in data set is installed (default: its usual place)"
    )
    p.add_argument("--image-size", type=positive_int, help="size folder images are resized to")
    p.add_argument("--num", type=positive_int, default=d.num_images, help="images per scored set")
    p.add_argument(
        "--noise", type=_float_list, default=d.noise, help="pixel noise sds, of the [-1, 1] range"
    )
    p.add_argument("--blur", type=_float_list, default=d.blur, help="blur sds, in pixels")
    p.add_argument(
        "--drop",
        type=int_list,
        default=d.drop,
        help="numbers of classes dropped (the lowest labels)",
    )
    p.add_argument("--seed", type=nonneg_int, default=d.seed, help="seed of the pixel noise")
    p.add_argument(
        "--cache-dir",
        help="where reference features are cached (default ~/.cache/patchforcing/reference)",
    )
    p.add_argument("--out", help="write the report as JSON here (and markdown next to it, .md)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    return p


def run(args: argparse.Namespace, command: str) -> int:
    """Score every corruption, print the table and write the report; ``command`` is recorded
    in it."""
    import platform
    from dataclasses import replace
    from pathlib import Path

    import torch

    from benchmarks.metric_sensitivity.bench import (
        SensitivityConfig,
        run_sensitivity,
        sensitivity_markdown,
        write_sensitivity,
    )
    from benchmarks.paths import portable_command, portable_path, record_root
    from patchforcing.data import DataConfig, load_images
    from patchforcing.evaluation import EvalOptions, Evaluator
    from patchforcing.utils.device import resolve_device
    from patchforcing.utils.distributed import DistEnv

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = load_images(
        DataConfig(source=args.data, data_dir=args.data_dir, image_size=args.image_size)
    )
    options = EvalOptions(
        reference=args.reference,
        image_size=args.image_size,
        data_dir=args.data_dir,
        classifiers=tuple(args.classifier or DEFAULT_SPACES),
        cache_dir=args.cache_dir,
    )
    evaluator = Evaluator.build(options, DistEnv(device=device))
    config = SensitivityConfig(
        num_images=args.num,
        noise=tuple(args.noise),
        blur=tuple(args.blur),
        drop=tuple(args.drop),
        seed=args.seed,
    )
    report = run_sensitivity(data, evaluator, config, progress=True)
    root = record_root(
        Path(args.out).parent if args.out else "."
    )  # what the report's paths are relative to
    spaces = tuple(replace(s, name=portable_path(s.name, root)) for s in report.spaces)
    machine = (
        f"{platform.processor() or platform.machine()}, {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    report = replace(
        report, spaces=spaces, command=portable_command(command, root), machine=machine
    )
    print(sensitivity_markdown(report), end="")
    if args.out:
        print("wrote " + " and ".join(str(p) for p in write_sensitivity(report, args.out)))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run_program(PROG, lambda: run(args, f"{PROG} {shlex.join(argv)}".strip()))


if __name__ == "__main__":
    sys.exit(main())
