"""The training loop: one readable function. To resume, run the same command again."""

from __future__ import annotations

import copy
import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from patchforcing.data import DataConfig, ImageArrays, load_dataset
from patchforcing.io.images import save_grid
from patchforcing.loss import patch_forcing_loss
from patchforcing.model import PatchForcingDiT
from patchforcing.sampling import euler, euler_pf, labels_for_seeds, noise_for_seeds, uniform_schedule
from patchforcing.timesamplers import GlobalUniform, build_time_sampler
from patchforcing.train.checkpoint import latest_checkpoint, load_train_state, read_config, save_checkpoint
from patchforcing.train.config import TrainConfig, config_to_json
from patchforcing.train.helpers import (MetricsLog, batch_indices, resolve_device, step_generator, update_ema,
                                        warmup_factor)
from patchforcing.train.validate import validation_loss

__all__ = ["NonFiniteLossError", "TrainResult", "train", "check_data_fits_model"]


class NonFiniteLossError(RuntimeError):
    """Training met a NaN/inf loss or gradient; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    steps_done: int
    resumed_from: int
    losses: list[float]  # losses of the steps run by this call
    skipped_steps: list[int]
    val: dict[str, float | None]
    images_per_s: float


def check_data_fits_model(data: ImageArrays, config: TrainConfig) -> None:
    m = config.model
    if (data.channels, data.image_size) != (m.in_channels, m.image_size):
        raise ValueError(f"the data has {data.channels}-channel {data.image_size}x{data.image_size} images but the "
                         f"model expects {m.in_channels}-channel {m.image_size}x{m.image_size}")
    if data.num_classes > max(m.num_classes, 1):
        raise ValueError(f"the data has {data.num_classes} classes but the model has {m.num_classes}")


def _check_same_run(run_dir: Path, config: TrainConfig) -> None:
    """Refuse to resume a run with a different configuration (the step count may grow)."""
    saved_path = run_dir / "config.json"
    if not saved_path.exists():
        return
    saved = read_config(saved_path)
    if replace(saved, steps=config.steps) != config:
        a, b = json.loads(config_to_json(saved)), json.loads(config_to_json(config))
        diff = [k for k in a if a[k] != b[k]]
        raise ValueError(f"{run_dir} holds a run with a different configuration (sections {diff}); "
                         f"use another --out or the same options")


def _save_samples(ema: PatchForcingDiT, path: Path, device: torch.device) -> None:
    c = ema.config
    seeds = list(range(20))
    noise = noise_for_seeds(seeds, (c.in_channels, c.image_size, c.image_size), device)
    y = torch.arange(len(seeds), device=device) % max(c.num_classes, 1) if c.num_classes else labels_for_seeds(seeds, 0, device)
    sampler = euler_pf if c.time_mode == "patch" else euler
    result = sampler(ema, noise, y, uniform_schedule(25))
    save_grid(result.x, path, nrow=10, scale=2)


def train(config: TrainConfig, device: str = "auto", progress: bool = True, data: ImageArrays | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train (or resume) the run in ``config.out_dir``. ``stop_after`` ends this call after that many
    steps without changing the run's schedule (for tests and time-boxed jobs)."""
    dev = resolve_device(device)
    run_dir = Path(config.out_dir)
    _check_same_run(run_dir, config)
    data = data if data is not None else load_dataset(config.data)
    check_data_fits_model(data, config)
    torch.manual_seed(config.seed)
    model = PatchForcingDiT(config.model).to(dev)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=config.optim.lr, betas=config.optim.betas,
                            weight_decay=config.optim.weight_decay)
    sampler = build_time_sampler(config.time_sampler.name, config.time_sampler.params)

    start = 0
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        state = load_train_state(latest, model, ema)
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start = int(state["step"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(config_to_json(config))
    log = MetricsLog(run_dir / "metrics.jsonl", start)
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)

    autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if config.precision == "bf16" else nullcontext()
    losses: list[float] = []
    skipped: list[int] = []
    bar = tqdm(range(start, end), initial=start, total=config.steps, disable=not progress, desc="train", unit="step")
    t0, seen = time.perf_counter(), 0
    model.train()
    for step in bar:
        index = batch_indices(step, config.batch_size, len(data), config.seed)
        x1, y = data.batch(index)
        x1, y = x1.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        for group in opt.param_groups:
            group["lr"] = config.optim.lr * warmup_factor(step, config.optim.warmup_steps)
        with autocast:
            out = patch_forcing_loss(model, x1, y, sampler, step_generator(config.seed, step), config.loss)
        opt.zero_grad(set_to_none=True)
        loss = float(out.loss.detach())
        grad_norm = float("nan")
        if math.isfinite(loss):
            out.loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            what = "loss" if not math.isfinite(loss) else "gradient norm"
            if config.on_nonfinite == "stop":
                kept = latest_checkpoint(run_dir)
                raise NonFiniteLossError(f"non-finite {what} at step {step}; stopped without saving. "
                                         f"Last good checkpoint: {kept or 'none'}")
            skipped.append(step)
            log.write({"step": step + 1, "skipped": what})
            continue
        opt.step()
        update_ema(ema, model, config.optim.ema_decay)
        losses.append(loss)
        seen += len(index)
        done = step + 1
        rate = seen / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
        if done % config.log_every == 0 or done == end:
            log.write({"step": done, "loss": loss, "mse": float(out.mse),
                       "nll": None if out.nll is None else float(out.nll), "lr": opt.param_groups[0]["lr"],
                       "grad_norm": grad_norm, "images_per_s": rate})
        if done % config.sample_every == 0 or done == config.steps:
            _save_samples(ema, run_dir / "samples" / f"step_{done:08d}.png", dev)
        if done % config.checkpoint_every == 0 or done == end:
            train_state = {"optimizer": opt.state_dict(), "rng": torch.get_rng_state()}
            save_checkpoint(run_dir, done, config, model, ema, train_state, config.keep_checkpoints)
    bar.close()

    val = _final_validation(ema, config, dev) if end == config.steps and end > start else {}
    if val:
        log.write({"step": end, **val})
    return TrainResult(run_dir, end, start, losses, skipped, val, seen / max(time.perf_counter() - t0, 1e-9))


def _final_validation(ema: PatchForcingDiT, config: TrainConfig, dev: torch.device) -> dict[str, float | None]:
    """Held-out loss on Fashion-MNIST's test split (other sources have no built-in split)."""
    if config.data.source != "fashion-mnist":
        return {}
    test = load_dataset(DataConfig(source="fashion-mnist", data_dir=config.data.data_dir, split="test"))
    own = validation_loss(ema, test, build_time_sampler(config.time_sampler.name, config.time_sampler.params), device=dev)
    common = validation_loss(ema, test, GlobalUniform(), device=dev)
    return {"val_loss": own.loss, "val_mse": own.mse, "val_nll": own.nll, "val_mse_uniform_t": common.mse}
