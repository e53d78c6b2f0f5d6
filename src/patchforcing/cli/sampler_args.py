"""Sampler and guidance options for every command that generates (sample, eval, bench quality).

The flags come from the sampler registry: each option declared on a sampler config
(:func:`patchforcing.sampling.options.option`) becomes one flag, shared by the samplers that declare
it, so a new sampler or option appears in every command without touching this file.
"""

from __future__ import annotations

import argparse
from typing import Any

from patchforcing.cli.common import nonneg_float, unit_float
from patchforcing.sampling.options import OptionInfo

__all__ = [
    "add_sampler_arguments",
    "add_guidance_arguments",
    "sampler_from_args",
    "guidance_from_args",
    "sampler_names",
    "given_options",
    "fill_from_model",
]


def sampler_names(with_matrix: bool = True) -> tuple[str, ...]:
    from patchforcing.sampling import SAMPLERS

    return tuple(n for n in SAMPLERS if with_matrix or n != "matrix")


def _typed(info: OptionInfo):
    """Parse a flag's text as its option's type and run the option's range check."""

    def parse(text: str) -> Any:
        try:
            value = type(info.default)(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a {type(info.default).__name__}, got {text!r}"
            ) from None
        if info.check is not None:
            try:
                info.check(value)
            except ValueError as err:
                raise argparse.ArgumentTypeError(str(err)) from None
        return value

    return parse


def add_sampler_arguments(
    p: argparse.ArgumentParser, with_matrix: bool = True, choose: bool = True
) -> None:
    """--sampler (unless the command picks its samplers itself) and one flag per sampler option."""
    if choose:
        p.add_argument(
            "--sampler",
            choices=sampler_names(with_matrix),
            help="default: the model's recommended sampler; where its folder records none, "
            "euler-pf for Patch Forcing models and euler for global-time models",
        )
    from patchforcing.sampling.registry import registry_options

    g = p.add_argument_group("sampler options (defaults: the authors')")
    for info, owners in registry_options().values():
        help_text = f"{info.help} ({', '.join(owners)}"
        if isinstance(info.default, bool):
            g.add_argument(
                info.flag,
                dest=f"opt_{info.name}",
                action="store_const",
                const=not info.default,
                help=help_text + ")",
            )
        else:
            g.add_argument(
                info.flag,
                dest=f"opt_{info.name}",
                type=_typed(info),
                metavar=info.name.upper(),
                help=help_text + f"; default {info.default})",
            )


def add_guidance_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("guidance")
    g.add_argument(
        "--cfg",
        type=nonneg_float,
        help="classifier-free guidance scale (1 = off; default: the model's recommended scale, "
        "1 where its folder records none)",
    )
    g.add_argument(
        "--cfg-interval",
        type=unit_float,
        nargs=2,
        metavar=("T_LO", "T_HI"),
        help="guide only while t is inside [T_LO, T_HI] (decided per sample from the mean patch "
        "time; default: the model's recommended interval, else 0 1)",
    )
    g.add_argument(
        "--per-patch-interval", action="store_true", help="decide the interval per patch instead"
    )
    g.add_argument(
        "--no-guide-logvar",
        action="store_true",
        help="use the conditional log-variance instead of guiding it like v (authors' quirk)",
    )


def guidance_from_args(args: argparse.Namespace):
    from patchforcing.sampling import Guidance

    return Guidance(
        scale=Guidance.scale if args.cfg is None else args.cfg,
        interval=Guidance.interval if args.cfg_interval is None else tuple(args.cfg_interval),
        guide_logvar=not args.no_guide_logvar,
        per_patch=args.per_patch_interval,
    )


def fill_from_model(args: argparse.Namespace, model: Any, config: Any, sampler: bool, cost: bool):
    """``config`` (a GenerationConfig) with ``model``'s recommended settings for what the command
    line leaves unset, said in one line on stderr; ``sampler`` and ``cost`` say whether it chose a
    sampler and a cost (steps or NFE). Returns the
    :class:`~patchforcing.sampling.generation.FilledConfig`."""
    import sys

    from patchforcing.model.pretrained import recommended_sampling
    from patchforcing.sampling.generation import fill_recommended

    unset = {
        "sampler": not sampler,
        "cost": not cost,
        "guidance_scale": args.cfg is None,
        "guidance_interval": args.cfg_interval is None,
    }
    chosen = [name for name, value in unset.items() if value]
    filled = fill_recommended(config, recommended_sampling(model), chosen, given_options(args))
    note = filled.note(str(args.checkpoint))
    if note:
        print(note, file=sys.stderr)
    return filled


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """field name -> value of the sampler options given on the command line (the ``opt_`` dests)."""
    return {
        dest.removeprefix("opt_"): value
        for dest, value in vars(args).items()
        if dest.startswith("opt_") and value is not None
    }


def sampler_from_args(name: str, args: argparse.Namespace, strict: bool = True, **extra: Any):
    """The sampler config ``name`` with the options given on the command line; with ``strict`` an
    option the sampler does not take is an error, otherwise it is ignored for that sampler."""
    from patchforcing.sampling import SAMPLERS
    from patchforcing.sampling.options import sampler_options
    from patchforcing.sampling.registry import registry_options

    cls = SAMPLERS[name]
    accepted = {info.name for info in sampler_options(cls)}
    options = given_options(args)
    for field_name in options:
        if field_name not in accepted and strict:
            flag = registry_options()[field_name][0].flag
            raise ValueError(f"{flag} does not apply to the {name} sampler")
    return cls(**{k: v for k, v in options.items() if k in accepted}, **extra)
