"""``patchforcing convert``: the authors' released checkpoint file -> our folder format."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, positive_int

__all__ = ["add_convert_parser", "run_convert"]


def add_convert_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert an authors' Patch Forcing checkpoint (or a plain DiT/SiT one) to our format",
        formatter_class=HelpFormatter,
        description="Read the authors' torch file "
        "(a dict with the EMA state_dict and the model config), "
        "check every tensor's name and shape, and write a model folder "
        "(config.json, model.safetensors, README.md) "
        "that `patchforcing sample --checkpoint FOLDER --vae SD_VAE` reads. Plain DiT/SiT "
        "checkpoints (no difficulty head) become global-time models; the folder records which "
        "kind the file was.",
    )
    p.add_argument("source", help="the authors' .pt / .pth file")
    p.add_argument("destination", help="folder to write")
    p.add_argument(
        "--num-heads",
        type=positive_int,
        help="attention heads, when neither the file's config nor a preset (B/2, L/2, XL/2) says",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow arbitrary Python objects in the file (only for files you trust)",
    )
    p.add_argument(
        "--keep-projector",
        metavar="FILE",
        help="a REPA checkpoint: write its projector (training only; sampling never uses it) to "
        "this new safetensors file instead of dropping it",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the destination when it already holds a model folder (never any other files)",
    )
    p.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    from patchforcing.model import PatchForcingDiT
    from patchforcing.model.convert import convert_authors_checkpoint

    path = convert_authors_checkpoint(
        args.source,
        args.destination,
        args.num_heads,
        args.trust_pickle,
        args.overwrite,
        args.keep_projector,
    )
    model = PatchForcingDiT.from_pretrained(path)
    m, training = model.config, model.meta.training if model.meta else {}
    print(
        f"converted {args.source} ({training.get('source')}): depth {m.depth}, width "
        f"{m.width}, {m.num_heads} heads, patch {m.patch_size}, "
        f"{m.in_channels}x{m.image_size}x{m.image_size} latents, {m.num_classes} classes -> {path}"
    )
    return 0
