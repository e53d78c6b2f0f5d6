"""``patchforcing export``: a run's newest checkpoint as a small shareable folder
(config + EMA weights), ours or diffusers' (``--format diffusers``)."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter

__all__ = ["add_export_parser", "run_export"]


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export config + weights of a checkpoint",
        formatter_class=HelpFormatter,
        description="Write the EMA or online weights of a run's newest checkpoint "
        "(or of a given checkpoint folder) as a model folder "
        "(config.json, model.safetensors, README.md model card) that "
        "`patchforcing sample --checkpoint` and `patchforcing.model.load_model` read; with "
        "--format diffusers, a pipeline folder that diffusers loads.",
    )
    p.add_argument(
        "source", help="run folder or checkpoint folder (diffusers format: also a shipped name)"
    )
    p.add_argument("destination", help="folder to write")
    p.add_argument(
        "--weights",
        choices=("ema", "online"),
        default="ema",
        help=(
            "which weights to export (online: the optimizer's weights, "
            "for runs too short for the EMA)"
        ),
    )
    p.add_argument(
        "--format",
        choices=("patchforcing", "diffusers"),
        default="patchforcing",
        help="patchforcing: our model folder; diffusers: a PatchForcingPipeline folder for "
        "diffusers (needs the [diffusers] extra; the destination must be new or empty), "
        "see docs/diffusers.md",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the destination when it already holds a model folder (never any other files)",
    )
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    if args.format == "diffusers":
        if args.overwrite:
            raise ValueError("--overwrite is for our model folders; give a new or empty folder")
        try:
            from patchforcing.pipelines import export_diffusers
        except ImportError as err:  # the [diffusers] extra is missing: the error names it
            raise ValueError(str(err)) from err
        path = export_diffusers(args.source, args.destination, ema=args.weights == "ema")
        print(f"exported {path} (diffusers format)")
        return 0
    from patchforcing.train.export import export_checkpoint

    path = export_checkpoint(
        args.source, args.destination, use_ema=args.weights == "ema", overwrite=args.overwrite
    )
    print(f"exported {path}")
    return 0
