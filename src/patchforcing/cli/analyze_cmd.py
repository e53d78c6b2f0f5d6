"""``patchforcing analyze``: the paper's findings measured on a checkpoint
(JSON + PNG per analysis)."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, nonneg_int, positive_int
from patchforcing.model.shipped import SHIPPED

__all__ = ["add_analyze_parser"]

CHOICES = ("segments", "correlation", "context", "all")


def add_analyze_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="loss per t-segment, difficulty-loss correlation, context effects",
        formatter_class=HelpFormatter,
        description="segments: validation loss on 8 equal t-segments; correlation: "
        "Pearson/Spearman of predicted difficulty vs per-patch loss against t; context: loss and "
        "difficulty of the uncertain patches as the other patches are made cleaner (needs "
        "matplotlib: extra 'plots').",
    )
    p.add_argument(
        "analyses",
        nargs="*",
        choices=CHOICES,
        default="all",
        metavar="ANALYSIS",
        help=f"one or more of {', '.join(CHOICES)} (default: all)",
    )
    p.add_argument(
        "--checkpoint",
        default="fmnist-pf",
        help=f"a run folder, a checkpoint folder, or a shipped name ({', '.join(SHIPPED)})",
    )
    p.add_argument(
        "--data",
        default="fashion-mnist",
        help="held-out images: 'fashion-mnist' or 'emoji' (test split), a folder or .npz",
    )
    p.add_argument(
        "--data-dir", help="where a built-in data set is installed (default: its usual place)"
    )
    p.add_argument("--num", type=positive_int, default=500, help="images used")
    p.add_argument("--batch-size", type=positive_int, default=250, help="images per forward")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the noise")
    p.add_argument("--out", default="analysis", help="output folder")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument(
        "--no-progress", action="store_true", help="no stage lines or progress bars on stderr"
    )
    p.set_defaults(func=run_analyze)


def run_analyze(args: argparse.Namespace) -> int:

    import torch

    from patchforcing.data import DataConfig, held_out_split, load_dataset
    from patchforcing.evaluation.analysis import ANALYSES, AnalysisConfig, run_analyses
    from patchforcing.model import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    size = model.config.image_size
    data = load_dataset(
        DataConfig(
            source=args.data,
            data_dir=args.data_dir,
            split=held_out_split(args.data),
            image_size=None if args.data == "fashion-mnist" else size,
        )
    )
    which = ANALYSES if "all" in args.analyses else tuple(dict.fromkeys(args.analyses))
    config = AnalysisConfig(num_images=args.num, batch_size=args.batch_size, seed=args.seed)
    written = run_analyses(model, data, args.out, which, config, not args.no_progress)
    for name, files in written.items():
        print(f"{name}: {', '.join(map(str, files))}")
    return 0
