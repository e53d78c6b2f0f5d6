"""Held-out losses of checkpoints on the first 2000 Fashion-MNIST test images (fixed noise).

    python scripts/validate_checkpoints.py fmnist-pf fmnist-global runs/my-run

Prints, for each checkpoint and each weights file it holds (EMA, online), the loss under its own
training time sampler and the velocity MSE at a global uniform t (comparable across models).
"""

from __future__ import annotations

import argparse

import torch

from patchforcing.core.time_dist import GlobalUniform, build_time_sampler
from patchforcing.data import DataConfig, load_dataset
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import resolve_model_folder
from patchforcing.train.validate import validation_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="shipped names, run folders or checkpoint folders")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    test = load_dataset(DataConfig(source="fashion-mnist", split="test"))
    for name in args.checkpoints:
        folder = resolve_model_folder(name)
        for use_ema, weights in ((True, "ema"), (False, "model")):
            if not (folder / f"{weights}.safetensors").is_file():
                continue
            model = PatchForcingDiT.from_pretrained(folder, ema=use_ema)
            spec = model.meta.training["time_sampler"]
            own = validation_loss(model, test, build_time_sampler(spec["name"], spec["params"]))
            uniform = validation_loss(model, test, GlobalUniform())
            nll = "-" if own.nll is None else f"{own.nll:.4f}"
            # a checkpoint holds both weights; an exported folder only the ones `export` chose
            label = "EMA" if use_ema else "online" if (folder / "ema.safetensors").is_file() else \
                model.meta.training.get("weights", "exported")
            print(f"{name} [{label}]: loss with {spec['name']} t {own.loss:.4f} "
                  f"(mse {own.mse:.4f}, nll {nll}); mse at uniform t {uniform.mse:.4f}")


if __name__ == "__main__":
    main()
