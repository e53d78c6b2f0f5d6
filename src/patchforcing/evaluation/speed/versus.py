"""Our training step against the plain reference DiT's (:mod:`.reference`), interleaved.

Both models have the same size and weights (copied), the same batch, loss (LTG times, velocity MSE
plus the difficulty head's NLL), AdamW and precision. Each round times one step of each, in
alternating order, so drifts of background load cancel; the figure is the median over rounds of
reference seconds / our seconds (above 1: our step is faster), with the rounds' interquartile range.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from patchforcing.evaluation.speed.inference import CLOCKS, _quartiles, _timer
from patchforcing.evaluation.speed.reference import ReferenceDiT
from patchforcing.evaluation.speed.training import TrainSpeedConfig, training_step
from patchforcing.model import PatchForcingDiT, model_config_from_preset
from patchforcing.sampling.generation.progress import stage
from patchforcing.train.data_parallel import compile_model

__all__ = ["ReferenceComparison", "compare_to_reference", "reference_markdown"]


@dataclass(frozen=True)
class ReferenceComparison:
    mode: str  # precision, "+compile" when compiled
    ours_seconds: float  # median seconds per step
    reference_seconds: float
    speed: float  # median over rounds of reference seconds / ours (above 1: ours is faster)
    speed_iqr: tuple[float, float]  # first and third quartile over rounds


def compare_to_reference(
    config: TrainSpeedConfig,
    device: torch.device,
    modes: tuple[str, ...],
    clock: str = "wall",
    progress: bool = False,
) -> list[ReferenceComparison]:
    """One comparison per training mode (``fp32``, ``bf16+compile``, ...); ``config.steps``
    rounds after ``config.warmup`` untimed steps of each model; ``progress`` names each mode on
    stderr as it starts."""
    if clock not in CLOCKS:
        raise ValueError(f"bench speed: clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and device.type != "cpu":
        raise ValueError("bench speed: --clock cpu measures CPU devices only; use --clock wall")
    results = []
    for i, mode in enumerate(modes, 1):
        stage(
            f"bench speed --train {i}/{len(modes)}: {mode} against the reference DiT, "
            f"{config.warmup} untimed steps of each and {config.steps} interleaved rounds",
            progress,
        )
        results.append(_compare(config, device, mode, CLOCKS[clock]))
    return results


def _compare(
    config: TrainSpeedConfig, device: torch.device, mode: str, clock: Callable[[], float]
) -> ReferenceComparison:
    precision, _, compiled = mode.partition("+")
    config = replace(config, precision=precision, compile=bool(compiled))
    mc = model_config_from_preset(
        config.preset,
        image_size=config.image_size,
        in_channels=config.channels,
        num_classes=config.num_classes,
    )
    ours = PatchForcingDiT(mc).to(device).train()
    reference = ReferenceDiT(mc).to(device).train()
    reference.load_state_dict(ours.state_dict())
    steps = []
    for model in (ours, reference):
        net = compile_model(model) if config.compile else model
        steps.append(training_step(net, model, config, device))
    for _ in range(config.warmup):
        for step in steps:
            step()
    seconds: tuple[list[float], list[float]] = ([], [])
    for round_ in range(config.steps):
        for i in (0, 1) if round_ % 2 == 0 else (1, 0):
            seconds[i].append(_timer(device, clock, steps[i]))
    speeds = [ref / our for our, ref in zip(*seconds)]
    return ReferenceComparison(
        mode=mode,
        ours_seconds=statistics.median(seconds[0]),
        reference_seconds=statistics.median(seconds[1]),
        speed=statistics.median(speeds),
        speed_iqr=_quartiles(speeds),
    )


def reference_markdown(
    config: TrainSpeedConfig, device: torch.device, results: list[ReferenceComparison], clock: str
) -> str:
    """A table of the modes: each one's step times and our speed relative to the reference."""
    c = config
    lines = [
        f"\n### Training step against a plain per-token adaLN DiT, preset {c.preset}, "
        f"{c.image_size}x{c.image_size}x{c.channels}, batch {c.batch}, {c.steps} interleaved "
        f"rounds on {device}, {clock} clock\n",
        "| mode | ours ms/step | reference ms/step | our speed / reference | rounds' IQR |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.ours_seconds * 1e3:.1f} | {r.reference_seconds * 1e3:.1f} | "
            f"{r.speed:.3f}x | {r.speed_iqr[0]:.3f}-{r.speed_iqr[1]:.3f} |"
        )
    return "\n".join(lines) + "\n"
