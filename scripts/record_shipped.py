"""Record the measured sampling settings and quality of the shipped generators in their folders
(``config.json`` and the card; never the weights), and write each card's sample grid.

    python scripts/record_shipped.py EVALS [--out out/cards]

EVALS holds the results of the ``patchforcing eval`` commands of docs/shipped.md
("Recommended sampling settings"), one JSON file per command, named
``MODEL/SAMPLER-cfgSCALE-IMAGES.json``. For each model the grid (1000 images) gives the recommended
settings by the rule of ``model_cards.best_row``; the unguided default sampler and the recommended
settings on 2000 images are the card's measured quality. The sample grids are written with the
recommended settings (``patchforcing sample --checkpoint NAME --num 20 ...``) under ``--out`` and
copied into the folders as ``samples.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from model_cards import best_row, card_row, write_sample_grid  # scripts/, beside this file
from patchforcing.model import load_model
from patchforcing.model.pretrained import RecommendedSampling, update_model_folder
from patchforcing.model.shipped import shipped_path

NFE, GRID_IMAGES, FINAL_IMAGES = 32, 1000, 2000
GRIDS = {
    "fmnist-pf": (("euler-pf", 2.0), ("euler-pf", 3.0), ("dual-loop", 3.0), ("look-ahead", 3.0)),
    "fmnist-global": (("euler", 2.0), ("euler", 3.0)),
    "emoji-t2i": (("euler-pf", 3.0), ("euler-pf", 5.0), ("look-ahead", 3.0)),
}
DEFAULT_SAMPLER = {"fmnist-pf": "euler-pf", "fmnist-global": "euler", "emoji-t2i": "euler-pf"}
FLAGS = {
    "fmnist": "--classifier fmnist-classifier --classifier fmnist-resnet-aug --batch-size 250",
    "emoji": "--reference emoji --reference-prompts --classifier emoji-classifier "
    "--image-text emoji-clip",
}
BUDGETS = {  # docs/shipped.md: both runs of a pair side by side with other jobs (upper bounds)
    "fmnist-pf": "4000 steps of batch 128 (512,000 images) on this project's 2-core x86 CPU, one "
    "thread, bf16 autocast: 92 min",
    "fmnist-global": "4000 steps of batch 128 (512,000 images) on this project's 2-core x86 CPU, "
    "one thread, bf16 autocast: 84 min",
    "emoji-t2i": "3000 steps of batch 64 (192,000 images) on this project's 2-core x86 CPU, one "
    "thread, bf16 autocast: 65 min",
}


def _file(evals: Path, name: str, sampler: str, scale: float, images: int) -> Path:
    return evals / name / f"{sampler}-cfg{scale:g}-{images}.json"


def command(name: str, sampler: str, scale: float, images: int) -> str:
    """The ``patchforcing eval`` command of one result file."""
    out = _file(Path("evals"), name, sampler, scale, images)
    return (
        f"patchforcing eval --checkpoint {name} --sampler {sampler} --nfe {NFE} --cfg {scale:g} "
        f"--num {images} --seed 0 {FLAGS[name.partition('-')[0]]} --threads 1 --out {out}"
    )


def record(evals: Path, name: str, out: Path) -> None:
    text = name.startswith("emoji")
    read = lambda s, c, n: json.loads(_file(evals, name, s, c, n).read_text())  # noqa: E731
    grid = [card_row(read(s, c, GRID_IMAGES), s, c) for s, c in GRIDS[name]]
    best = best_row(grid, text)
    rule = "highest emoji-clip alignment score" if text else "lowest FD (fmnist-classifier)"
    tried = "; ".join(r["settings"] for r in grid)
    chosen = RecommendedSampling(
        best["sampler"],
        NFE,
        best["guidance_scale"],
        chosen_by=f"Chosen by the {rule} on {GRID_IMAGES} images among: {tried} (docs/shipped.md).",
    )
    finals = [
        (DEFAULT_SAMPLER[name], 1.0, "unguided"),
        (chosen.sampler, chosen.guidance_scale, "recommended"),
    ]
    rows = [
        card_row(read(s, c, FINAL_IMAGES), s, c, command(name, s, c, FINAL_IMAGES), label)
        for s, c, label in finals
    ]
    model = load_model(shipped_path(name))
    update_model_folder(model, recommended_sampling=chosen, training={"budget": BUDGETS[name]})
    grid_command = write_sample_grid(model, out / name, name, torch.device("cpu"))
    quality = {"evaluations": rows, "sample_grid": {"command": grid_command}}
    update_model_folder(model, quality=quality)
    print(f"{name}: {chosen.describe()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evals", type=Path)
    parser.add_argument("--out", type=Path, default=Path("out/cards"))
    args = parser.parse_args()
    for name in GRIDS:
        record(args.evals, name, args.out)


if __name__ == "__main__":
    main()
