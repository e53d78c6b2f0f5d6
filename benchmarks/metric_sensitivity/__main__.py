"""``patchforcing bench metrics``: the sensitivity of each feature space's FD to noise, blur and missing classes."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, int_list, nonneg_int, positive_int

__all__ = ["add_bench_metrics_parser", "METRICS_COMMAND", "DEFAULT_SPACES"]

DEFAULT_SPACES = ("fmnist-classifier", "fmnist-resnet-aug")
METRICS_COMMAND = "patchforcing bench metrics --threads 1 --out bench-metrics/sensitivity.json"


def _float_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected numbers > 0, got {text!r}")
    return values


def add_bench_metrics_parser(bench_sub: argparse._SubParsersAction) -> None:
    from benchmarks.metric_sensitivity.bench import SensitivityConfig

    d = SensitivityConfig()
    p = bench_sub.add_parser("metrics", help="how each feature space's FD responds to noise, blur, missing classes",
                             formatter_class=HelpFormatter,
                             description="Scores the first --num train images, clean and corrupted (pixel noise, "
                             "noise on the background only, blur, missing classes), against the reference set with "
                             "FD in every --classifier's feature space, and lists the pairs of corruptions the spaces "
                             "order differently. The classifiers are not Inception-v3: these FDs are not FIDs. "
                             "Documented run: " + METRICS_COMMAND)
    p.add_argument("--classifier", action="append",
                   help=f"classifier folder or shipped name, repeatable (default: {', '.join(DEFAULT_SPACES)})")
    p.add_argument("--data", default="fashion-mnist",
                   help="images to corrupt: 'fashion-mnist' or 'emoji' (train split), an image folder or an .npz file")
    p.add_argument("--reference", default="fashion-mnist",
                   help="real images: 'fashion-mnist' or 'emoji' (its test split), an image folder or an .npz file")
    p.add_argument("--data-dir", help="where a built-in data set is installed (default: its usual place)")
    p.add_argument("--image-size", type=positive_int, help="size folder images are resized to")
    p.add_argument("--num", type=positive_int, default=d.num_images, help="images per scored set")
    p.add_argument("--noise", type=_float_list, default=d.noise, help="pixel noise sds, of the [-1, 1] range")
    p.add_argument("--blur", type=_float_list, default=d.blur, help="blur sds, in pixels")
    p.add_argument("--drop", type=int_list, default=d.drop, help="numbers of classes dropped (the lowest labels)")
    p.add_argument("--seed", type=nonneg_int, default=d.seed, help="seed of the pixel noise")
    p.add_argument("--cache-dir", help="where reference features are cached (default ~/.cache/patchforcing/reference)")
    p.add_argument("--out", help="write the report as JSON here (and markdown next to it, .md)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.set_defaults(func=run_bench_metrics)


def run_bench_metrics(args: argparse.Namespace) -> int:
    import platform
    import shlex
    import sys
    from dataclasses import replace

    import torch
    from benchmarks.metric_sensitivity.bench import (
        SensitivityConfig,
        run_sensitivity,
        sensitivity_markdown,
        write_sensitivity,
    )

    from patchforcing.data import DataConfig, held_out_split, load_images
    from patchforcing.evaluation.metrics import ClassifierFeatures
    from patchforcing.utils.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = load_images(DataConfig(source=args.data, data_dir=args.data_dir, image_size=args.image_size))
    reference = load_images(DataConfig(source=args.reference, data_dir=args.data_dir,
                                       split=held_out_split(args.reference),
                                       image_size=args.image_size))
    names = list(dict.fromkeys(args.classifier or DEFAULT_SPACES))
    spaces = [(name, ClassifierFeatures(name, device)) for name in names]
    config = SensitivityConfig(num_images=args.num, noise=tuple(args.noise), blur=tuple(args.blur),
                               drop=tuple(args.drop), seed=args.seed)
    report = run_sensitivity(data, reference, spaces, config, args.cache_dir, progress=True)
    command = "patchforcing " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "bench metrics (API)"
    machine = (f"{platform.processor() or platform.machine()}, {device}, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads")
    report = replace(report, command=command, machine=machine)
    print(sensitivity_markdown(report), end="")
    if args.out:
        print("wrote " + " and ".join(str(p) for p in write_sensitivity(report, args.out)))
    return 0
