"""``patchforcing bench quality``: the paper's ablations at small scale, resumable, with a report."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, int_list, positive_int
from patchforcing.cli.sampler_args import add_sampler_arguments, given_options

__all__ = ["add_bench_quality_parser", "FULL_COMMAND"]

FULL_COMMAND = "patchforcing bench quality --out bench-quality --docs docs/results.md"


def add_bench_quality_parser(bench_sub: argparse._SubParsersAction) -> None:
    p = bench_sub.add_parser("quality", help="time-sampler ablation, sampling ablation and main table on Fashion-MNIST",
                             formatter_class=HelpFormatter,
                             description="Train every arm (same backbone, budget and seeds) and score it with the "
                             "offline metrics. Rerun the same command to resume. Full run: " + FULL_COMMAND)
    p.add_argument("--part", action="append", choices=("timesamplers", "sampling", "main"),
                   help="run only this part (repeatable; default: all three)")
    p.add_argument("--smoke", action="store_true", help="a tiny end-to-end run (well under a minute)")
    p.add_argument("--out", help="output folder (default: bench-quality, or bench-quality-smoke with --smoke)")
    p.add_argument("--train-steps", type=positive_int,
                   help="training steps of every arm (default: 2500, 6 with --smoke)")
    p.add_argument("--train-seeds", type=int_list, help="training seeds, e.g. 0,1,2 (default 0)")
    p.add_argument("--sample-seeds", type=int_list, help="sampling seeds (default 0,1,2)")
    p.add_argument("--num-images", type=positive_int, help="generated images per evaluation")
    p.add_argument("--nfe", type=positive_int, help="NFE of the equal-compute comparisons")
    p.add_argument("--nfe-sweep", type=int_list, help="NFE values of the sweep, e.g. 8,16,32,64")
    p.add_argument("--data-dir", help="folder with the Fashion-MNIST *-ubyte.gz files")
    p.add_argument("--docs", help="also write the report to this markdown file (e.g. docs/results.md)")
    p.add_argument("--results", help="results file to resume from and fold this run into (default: OUT/results.json); "
                   "keep it in the repository (e.g. docs/results_files/results.json) so that a run on another "
                   "machine trains only the arms it lacks")
    p.add_argument("--estimate", action="store_true", help="time one arm's step and forward, print the predicted "
                   "wall time of the run, and exit")
    p.add_argument("--report-only", action="store_true", help="regenerate the report from results.json")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    add_sampler_arguments(p, choose=False)
    p.set_defaults(func=run_bench_quality)


def build_config(args: argparse.Namespace):
    from dataclasses import replace

    from patchforcing.bench.quality_plan import SMOKE, QualityBenchConfig

    base = SMOKE if args.smoke else QualityBenchConfig()
    overrides = {"out_dir": args.out or ("bench-quality-smoke" if args.smoke else base.out_dir),
                 "train_steps": args.train_steps, "num_images": args.num_images, "nfe": args.nfe,
                 "data_dir": args.data_dir,
                 "train_seeds": tuple(args.train_seeds) if args.train_seeds else None,
                 "sample_seeds": tuple(args.sample_seeds) if args.sample_seeds else None,
                 "nfe_sweep": tuple(args.nfe_sweep) if args.nfe_sweep else None,
                 "sampler_options": tuple(sorted(given_options(args).items())) or None}
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def run_bench_quality(args: argparse.Namespace) -> int:
    import shlex
    import sys
    from pathlib import Path

    import torch

    from patchforcing.bench.quality import run_quality_bench
    from patchforcing.bench.quality_plan import PARTS
    from patchforcing.bench.quality_report import report_from_results, write_docs
    from patchforcing.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    config = build_config(args)
    parts = tuple(dict.fromkeys(args.part)) if args.part else PARTS
    device = resolve_device(args.device)
    if args.estimate:
        from patchforcing.bench.quality_estimate import estimate_cost

        e = estimate_cost(config, parts, device)
        print(f"{e.arms} arms x {e.train_steps} steps at {e.train_step_s:.3f} s/step (CPU {e.train_step_cpu_s:.3f} s); "
              f"{e.evals} evaluations, {e.eval_forwards} forwards of {config.eval_batch} images at {e.forward_s:.3f} s "
              f"(CPU {e.forward_cpu_s:.3f} s)")
        print(f"estimated wall time: {e.total_s / 3600:.2f} h on {device} with {torch.get_num_threads()} threads as "
              f"loaded now; CPU time {e.total_cpu_s / 3600:.2f} h (the wall time on an idle core with --threads 1)")
        return 0
    if args.report_only:
        print(f"wrote {report_from_results(config.out_dir)}")
    else:
        command = "patchforcing " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "bench quality (API)"
        result = run_quality_bench(config, parts, device, args.progress, command,
                                   results=Path(args.results) if args.results else None)
        print(f"bench quality: {len(result.evals)} evaluations, {result.seconds / 60:.1f} min; "
              f"wrote {config.out_dir}/results.json and {config.out_dir}/report.md")
    if args.docs:
        print(f"wrote {write_docs(config.out_dir, args.docs)}")
    return 0
