"""The ``patchforcing`` command: a subcommand per job; errors print one clear line and exit 2."""

from __future__ import annotations

import argparse
import sys

from patchforcing.cli.sample_cmd import add_sample_parser
from patchforcing.cli.train_cmd import add_train_parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchforcing", description="Patch Forcing: difficulty-aware "
                                     "flow-matching image generation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_sample_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from patchforcing.train.loop import NonFiniteLossError

    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, NonFiniteLossError) as err:
        print(f"patchforcing {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"patchforcing {args.command}: error: {err.strerror or err} ({err.filename or 'file'})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
