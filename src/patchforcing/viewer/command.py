"""The ``patchforcing sample`` command that reproduces one sampler's image of a viewer run.

Image i of ``sample`` uses seed ``--seed + i`` for its noise, so ``--num 1`` with the run's seed and
class (or prompt) gives the viewer's image (on the same machine, to float rounding). Sampler options
are written with their registry flags, and only where they differ from the default: a boolean
option's flag sets the opposite of its default. The guidance scale and interval are always written:
``sample`` takes a model's recommended guidance for what the command leaves out.
"""

from __future__ import annotations

import shlex

from patchforcing.sampling import Guidance, Sampler
from patchforcing.sampling.options import sampler_options

__all__ = ["sample_command"]


def _text(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def sample_command(
    checkpoint: str,
    sampler: Sampler,
    nfe: int,
    seed: int,
    label: int | None,
    guidance: Guidance,
    prompt: str | None = None,
) -> str:
    """A shell-quoted ``patchforcing sample`` command line for one image."""
    parts = [
        "patchforcing",
        "sample",
        "--checkpoint",
        checkpoint,
        "--sampler",
        sampler.name,
        "--nfe",
        str(nfe),
        "--seed",
        str(seed),
    ]
    if label is not None:
        parts += ["--classes", str(label)]
    if prompt is not None:
        parts += ["--prompt", prompt]
    parts += ["--num", "1"]
    for info in sampler_options(type(sampler)):
        value = getattr(sampler, info.name)
        if value == info.default:
            continue
        parts += [info.flag] if isinstance(info.default, bool) else [info.flag, _text(value)]
    parts += ["--cfg", _text(guidance.scale)]
    parts += ["--cfg-interval", *(_text(t) for t in guidance.interval)]
    return shlex.join(parts)
