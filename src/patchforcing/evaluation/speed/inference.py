"""``bench speed``: forward cost of per-patch time and sampler overhead, measured in one run.

Two figures, each the median over ``repeats`` rounds of a ratio of two jobs timed back to back
(in alternating order), so drifts of background load cancel; the interquartile range of the rounds
is reported with it, to show how noisy the machine was:

- forward ratio = forward(PF model, uniform t as (B, N)) / forward(global-time model, t (B,)),
  same backbone size; target <= 1.10.
- sampler overhead = wall(sampler) / wall(NFE forwards at uniform t of the model it runs on,
  guidance included), i.e. wall / (NFE x one forward); target <= 1.05. Euler (global) runs on the
  global-time model, the others on the PF model.

For reference, without a target: the PF forward with two times per image (40% of the patches ahead,
as in the mixed passes of dual-loop) against the PF forward at uniform t, once with the same count
in every image (the token-segment layout) and once with one more in the first image (the gathered
layout; see :mod:`patchforcing.model.conditioning`).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from patchforcing.model import PatchForcingDiT, model_config_from_preset
from patchforcing.model.conditioning import SegmentConditioning
from patchforcing.sampling import SAMPLERS, Guidance, SampleResult, predict, uniform_schedule
from patchforcing.sampling.generation.progress import progress_bar, stage
from patchforcing.utils.io.atomic import atomic_write
from patchforcing.utils.runtime import heap_kept

__all__ = [
    "SpeedConfig",
    "SamplerTiming",
    "MixedTiming",
    "SpeedReport",
    "run_speed",
    "speed_markdown",
    "write_report",
    "FORWARD_TARGET",
    "SAMPLER_TARGET",
]

FORWARD_TARGET = 1.10
SAMPLER_TARGET = 1.05
# "wall": elapsed time (the target's definition). "cpu": CPU time of this process, which ignores the
# time it waits for cores while other jobs load the machine (CPU devices only).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class SpeedConfig:
    """Model size, batch and how long to measure. The defaults took 4 min 40 s on two CPU cores
    busy with other jobs (one torch thread); the bar on stderr counts the timed jobs."""

    preset: str = "S/2"
    image_size: int = 16
    channels: int = 1
    num_classes: int = 10
    batch: int = 8
    steps: int = 6
    repeats: int = 15
    forwards: int = 5
    cfg: float = 1.0
    samplers: tuple[str, ...] = tuple(SAMPLERS)
    seed: int = 0
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise ValueError(
                f"bench speed: clock must be one of {sorted(CLOCKS)}, got {self.clock!r}"
            )
        unknown = [s for s in self.samplers if s not in SAMPLERS]
        if unknown:
            raise ValueError(f"unknown sampler(s) {unknown}; choose from {list(SAMPLERS)}")
        for name in ("image_size", "channels", "batch", "steps", "repeats", "forwards"):
            if getattr(self, name) < 1:
                raise ValueError(f"bench speed: {name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class SamplerTiming:
    name: str
    nfe: int
    images_forwarded: int
    seconds: float  # best time of one run
    ratio: float  # median over rounds of time / (nfe x one forward)
    ratio_iqr: tuple[float, float]  # first and third quartile over rounds


@dataclass(frozen=True)
class MixedTiming:
    """PF forward with two times per image, against the PF forward at uniform t."""

    layout: str  # the conditioning layout the model used: "segments" or "gathered"
    seconds: float  # best time of one forward
    ratio: float
    ratio_iqr: tuple[float, float]


@dataclass(frozen=True)
class SpeedReport:
    device: str
    config: SpeedConfig
    pf_forward_s: float
    global_forward_s: float
    forward_ratio: float
    forward_ratio_iqr: tuple[float, float]
    samplers: list[SamplerTiming] = field(default_factory=list)
    mixed: list[MixedTiming] = field(default_factory=list)
    heap_kept: bool = (
        False  # malloc keeps freed memory (patchforcing.utils.runtime.keep_freed_memory)
    )

    def to_json(self) -> str:
        return json.dumps(
            {**asdict(self), "targets": {"forward": FORWARD_TARGET, "sampler": SAMPLER_TARGET}},
            indent=2,
        )


def _quartiles(values: list[float]) -> tuple[float, float]:
    """First and third quartile (both the value itself for a single round)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def _two_times(
    batch: int, num_patches: int, generator: torch.Generator, uneven: bool, device: torch.device
) -> torch.Tensor:
    """(B, N) times: 40% of every image's patches at 0.55, the rest at 0.5 (one more patch at 0.55
    in the first image when ``uneven``)."""
    t = torch.full((batch, num_patches), 0.5)
    ahead = round(0.4 * num_patches)
    for b in range(batch):
        t[b, torch.randperm(num_patches, generator=generator)[: ahead + int(uneven and b == 0)]] = (
            0.55
        )
    return t.to(device)


def _timer(device: torch.device, clock: Callable[[], float], fn: Callable[[], object]) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = clock()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


@torch.no_grad()
def run_speed(
    config: SpeedConfig,
    device: torch.device,
    model: PatchForcingDiT | None = None,
    baseline: PatchForcingDiT | None = None,
    progress: bool = False,
) -> SpeedReport:
    """Measure; ``model``/``baseline`` default to randomly initialised models of
    ``config``'s size. ``progress``: say on stderr what is measured and move a bar between the
    timed jobs (never inside one)."""
    if config.clock == "cpu" and device.type != "cpu":
        raise ValueError(
            "bench speed: --clock cpu measures CPU devices only; use --clock wall on a GPU"
        )
    clock = CLOCKS[config.clock]
    gen = torch.Generator().manual_seed(config.seed)
    size = dict(
        image_size=config.image_size, in_channels=config.channels, num_classes=config.num_classes
    )
    model = model or PatchForcingDiT(model_config_from_preset(config.preset, **size))
    baseline = baseline or PatchForcingDiT(
        model_config_from_preset(config.preset, time_mode="global", difficulty_head=False, **size)
    )
    for net in (model, baseline):
        for param in net.parameters():  # random weights, so the difficulty map is not constant
            param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
        net.to(device).eval()
    c = model.config
    x = torch.randn(config.batch, c.in_channels, c.image_size, c.image_size, generator=gen).to(
        device
    )
    y = torch.randint(max(c.num_classes, 1), (config.batch,), generator=gen).to(device)
    guidance = Guidance(scale=config.cfg)
    t_of = {
        model: torch.full((config.batch, c.num_patches), 0.5, device=device),
        baseline: torch.full((config.batch,), 0.5, device=device),
    }
    schedule = uniform_schedule(config.steps, device)
    samplers = {name: SAMPLERS[name]() for name in config.samplers}
    net_of = {name: model if sampler.patch_time else baseline for name, sampler in samplers.items()}
    nfe = {name: sampler.nfe(schedule, c.num_patches) for name, sampler in samplers.items()}

    def forwards(
        net: PatchForcingDiT, count: int, t: torch.Tensor | None = None
    ) -> Callable[[], object]:
        t = t_of[net] if t is None else t
        return lambda: [predict(net, x, t, y, guidance) for _ in range(count)]

    def run(name: str) -> Callable[[], SampleResult]:
        return lambda: samplers[name](
            net_of[name], x, y, schedule, guidance, torch.Generator(device).manual_seed(0)
        )

    # (measured, reference) pairs, timed back to back in alternating order every round; the figure
    # is the median of the per-round ratios, which cancels slow drifts of background load.
    pairs = {"forward": (forwards(model, config.forwards), forwards(baseline, config.forwards))}
    pairs.update({name: (run(name), forwards(net_of[name], nfe[name])) for name in samplers})
    unevens = (False, True) if config.batch > 1 else (False,)  # uneven counts need two images
    mixed_t = {
        f"two times{' uneven' if uneven else ''}": _two_times(
            config.batch, c.num_patches, gen, uneven, device
        )
        for uneven in unevens
    }
    pairs.update(
        {
            key: (forwards(model, config.forwards, t), forwards(model, config.forwards))
            for key, t in mixed_t.items()
        }
    )
    stage(
        f"bench speed: {len(pairs)} measurements (the forward ratio, {len(mixed_t)} with two times "
        f"per image, {len(samplers)} samplers) on {device}, preset {config.preset}, "
        f"{config.image_size}x{config.image_size}x{config.channels}, batch {config.batch}: one "
        f"warm-up, then {config.repeats} rounds",
        progress,
    )
    for first, second in pairs.values():
        first(), second()  # warm-up
    ratios: dict[str, list[float]] = {key: [] for key in pairs}
    best = {key: [float("inf"), float("inf")] for key in pairs}
    with progress_bar(config.repeats * len(pairs), "bench speed", progress, "job") as bar:
        for round_ in range(config.repeats):
            bar.set_postfix_str(f"round {round_ + 1}/{config.repeats}")
            for key, jobs in pairs.items():
                order = (0, 1) if round_ % 2 == 0 else (1, 0)
                seconds = {i: _timer(device, clock, jobs[i]) for i in order}
                ratios[key].append(seconds[0] / seconds[1])
                best[key] = [min(best[key][i], seconds[i]) for i in (0, 1)]
                bar.update()  # between timed pairs
    timings = []
    for name in samplers:
        result = run(name)()
        if result.nfe != nfe[name]:
            raise RuntimeError(f"{name} spent {result.nfe} NFE, its config predicts {nfe[name]}")
        timings.append(
            SamplerTiming(
                name,
                result.nfe,
                result.images_forwarded,
                best[name][0],
                statistics.median(ratios[name]),
                _quartiles(ratios[name]),
            )
        )
    mixed = []
    for key, t in mixed_t.items():  # the layout does not change when guidance doubles the batch
        layout = (
            "segments" if isinstance(model.conditioning(t, y), SegmentConditioning) else "gathered"
        )
        mixed.append(
            MixedTiming(
                layout,
                best[key][0] / config.forwards,
                statistics.median(ratios[key]),
                _quartiles(ratios[key]),
            )
        )
    pf_s, global_s = best["forward"][0] / config.forwards, best["forward"][1] / config.forwards
    return SpeedReport(
        device=str(device),
        config=config,
        pf_forward_s=pf_s,
        global_forward_s=global_s,
        forward_ratio=statistics.median(ratios["forward"]),
        forward_ratio_iqr=_quartiles(ratios["forward"]),
        samplers=timings,
        mixed=mixed,
        heap_kept=heap_kept(),
    )


def _met(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else "MISSED"


def _iqr(q: tuple[float, float]) -> str:
    return f"{q[0]:.3f}-{q[1]:.3f}"


def speed_markdown(report: SpeedReport) -> str:
    """The report as a markdown table (also what the CLI prints)."""
    c = report.config
    lines = [
        f"bench speed on {report.device}: preset {c.preset}, "
        f"{c.image_size}x{c.image_size}x{c.channels}, batch {c.batch}, {c.steps} outer steps, cfg "
        f"{c.cfg}, median ratio of {c.repeats} rounds (times: best), {c.clock} clock, malloc "
        f"{'keeps freed memory' if report.heap_kept else 'defaults'}",
        "",
        "| what | NFE | seconds | ratio | rounds' IQR | target |",
        "|---|---|---|---|---|---|",
        f"| forward, global-time model | 1 | {report.global_forward_s:.4f} | 1.000 | | |",
        f"| forward, PF model at uniform t | 1 | {report.pf_forward_s:.4f} | "
        f"{report.forward_ratio:.3f} | {_iqr(report.forward_ratio_iqr)} | <= {FORWARD_TARGET} "
        f"{_met(report.forward_ratio, FORWARD_TARGET)} |",
    ]
    for m in report.mixed:
        lines.append(
            f"| forward, PF model at two times per image ({m.layout}) | 1 | {m.seconds:.4f} | "
            f"{m.ratio:.3f} | {_iqr(m.ratio_iqr)} | (to uniform t) |"
        )
    for s in report.samplers:
        lines.append(
            f"| sampler {s.name} | {s.nfe} | {s.seconds:.4f} | {s.ratio:.3f} | {_iqr(s.ratio_iqr)} "
            f"| <= {SAMPLER_TARGET} {_met(s.ratio, SAMPLER_TARGET)} |"
        )
    return "\n".join(lines) + "\n"


def write_report(report: SpeedReport, path: str | Path) -> list[Path]:
    """``path`` as JSON (any suffix but .md) plus the markdown table next to it (suffix .md)."""
    path = Path(path)
    json_path = path if path.suffix != ".md" else path.with_suffix(".json")
    text = report.to_json()
    md = speed_markdown(report)
    return [
        atomic_write(json_path, lambda tmp: tmp.write_text(text)),
        atomic_write(json_path.with_suffix(".md"), lambda tmp: tmp.write_text(md)),
    ]
