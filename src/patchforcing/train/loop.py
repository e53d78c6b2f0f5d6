"""The training loop: one readable function. To resume, run the same command again.

Data order is a pure function of (seed, step) and each step draws its randomness from its own
generator, so a run killed at any moment and resumed from its newest checkpoint (weights, EMA,
optimizer, global RNG) reaches bitwise the same weights on CPU as an uninterrupted one.

Under ``torchrun`` every process runs this function on its rows of the same global batch
(:mod:`patchforcing.train.data_parallel`); only rank 0 writes checkpoints, logs and samples. With
``config.repa`` the alignment term of :mod:`patchforcing.train.repa` joins the loss.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from patchforcing.core.loss import patch_forcing_loss
from patchforcing.core.time_dist import GlobalUniform
from patchforcing.data import BUILTIN_SOURCES, ArrayData, load_dataset
from patchforcing.data.order import batch_indices
from patchforcing.model import AnyModel, Condition, PatchForcingDiT, PatchForcingT2I, PatchModel
from patchforcing.model.pretrained import latest_checkpoint
from patchforcing.model.text_config import TextModelConfig
from patchforcing.sampling.generation import GenerationConfig, generate
from patchforcing.train.checkpoint import save_checkpoint
from patchforcing.train.compile import choose_compile, eager_on_compile_error
from patchforcing.train.config import TrainConfig, config_to_json
from patchforcing.train.data_check import check_same_data
from patchforcing.train.data_parallel import (
    NullLog,
    Parallel,
    any_rank,
    batch_report,
    global_stats,
    load_optimizer_state,
    model_state,
    optimizer_state,
    shard_ema,
    wrap_model,
)
from patchforcing.train.helpers import (
    MetricsLog,
    ema_decay_at,
    lr_factor,
    step_generator,
    update_ema,
)
from patchforcing.train.nonfinite import (
    MAX_CONSECUTIVE_SKIPS,
    NonFiniteLossError,
    check_finite_weights,
    nonfinite_reason,
)
from patchforcing.train.preflight import check_data_fits_model
from patchforcing.train.repa import RepaLoss, RepaTraining
from patchforcing.train.run_folder import (
    check_run_folder,
    check_same_run,
    locked_run,
    resume_point,
    run_id,
)
from patchforcing.train.setup import repa_for
from patchforcing.train.signals import StopSignals
from patchforcing.train.text import (
    CaptionConditions,
    build_text_encoder,
    caption_generator,
    preview_prompts,
)
from patchforcing.train.validate import validation_loss
from patchforcing.utils.device import resolve_device
from patchforcing.utils.distributed import DistEnv, init_distributed, rank_slice
from patchforcing.utils.io.atomic import DiskWriteError, atomic_write
from patchforcing.utils.io.images import save_grid
from patchforcing.utils.limits import check_memory

__all__ = ["NonFiniteLossError", "TrainResult", "train", "check_data_fits_model"]

TRAIN_BYTES_PER_PARAMETER = 20  # fp32 weights, EMA, gradients and AdamW's two moments


@dataclass(frozen=True)
class TrainResult:
    """What a training call did: its run folder, steps done (and the step it resumed from), the
    losses of its own steps, skipped steps, validation losses, throughput, and the signal that
    stopped it early, if any."""

    run_dir: Path
    steps_done: int
    resumed_from: int
    losses: list[float]  # losses of the steps run by this call
    skipped_steps: list[int]
    val: dict[str, float | None]
    images_per_s: float
    stopped_by_signal: int | None = None  # SIGINT/SIGTERM number if a signal ended this call early
    train_seconds: float | None = (
        None  # training-loop wall time of all the steps done, summed over resumes
    )
    # (None when the run resumed from a checkpoint written before checkpoints recorded it)


def _kept_note(run_dir: Path) -> str:
    kept = latest_checkpoint(run_dir)
    return f"the last checkpoint {kept} is intact" if kept else "no checkpoint was written yet"


def _sample_path(run_dir: Path, step: int) -> Path:
    return run_dir / "samples" / f"step_{step:08d}.png"


def _save_samples(
    ema: PatchModel,
    path: Path,
    device: torch.device,
    write: bool = True,
    prompts: tuple[str, ...] | None = None,
) -> None:
    """A preview grid of 20 images (classes 0, 1, ... in turn, or the ``prompts`` of a text-to-image
    model) with the EMA weights and the model's default sampler at 25 steps; every rank samples
    (FSDP needs them all), rank 0 ``write``s."""
    c = ema.config
    classes = None if prompts else tuple(range(c.num_classes)) or None
    config = GenerationConfig(
        steps=25, num_images=20, classes=classes, prompts=prompts, batch_size=20
    )
    images = generate(ema, config, device)
    if not write:
        return
    try:
        save_grid(images, path, nrow=10, scale=2)
    except OSError as err:  # DiskWriteError included
        raise DiskWriteError("sample grid", path, err) from err


def train(
    config: TrainConfig,
    device: str = "auto",
    progress: bool = True,
    data: ArrayData | None = None,
    stop_after: int | None = None,
    parallel: Parallel = Parallel(),
) -> TrainResult:
    """Train (or resume) the run in ``config.out_dir``. ``stop_after`` ends this call after that
    many steps without changing the run's schedule (for tests and time-boxed jobs). SIGINT/SIGTERM
    end it after the current step with a checkpoint (``TrainResult.stopped_by_signal``).
    ``parallel`` picks DDP or FSDP (and torch.compile) when launched by torchrun. The run folder is
    this process's alone while it runs (:mod:`patchforcing.train.run_folder`); a failed write names
    what is intact."""
    env = init_distributed(resolve_device(device))
    run_dir = Path(config.out_dir)
    check_run_folder(run_dir)
    with locked_run(run_dir, env.is_main):
        try:
            return _train(config, env, progress, data, stop_after, parallel)
        except DiskWriteError as err:
            raise err.keeping(_kept_note(run_dir)) from err


def _train(
    config: TrainConfig,
    env: DistEnv,
    progress: bool,
    data: ArrayData | None,
    stop_after: int | None,
    parallel: Parallel,
) -> TrainResult:
    dev, rows = env.device, rank_slice(config.batch_size, env.rank, env.world_size)
    config = replace(config, repa=repa_for(config.repa, config.model, config.data))
    run_dir = Path(config.out_dir)
    check_same_run(run_dir, config)
    data = data if data is not None else load_dataset(config.data)
    check_data_fits_model(data, config)
    check_same_data(run_dir, data, write=env.is_main)
    parameters = (
        config.model.parameter_count
    )  # built on the CPU; weights, EMA and optimizer state stay there on a CPU
    check_memory(
        parameters * (TRAIN_BYTES_PER_PARAMETER if dev.type == "cpu" else 4),
        f"training a model of {parameters:,} parameters",
    )
    torch.manual_seed(config.seed)
    captions = prompts = None
    if isinstance(config.model, TextModelConfig):
        assert config.text is not None  # TrainConfig checks it
        encoder = build_text_encoder(config.text, data)
        captions, prompts = CaptionConditions(encoder, data), preview_prompts(data, 20)
        model: AnyModel = PatchForcingT2I(config.model, encoder).to(dev)
    else:
        model = PatchForcingDiT(config.model).to(dev)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    time_dist = config.time_dist.build()

    start = 0
    before: float | None = 0.0  # the training seconds of earlier calls (None: not recorded)
    _, state = resume_point(
        run_dir, model, ema
    )  # full weights load before wrapping, so any world size can resume
    if state is not None:
        torch.set_rng_state(state["rng"])
        start, before = int(state["step"]), state.get("train_seconds")
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    choice = choose_compile(
        parallel.compile, end - start, dev, isinstance(config.model, TextModelConfig)
    )
    if choice.note and progress and env.is_main:
        print(choice.note, file=sys.stderr)
    parallel = replace(parallel, compile=choice.compile)
    ema, net = shard_ema(ema, env, parallel), wrap_model(model, env, parallel)
    opt = torch.optim.AdamW(
        net.parameters(),
        lr=config.optim.lr,
        betas=config.optim.betas,
        weight_decay=config.optim.weight_decay,
    )
    if state is not None:
        load_optimizer_state(net, opt, state["optimizer"])
    repa = RepaTraining.for_run(config, model, data, env, parallel, state)  # after the EMA copy
    optimizers = [opt] + ([repa.optimizer] if repa is not None else [])
    trained = [*net.parameters(), *(repa.parameters() if repa is not None else [])]
    log: NullLog | MetricsLog = NullLog()
    identity = ""
    if env.is_main:
        identity = run_id(run_dir)
        atomic_write(
            run_dir / "config.json",
            lambda tmp: tmp.write_text(config_to_json(config)),
            what="run config",
        )
        log = MetricsLog(run_dir / "metrics.jsonl", start)
        log.write(
            {
                "step": start,
                "run_id": identity,
                "effective_batch_size": config.batch_size,
                "world_size": env.world_size,
            }
        )
    due = start > 0 and (start % config.sample_every == 0 or start == config.steps)
    if (
        due and not _sample_path(run_dir, start).exists()
    ):  # a kill can land between checkpoint and samples
        _save_samples(ema, _sample_path(run_dir, start), dev, env.is_main, prompts)

    autocast = (
        torch.autocast(dev.type, dtype=torch.bfloat16)
        if config.precision == "bf16"
        else nullcontext()
    )

    def forward_backward(
        net: PatchModel, x1: torch.Tensor, y: Condition, step: int, index: torch.Tensor
    ) -> tuple[RepaLoss | None, float, float, float | None, float]:
        """The step's loss and gradients: (the REPA terms, loss, mse, nll, gradient norm)."""
        with autocast:
            out = patch_forcing_loss(
                net,
                x1,
                y,
                time_dist,
                step_generator(config.seed, step),
                config.loss,
                rows,
                config.batch_size,
            )
            aligned = repa.add_to(out, x1, index[rows]) if repa is not None else None
            out = aligned.loss if aligned is not None else out
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss, mse, nll = global_stats(out, env)
        grad_norm = float("nan")
        if math.isfinite(loss):
            out.loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trained, config.optim.grad_clip))
        return aligned, loss, mse, nll, grad_norm

    losses: list[float] = []
    skipped: list[int] = []
    show = progress and env.is_main
    bar = tqdm(
        range(start, end),
        initial=start,
        total=config.steps,
        disable=not show,
        desc="train",
        unit="step",
    )
    if show:
        bar.write(batch_report(config.batch_size, env, parallel))
    t0, seen, done = time.perf_counter(), 0, start
    model.train()
    with StopSignals() as stop, bar:  # the bar ends its line before an error is printed
        for step in bar:
            index = batch_indices(step, config.batch_size, len(data), config.seed)
            x1, labels = data.batch(index[rows])  # this rank's rows of the global batch
            x1 = x1.to(dev, non_blocking=True)
            if (
                captions is not None
            ):  # drawn for the global batch, so any number of ranks sees the same texts
                y: Condition = captions(index, caption_generator(config.seed, step), dev, rows)
            elif config.model.num_classes:
                y = labels.to(dev, non_blocking=True)
            else:
                y = torch.zeros_like(
                    labels, device=dev
                )  # an unconditional model has only the null label (index 0)
            factor = lr_factor(step, config.steps, config.optim.warmup_steps, config.optim.schedule)
            for group in (g for o in optimizers for g in o.param_groups):
                group["lr"] = config.optim.lr * factor
            run = partial(forward_backward, x1=x1, y=y, step=step, index=index)
            if step == start and parallel.compile:  # a failed compilation trains eager
                passed, net = eager_on_compile_error(
                    run, net, lambda line: bar.write(line, sys.stderr)
                )
            else:
                passed = run(net)
            aligned, loss, mse, nll, grad_norm = passed
            extra = {"repa_align": repa.align_mean(aligned)} if repa and aligned else {}
            bad = nonfinite_reason(loss, grad_norm)
            done = step + 1
            if bad is None:
                for o in optimizers:
                    o.step()
                update_ema(
                    ema, model, ema_decay_at(step, config.optim.ema_decay, config.optim.ema_warmup)
                )
                losses.append(loss)
            elif config.on_nonfinite == "stop":
                raise NonFiniteLossError(
                    f"non-finite {bad} at step {step}; stopped without saving "
                    f"({_kept_note(run_dir)}); rerun with --on-nonfinite skip to skip such steps"
                )
            else:
                skipped.append(step)
                log.write({"step": done, "skipped": bad})
                if skipped[-MAX_CONSECUTIVE_SKIPS:] == list(
                    range(done - MAX_CONSECUTIVE_SKIPS, done)
                ):
                    raise NonFiniteLossError(
                        f"{MAX_CONSECUTIVE_SKIPS} consecutive non-finite steps up to step "
                        f"{step}: the run has diverged ({_kept_note(run_dir)})"
                    )
            seen += len(index)
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
            if bad is None and (done % config.log_every == 0 or done == end):
                log.write(
                    {
                        "step": done,
                        "loss": loss,
                        "mse": mse,
                        "nll": nll,
                        **extra,
                        "lr": opt.param_groups[0]["lr"],
                        "grad_norm": grad_norm,
                        "images_per_s": rate,
                    }
                )
            halt = any_rank(stop.received is not None, env)
            if (
                done % config.checkpoint_every == 0 or done == end or halt
            ):  # before samples: a failing
                check_finite_weights(
                    {"online": model, "EMA": ema}, step
                )  # sample write loses no steps
                weights = (
                    model_state(net),
                    model_state(ema),
                    optimizer_state(net, opt),
                )  # collective under FSDP
                repa_state = repa.state() if repa is not None else None  # collective too
                if env.is_main:
                    train_state = {
                        "optimizer": weights[2],
                        "rng": torch.get_rng_state(),
                        "train_seconds": _seconds_so_far(before, t0),
                        **({"repa": repa_state} if repa_state is not None else {}),
                    }
                    save_checkpoint(
                        run_dir,
                        done,
                        config,
                        weights[0],
                        weights[1],
                        train_state,
                        config.keep_checkpoints,
                        data.class_names,
                        identity,
                        getattr(model, "text_encoder_spec", None),
                    )
            if done % config.sample_every == 0 or done == config.steps:
                _save_samples(ema, _sample_path(run_dir, done), dev, env.is_main, prompts)
            if halt:
                break

    val = (
        _final_validation(ema, config, dev, captions)
        if done == config.steps and done > start
        else {}
    )
    if val:
        log.write({"step": done, **val})
    return TrainResult(
        run_dir,
        done,
        start,
        losses,
        skipped,
        val,
        seen / max(time.perf_counter() - t0, 1e-9),
        stop.received,
        _seconds_so_far(before, t0),
    )


def _seconds_so_far(before: float | None, t0: float) -> float | None:
    """Training-loop seconds of the earlier calls (None: unknown) plus this call's since ``t0``."""
    return None if before is None else float(before) + time.perf_counter() - t0


def _final_validation(
    ema: PatchModel, config: TrainConfig, dev: torch.device, captions: CaptionConditions | None
) -> dict[str, float | None]:
    """Held-out loss on a built-in data set's test split (other sources have no built-in split); a
    text-to-image model reads the test images' captions, encoded by the run's encoder."""
    if config.data.source not in BUILTIN_SOURCES:
        return {}
    test = load_dataset(replace(config.data, split="test"))
    condition = None
    if captions is not None:
        if not test.has_captions:
            return {}
        test_captions = CaptionConditions(captions.encoder, test)
        condition = lambda index, gen: test_captions(index, gen, dev)  # noqa: E731
    own = validation_loss(ema, test, config.time_dist.build(), device=dev, condition=condition)
    common = validation_loss(ema, test, GlobalUniform(), device=dev, condition=condition)
    return {
        "val_loss": own.loss,
        "val_mse": own.mse,
        "val_nll": own.nll,
        "val_mse_uniform_t": common.mse,
    }
