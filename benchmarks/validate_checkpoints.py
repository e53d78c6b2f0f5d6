"""Held-out losses of checkpoints on the first 2000 Fashion-MNIST test images (fixed noise).

    python -m benchmarks.validate_checkpoints fmnist-pf fmnist-global runs/my-run

Prints, for each checkpoint and each weights file it holds (EMA, online), the loss under its own
training time sampler and the velocity MSE at a global uniform t (comparable across models).
"""

from __future__ import annotations

import argparse
import sys

import torch

from patchforcing.cli.common import HelpFormatter, positive_int
from patchforcing.cli.program import run_program
from patchforcing.core.time_dist import GlobalUniform, build_time_distribution
from patchforcing.data import DataConfig, load_dataset
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import resolve_model_folder
from patchforcing.train.validate import validation_loss

__all__ = ["PROG", "build_parser", "main"]

PROG = "python -m benchmarks.validate_checkpoints"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0], formatter_class=HelpFormatter
    )
    parser.add_argument(
        "checkpoints", nargs="+", help="shipped names, run folders or checkpoint folders"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads for torch")
    return parser


def validate(args: argparse.Namespace) -> int:
    """Print both losses of every weights file of every checkpoint ``args`` names."""
    torch.set_num_threads(args.threads)
    test = load_dataset(DataConfig(source="fashion-mnist", split="test"))
    for name in args.checkpoints:
        folder = resolve_model_folder(name)
        for use_ema, weights in ((True, "ema"), (False, "model")):
            if not (folder / f"{weights}.safetensors").is_file():
                continue
            model = PatchForcingDiT.from_pretrained(folder, ema=use_ema)
            if model.meta is None:
                raise ValueError(
                    f"{name}: the folder records no training, so no time sampler to validate with"
                )
            training = model.meta.training
            spec = training.get("time_dist") or training["time_sampler"]  # its name in release 0.1
            own = validation_loss(
                model, test, build_time_distribution(spec["name"], spec["params"])
            )
            uniform = validation_loss(model, test, GlobalUniform())
            nll = "-" if own.nll is None else f"{own.nll:.4f}"
            # a checkpoint holds both weights; an exported folder only the ones `export` chose
            label = (
                "EMA"
                if use_ema
                else "online"
                if (folder / "ema.safetensors").is_file()
                else training.get("weights", "exported")
            )
            print(
                f"{name} [{label}]: loss with {spec['name']} t {own.loss:.4f} "
                f"(mse {own.mse:.4f}, nll {nll}); mse at uniform t {uniform.mse:.4f}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_program(PROG, lambda: validate(args))


if __name__ == "__main__":
    sys.exit(main())
