"""``patchforcing bench speed``: forward cost of per-patch time and sampler overhead on this device.

``bench quality`` and ``bench metrics`` only point to the repository's experiments, which are not
installed with the package (``python -m benchmarks.quality`` from a checkout)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from patchforcing.cli.common import HelpFormatter, nonneg_float, positive_int
from patchforcing.model import PRESETS

if TYPE_CHECKING:
    import torch

    from patchforcing.evaluation.speed.training import TrainSpeedConfig

__all__ = ["add_bench_parser", "run_bench_speed"]


def _sampler_names(text: str) -> tuple[str, ...]:
    from patchforcing.sampling import SAMPLERS

    names = tuple(n for n in text.split(",") if n)
    unknown = [n for n in names if n not in SAMPLERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown sampler(s) {unknown or text!r}; choose from {', '.join(SAMPLERS)}"
        )
    return names


def _train_modes(text: str) -> tuple[str, ...]:
    from patchforcing.evaluation.speed.training import parse_train_modes

    try:
        return parse_train_modes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    from patchforcing.evaluation.speed.inference import CLOCKS, SpeedConfig
    from patchforcing.evaluation.speed.training import TRAIN_MODES, TrainSpeedConfig

    p = sub.add_parser(
        "bench", help="benchmarks on the current device", formatter_class=HelpFormatter
    )
    jobs = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    s = jobs.add_parser(
        "speed",
        help="forward cost of per-patch time and each sampler's overhead",
        formatter_class=HelpFormatter,
        description="Measures, in one run: the PF model's forward at uniform t against the "
        "global-time model of the same size (target <= 1.10x), and each sampler's wall time "
        "divided by NFE x one forward (target <= 1.05x). Random weights; no checkpoint needed.",
    )
    d = SpeedConfig()
    s.add_argument("--preset", default=d.preset, choices=sorted(PRESETS), help="backbone size")
    s.add_argument(
        "--image-size", type=positive_int, default=d.image_size, help="image (or latent) size"
    )
    s.add_argument(
        "--channels",
        type=int,
        choices=(1, 3, 4),
        default=d.channels,
        help="input channels (4: SD latents)",
    )
    s.add_argument(
        "--num-classes", type=positive_int, default=d.num_classes, help="class labels of the model"
    )
    s.add_argument("--batch", type=positive_int, default=d.batch, help="images per forward")
    s.add_argument(
        "--steps", type=positive_int, default=d.steps, help="outer steps of every sampler"
    )
    s.add_argument(
        "--repeats",
        type=positive_int,
        default=d.repeats,
        help="interleaved rounds; the median ratio is reported",
    )
    s.add_argument(
        "--forwards", type=positive_int, default=d.forwards, help="forwards per forward-timing job"
    )
    s.add_argument(
        "--cfg",
        type=nonneg_float,
        default=d.cfg,
        help="guidance scale (1 = off; else doubled batch)",
    )
    s.add_argument(
        "--samplers", type=_sampler_names, default=d.samplers, help="comma-separated subset"
    )
    s.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default=d.clock,
        help="wall time, or cpu: process CPU time, steadier on a loaded CPU-only machine",
    )
    s.add_argument(
        "--train",
        action="store_true",
        help=(
            "also measure training images/s and model FLOPs utilisation in each --train-modes "
            "mode, time our training step against a plain per-token adaLN DiT of the same "
            "size, interleaved (speed ratio with its rounds' spread), and the step with "
            "representation alignment (REPA: cached features, and the encoder run every step) "
            "against without"
        ),
    )
    s.add_argument(
        "--train-modes",
        type=_train_modes,
        default=TRAIN_MODES,
        help="comma-separated training modes compared side by side with --train",
    )
    s.add_argument(
        "--train-steps",
        type=positive_int,
        default=TrainSpeedConfig.steps,
        help="timed training steps per mode",
    )
    s.add_argument(
        "--train-repa-projector-dim",
        type=positive_int,
        default=TrainSpeedConfig.repa_projector_dim,
        help="hidden width of the projector in the --train rows with REPA (the recipe's: 2048)",
    )
    s.add_argument("--out", help="write the report as JSON here (and markdown next to it, .md)")
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    s.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    s.add_argument(
        "--no-progress", action="store_true", help="no stage lines or progress bar on stderr"
    )
    s.set_defaults(func=run_bench_speed)
    for name, module, what in _EXPERIMENTS:
        e = jobs.add_parser(
            name,
            help=f"{what} (an experiment of the repository: python -m {module})",
            add_help=False,
            prefix_chars="\0",
        )  # every option it is given is the experiment's
        e.add_argument(
            "options", nargs="*", help=f"the experiment's options (python -m {module} --help)"
        )
        e.set_defaults(func=lambda args, module=module: _experiment_elsewhere(module))


# experiments of the repository, outside the installed package: `bench NAME` only says how to
# run them
_EXPERIMENTS = (
    ("quality", "benchmarks.quality", "the paper's ablations at small scale"),
    ("metrics", "benchmarks.metric_sensitivity", "how each feature space's FD responds to noise"),
)


def _experiment_elsewhere(module: str) -> int:
    raise ValueError(
        f"this experiment is not part of the installed package; from the root folder of a "
        f"checkout of the repository run: python -m {module} --help"
    )


def _print_repa(
    config: TrainSpeedConfig, device: torch.device, mode: str, clock: str = "wall"
) -> None:
    """The REPA rows of ``--train`` (in the first training mode's precision), or one line saying
    that they need the repa extra."""
    from dataclasses import replace

    from patchforcing.evaluation.speed.training import measure_repa_modes, repa_markdown

    try:
        rows = measure_repa_modes(replace(config, precision=mode.partition("+")[0]), device, clock)
    except ImportError as err:
        print(f"\nREPA rows left out: {err}")
        return
    print(repa_markdown(rows, clock), end="")


def run_bench_speed(args: argparse.Namespace) -> int:
    import torch

    from patchforcing.evaluation.speed.inference import (
        SpeedConfig,
        run_speed,
        speed_markdown,
        write_report,
    )
    from patchforcing.utils.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    config = SpeedConfig(
        preset=args.preset,
        image_size=args.image_size,
        channels=args.channels,
        num_classes=args.num_classes,
        batch=args.batch,
        steps=args.steps,
        repeats=args.repeats,
        forwards=args.forwards,
        cfg=args.cfg,
        samplers=args.samplers,
        clock=args.clock,
    )
    progress = not args.no_progress
    report = run_speed(config, resolve_device(args.device), progress=progress)
    print(speed_markdown(report), end="")
    if args.train:
        from patchforcing.evaluation.speed.training import (
            TrainSpeedConfig,
            measure_train_modes,
            train_modes_markdown,
        )

        train_config = TrainSpeedConfig(
            preset=args.preset,
            image_size=args.image_size,
            channels=args.channels,
            num_classes=args.num_classes,
            batch=args.batch,
            steps=args.train_steps,
            repa_projector_dim=args.train_repa_projector_dim,
        )
        print(
            train_modes_markdown(
                measure_train_modes(
                    train_config,
                    resolve_device(args.device),
                    args.train_modes,
                    progress,
                    args.clock,
                ),
                args.clock,
            ),
            end="",
        )
        from patchforcing.evaluation.speed.versus import compare_to_reference, reference_markdown

        device = resolve_device(args.device)
        versus = compare_to_reference(train_config, device, args.train_modes, args.clock, progress)
        print(reference_markdown(train_config, device, versus, args.clock), end="")
        _print_repa(train_config, device, args.train_modes[0], args.clock)
    if args.out:
        print("wrote " + " and ".join(str(p) for p in write_report(report, args.out)))
    return 0
