"""The Python steps of ``scripts/gpu_train_shipped.sh`` (it trains; this exports and evaluates).

    python scripts/gpu_train_shipped.py finish OUT [--smoke] [--fmnist-dir D] [--emoji-dir D]
    python scripts/gpu_train_shipped.py prepare DATA    # the data sets and `emoji` to carry along
    python scripts/gpu_train_shipped.py fake-data DATA  # tiny stand-ins of both, for --smoke

``finish`` takes each run of OUT/runs/ (the newest checkpoint, EMA weights), writes it as a model
folder OUT/models/NAME with bf16 parameters, picks its recommended sampling settings from a small
grid at NFE 32 (Fashion-MNIST: the lowest FD in the features of fmnist-classifier; text: the
highest prompt-alignment score of emoji-clip), scores the unguided and the recommended settings on
more images (both Fashion-MNIST feature spaces; the emoji classifier and emoji-clip for text),
records both in the folder with its training budget, writes its sample grid (samples.png, the
grid of ``patchforcing sample`` with the recommended settings) and its card, and writes
OUT/metrics.json and OUT/report.md. ``--smoke`` does every step at a tiny size on the CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model_cards import best_row, card_row, write_sample_grid  # scripts/, beside this file
from patchforcing.evaluation import EvalOptions, Evaluator
from patchforcing.model import AnyModel, PatchForcingT2I, load_model
from patchforcing.model.pretrained import (
    RecommendedSampling,
    resolve_model_folder,
    update_model_folder,
)
from patchforcing.sampling import SAMPLERS, Guidance
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.utils.distributed import DistEnv

RUNS = ("fmnist-pf-gpu", "fmnist-global-gpu", "emoji-t2i-gpu", "emoji-t2i-global-gpu")


@dataclass(frozen=True)
class Plan:
    """The sizes of the evaluation: grid and final images, NFE, guidance scales, batch."""

    grid_images: int
    final_images: int
    nfe: int
    scales: tuple[float, ...]
    batch: int
    grid_samplers: tuple[str, ...] = ("euler-pf", "dual-loop", "look-ahead")


FULL = Plan(grid_images=1000, final_images=2000, nfe=32, scales=(2.0, 3.0, 4.0), batch=500)
SMOKE = Plan(grid_images=8, final_images=8, nfe=4, scales=(2.0,), batch=8)


def evaluate(
    model: AnyModel, evaluator: Evaluator, sampler: str, scale: float, images: int, plan: Plan
) -> dict[str, Any]:
    """One evaluation as a row of the card's table: settings, images, metrics."""
    text = isinstance(model, PatchForcingT2I)
    prompts = evaluator.reference_prompts() if text else None
    config = GenerationConfig(
        sampler=SAMPLERS[sampler](),
        nfe=plan.nfe,
        guidance=Guidance(scale=scale),
        num_images=images,
        batch_size=plan.batch,
        prompts=prompts.prompts if prompts else None,
    )
    scoring = evaluator.prompt_scoring(prompts.categories) if prompts else None
    result = evaluator.score_model(model, config, alignment=scoring, source=str(model.source))
    return card_row({**result.to_dict(), "feature_names": evaluator.names}, sampler, scale)


def export(run: Path, dest: Path) -> AnyModel:
    """The run's newest checkpoint (EMA weights) as a model folder with bf16 parameters (buffers
    such as the fixed position embedding stay float32), loaded back in float32."""
    checkpoint = resolve_model_folder(run)
    model = load_model(checkpoint)
    assert model.meta is not None
    training = {**model.meta.training, "weights": "ema", "exported_from": str(checkpoint)}
    for p in model.parameters():
        p.data = p.data.to(torch.bfloat16)
    model.export_folder(dest, model.make_meta(training=training), overwrite=True)
    return load_model(dest)


def _budget(run: Path, model: AnyModel, device: torch.device) -> str:
    checkpoint = resolve_model_folder(run)
    state = torch.load(checkpoint / "train_state.pt", map_location="cpu", weights_only=True)
    seconds = state.get("train_seconds")
    assert model.meta is not None
    t = model.meta.training
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    took = "" if seconds is None else f" in {seconds / 60:.1f} min"
    return (
        f"{t['step']} of {t['steps']} steps of batch {t['batch_size']} on one {where} "
        f"({t['precision']}{', compiled' if device.type == 'cuda' else ''}){took}"
    )


def finish_one(
    run: Path, out: Path, plan: Plan, options: EvalOptions, device: torch.device
) -> list[dict[str, Any]]:
    name = run.name
    model = export(run, out / "models" / name).to(device)
    text = isinstance(model, PatchForcingT2I)
    evaluator = Evaluator.build(options, DistEnv(device=device))
    patch = model.config.time_mode == "patch"
    samplers = plan.grid_samplers if patch else ("euler",)
    grid = [
        evaluate(model, evaluator, s, c, plan.grid_images, plan)
        for s in samplers
        for c in plan.scales
    ]
    best = best_row(grid, text)
    chosen = "highest emoji-clip alignment score" if text else "lowest FD (fmnist-classifier)"
    record = RecommendedSampling(
        best["sampler"],
        plan.nfe,
        best["guidance_scale"],
        chosen_by=f"Chosen by the {chosen} among {', '.join(samplers)} at CFG "
        f"{', '.join(f'{c:g}' for c in plan.scales)}, NFE {plan.nfe}, on {plan.grid_images} "
        "images (scripts/gpu_train_shipped.sh).",
    )
    default = "euler-pf" if patch else "euler"
    finals = [
        evaluate(model, evaluator, default, 1.0, plan.final_images, plan),
        evaluate(model, evaluator, record.sampler, record.guidance_scale, plan.final_images, plan),
    ]
    reference = "emoji --reference-prompts" if text else "fashion-mnist"
    spaces = " ".join(f"--classifier {c}" for c in options.classifiers)
    for row, label in zip(finals, ("unguided", "recommended")):
        row["settings"] = f"{label}: {row['settings']}"
        row["command"] = (
            f"patchforcing eval --checkpoint {model.source} --sampler {row['sampler']} "
            f"--nfe {plan.nfe} "
            f"--cfg {row['guidance_scale']:g} --num {plan.final_images} --batch-size {plan.batch} "
            f"--reference {reference} {spaces}"
        )
    command = write_sample_grid(model, out / "samples" / name, str(model.source), device)
    update_model_folder(
        model,
        recommended_sampling=record,
        quality={"evaluations": finals, "sample_grid": {"command": command}},
        training={"budget": _budget(run, model, device)},
    )
    return [{"model": name, "part": "grid", **r} for r in grid] + [
        {"model": name, "part": "final", **r} for r in finals
    ]


def finish(out: Path, smoke: bool, fmnist_dir: str | None, emoji_dir: str | None) -> None:
    device = torch.device("cpu" if smoke else "cuda")
    plan = SMOKE if smoke else FULL
    rows: list[dict[str, Any]] = []
    for name in RUNS:
        text = name.startswith("emoji")
        options = EvalOptions(
            reference="emoji" if text else "fashion-mnist",
            data_dir=emoji_dir if text else fmnist_dir,
            classifiers=("emoji-classifier",)
            if text
            else ("fmnist-classifier", "fmnist-resnet-aug"),
            cache_dir=str(out / "reference-cache"),
        )
        rows += finish_one(out / "runs" / name, out, plan, options, device)
        print(f"finished {name}", flush=True)
    (out / "metrics.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| model | part | settings | images | metrics |", "|---|---|---|---|---|"]
    for r in rows:
        values = ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if v is not None)
        lines.append(f"| {r['model']} | {r['part']} | {r['settings']} | {r['images']} | {values} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def fake_data(root: Path) -> None:
    """Fashion-MNIST files of 64 train and 32 test images, and an emoji package of the 80
    emoticons U+1F600..U+1F64F (real code points: their everyday names exist), as coloured
    squares."""
    rng = np.random.default_rng(0)
    fmnist = root / "fashion-mnist"
    fmnist.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", 64), ("t10k", 32)):
        _idx(fmnist / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        _idx(fmnist / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    emoji = root / "emoji"
    (emoji / "img/google/64").mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(80):
        code = f"{0x1F600 + i:X}"
        entries.append(
            {
                "name": f"FACE {i}",
                "short_names": [f"face_{i}"],
                "category": "Smileys & Emotion",
                "subcategory": "face-smiling",
                "unified": code,
                "image": f"{code.lower()}.png",
                "sort_order": i,
                "has_img_google": True,
            }
        )
        pixels = np.zeros((64, 64, 4), np.uint8)
        pixels[16:48, 16:48] = (*rng.integers(0, 256, 3), 255)
        Image.fromarray(pixels, "RGBA").save(emoji / "img/google/64" / f"{code.lower()}.png")
    (emoji / "emoji.json").write_text(json.dumps(entries))
    (emoji / "LICENSE").write_text("test data")


def prepare(root: Path) -> None:
    """Copy the installed Fashion-MNIST, the emoji set and the pure-Python package ``emoji`` (the
    captions' everyday names) into ``root``, to carry to a machine that cannot install them."""
    import emoji

    from patchforcing.data.emoji import find_emoji
    from patchforcing.data.fashion_mnist import find_fashion_mnist

    shutil.copytree(find_fashion_mnist(), root / "fashion-mnist", dirs_exist_ok=True)
    shutil.copytree(find_emoji(), root / "emoji", dirs_exist_ok=True)
    package = Path(emoji.__file__).parent
    shutil.copytree(package, root / "python" / package.name, dirs_exist_ok=True)
    print(f"wrote {root}: fashion-mnist/, emoji/, python/{package.name}/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    f = sub.add_parser("finish")
    f.add_argument("out", type=Path)
    f.add_argument("--smoke", action="store_true")
    f.add_argument("--fmnist-dir")
    f.add_argument("--emoji-dir")
    for action in ("prepare", "fake-data"):
        sub.add_parser(action).add_argument("root", type=Path)
    args = parser.parse_args()
    if args.action == "finish":
        finish(args.out, args.smoke, args.fmnist_dir, args.emoji_dir)
    elif args.action == "prepare":
        prepare(args.root)
    else:
        fake_data(args.root)


if __name__ == "__main__":
    main()
