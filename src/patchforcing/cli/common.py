"""Argument types, helpers and the help formatter shared by the subcommands."""

from __future__ import annotations

import argparse
import difflib
import math
import re
from typing import Any, NoReturn

from patchforcing.utils.limits import LimitError, check_limit

__all__ = [
    "Parser",
    "HelpFormatter",
    "positive_int",
    "nonneg_int",
    "positive_float",
    "nonneg_float",
    "unit_float",
    "key_value",
    "int_list",
]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: what was wrong, the closest option or choice
    ("did you mean"), and where the help is, instead of the whole usage. An unknown option is
    reported by the (sub)command it was given to, so the suggestion comes from that command's
    options."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._command_of(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command_of(self, parsed: argparse.Namespace) -> Parser:
        """The innermost (sub)command parser ``parsed`` went through."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest or "", None) or "")
                if isinstance(chosen, Parser):
                    return chosen._command_of(parsed)
        return self

    def error(self, message: str) -> NoReturn:
        hint = f"{self._did_you_mean(message)}; see `{self.prog} --help`"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")

    def _did_you_mean(self, message: str) -> str:
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        if unknown:
            word = unknown.group(1).split("=")[0]
            known = [o for a in self._actions for o in a.option_strings]
        else:
            choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
            if choice is None:
                return ""
            word, known = choice.group(1), re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
        return f" (did you mean {close[0]}?)" if close else ""


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` that ends each option's text with its default, written as the flag takes it (lists
    comma-separated). Nothing is added where there is no default to show
    (None, False, an empty list) or where the text already speaks of the default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text, default = action.help or "", action.default
        if (
            default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or "default" in text
        ):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def _number(kind, check, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and check(value)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
nonneg_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: v > 0, "a number > 0")
nonneg_float = _number(float, lambda v: v >= 0, "a number >= 0")
unit_float = _number(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def key_value(text: str) -> tuple[str, float]:
    """``name=value`` with a numeric value."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number after '=', got {text!r}") from None


def int_list(text: str) -> list[int]:
    """Comma-separated integers, ranges allowed: ``0,3,5-7``; at most the ``images`` limit of values
    in all (counted before the ranges are expanded)."""
    try:
        bounds = [
            (int(lo), int(hi) if sep else int(lo))
            for lo, sep, hi in (p.partition("-") for p in text.split(","))
        ]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers or ranges, got {text!r}"
        ) from None
    try:
        check_limit(
            f"the number of values in {text!r}",
            sum(max(hi - lo + 1, 0) for lo, hi in bounds),
            "images",
        )
    except LimitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    values = [v for lo, hi in bounds for v in range(lo, hi + 1)]
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values
