"""``patchforcing sample``: images from a checkpoint with any sampler, an NFE budget, guidance,
inpainting, denoising traces and sampler comparisons. One seed per image."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from patchforcing.cli.common import int_list, nonneg_float, nonneg_int, positive_float, positive_int, unit_float
from patchforcing.shipped import SHIPPED

__all__ = ["add_sample_parser", "run_sample", "SAMPLER_NAMES"]

SAMPLER_NAMES = ("euler", "euler-pf", "dual-loop", "look-ahead", "random", "matrix")
# flag dest -> sampler config field; a flag given for a sampler without that field is an error.
_OPTIONS = {"p": "p", "n_inner": "n_inner", "ratio": "ratio", "early_t": "early_t",
            "guided_early": "guided_early", "guided_jump": "jump_guided", "inclusive_quantile": "strict_quantile"}


def _ratio(text: str) -> float:
    value = positive_float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a context ratio >= 1, got {text!r}")
    return value


def _early(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number < 1, got {text!r}") from None
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a number < 1 (negative: no plain early steps), got {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    names = SAMPLER_NAMES[:-1] if text == "all" else tuple(n for n in text.split(",") if n)
    unknown = [n for n in names if n not in SAMPLER_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown sampler(s) {unknown or text!r}; choose from "
                                         f"{', '.join(SAMPLER_NAMES)} or 'all'")
    return names


def add_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate images from a checkpoint",
                       description="Generate images. Image i uses seed --seed + i, so any image can be regenerated "
                       "alone. See docs/samplers.md for the samplers, their defaults and NFE accounting.")
    p.add_argument("--checkpoint", default="fmnist-pf",
                   help=f"a run folder, a checkpoint folder, or a shipped name ({', '.join(SHIPPED)})")
    p.add_argument("--sampler", choices=SAMPLER_NAMES,
                   help="default: euler-pf for Patch Forcing models, euler for global-time, matrix with --inpaint")
    cost = p.add_mutually_exclusive_group()
    cost.add_argument("--steps", type=positive_int, help="outer steps (default 50)")
    cost.add_argument("--nfe", type=positive_int, help="NFE budget: outer steps are chosen to spend it (or the closest)")
    p.add_argument("--num", type=positive_int, default=20, help="number of images")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the first image (and of random masks)")
    p.add_argument("--classes", type=int_list, help="class labels, cycled over the images (e.g. 0-9); default: "
                   "one random class per image from its seed")
    g = p.add_argument_group("guidance")
    g.add_argument("--cfg", type=nonneg_float, default=1.0, help="classifier-free guidance scale (1 = off)")
    g.add_argument("--cfg-interval", type=unit_float, nargs=2, default=(0.0, 1.0), metavar=("T_LO", "T_HI"),
                   help="guide only while t is inside [T_LO, T_HI] (decided per sample from the mean patch time)")
    g.add_argument("--per-patch-interval", action="store_true", help="decide the interval per patch instead")
    g.add_argument("--no-guide-logvar", action="store_true",
                   help="use the conditional log-variance instead of guiding it like v (authors' quirk)")
    a = p.add_argument_group("adaptive samplers (defaults: the authors')")
    a.add_argument("--p", type=unit_float, help="certain fraction (dual-loop, look-ahead, random; default 0.4)")
    a.add_argument("--n-inner", type=positive_int, help="inner steps per outer step (dual-loop, random; default 4)")
    a.add_argument("--ratio", type=_ratio, help="look-ahead context ratio t_c = ratio * t (default 1.4)")
    a.add_argument("--early-t", type=_early, help="look-ahead: plain steps while t <= this (default 0.05; -1 = none)")
    a.add_argument("--guided-early", action="store_true", default=None,
                   help="look-ahead: guided v in the plain early steps (authors: unguided v_c)")
    a.add_argument("--guided-jump", action="store_true", default=None,
                   help="look-ahead: jump ahead along the guided v (authors: unguided v_c)")
    a.add_argument("--inclusive-quantile", action="store_false", default=None,
                   help="certain = difficulty <= quantile (authors: strict <)")
    m = p.add_argument_group("schedule matrix and inpainting")
    m.add_argument("--matrix", help="matrix sampler: a (steps + 1, N) schedule as .npy or .pt")
    m.add_argument("--inpaint", help="known image (PNG); its pixels outside --mask are kept exactly")
    m.add_argument("--mask", help="PNG mask, white = region to generate, black = known (with --inpaint)")
    o = p.add_argument_group("pictures")
    o.add_argument("--trace", type=nonneg_int, nargs="?", const=2, default=0, metavar="K",
                   help="write a GIF and a still PNG of the denoising for the first K images (default 2)")
    o.add_argument("--compare", type=_names, metavar="SAMPLERS",
                   help="comma-separated samplers (or 'all') at equal NFE from the same noise: writes compare.png")
    p.add_argument("--raw-weights", action="store_true", help="use the online weights instead of the EMA")
    p.add_argument("--out", default="samples", help="output folder")
    p.add_argument("--nrow", type=positive_int, default=10, help="images per grid row")
    p.add_argument("--vae", help="latent models: local SD-VAE (diffusers AutoencoderKL) folder or file to decode with")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.set_defaults(func=run_sample)


def _build(name: str, args: argparse.Namespace, known, strict: bool):
    """The sampler config ``name`` with the options given on the command line."""
    import torch

    from patchforcing.sampling import SAMPLERS, ScheduleMatrix

    cls = SAMPLERS[name]
    accepted = {f.name for f in fields(cls)}
    options = {}
    for dest, field in _OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if field in accepted:
            options[field] = value
        elif strict:
            raise ValueError(f"--{dest.replace('_', '-')} does not apply to the {name} sampler")
    if cls is ScheduleMatrix:
        matrix = None
        if args.matrix:
            path = Path(args.matrix)
            if path.suffix == ".npy":
                import numpy as np

                matrix = torch.from_numpy(np.load(path)).double()
            else:
                matrix = torch.load(path, map_location="cpu", weights_only=True).double()
        return ScheduleMatrix(matrix=matrix, known=known)
    if args.matrix or known is not None:
        raise ValueError(f"--matrix and --inpaint need the matrix sampler, not {name}")
    return cls(**options)


def _known(args: argparse.Namespace, config, num: int, device):
    """KnownContent from --inpaint/--mask (white = generate), resized to the model's image size."""
    import numpy as np
    import torch
    from PIL import Image

    from patchforcing.data.arrays import to_model_range
    from patchforcing.sampling import KnownContent

    if bool(args.inpaint) != bool(args.mask):
        raise ValueError("--inpaint and --mask go together")
    if not args.inpaint:
        return None
    if config.in_channels not in (1, 3):
        raise ValueError(f"inpainting needs a pixel model (1 or 3 channels), this one has {config.in_channels}")
    size = config.image_size
    with Image.open(args.inpaint) as img:
        img = img.convert("L" if config.in_channels == 1 else "RGB").resize((size, size), Image.Resampling.BICUBIC)
        pixels = torch.from_numpy(np.array(img, dtype=np.uint8)).reshape(size, size, -1)  # (H, W, C)
    with Image.open(args.mask) as img:
        hole = torch.from_numpy(np.array(img.convert("L").resize((size, size), Image.Resampling.NEAREST)) >= 128)
    image = to_model_range(pixels.permute(2, 0, 1))  # (C, H, W)
    return KnownContent(image=image[None].expand(num, -1, -1, -1).to(device),
                        mask=(~hole)[None, None].expand(num, -1, -1, -1).to(device))


def run_sample(args: argparse.Namespace) -> int:
    import time

    import torch

    from patchforcing.distributed import init_distributed, rank_range
    from patchforcing.io.images import save_grid, save_images
    from patchforcing.latent.decode import image_decoder
    from patchforcing.sampling import Guidance, labels_for_seeds, noise_for_seeds, uniform_schedule
    from patchforcing.train.checkpoint import load_model
    from patchforcing.train.helpers import resolve_device
    from patchforcing.viz import save_compare_grid, save_trace

    if args.threads:
        torch.set_num_threads(args.threads)
    env = init_distributed(resolve_device(args.device))  # under torchrun each rank takes a range of the seeds
    device, mine = env.device, rank_range(args.num, env.rank, env.world_size)
    loaded = load_model(args.checkpoint, use_ema=not args.raw_weights, device=device)
    model, c = loaded.model, loaded.model.config
    if args.classes is not None and c.num_classes and max(args.classes) >= c.num_classes:
        raise ValueError(f"class {max(args.classes)} is out of range: the model has {c.num_classes} classes")
    decode = image_decoder(c, args.vae, device)
    known = _known(args, c, len(mine), device)
    default = "matrix" if known is not None or args.matrix else "euler-pf" if c.time_mode == "patch" else "euler"
    names = args.compare or (args.sampler or default,)
    if args.compare and args.sampler:
        raise ValueError("--compare names its samplers; drop --sampler")
    samplers = {name: _build(name, args, known, strict=len(names) == 1) for name in names}
    for sampler in samplers.values():
        sampler.check_model(model)
    guidance = Guidance(scale=args.cfg, interval=tuple(args.cfg_interval), guide_logvar=not args.no_guide_logvar,
                        per_patch=args.per_patch_interval)
    seeds = [args.seed + i for i in mine]
    noise = noise_for_seeds(seeds, (c.in_channels, c.image_size, c.image_size), device)
    if args.classes is not None and c.num_classes:
        y = torch.tensor([args.classes[i % len(args.classes)] for i in mine], device=device)
    else:
        y = labels_for_seeds(seeds, c.num_classes, device)
    out = Path(args.out)
    rows = []
    for name, sampler in samplers.items():
        budget = sampler.budget(args.nfe) if args.nfe else None
        steps = budget.steps if budget else args.steps or 50
        generator = torch.Generator(device).manual_seed(args.seed)
        start = time.perf_counter()
        result = sampler(model, noise, y, uniform_schedule(steps, device), guidance, generator, trace=args.trace > 0)
        seconds = time.perf_counter() - start
        note = "" if budget is None else f" (budget {budget.requested}{'' if budget.exact else ', closest reachable'})"
        print(f"{name}: {len(seeds)} images, {steps} steps, NFE {result.nfe}{note}, {result.images_forwarded} images "
              f"through the network, {len(seeds) / seconds:.1f} images/s on {device}")
        images = decode(result.x)
        rows.append((f"{name} NFE {result.nfe}", images.clamp(-1, 1)))
        folder = out / name if len(samplers) > 1 else out
        if args.trace:
            written = save_trace(result.trace, folder / "trace", list(range(min(args.trace, args.num))))
            print(f"wrote {len(written)} trace files in {folder / 'trace'}")
        if len(samplers) == 1:
            grid = save_grid(images, out / f"grid{'' if env.is_main else f'_rank{env.rank}'}.png", nrow=args.nrow, scale=2)
            save_images(images, out / "images", [f"seed{s:06d}_class{int(label)}" for s, label in zip(seeds, y)])
            print(f"wrote {grid} and {len(seeds)} PNGs in {out / 'images'}")
    if len(samplers) > 1:
        print(f"wrote {save_compare_grid(rows, out / 'compare.png')}")
    return 0
