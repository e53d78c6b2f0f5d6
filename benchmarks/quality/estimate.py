"""Predicting the wall time of the quality bench from a short measurement of one arm on
this machine.

total ~= (arms to train x train_steps) x t_step + (sum over pending evaluations of
NFE x batches) x t_forward
         + (pending evaluations x batches) x t_embed [+ arms to train x t_compile, with --compile]

t_step is one optimizer step of the recipe's PF arm at the bench's batch size and precision;
t_forward one forward pass of an evaluation batch with a distinct time per patch (the dearest case,
so the estimate errs high); t_embed one evaluation batch through every feature extractor. All are
measured as wall time and as process CPU time: on a busy machine the wall-time estimate includes the
other jobs' share, while the CPU-time one (with one torch thread) is the wall time on an idle core.
Evaluations a results file already holds, and arms already finished in the output folder, are not
counted. With ``compile`` the step is timed on the compiled model (as
``python -m benchmarks.quality --compile`` trains), and t_compile, its first call less one step, is
paid once per arm; evaluations are not compiled. Reference features, checkpoints and final
validations add a few percent and are not counted.
"""

from __future__ import annotations

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
from patchforcing.core.loss import patch_forcing_loss
from patchforcing.evaluation.metrics import ClassifierFeatures
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train.data_parallel import compile_model

__all__ = ["CostEstimate", "estimate_cost"]


@dataclass(frozen=True)
class CostEstimate:
    train_step_s: float
    forward_s: float
    embed_s: float  # one evaluation batch through every feature extractor
    train_step_cpu_s: float
    forward_cpu_s: float
    embed_cpu_s: float
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


def _finished(config: QualityBenchConfig, arm: Arm) -> bool:
    return (
        Path(arm_train_config(config, arm, str(Path(config.out_dir) / "arms")).out_dir) / "arm.json"
    ).is_file()


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
    training step."""
    device = torch.device(device)
    config = config.resolved(device)
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
    extractors = [ClassifierFeatures(name, device) for name in config.classifiers]
    with torch.no_grad():
        forward = _best_time(lambda: model(xb, tb, yb), repeats)
        embed = _best_time(lambda: [e(xb) for e in extractors], repeats)
    start = time.perf_counter()
    step()
    first_step = time.perf_counter() - start
    train_step = _best_time(step, repeats)
    compile_s = max(first_step - train_step[0], 0.0) if compile else 0.0
    specs: list[EvalSpec] = list(
        dict.fromkeys(s for part in parts for s in plan_part(config, part))
    )
    todo = [s for s in specs if s.key not in recorded]
    arms = [a for a in dict.fromkeys(s.arm for s in todo) if not _finished(config, a)]
    batches = math.ceil(config.num_images / config.eval_batch)
    forwards = sum(config.sampler(s.sampler).budget(s.nfe).nfe * batches for s in todo)
    steps, embeds = len(arms) * config.train_steps, len(todo) * batches
    return CostEstimate(
        train_step[0],
        forward[0],
        embed[0],
        train_step[1],
        forward[1],
        embed[1],
        len(arms),
        len({s.arm for s in specs}),
        config.train_steps,
        forwards,
        len(todo),
        len(specs),
        compile_s,
        steps * train_step[0] + forwards * forward[0] + embeds * embed[0] + len(arms) * compile_s,
        steps * train_step[1] + forwards * forward[1] + embeds * embed[1] + len(arms) * compile_s,
    )
