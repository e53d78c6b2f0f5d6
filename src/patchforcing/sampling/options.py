"""Sampler options declared once, on the sampler configs, and read by every front end.

Each option of a sampler config (:class:`~patchforcing.sampling.base.Sampler`) is a dataclass
field made by :func:`option`: its default, a one-line help text and the command-line flag that sets
it. The CLI builds its flags from these fields, so adding a sampler or an option touches its class
and the registry only. An option shared by several samplers is declared once on their common base
(:class:`~patchforcing.sampling.certainty.CertaintySampler`). A boolean option's flag sets the
opposite of its default (``--inclusive-quantile`` sets ``strict_quantile=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from typing import Any

__all__ = ["OptionInfo", "option", "option_info", "sampler_options"]


@dataclass(frozen=True)
class OptionInfo:
    """What a front end needs to expose one sampler option."""

    name: str  # field name on the sampler config
    flag: str  # command-line flag, e.g. "--n-inner"
    help: str
    default: Any
    check: Callable[[Any], Any] | None = None  # raises ValueError for a value out of range


def option(
    default: Any, help: str, flag: str | None = None, check: Callable[[Any], Any] | None = None
) -> Any:
    """A sampler-config field with a help text, (default: from the field name) a flag and a range
    check that front ends run on the value before building the config."""
    return field(default=default, metadata={"help": help, "flag": flag, "check": check})


def option_info(f: Field) -> OptionInfo | None:
    """The option a dataclass field declares, or None for a field made without :func:`option`."""
    if "help" not in f.metadata:
        return None
    flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
    return OptionInfo(
        name=f.name,
        flag=flag,
        help=f.metadata["help"],
        default=f.default,
        check=f.metadata["check"],
    )


def sampler_options(cls: type) -> list[OptionInfo]:
    """The declared options of a sampler config class, in field order."""
    return [info for f in fields(cls) if (info := option_info(f)) is not None]
