"""Predicting the wall time of the quality bench from a short measurement of one arm on
this machine.

total ~= arms to train x (train_steps x t_step + validation passes x t_val [+ t_compile])
         + (sum over pending evaluations of NFE x batches) x t_forward
         + pending evaluations x (batches x t_embed + t_score)

t_step is one optimizer step of the recipe's PF arm at the bench's batch size and precision; t_val
one batch of the two held-out losses every arm ends with (``validation_loss`` at its default limit
and batch size, with the arm's time distribution and with uniform t); t_forward one forward pass of
an evaluation batch with a distinct time per patch (the dearest case, so the estimate errs high);
t_embed one evaluation batch through every feature extractor; t_score the metrics of one evaluation
(FD, KID, the k-NN metrics) in every feature space against the reference. All are measured as wall
time and as process CPU time: on a busy machine the wall-time estimate includes the other jobs'
share, while the CPU-time one (with one torch thread) is the wall time on an idle core.
Evaluations a results file already holds, and arms already finished in the output folder, are not
counted. With ``compile`` the step is timed on the compiled model (as
``python -m benchmarks.quality --compile`` trains), and t_compile, its first call less one step, is
paid once per arm; evaluations are not compiled. Not counted: the start-up (imports, the data sets,
the reference features), checkpoints and preview grids; they add a few percent to the full bench
and a large share of a run as small as ``--smoke``.
"""

from __future__ import annotations

import inspect
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.quality.plan import (
    PARTS,
    RECIPE_SHARE,
    Arm,
    EvalSpec,
    QualityBenchConfig,
    arm_train_config,
    plan_part,
)
from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.data import DataConfig, load_dataset
from patchforcing.evaluation.metrics import ClassifierFeatures, compute_quality
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train.data_parallel import compile_model
from patchforcing.train.validate import validation_loss

__all__ = ["CostEstimate", "estimate_cost", "VALIDATION_BATCH", "VALIDATION_PASSES", "duration"]

_VALIDATION = inspect.signature(validation_loss).parameters  # what every arm's final losses use
VALIDATION_BATCH: int = _VALIDATION["batch_size"].default
# the arm's own time distribution and uniform t, each over the first `limit` test images (10,000)
VALIDATION_PASSES = 2 * math.ceil(_VALIDATION["limit"].default / VALIDATION_BATCH)


@dataclass(frozen=True)
class CostEstimate:
    train_step_s: float
    forward_s: float
    embed_s: float  # one evaluation batch through every feature extractor
    validation_s: float  # one batch of an arm's final validations (VALIDATION_PASSES per arm)
    score_s: float  # the metrics of one evaluation in every feature space
    train_step_cpu_s: float
    forward_cpu_s: float
    embed_cpu_s: float
    validation_cpu_s: float
    score_cpu_s: float
    arms: int  # arms still to train
    arms_planned: int
    train_steps: int
    eval_forwards: int
    evals: int  # evaluations still to run
    evals_planned: int
    compile_s: float  # compiling the training step, once per arm to train (0 without compile)
    total_s: float
    total_cpu_s: float


def _best_time(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and best CPU time of ``repeats`` calls after a warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


_TIMED = ("step", "validation", "forward", "embed", "score")  # what one unit of each costs


def _finished(config: QualityBenchConfig, arm: Arm) -> bool:
    return (
        Path(arm_train_config(config, arm, str(Path(config.out_dir) / "arms")).out_dir) / "arm.json"
    ).is_file()


def _timings(
    config: QualityBenchConfig, device: torch.device, repeats: int, compile: bool
) -> tuple[dict[str, tuple[float, float]], float]:
    """(wall, CPU) seconds of one training step, validation batch, evaluation forward, batch of
    features and evaluation's scores of the recipe's PF arm; and the compilation of the step."""
    run = arm_train_config(config, Arm("pf", "ltg", RECIPE_SHARE, False, 0), "estimate")
    assert isinstance(run.model, ModelConfig)  # the bench trains class-conditional image models
    model = PatchForcingDiT(run.model).to(device)
    net = compile_model(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
    time_dist = run.time_dist.build()
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if config.precision == "bf16"
        else nullcontext()
    )
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(config.batch_size, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(10, (config.batch_size,), generator=gen).to(device)

    def step() -> None:
        with autocast:
            loss = patch_forcing_loss(net, x, y, time_dist).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xb = torch.randn(config.eval_batch, 1, 28, 28, generator=gen).clamp(-1, 1).to(device)
    yb = torch.randint(10, (config.eval_batch,), generator=gen).to(device)
    tb = torch.rand(config.eval_batch, run.model.num_patches, generator=gen).to(device)
    xv = torch.randn(VALIDATION_BATCH, 1, 28, 28, generator=gen).clamp(-1, 1).to(device)
    yv = torch.randint(10, (VALIDATION_BATCH,), generator=gen).to(device)
    extractors = [ClassifierFeatures(name, device) for name in config.classifiers]
    times: dict[str, tuple[float, float]] = {}
    with torch.no_grad():
        times["forward"] = _best_time(lambda: model(xb, tb, yb), repeats)
        times["embed"] = _best_time(lambda: [e(xb) for e in extractors], repeats)
        times["validation"] = _best_time(
            lambda: patch_forcing_loss(model, xv, yv, time_dist, gen, LossConfig(label_dropout=0)),
            repeats,
        )
        widths = [e(xb[:1]).shape[1] for e in extractors]
    test_images = len(load_dataset(DataConfig(data_dir=config.data_dir, split="test")))
    real = min(config.reference_size or test_images, test_images)
    times["score"] = _best_time(
        lambda: [
            compute_quality(
                torch.randn(real, d, generator=gen),
                torch.randn(config.num_images, d, generator=gen),
            )
            for d in widths
        ],
        1,  # seconds of k-NN and kernel sums per call at full size: one timed call is enough
    )
    start = time.perf_counter()
    step()
    first_step = time.perf_counter() - start
    times["step"] = _best_time(step, repeats)
    return times, max(first_step - times["step"][0], 0.0) if compile else 0.0


def estimate_cost(
    config: QualityBenchConfig,
    parts: tuple[str, ...] = PARTS,
    device: torch.device | str = "cpu",
    repeats: int = 3,
    recorded: frozenset[tuple] = frozenset(),
    compile: bool = False,
) -> CostEstimate:
    """The predicted cost of what is left; ``recorded`` holds the (arm, train seed, sampler, NFE,
    sampling seed) keys of evaluations already in the results file; ``compile`` times the compiled
    training step. When nothing is left nothing is timed (every time is 0)."""
    device = torch.device(device)
    config = config.resolved(device)
    specs: list[EvalSpec] = list(
        dict.fromkeys(s for part in parts for s in plan_part(config, part))
    )
    todo = [s for s in specs if s.key not in recorded]
    arms = [a for a in dict.fromkeys(s.arm for s in todo) if not _finished(config, a)]
    if todo:  # the arms left are those of the evaluations left
        times, compile_s = _timings(config, device, repeats, compile)
    else:
        times, compile_s = dict.fromkeys(_TIMED, (0.0, 0.0)), 0.0
    batches = math.ceil(config.num_images / config.eval_batch)
    forwards = sum(config.sampler(s.sampler).budget(s.nfe).nfe * batches for s in todo)
    counts = {
        "step": len(arms) * config.train_steps,
        "validation": len(arms) * VALIDATION_PASSES,
        "forward": forwards,
        "embed": len(todo) * batches,
        "score": len(todo),
    }

    def total(i: int) -> float:  # 0: wall time, 1: CPU time
        return sum(n * times[k][i] for k, n in counts.items()) + len(arms) * compile_s

    return CostEstimate(
        train_step_s=times["step"][0],
        forward_s=times["forward"][0],
        embed_s=times["embed"][0],
        validation_s=times["validation"][0],
        score_s=times["score"][0],
        train_step_cpu_s=times["step"][1],
        forward_cpu_s=times["forward"][1],
        embed_cpu_s=times["embed"][1],
        validation_cpu_s=times["validation"][1],
        score_cpu_s=times["score"][1],
        arms=len(arms),
        arms_planned=len({s.arm for s in specs}),
        train_steps=config.train_steps,
        eval_forwards=forwards,
        evals=len(todo),
        evals_planned=len(specs),
        compile_s=compile_s,
        total_s=total(0),
        total_cpu_s=total(1),
    )


def duration(seconds: float) -> str:
    """Seconds in the unit a reader takes in at a glance: 40 s, 12.5 min, 3.2 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
