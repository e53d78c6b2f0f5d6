"""``patchforcing eval``: generate images with a sampler at a stated NFE (or read a folder) and score them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from patchforcing.cli.common import nonneg_float, nonneg_int, positive_int
from patchforcing.shipped import SHIPPED

if TYPE_CHECKING:
    from patchforcing.metrics import QualityMetrics

__all__ = ["add_eval_parser", "add_metric_arguments", "metric_setup", "metrics_table"]


def add_metric_arguments(p: argparse.ArgumentParser) -> None:
    """Feature space and reference set, shared with ``bench quality``."""
    p.add_argument("--features", choices=("classifier", "inception"), default="classifier",
                   help="feature space: a trained classifier (default, offline) or Inception-v3 (needs its weights)")
    p.add_argument("--classifier", default="fmnist-classifier",
                   help="classifier folder from `patchforcing classifier train` (default: the shipped Fashion-MNIST one)")
    p.add_argument("--inception-weights", help="path of pt_inception-2015-12-05-6726825d.pth for --features inception")
    p.add_argument("--reference", default="fashion-mnist",
                   help="real images: 'fashion-mnist' (its 10k test set), an image folder or an .npz file")
    p.add_argument("--data-dir", help="folder with the Fashion-MNIST *-ubyte.gz files")
    p.add_argument("--cache-dir", help="where reference features are cached (default ~/.cache/patchforcing/reference)")


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="FD / KID / precision-recall / density-coverage of generated images",
                       description="Generate --num images (image i uses seed --seed + i) with --sampler at an NFE "
                       "budget, stream them through the feature extractor and score them against the reference set. "
                       "With --folder, score a folder of images instead.")
    p.add_argument("--checkpoint", default="fmnist-pf",
                   help=f"a run folder, a checkpoint folder, or a shipped name ({', '.join(SHIPPED)})")
    p.add_argument("--folder", help="score the images in this folder instead of generating")
    p.add_argument("--image-size", type=positive_int, help="size reference / scored folder images are resized to")
    p.add_argument("--sampler", default=None, help="euler, euler-pf, dual-loop, look-ahead, random "
                   "(default: euler-pf for Patch Forcing models, euler for global-time)")
    p.add_argument("--nfe", type=positive_int, default=32, help="NFE budget per image")
    p.add_argument("--num", type=positive_int, default=1000, help="number of generated images")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the first image")
    p.add_argument("--batch-size", type=positive_int, default=250)
    p.add_argument("--cfg", type=nonneg_float, default=1.0, help="classifier-free guidance scale (1 = off)")
    add_metric_arguments(p)
    p.add_argument("--out", default="eval.json", help="JSON result file")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.set_defaults(func=run_eval)


def metric_setup(args: argparse.Namespace, device):
    """(extractor, reference features, reference data) from the shared metric arguments."""
    from patchforcing.data import DataConfig, load_dataset
    from patchforcing.metrics import build_extractor, reference_features

    split = "test" if args.reference == "fashion-mnist" else "train"
    data = load_dataset(DataConfig(source=args.reference, data_dir=args.data_dir, split=split,
                                   image_size=args.image_size))
    extractor = build_extractor(args.features, args.classifier, args.inception_weights, device)
    return extractor, reference_features(extractor, data, args.cache_dir), data


def metrics_table(rows: list[tuple[str, QualityMetrics]]) -> str:
    """A plain-text table of named QualityMetrics."""
    head = f"{'':24s} {'FD':>9s} {'KID':>9s} {'prec':>6s} {'recall':>6s} {'dens':>6s} {'cover':>6s}"
    lines = [head] + [f"{name:24s} {m.fd:9.3f} {m.kid:9.5f} {m.precision:6.3f} {m.recall:6.3f} {m.density:6.3f} "
                      f"{m.coverage:6.3f}" for name, m in rows]
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from patchforcing.evaluation import GenerationConfig, evaluate_folder, evaluate_model, write_json
    from patchforcing.train.checkpoint import load_model
    from patchforcing.train.helpers import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    extractor, reference, data = metric_setup(args, device)
    if args.folder:
        result = evaluate_folder(args.folder, extractor, reference, data.image_size, data.channels)
        name = Path(args.folder).name
    else:
        model = load_model(args.checkpoint, device=device).model
        sampler = args.sampler or ("euler-pf" if model.config.time_mode == "patch" else "euler")
        config = GenerationConfig(sampler=sampler, nfe=args.nfe, num_images=args.num, seed=args.seed,
                                  batch_size=args.batch_size, cfg=args.cfg)
        result = evaluate_model(model, config, extractor, reference, str(args.checkpoint), device)
        name = f"{sampler} @ NFE {result.nfe}"
    print(metrics_table([(name, result.metrics)]))
    print(f"{result.num_images} images vs {reference.shape[0]} reference ({args.reference}), features {result.features}, "
          f"{result.seconds:.1f} s")
    print(f"wrote {write_json({'command': 'eval', 'reference': args.reference, **result.to_dict()}, args.out)}")
    return 0
