"""The ``patchforcing`` command: a subcommand per job; errors print one clear line and exit 2."""

from __future__ import annotations

import argparse
import sys

from patchforcing._version import __version__
from patchforcing.cli.analyze_cmd import add_analyze_parser
from patchforcing.cli.bench_cmd import add_bench_parser
from patchforcing.cli.classifier_cmd import add_classifier_parser
from patchforcing.cli.clip_cmd import add_clip_parser
from patchforcing.cli.common import HelpFormatter, Parser
from patchforcing.cli.convert_cmd import add_convert_parser
from patchforcing.cli.encode_cmd import add_encode_parser
from patchforcing.cli.eval_cmd import add_eval_parser
from patchforcing.cli.export_cmd import add_export_parser
from patchforcing.cli.program import run_program
from patchforcing.cli.sample_cmd import add_sample_parser
from patchforcing.cli.train_cmd import add_train_parser, given_options
from patchforcing.cli.view_cmd import add_view_parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="patchforcing",
        formatter_class=HelpFormatter,
        description="Patch Forcing: difficulty-aware flow-matching image generation.",
    )
    parser.add_argument("--version", action="version", version=f"patchforcing {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parser(sub)
    add_sample_parser(sub)
    add_bench_parser(sub)
    add_eval_parser(sub)
    add_analyze_parser(sub)
    add_classifier_parser(sub)
    add_clip_parser(sub)
    add_export_parser(sub)
    add_convert_parser(sub)
    add_encode_parser(sub)
    add_view_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command == "train":  # a recipe keeps its values of the options not given
        args.given = given_options(argv[argv.index("train") + 1 :])
    return run_program(
        f"patchforcing {args.command}",
        lambda: args.func(args),
        sizes="--batch-size, --num, the model",
    )


if __name__ == "__main__":
    sys.exit(main())
