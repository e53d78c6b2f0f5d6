"""``python -m benchmarks.repa``: Patch Forcing with representation alignment at small scale.

Run from the repository's root folder; ``--help`` lists the options."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from patchforcing.cli.common import HelpFormatter, int_list, nonneg_float, positive_int
from patchforcing.cli.program import run_program
from patchforcing.utils.device import PRECISION_CHOICES

__all__ = ["PROG", "FULL_COMMAND", "build_parser", "build_config", "main"]

PROG = "python -m benchmarks.repa"
FULL_COMMAND = f"{PROG} --out bench-repa --threads 1 --docs docs/results-repa-emoji.md"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=HelpFormatter,
        description="The global-time baseline and Patch Forcing, each without and with REPA (and "
        "PF with time-weighted alignment), trained with the data's recipes on the same budget "
        "and scored in two feature spaces (and by prompt alignment on the emoji set). Rerun the "
        f"same command to resume. Full run: {FULL_COMMAND}",
    )
    p.add_argument("--data", choices=("emoji", "fashion-mnist"), default="emoji")
    p.add_argument("--smoke", action="store_true", help="a tiny end-to-end run (about a minute)")
    p.add_argument("--out", help="output folder (default: bench-repa, bench-repa-smoke)")
    p.add_argument("--train-steps", type=positive_int, help="steps of every arm (default: recipe)")
    p.add_argument("--train-seeds", type=int_list, help="training seeds (default 0,1,2)")
    p.add_argument("--sample-seeds", type=int_list, help="sampling seeds (default 0,1,2)")
    p.add_argument("--num-images", type=positive_int, help="images per evaluation (default 375)")
    p.add_argument("--nfe", type=positive_int, help="NFE of every evaluation (default 32)")
    p.add_argument("--cfg", type=nonneg_float, help="guidance scale (default 1: none)")
    p.add_argument(
        "--projector-dim", type=positive_int, metavar="N", help="REPA projector width (default 256)"
    )
    p.add_argument(
        "--encoder",
        metavar="ENC",
        help="REPA encoder: efficientnet-lite0 (the default) or a local Hugging Face folder",
    )
    p.add_argument("--precision", choices=PRECISION_CHOICES, help="training precision")
    p.add_argument("--data-dir", help="where the data set is installed")
    p.add_argument("--docs", help="also write the report to this markdown file")
    p.add_argument("--report-only", action="store_true", help="the report from the results file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    return p


def build_config(args: argparse.Namespace):
    """The bench configuration the options describe: the defaults (or the smoke run's) with what
    is given."""
    from benchmarks.repa.plan import SMOKE, RepaBenchConfig

    if args.smoke and args.data != "emoji":
        raise ValueError("--smoke runs on the emoji set (its 3,406 images make the features quick)")
    base = SMOKE if args.smoke else RepaBenchConfig()
    overrides = {
        "out_dir": args.out,
        "data": args.data,
        "train_steps": args.train_steps,
        "train_seeds": tuple(args.train_seeds) if args.train_seeds else None,
        "sample_seeds": tuple(args.sample_seeds) if args.sample_seeds else None,
        "num_images": args.num_images,
        "nfe": args.nfe,
        "cfg": args.cfg,
        "projector_dim": args.projector_dim,
        "encoder": args.encoder,
        "precision": args.precision,
        "data_dir": args.data_dir,
    }
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def run(args: argparse.Namespace, command: str) -> int:
    import torch

    from benchmarks.repa.bench import run_repa_bench
    from benchmarks.repa.report import write_report
    from patchforcing.utils.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config(args)
    results = Path(config.out_dir) / "results.json"
    if args.report_only:
        if not results.is_file():
            raise FileNotFoundError(f"no results file {results}: run the bench first")
        payload = json.loads(results.read_text())
        print(f"wrote {write_report(payload, Path(config.out_dir) / 'report.md')}")
    else:
        result = run_repa_bench(config, resolve_device(args.device), command, args.progress)
        payload = json.loads(result.results.read_text())
        print(
            f"REPA bench: {len(result.evals)} evaluations of {len(result.arms)} arms, "
            f"{result.seconds / 60:.1f} min; wrote {result.results} and {result.report}"
        )
    if args.docs:
        print(f"wrote {write_report(payload, args.docs)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run_program(PROG, lambda: run(args, f"{PROG} {shlex.join(argv)}".strip()))


if __name__ == "__main__":
    sys.exit(main())
