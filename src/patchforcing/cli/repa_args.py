"""The representation-alignment options of ``patchforcing train`` (``--repa-encoder``: on). They
default to None, so that only what was typed changes the REPA section (or a recipe's)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from patchforcing.cli.common import nonneg_float, positive_int
from patchforcing.train.repa_config import REPA_FEATURES, TIME_WEIGHTINGS, RepaConfig

__all__ = ["add_repa_arguments", "repa_from_args"]

_FIELDS = {  # option -> RepaConfig field
    "repa_depth": "depth",
    "repa_weight": "weight",
    "repa_projector_dim": "projector_dim",
    "repa_resolution": "resolution",
    "repa_time_weight": "time_weighting",
    "repa_features": "features",
}


def add_repa_arguments(p: argparse.ArgumentParser) -> None:
    r = p.add_argument_group("representation alignment (REPA; --repa-encoder turns it on)")
    r.add_argument(
        "--repa-encoder",
        metavar="ENC",
        help="align the hidden tokens to a frozen image encoder's patch features: "
        "'efficientnet-lite0' (built in, ImageNet-trained; the repa extra) or a local Hugging "
        "Face vision model folder such as DINOv2 (the text extra)",
    )
    r.add_argument(
        "--repa-depth",
        type=positive_int,
        metavar="K",
        help="align the tokens after block K (default: 8 of 28, scaled to the model's depth)",
    )
    r.add_argument(
        "--repa-weight",
        type=nonneg_float,
        metavar="W",
        help=f"weight of the negative cosine similarity in the loss (default {RepaConfig.weight})",
    )
    r.add_argument(
        "--repa-projector-dim",
        type=positive_int,
        metavar="N",
        help=f"hidden width of the projector MLP (default {RepaConfig.projector_dim}, the "
        "authors')",
    )
    r.add_argument(
        "--repa-resolution",
        type=positive_int,
        metavar="PX",
        help="encoder input size (default: the one whose feature grid is the token grid; "
        "features are resized to the token grid otherwise)",
    )
    r.add_argument(
        "--repa-time-weight",
        choices=TIME_WEIGHTINGS,
        help="none (the default): every token aligned alike whatever its time; t: each token "
        "weighted by its time over its image's mean time",
    )
    r.add_argument(
        "--repa-features",
        choices=REPA_FEATURES,
        help="image data: the encoder's features of the training set computed once and cached "
        "on disk (cached, the default), or the encoder run on every batch (online); latents read "
        "the features `encode --repa-encoder` stored",
    )


def repa_from_args(
    args: argparse.Namespace, given: frozenset[str], base: RepaConfig | None
) -> RepaConfig | None:
    """The REPA section: the base's (None: off) or one for ``--repa-encoder``, changed by the
    options given; a REPA option without an encoder is refused."""
    options = sorted(dest for dest in given & _FIELDS.keys() if getattr(args, dest) is not None)
    if "repa_encoder" not in given and base is None:
        if options:
            raise ValueError(f"--{options[0].replace('_', '-')} needs --repa-encoder (REPA is off)")
        return None
    changes = {_FIELDS[dest]: getattr(args, dest) for dest in options}
    repa = base or RepaConfig()
    if "repa_encoder" in given:
        repa = replace(repa, encoder=args.repa_encoder)
    return replace(repa, **changes)
