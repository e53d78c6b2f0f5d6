"""The ``patchforcing`` command: a subcommand per job; errors print one clear line and exit 2."""

from __future__ import annotations

import argparse
import os
import sys

from patchforcing._version import __version__
from patchforcing.cli.analyze_cmd import add_analyze_parser
from patchforcing.cli.bench_cmd import add_bench_parser
from patchforcing.cli.classifier_cmd import add_classifier_parser
from patchforcing.cli.clip_cmd import add_clip_parser
from patchforcing.cli.common import HelpFormatter
from patchforcing.cli.convert_cmd import add_convert_parser
from patchforcing.cli.encode_cmd import add_encode_parser
from patchforcing.cli.eval_cmd import add_eval_parser
from patchforcing.cli.export_cmd import add_export_parser
from patchforcing.cli.recipes import expand_recipe
from patchforcing.cli.sample_cmd import add_sample_parser
from patchforcing.cli.train_cmd import add_train_parser
from patchforcing.cli.view_cmd import add_view_parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchforcing", formatter_class=HelpFormatter,
                                     description="Patch Forcing: difficulty-aware flow-matching image generation.")
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
    parser = build_parser()
    args = parser.parse_args(expand_recipe(sys.argv[1:] if argv is None else argv))
    from patchforcing.train.loop import NonFiniteLossError
    from patchforcing.utils.io.atomic import DiskWriteError
    from patchforcing.utils.runtime import keep_freed_memory

    keep_freed_memory()

    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, NonFiniteLossError, DiskWriteError) as err:
        print(f"patchforcing {args.command}: error: {err}", file=sys.stderr)
        return 2
    except MemoryError:  # a size the limits (patchforcing.utils.limits) could not foresee
        print(f"patchforcing {args.command}: error: out of memory; use smaller sizes (--batch-size, --num, the model)",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 1
    except OSError as err:
        print(f"patchforcing {args.command}: error: {err.strerror or err} ({err.filename or 'file'})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
