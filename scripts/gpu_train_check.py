"""Training and sampling throughput on one GPU, for ``gpu_check.sh``.

    python scripts/gpu_train_check.py [--smoke]

1. For each preset (B/2, XL/2) on 32x32x4 latents, 1000 classes, batch 256: our training step
   (bf16 autocast, compiled, fused AdamW, TF32 for fp32 matrix products, SDPA picks flash
   attention) as images/s and MFU, and its speed against the plain per-token adaLN DiT of the same
   size, interleaved (:mod:`patchforcing.evaluation.speed.versus`).
2. The largest batch of B/2 (doubling from 256, eager bf16) whose training step fits in memory.
3. Sampling throughput (images/s) of Euler-PF, dual-loop and look-ahead at batch 256 and NFE 32 on
   B/2 (random weights, fp32 weights as the samplers run them, TF32 matrix products on the GPU).
4. FSDP on one GPU: B/2 wrapped by FSDP2 (``fully_shard`` per block, as ``train --parallel fsdp``
   does) and by DDP in a process group of one, the same weights, batches and times, a few bf16
   AdamW steps each: both losses and their largest relative difference.

``--smoke`` runs every part on the CPU at a tiny size (T/4, 8x8x1, batch 4, eager bf16), to check
the script end to end where no GPU is lent. Prints markdown.
"""

from __future__ import annotations

import argparse
import socket
import time
from dataclasses import replace

import torch
import torch.distributed as dist

from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.core.time_dist import LTG
from patchforcing.evaluation.speed.training import TrainSpeedConfig, measure_train_speed
from patchforcing.evaluation.speed.versus import compare_to_reference, reference_markdown
from patchforcing.model import PatchForcingDiT, model_config_from_preset
from patchforcing.sampling import SAMPLERS, Guidance, uniform_schedule
from patchforcing.train.data_parallel import DataParallel, _fsdp


def train_part(base: TrainSpeedConfig, presets: list[str], mode: str, device: torch.device) -> None:
    precision, _, compiled = mode.partition("+")
    for preset in presets:
        config = replace(base, preset=preset, precision=precision, compile=bool(compiled))
        speed = measure_train_speed(config, device)
        mfu = "n/a" if speed.mfu is None else f"{100 * speed.mfu:.1f}%"
        print(
            f"\n{preset} {mode}, batch {config.batch}: {speed.images_per_s:.1f} images/s, "
            f"{speed.seconds_per_step * 1e3:.1f} ms/step, MFU {mfu}, warm-up "
            f"{speed.warmup_seconds:.1f} s"
        )
        versus = compare_to_reference(config, device, (mode,))
        print(reference_markdown(config, device, versus, "wall"), end="")


def largest_batch(base: TrainSpeedConfig, device: torch.device, limit: int) -> None:
    """Doubles the batch of one eager bf16 step until it runs out of memory (or reaches limit)."""
    fits, batch = 0, base.batch
    while batch <= limit:
        try:
            measure_train_speed(
                replace(base, batch=batch, steps=1, warmup=0, precision="bf16", compile=False),
                device,
            )
        except torch.OutOfMemoryError:
            break
        fits, batch = batch, 2 * batch
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"\n{base.preset}: largest batch that fits (eager bf16, doubling): {fits or 'none'}")


@torch.no_grad()
def sampling_part(
    base: TrainSpeedConfig, batch: int, nfe: int, device: torch.device, repeats: int
) -> None:
    mc = model_config_from_preset(
        base.preset,
        image_size=base.image_size,
        in_channels=base.channels,
        num_classes=base.num_classes,
    )
    model = PatchForcingDiT(mc).to(device).eval()
    gen = torch.Generator(device).manual_seed(0)
    x = torch.randn(
        batch, mc.in_channels, mc.image_size, mc.image_size, device=device, generator=gen
    )
    y = torch.randint(mc.num_classes, (batch,), device=device, generator=gen)
    print(
        f"\n| sampler ({base.preset}, batch {batch}) | steps | NFE | images/s |\n|---|---|---|---|"
    )
    for name in ("euler-pf", "dual-loop", "look-ahead"):
        sampler = SAMPLERS[name]()
        budget = sampler.budget(nfe, mc.num_patches)
        schedule = uniform_schedule(budget.steps, device)
        best = float("inf")
        for _ in range(repeats + 1):  # the first run warms up
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            sampler(model, x, y, schedule, Guidance(), torch.Generator(device).manual_seed(0))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
        print(f"| {name} | {budget.steps} | {budget.nfe} | {batch / best:.1f} |")


def _losses(
    net: torch.nn.Module, base: TrainSpeedConfig, device: torch.device, steps: int
) -> list[float]:
    """``steps`` bf16 AdamW steps of ``net`` on one fixed batch; the same times and noise for every
    net (seeded generators)."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    data = torch.Generator(device).manual_seed(0)
    x1 = torch.randn(
        base.batch, base.channels, base.image_size, base.image_size, device=device, generator=data
    )
    y = torch.randint(base.num_classes, (base.batch,), device=device, generator=data)
    draws, losses = torch.Generator(device).manual_seed(1), []
    for _ in range(steps):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = patch_forcing_loss(net, x1, y, LTG(), draws, LossConfig())  # type: ignore[arg-type]
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return losses


def fsdp_part(base: TrainSpeedConfig, device: torch.device, steps: int) -> None:
    """FSDP2 against DDP in a process group of one (a free local port, nccl or gloo)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        mc = model_config_from_preset(
            base.preset,
            image_size=base.image_size,
            in_channels=base.channels,
            num_classes=base.num_classes,
        )
        torch.manual_seed(0)
        weights = PatchForcingDiT(mc).state_dict()
        nets = {}
        for name in ("ddp", "fsdp"):
            model = PatchForcingDiT(mc).to(device).train()
            model.load_state_dict(weights)
            ids = [device.index or 0] if device.type == "cuda" else None
            nets[name] = _fsdp(model) if name == "fsdp" else DataParallel(model, device_ids=ids)
        losses = {name: _losses(net, base, device, steps) for name, net in nets.items()}
    finally:
        dist.destroy_process_group()
    worst = max(abs(f - d) / abs(d) for f, d in zip(losses["fsdp"], losses["ddp"]))
    print(
        f"\n| step ({base.preset}, batch {base.batch}, bf16) | DDP loss | FSDP loss |",
        "\n|---|---|---|",
        sep="",
    )
    for k, (d, f) in enumerate(zip(losses["ddp"], losses["fsdp"]), 1):
        print(f"| {k} | {d:.6f} | {f:.6f} |")
    print(f"\nFSDP on one device: largest relative loss difference to DDP {worst:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run of every part")
    args = parser.parse_args()
    if args.smoke:
        device = torch.device("cpu")
        base = TrainSpeedConfig(preset="T/4", image_size=8, channels=1, batch=4, steps=2, warmup=1)
        presets, mode, limit, batch, nfe, repeats = ["T/4", "S/2"], "bf16", 8, 4, 4, 1
    else:
        device = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        base = TrainSpeedConfig(
            preset="B/2", image_size=32, channels=4, num_classes=1000, batch=256, steps=10
        )
        presets, mode, limit, batch, nfe, repeats = (
            ["B/2", "XL/2"],
            "bf16+compile",
            2048,
            256,
            32,
            2,
        )
    print(f"torch {torch.__version__}, device {device}")
    train_part(base, presets, mode, device)
    largest_batch(base, device, limit)
    sampling_part(base, batch, nfe, device, repeats)
    fsdp_part(replace(base, preset=presets[0], batch=min(base.batch, 64)), device, steps=5)


if __name__ == "__main__":
    main()
