"""``--help`` of every subcommand, nested ones included: each option explains itself and shows its
default; the subcommands that only point to the repository's experiments say how to run them."""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Iterator

import pytest

from patchforcing.cli.bench_cmd import _EXPERIMENTS
from patchforcing.cli.main import build_parser, main


def subcommands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(``"bench quality"``, its parser) for every subcommand below ``parser``, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield f"{path} {name}".strip(), child
                yield from subcommands(child, f"{path} {name}")


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's own arguments, without --help and the subcommand choice."""
    return [
        a
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
    ]


def has_default(action: argparse.Action) -> bool:
    """Whether the option has a default worth showing: not None, False, an empty list
    or suppressed."""
    default = action.default
    return not (
        default is None or default is False or default == [] or default is argparse.SUPPRESS
    )


ROOT = build_parser()
PARSERS = {"patchforcing": ROOT, **dict(subcommands(ROOT))}


def test_walk_reaches_nested_subcommands() -> None:
    assert {"train", "bench speed", "bench quality", "classifier train", "classifier test"} <= set(
        PARSERS
    )


@pytest.mark.parametrize("path", list(PARSERS))
def test_every_option_has_help_and_shows_its_default(path: str) -> None:
    parser = PARSERS[path]
    parser.format_help()  # a stray '%' in a help text fails here
    missing, silent = [], []
    for action in options(parser):
        name = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            missing.append(name)
        formatter = parser.formatter_class(prog=parser.prog, width=1000)
        formatter.add_argument(action)
        if has_default(action) and "default" not in formatter.format_help():
            silent.append(f"{name} ({action.default!r})")
    assert missing == [] and silent == [], (
        f"{path}: no help for {missing}; default not shown for {silent}"
    )


@pytest.mark.parametrize("name,module", [(name, module) for name, module, _ in _EXPERIMENTS])
def test_experiment_pointers_name_a_module_of_the_checkout(name: str, module: str, capsys) -> None:
    """`bench quality|metrics` takes any options (theirs included) and answers with the command to
    run from a checkout, which names a module that is there."""
    assert module in PARSERS[f"bench {name}"].format_help()
    for argv in ([], ["--help"], ["--smoke", "--out", "x"]):
        assert main(["bench", name, *argv]) == 2
        err = capsys.readouterr().err
        assert "not part of the installed package" in err and f"python -m {module} --help" in err, (
            argv
        )
    assert importlib.util.find_spec(module) is not None
