"""Predicting the wall time of ``bench quality`` from a short measurement of one arm on this machine.

total ~= (unique arms x train_steps) x t_step + (sum over unique evaluations of NFE x batches) x t_forward

t_step is one optimizer step of the LTG arm at the bench's batch size; t_forward one forward pass of an
evaluation batch with a distinct time per patch (the dearest case, so the estimate errs high). Both are
measured as wall time and as process CPU time: on a busy machine the wall-time estimate includes the
other jobs' share, while the CPU-time one (with one torch thread) is the wall time on an idle core.
Reference features, checkpoints and final validations add a few percent and are not counted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from patchforcing.bench.quality_plan import PARTS, Arm, QualityBenchConfig, arm_train_config, plan_part
from patchforcing.loss import patch_forcing_loss
from patchforcing.model import PatchForcingDiT
from patchforcing.timesamplers import LTG

__all__ = ["CostEstimate", "estimate_cost"]


@dataclass(frozen=True)
class CostEstimate:
    train_step_s: float
    forward_s: float
    train_step_cpu_s: float
    forward_cpu_s: float
    arms: int
    train_steps: int
    eval_forwards: int
    evals: int
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


def estimate_cost(config: QualityBenchConfig, parts: tuple[str, ...] = PARTS, device: torch.device | str = "cpu",
                  repeats: int = 3) -> CostEstimate:
    device = torch.device(device)
    run = arm_train_config(config, Arm("ltg", "ltg", (), False, 0), "estimate")
    model = PatchForcingDiT(run.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(config.batch_size, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(10, (config.batch_size,), generator=gen).to(device)

    def step() -> None:
        loss = patch_forcing_loss(model, x, y, LTG()).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    xb = torch.randn(config.eval_batch, 1, 28, 28, generator=gen).to(device)
    yb = torch.randint(10, (config.eval_batch,), generator=gen).to(device)
    tb = torch.rand(config.eval_batch, run.model.num_patches, generator=gen).to(device)
    with torch.no_grad():
        forward = _best_time(lambda: model(xb, tb, yb), repeats)
    train_step = _best_time(step, repeats)
    specs = list(dict.fromkeys(s for part in parts for s in plan_part(config, part)))
    arms = len({s.arm for s in specs})
    batches = math.ceil(config.num_images / config.eval_batch)
    forwards = sum(config.sampler(s.sampler).budget(s.nfe).nfe * batches for s in specs)
    steps = arms * config.train_steps
    return CostEstimate(train_step[0], forward[0], train_step[1], forward[1], arms, config.train_steps, forwards,
                        len(specs), steps * train_step[0] + forwards * forward[0],
                        steps * train_step[1] + forwards * forward[1])
