"""``patchforcing sample``: images from a checkpoint with any sampler, an NFE budget, guidance,
inpainting, denoising traces and sampler comparisons, written as a sample folder
(:func:`~patchforcing.sampling.generation.write_sample_folder`: one seed per image, written batch by
batch, so any ``--num`` runs in bounded memory)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from patchforcing._moved import moved_names
from patchforcing.cli.common import HelpFormatter, int_list, nonneg_int, positive_int
from patchforcing.cli.prompt_args import (
    add_prompt_arguments,
    load_text_encoder,
    note_unknown_words,
    prompts_from_args,
)
from patchforcing.cli.sampler_args import (
    add_guidance_arguments,
    add_sampler_arguments,
    fill_from_model,
    guidance_from_args,
    sampler_from_args,
    sampler_names,
)
from patchforcing.model.shipped import SHIPPED

if TYPE_CHECKING:
    from patchforcing.evaluation.viz import ComparedSampler
    from patchforcing.sampling.generation import SampleFolder

__all__ = ["add_sample_parser", "add_checkpoint_argument", "run_sample"]


def _names(text: str) -> tuple[str, ...]:
    known = sampler_names()
    names = (
        tuple(n for n in known if n != "matrix")
        if text == "all"
        else tuple(n for n in text.split(",") if n)
    )
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown sampler(s) {unknown or text!r}; choose from {', '.join(known)} or 'all'"
        )
    return names


def add_checkpoint_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        default="fmnist-pf",
        help="a model folder, a run folder (its newest checkpoint), a shipped name "
        f"({', '.join(SHIPPED)}) or a Hugging Face hub id (fetched into the hub cache; "
        "HF_HUB_OFFLINE=1: the cache only)",
    )
    p.add_argument(
        "--raw-weights", action="store_true", help="use the online weights instead of the EMA"
    )


def add_sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="generate images from a checkpoint",
        formatter_class=HelpFormatter,
        description="Generate images. Image i uses seed --seed + i, so any image can be "
        "regenerated alone, with any batch size. See docs/samplers.md for the samplers, their "
        "defaults and NFE accounting.",
    )
    add_checkpoint_argument(p)
    add_sampler_arguments(p)
    cost = p.add_mutually_exclusive_group()
    cost.add_argument(
        "--steps",
        type=positive_int,
        help="outer steps (default: the model's recommended NFE, else 50 steps)",
    )
    cost.add_argument(
        "--nfe",
        type=positive_int,
        help="NFE budget: outer steps are chosen to spend it (or the closest)",
    )
    p.add_argument("--num", type=positive_int, default=20, help="number of images")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the first image")
    p.add_argument(
        "--classes",
        type=int_list,
        help="class labels, cycled over the images (e.g. 0-9); default: "
        "one random class per image from its seed",
    )
    add_prompt_arguments(p)
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        help="images per batch (does not change the images)",
    )
    add_guidance_arguments(p)
    m = p.add_argument_group("schedule matrix and inpainting")
    m.add_argument("--matrix", help="matrix sampler: a (steps + 1, N) schedule as .npy or .pt")
    m.add_argument(
        "--inpaint", help="known image (PNG); its pixels outside --mask are kept exactly"
    )
    m.add_argument(
        "--mask", help="PNG mask, white = region to generate, black = known (with --inpaint)"
    )
    o = p.add_argument_group("pictures")
    o.add_argument(
        "--trace",
        type=nonneg_int,
        nargs="?",
        const=2,
        default=0,
        metavar="K",
        help="write a GIF and a still PNG of the denoising for the first K images (bare flag: 2)",
    )
    o.add_argument(
        "--compare",
        type=_names,
        metavar="SAMPLERS",
        help=(
            "comma-separated samplers (or 'all') at equal NFE from the same "
            "noise: writes compare.png"
        ),
    )
    p.add_argument(
        "--out",
        help="output folder: new or empty, or an earlier output of the same options (its missing "
        "images are made), or another earlier sample output with --overwrite (default: samples, "
        "or samples-2, samples-3, ... when taken by other options)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier `sample` output in --out (never any other files)",
    )
    p.add_argument("--nrow", type=positive_int, default=10, help="images per grid row")
    p.add_argument(
        "--vae",
        help="latent models: local SD-VAE (diffusers AutoencoderKL) folder or file to decode with",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument(
        "--threads", type=positive_int, help="CPU threads for torch (default: torch's choice)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_sample)


def _matrix(path_text: str):
    """The --matrix file as a float64 tensor; a damaged or foreign file is a one-line error (its
    shape is checked against the model by the sampler, before any image is written)."""
    import numpy as np
    import torch

    path = Path(path_text)
    try:
        matrix = (
            torch.from_numpy(np.load(path, allow_pickle=False))
            if path.suffix == ".npy"
            else torch.load(path, map_location="cpu", weights_only=True)
        )
    except (
        Exception
    ) as err:  # numpy and torch raise many types on damaged files (pickle, zip, EOF, format)
        raise ValueError(
            f"cannot read --matrix {path}: "
            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from err
    if not isinstance(matrix, torch.Tensor) or not (
        matrix.is_floating_point() or matrix.dtype == torch.int64
    ):
        raise ValueError(
            f"--matrix {path} must hold one numeric array (steps + 1, N), got "
            f"{getattr(matrix, 'dtype', type(matrix).__name__)}"
        )
    return matrix.double()


def _model_sized(path: str, what: str, size: int, mode: str):
    """The image ``what`` (its role) as a (size, size[, 3]) uint8 array in ``mode``: another size
    than the model's, a decompression bomb or anything Pillow cannot read is one ValueError naming
    it (the size comes from the header, before anything is decoded)."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.size != (size, size):
                raise ValueError(
                    f"{what} {path} is {img.size[0]}x{img.size[1]}; the model makes {size}x{size} "
                    "images, so it must be that size"
                )
            return np.array(img.convert(mode), dtype=np.uint8)
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - Pillow raises many types on bad input (bombs too)
        raise ValueError(f"{what} {path}: cannot read image: {err or type(err).__name__}") from None


def _known(args: argparse.Namespace, config, num: int, device):
    """KnownContent from --inpaint/--mask (white = generate); both must have the model's
    image size."""
    import torch

    from patchforcing.sampling import KnownContent
    from patchforcing.utils.io.pixels import to_model_range

    if bool(args.inpaint) != bool(args.mask):
        raise ValueError("--inpaint and --mask go together")
    if not args.inpaint:
        return None
    if config.in_channels not in (1, 3):
        raise ValueError(
            f"inpainting needs a pixel model (1 or 3 channels), this one has {config.in_channels}"
        )
    size = config.image_size
    pixels = torch.from_numpy(
        _model_sized(
            args.inpaint, "the image to inpaint", size, "L" if config.in_channels == 1 else "RGB"
        )
    ).reshape(size, size, -1)  # (H, W, C)
    hole = torch.from_numpy(_model_sized(args.mask, "the mask", size, "L") >= 128)  # (H, W)
    image = to_model_range(pixels.permute(2, 0, 1))  # (C, H, W)
    return KnownContent(
        image=image[None].expand(num, -1, -1, -1).to(device),
        mask=(~hole)[None, None].expand(num, -1, -1, -1).to(device),
    )


def _samplers(args: argparse.Namespace, known, num_patches: int) -> dict:
    from patchforcing.sampling.matrix import check_matrix

    if args.compare and args.sampler:
        raise ValueError("--compare names its samplers; drop --sampler")
    matrix_given = known is not None or args.matrix is not None
    if args.compare:
        names = args.compare
    else:
        names = (args.sampler or ("matrix" if matrix_given else None),)
    if matrix_given and names != ("matrix",):
        raise ValueError(
            f"--matrix and --inpaint need the matrix sampler, not {', '.join(map(str, names))}"
        )
    if names == (None,):
        return {None: None}
    matrix = _matrix(args.matrix) if args.matrix else None
    if matrix is not None and matrix.dim() == 2:
        check_matrix(
            matrix, 1, num_patches
        )  # before anything is written (a (B, S + 1, N) one: per batch)
    out = {}
    for name in names:
        extra = {"matrix": matrix, "known": known} if name == "matrix" else {}
        out[name] = sampler_from_args(name, args, strict=len(names) == 1, **extra)
    return out


def _recommended(args: argparse.Namespace, model, config, samplers: dict):
    """The config and samplers with the model's recommended settings for what the command line
    left unset (a matrix sampler keeps its own cost), said in one line on stderr."""
    matrix = args.matrix is not None or args.inpaint is not None
    filled = fill_from_model(
        args,
        model,
        config,
        sampler=bool(args.sampler or args.compare) or matrix,
        cost=args.steps is not None or args.nfe is not None or matrix,
    )
    chosen = filled.config.sampler
    if "sampler" in filled.applied and chosen is not None:
        samplers = {chosen.name: chosen}
    return filled.config, samplers


def _speed(name: str, run: SampleFolder | ComparedSampler, budget: int | None, device) -> str:
    """What one sampler made on this rank: images, steps, NFE against the budget, and speed."""
    asked = (
        ""
        if budget is None
        else f" (budget {budget}{'' if run.nfe == budget else ', closest reachable'})"
    )
    return (
        f"{name}: {run.count} images, {run.steps} steps, NFE {run.nfe}{asked}, "
        f"{run.count / max(run.seconds, 1e-9):.1f} images/s on {device}"
    )


def run_sample(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from patchforcing.data.latent.decode import image_decoder
    from patchforcing.evaluation.viz import write_comparison, write_trace
    from patchforcing.model import load_model
    from patchforcing.sampling.generation import (
        GRID_IMAGES,
        MANIFEST,
        GenerationConfig,
        check_sample_folder,
        write_sample_folder,
    )
    from patchforcing.sampling.generation.resume import default_sample_folder, sample_request
    from patchforcing.utils.device import resolve_device
    from patchforcing.utils.distributed import init_distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    env = init_distributed(
        resolve_device(args.device)
    )  # under torchrun each rank takes a range of the seeds
    if args.out is not None:  # before any work; an earlier output is resumed or replaced later
        check_sample_folder(args.out, args.overwrite)
    model = load_model(args.checkpoint, ema=not args.raw_weights, device=env.device)
    load_text_encoder(model, args)
    c = model.config
    decode = image_decoder(c, args.vae, env.device)
    known = _known(args, c, min(args.batch_size, args.num), env.device)
    prompts = prompts_from_args(args)
    note_unknown_words(model, prompts)
    config = GenerationConfig(
        steps=args.steps,
        nfe=args.nfe,
        guidance=guidance_from_args(args),
        num_images=args.num,
        seed=args.seed,
        classes=tuple(args.classes) if args.classes else None,
        prompts=prompts.prompts if prompts else None,
        batch_size=args.batch_size if known is None else args.num,
        progress=env.is_main and not args.no_progress,
    )
    samplers = _samplers(args, known, c.num_patches)
    config, samplers = _recommended(args, model, config, samplers)
    for chosen in samplers.values():  # before the destination is written
        dataclasses.replace(config, sampler=chosen).check_budget(c.time_mode)
        dataclasses.replace(config, sampler=chosen).check_cost(c)
    out = (
        Path(args.out)
        if args.out is not None
        else default_sample_folder(
            sample_request(
                model,
                dataclasses.replace(config, sampler=next(iter(samplers.values()))),
                decode is not None,
            )
        )
    )
    if args.compare:
        comparison = write_comparison(
            model,
            config,
            samplers,
            out,
            decode=decode,
            env=env,
            overwrite=args.overwrite,
            trace=args.trace,
        )
        for row in comparison.samplers:
            print(_speed(row.name, row, args.nfe, env.device))
            if row.trace:
                print(f"wrote {len(row.trace)} trace files in {out / row.name / 'trace'}")
        print(f"wrote {comparison.path}")
        return 0
    (sampler,) = samplers.values()
    config = dataclasses.replace(config, sampler=sampler)
    written = write_sample_folder(
        model, config, out, decode=decode, env=env, overwrite=args.overwrite, nrow=args.nrow
    )
    print(_speed(written.sampler, written, args.nfe, env.device))
    if written.resumed:
        print(f"{written.resumed} of these images were already in {out} (resumed)")
    if written.kept:
        listed = ", ".join(str(p.relative_to(out)) for p in written.kept[:5])
        more = f" and {len(written.kept) - 5} more" if len(written.kept) > 5 else ""
        print(f"kept {len(written.kept)} files `sample` did not write: {listed}{more}")
    if args.trace and written.count:
        traced = write_trace(
            model, config, out / "trace", args.trace, decode=decode, device=env.device
        )
        print(f"wrote {len(traced)} trace files in {out / 'trace'}")
    if written.grid is not None:
        print(
            "wrote "
            f"{written.grid}{'' if written.count <= GRID_IMAGES else f' (first {GRID_IMAGES})'} "
            f"and {written.count} PNGs in {out / 'images'}"
        )
    if written.manifest is not None:
        print(f"wrote {out / MANIFEST} ({len(written.manifest)} images)")
    return 0


__getattr__ = moved_names(
    __name__,
    {name: f"patchforcing.sampling.generation:{name}" for name in ("MANIFEST", "GRID_IMAGES")},
)
