"""Where the background noise of samples comes from: a table per model (docs/noise.md).

    python -m benchmarks.noise_study fmnist-pf fmnist-global [--images 200] [--threads 1]

For each model (a shipped name, a model folder or a run folder):
- velocity MSE at uniform t (every patch at the same t) on the first 1000 test images, fixed noise;
- for Patch Forcing models, the velocity MSE of the patches whose LTG time falls in a bin
  (LTG context) against all patches at the bin's middle time, and how many patches LTG puts in
  each bin;
- the background level (mean pixel value, 0-255, on pixels that are 0 in >= 95% of the test images
  of the class; patchforcing.evaluation.metrics.background) of samples of the model's default
  sampler at NFE 8 / 16 / 32 / 64, and of 64-step samples whose last stretch [t_end, 1] is one jump,
  which shows which part of the trajectory adds the noise. The test set's own level is
  printed first.
"""

from __future__ import annotations

import argparse
import sys

import torch

from patchforcing.cli.common import HelpFormatter, positive_int
from patchforcing.cli.program import run_program
from patchforcing.core.path import broadcast_patches, pool_patches
from patchforcing.core.time_dist import build_time_distribution
from patchforcing.data import DataConfig, load_images
from patchforcing.evaluation.metrics import BackgroundMasks, background_masks
from patchforcing.model import PatchForcingDiT
from patchforcing.sampling import Euler, EulerPF, noise_for_seeds, uniform_schedule
from patchforcing.utils.io.pixels import from_model_range, to_model_range

__all__ = ["PROG", "build_parser", "main"]

PROG = "python -m benchmarks.noise_study"
TIMES = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.995)
JUMPS = (1.0, 0.95, 0.9, 0.8)


def velocity_mse(model: PatchForcingDiT, x1: torch.Tensor, y: torch.Tensor, t: float) -> float:
    x0 = torch.randn(x1.shape, generator=torch.Generator().manual_seed(0))
    xt = t * x1 + (1 - t) * x0
    with torch.no_grad():
        v = torch.cat(
            [
                model(xt[i : i + 250], torch.full((len(xt[i : i + 250]),), t), y[i : i + 250]).v
                for i in range(0, len(xt), 250)
            ]
        )
    return float(((v - (x1 - x0)) ** 2).mean())


def ltg_bins(model: PatchForcingDiT, x1: torch.Tensor, y: torch.Tensor) -> list[str]:
    """Rows: t bin, patches LTG put there, their MSE in LTG context, MSE with every patch at the
    bin's middle."""
    c = model.config
    x0 = torch.randn(x1.shape, generator=torch.Generator().manual_seed(0))
    t_ltg = build_time_distribution("ltg")(
        len(x1), c.num_patches, generator=torch.Generator().manual_seed(1)
    )

    def errors(t: torch.Tensor) -> torch.Tensor:  # (B, N) per-patch squared velocity error
        tp = broadcast_patches(t, c.patch_size, c.image_size, c.image_size)
        xt = tp * x1 + (1 - tp) * x0
        with torch.no_grad():
            v = torch.cat(
                [
                    model(xt[i : i + 250], t[i : i + 250], y[i : i + 250]).v
                    for i in range(0, len(xt), 250)
                ]
            )
        return pool_patches((v - (x1 - x0)) ** 2, c.patch_size)

    in_context = errors(t_ltg)
    rows = []
    for lo, hi in ((0.3, 0.4), (0.6, 0.7), (0.8, 0.85), (0.9, 0.95), (0.95, 1.0)):
        chosen = (t_ltg >= lo) & (t_ltg < hi)
        alone = errors(torch.full_like(t_ltg, (lo + hi) / 2)).mean()
        context = f"{in_context[chosen].mean():.3f}" if chosen.any() else "-"
        rows.append(f"| [{lo}, {hi}) | {int(chosen.sum())} | {context} | {alone:.3f} |")
    return rows


def background(
    model: PatchForcingDiT, masks: BackgroundMasks, images: int, schedule: torch.Tensor
) -> float:
    sampler = EulerPF() if model.config.time_mode == "patch" else Euler()
    noise = noise_for_seeds(range(images), (model.config.in_channels, 28, 28))
    y = torch.arange(images) % 10
    x = sampler(model, noise, y, schedule).x
    level = masks.level(from_model_range(x), y)
    return float("nan") if level is None else level


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument("models", nargs="+", help="shipped names, model folders or run folders")
    parser.add_argument(
        "--images", type=positive_int, default=200, help="samples per background figure"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads for torch")
    parser.add_argument(
        "--online", action="store_true", help="the online weights instead of the EMA"
    )
    return parser


def study(args: argparse.Namespace) -> int:
    """Print the three tables for the models ``args`` names."""
    torch.set_num_threads(args.threads)
    test = load_images(DataConfig(source="fashion-mnist", split="test"))
    masks = background_masks(test.images, test.labels, 10)
    x1, y = to_model_range(test.images[:1000]), test.labels[:1000]
    print(f"test images: background level {masks.level(test.images, test.labels):.2f}")
    print("| model | " + " | ".join(f"MSE t={t}" for t in TIMES) + " |")
    print("|---|" + "---|" * len(TIMES))
    models = {
        name: PatchForcingDiT.from_pretrained(name, ema=not args.online) for name in args.models
    }
    for name, model in models.items():
        print(
            f"| {name} | "
            + " | ".join(f"{velocity_mse(model, x1, y, t):.3f}" for t in TIMES)
            + " |",
            flush=True,
        )
    for name, model in models.items():
        if model.config.time_mode == "patch":
            print(
                f"\n{name}: | t bin | patches in 1000 LTG draws | MSE in LTG context | MSE, "
                "all patches at mid |"
            )
            print("|---|---|---|---|")
            print("\n".join(ltg_bins(model, x1, y)), flush=True)
    print(
        "\n| model | "
        + " | ".join(f"bg NFE {n}" for n in (8, 16, 32, 64))
        + " | "
        + " | ".join(f"bg 64 steps, jump from {t}" for t in JUMPS[1:])
        + " |"
    )
    print("|---|" + "---|" * (4 + len(JUMPS) - 1))
    for name, model in models.items():
        cells = [
            background(model, masks, args.images, uniform_schedule(n)) for n in (8, 16, 32, 64)
        ]
        for t_end in JUMPS[1:]:
            head = torch.linspace(
                0, t_end, 64, dtype=torch.float64
            )  # 63 steps up to t_end, then one jump
            schedule = torch.cat([head, torch.ones(1, dtype=torch.float64)])
            cells.append(background(model, masks, args.images, schedule))
        print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_program(PROG, lambda: study(args))


if __name__ == "__main__":
    sys.exit(main())
