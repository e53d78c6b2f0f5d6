"""``patchforcing sample``: images from a checkpoint, one seed per image, PNG grid plus single PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path

from patchforcing.cli.common import SHIPPED, int_list, nonneg_float, nonneg_int, positive_int, shipped_checkpoint

__all__ = ["add_sample_parser", "run_sample", "SAMPLERS"]

SAMPLERS = ("euler", "euler-pf")


def add_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate images from a checkpoint",
                       description="Generate images. Image i uses seed --seed + i, so any image can be regenerated alone.")
    p.add_argument("--checkpoint", default="fmnist-pf",
                   help=f"a run folder, a checkpoint folder, or a shipped name ({', '.join(SHIPPED)})")
    p.add_argument("--sampler", choices=SAMPLERS, help="default: euler-pf for Patch Forcing models, euler for global-time")
    p.add_argument("--steps", type=positive_int, default=50, help="integration steps (NFE for Euler samplers)")
    p.add_argument("--num", type=positive_int, default=20, help="number of images")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the first image")
    p.add_argument("--classes", type=int_list, help="class labels, cycled over the images (e.g. 0-9); default: "
                   "one random class per image from its seed")
    p.add_argument("--cfg", type=nonneg_float, default=1.0, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--raw-weights", action="store_true", help="use the online weights instead of the EMA")
    p.add_argument("--out", default="samples", help="output folder")
    p.add_argument("--nrow", type=positive_int, default=10, help="images per grid row")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.set_defaults(func=run_sample)


def _checkpoint_path(name: str) -> Path:
    return shipped_checkpoint(name) if name in SHIPPED else Path(name)


def run_sample(args: argparse.Namespace) -> int:
    import time

    import torch

    from patchforcing.io.images import save_grid, save_images
    from patchforcing.sampling import Guidance, euler, euler_pf, labels_for_seeds, noise_for_seeds, uniform_schedule
    from patchforcing.train.checkpoint import load_model
    from patchforcing.train.helpers import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    loaded = load_model(_checkpoint_path(args.checkpoint), use_ema=not args.raw_weights, device=device)
    model, c = loaded.model, loaded.model.config
    sampler_name = args.sampler or ("euler-pf" if c.time_mode == "patch" else "euler")
    if sampler_name == "euler-pf" and c.time_mode == "global":
        raise ValueError("euler-pf needs a Patch Forcing model; this checkpoint is a global-time model (use --sampler euler)")
    if args.classes is not None and c.num_classes and max(args.classes) >= c.num_classes:
        raise ValueError(f"class {max(args.classes)} is out of range: the model has {c.num_classes} classes")
    seeds = [args.seed + i for i in range(args.num)]
    noise = noise_for_seeds(seeds, (c.in_channels, c.image_size, c.image_size), device)
    if args.classes is not None and c.num_classes:
        y = torch.tensor([args.classes[i % len(args.classes)] for i in range(args.num)], device=device)
    else:
        y = labels_for_seeds(seeds, c.num_classes, device)
    sampler = euler_pf if sampler_name == "euler-pf" else euler
    start = time.perf_counter()
    result = sampler(model, noise, y, uniform_schedule(args.steps, device), Guidance(scale=args.cfg))
    seconds = time.perf_counter() - start
    out = Path(args.out)
    grid = save_grid(result.x, out / "grid.png", nrow=args.nrow, scale=2)
    save_images(result.x, out / "images", [f"seed{s:06d}_class{int(label)}" for s, label in zip(seeds, y)])
    print(f"{sampler_name}: {args.num} images, NFE {result.nfe} ({result.images_forwarded} images through the "
          f"network), {args.num / seconds:.1f} images/s on {device}")
    print(f"wrote {grid} and {args.num} PNGs in {out / 'images'}")
    return 0
