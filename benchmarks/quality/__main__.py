"""``python -m benchmarks.quality``: the paper's ablations at small scale, resumable, with a report.

Run from the repository's root folder; ``--help`` lists the options."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from patchforcing.cli.common import HelpFormatter, int_list, positive_int
from patchforcing.cli.program import run_program
from patchforcing.cli.sampler_args import add_sampler_arguments, given_options
from patchforcing.utils.device import PRECISION_CHOICES

if TYPE_CHECKING:
    import torch

    from benchmarks.quality.plan import QualityBenchConfig

__all__ = ["PROG", "FULL_COMMAND", "adopt_spec", "build_parser", "build_config", "main"]

PROG = "python -m benchmarks.quality"
FULL_COMMAND = (
    f"{PROG} --out bench-quality --results docs/results_files/results.json --docs docs/results.md"
)


def adopt_spec(text: str) -> tuple[str, int, str]:
    """``LABEL:SEED=RUN_DIR`` -> (label, training seed, run folder)."""
    arm, sep, folder = text.partition("=")
    label, colon, seed = arm.partition(":")
    if not (sep and colon and label and folder and seed.isdigit()):
        raise argparse.ArgumentTypeError(
            f"expected LABEL:SEED=RUN_DIR (e.g. pf:0=runs/fmnist-pf), got {text!r}"
        )
    return label, int(seed), folder


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=HelpFormatter,
        description="Time-sampler ablation, sampling ablation and main table on Fashion-MNIST. "
        "Trains every arm with the fmnist-pf / fmnist-global recipe (same backbone, budget and "
        "seeds) and scores it in two feature spaces. Rerun the same command to resume. Full run: "
        f"{FULL_COMMAND}",
    )
    p.add_argument(
        "--part",
        action="append",
        choices=("timesamplers", "sampling", "main"),
        help="run only this part (repeatable; default: all three)",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny end-to-end run: 10 arms of 6 steps, 54 evaluations of 24 images (under a "
        "minute on two CPU cores, start-up included)",
    )
    p.add_argument(
        "--out", help="output folder (default: bench-quality, or bench-quality-smoke with --smoke)"
    )
    p.add_argument(
        "--train-steps",
        type=positive_int,
        help="training steps of every arm (default: 4000, 6 with --smoke)",
    )
    p.add_argument(
        "--train-seeds",
        type=int_list,
        help="training seeds, e.g. 0,1,2 (default 0,1,2; 0 with --smoke)",
    )
    p.add_argument("--sample-seeds", type=int_list, help="sampling seeds (default 0,1,2)")
    p.add_argument("--num-images", type=positive_int, help="generated images per evaluation")
    p.add_argument("--nfe", type=positive_int, help="NFE of the equal-compute comparisons")
    p.add_argument("--nfe-sweep", type=int_list, help="NFE values of the sweep, e.g. 8,16,32,64")
    p.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        help="training precision of every arm; auto: bf16 where it is faster, else fp32, recorded "
        "resolved (default: auto, fp32 with --smoke)",
    )
    p.add_argument("--data-dir", help="folder with the Fashion-MNIST *-ubyte.gz files")
    p.add_argument(
        "--adopt",
        type=adopt_spec,
        action="append",
        metavar="LABEL:SEED=RUN_DIR",
        help="use a finished `patchforcing train` run as this arm (repeatable), e.g. "
        "pf:0=runs/fmnist-pf from `train --recipe fmnist-pf --seed 0`: refused unless its "
        "configuration equals the arm's; the run folder is copied, never changed",
    )
    p.add_argument(
        "--docs", help="also write the report to this markdown file (e.g. docs/results.md)"
    )
    p.add_argument(
        "--results",
        help="results file to resume from and fold this run into (default: OUT/results.json); "
        "keep it in the repository (e.g. docs/results_files/results.json) so that a run on another "
        "machine does only what it lacks",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="time one arm's step and forward, print the predicted "
        "wall time of what is left, and exit",
    )
    p.add_argument(
        "--report-only", action="store_true", help="regenerate the report from the results file"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads for torch (default: torch's choice; 1 with --smoke, whose tiny models "
        "gain nothing from a second thread and lose much when the cores are busy)",
    )
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    p.add_argument(
        "--compile",
        action="store_true",
        help="train the arms with torch.compile (faster after about "
        "a minute of compilation; the arms' configuration and results files are "
        "the same either way)",
    )
    add_sampler_arguments(p, choose=False)
    return p


def build_config(args: argparse.Namespace) -> QualityBenchConfig:
    """The bench configuration the options describe: the defaults (or the smoke run's) with what
    is given."""
    from benchmarks.quality.plan import SMOKE, QualityBenchConfig

    base = SMOKE if args.smoke else QualityBenchConfig()
    overrides = {
        "out_dir": args.out or ("bench-quality-smoke" if args.smoke else base.out_dir),
        "train_steps": args.train_steps,
        "num_images": args.num_images,
        "nfe": args.nfe,
        "data_dir": args.data_dir,
        "precision": args.precision,
        "train_seeds": tuple(args.train_seeds) if args.train_seeds else None,
        "sample_seeds": tuple(args.sample_seeds) if args.sample_seeds else None,
        "nfe_sweep": tuple(args.nfe_sweep) if args.nfe_sweep else None,
        "sampler_options": tuple(sorted(given_options(args).items())) or None,
    }
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def _estimate(
    config: QualityBenchConfig,
    parts: tuple[str, ...],
    device: torch.device,
    results: Path,
    compile: bool,
) -> None:
    import torch

    from benchmarks.quality.bench import recorded_results
    from benchmarks.quality.estimate import VALIDATION_PASSES, duration, estimate_cost

    done, _ = recorded_results(config.resolved(device), results)
    e = estimate_cost(config, parts, device, recorded=frozenset(done), compile=compile)
    if not e.arms and not e.evals:
        print(
            f"nothing left: {results} holds all {e.evals_planned} evaluations of these parts "
            "(--report-only rewrites the report from it)"
        )
        return
    compiled = f", compiled (+{e.compile_s:.0f} s of compilation per arm)" if compile else ""
    print(
        f"left: {e.arms} of {e.arms_planned} arms x {e.train_steps} steps at {e.train_step_s:.3f} "
        f"s/step (CPU {e.train_step_cpu_s:.3f} s{compiled}) and {VALIDATION_PASSES} validation "
        f"batches at {e.validation_s:.3f} s (CPU {e.validation_cpu_s:.3f} s); {e.evals} of "
        f"{e.evals_planned} evaluations, {e.eval_forwards} forwards of {config.eval_batch} images "
        f"at {e.forward_s:.3f} s (CPU {e.forward_cpu_s:.3f} s), feature extraction "
        f"{e.embed_s:.3f} s per batch (CPU {e.embed_cpu_s:.3f} s), scores {e.score_s:.3f} s per "
        f"evaluation (CPU {e.score_cpu_s:.3f} s)"
    )
    print(
        f"estimated wall time: {duration(e.total_s)} on {device} with {torch.get_num_threads()} "
        f"threads as loaded now; CPU time {duration(e.total_cpu_s)} (the wall time on an idle core "
        "with --threads 1); not counted: the start-up (imports, data, reference features), "
        "checkpoints and preview grids"
    )


def run(args: argparse.Namespace, command: str) -> int:
    """Do what the parsed options ask; ``command`` is recorded with every arm and evaluation."""
    import torch

    from benchmarks.quality.bench import run_quality_bench
    from benchmarks.quality.plan import PARTS
    from benchmarks.quality.report import report_from_results, write_docs
    from benchmarks.quality.run import BenchInterrupted
    from patchforcing.utils.device import resolve_device

    threads = args.threads or (1 if args.smoke else None)
    if threads:
        torch.set_num_threads(threads)
    config = build_config(args)
    parts = tuple(dict.fromkeys(args.part)) if args.part else PARTS
    device = resolve_device(args.device)
    results = Path(args.results) if args.results else Path(config.out_dir) / "results.json"
    if args.estimate:
        _estimate(config, parts, device, results, args.compile)
        return 0
    if args.report_only:
        if not results.is_file():
            raise FileNotFoundError(
                f"no results file {results}: run the bench first, or pass --results"
            )
        print(f"wrote {report_from_results(results, config.out_dir)}")
    else:
        adopt = tuple((label, seed, Path(folder)) for label, seed, folder in args.adopt or ())
        try:
            result = run_quality_bench(
                config,
                parts,
                device,
                args.progress,
                command,
                results=results,
                adopt=adopt,
                compile=args.compile,
            )
        except BenchInterrupted as stop:
            print(f"{PROG}: {stop}", file=sys.stderr)
            return 128 + stop.signum
        print(
            f"quality bench: {len(result.evals)} evaluations, {result.seconds / 60:.1f} min; "
            f"wrote {results} and {config.out_dir}/report.md"
        )
    if args.docs:
        print(f"wrote {write_docs(results, args.docs)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run_program(PROG, lambda: run(args, f"{PROG} {shlex.join(argv)}".strip()))


if __name__ == "__main__":
    sys.exit(main())
