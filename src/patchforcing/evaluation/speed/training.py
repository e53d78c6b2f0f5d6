"""Training throughput on the current device: images/s and model FLOPs utilisation (MFU).

MFU = (model FLOPs per training image x images/s) / the device's peak dense bf16 (or fp32) rate.
Model FLOPs count the matmuls of the architecture (2 per multiply-add), forward x 3 for
forward + backward, per-token adaLN included (training times differ per token, so no row is
shared); attention scores count 4 N^2 D per block. The peak rate comes from a small table of known
GPUs; elsewhere MFU is None and only images/s is reported.

With representation alignment (:data:`REPA_MODES`) the step also projects the tokens after the
aligned block (the REPA recipe's projector, width 2048) and adds the alignment term, reading the
clean images' features from a table ("cached", what a REPA run on image or latent data does) or
running the built-in encoder on the batch ("online", ``--repa-features online``). The model FLOPs,
and so MFU, count the generator alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace

import torch
from torch import nn

from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.core.protocol import PatchModel
from patchforcing.core.time_dist import LTG
from patchforcing.evaluation.speed.inference import CLOCKS, _timer
from patchforcing.model import ModelConfig, PatchForcingDiT, model_config_from_preset
from patchforcing.model.repa import PROJECTOR_DIM, default_repa_depth
from patchforcing.model.vision import BuiltinEncoder, encoder_stride
from patchforcing.sampling.generation.progress import stage
from patchforcing.train.config import OptimConfig
from patchforcing.train.data_parallel import compile_model
from patchforcing.train.repa import RepaFeatures, RepaTraining
from patchforcing.train.repa_config import RepaConfig

__all__ = [
    "TrainSpeedConfig",
    "TrainSpeed",
    "train_flops_per_image",
    "peak_flops",
    "training_step",
    "measure_train_speed",
    "train_speed_markdown",
    "TRAIN_MODES",
    "parse_train_modes",
    "measure_train_modes",
    "train_modes_markdown",
    "REPA_MODES",
    "measure_repa_modes",
    "repa_markdown",
]

TRAIN_MODES = (
    "fp32",
    "bf16",
    "fp32+compile",
    "bf16+compile",
)  # what `bench speed --train` compares
REPA_MODES = ("off", "cached", "online")  # without REPA; REPA with a feature table; REPA + encoder

# dense peak FLOP/s (bf16, fp32) by a substring of torch.cuda.get_device_name()
_PEAKS = {
    "H200": (989e12, 67e12),
    "H100": (989e12, 67e12),
    "A100": (312e12, 19.5e12),
    "L40S": (362e12, 91.6e12),
    "A10G": (70e12, 31e12),
    "RTX 4090": (165e12, 82.6e12),
    "V100": (125e12, 15.7e12),
}


@dataclass(frozen=True)
class TrainSpeedConfig:
    preset: str = "S/2"
    image_size: int = 16
    channels: int = 1
    num_classes: int = 10
    batch: int = 8
    steps: int = 5  # timed optimizer steps
    warmup: int = 2  # untimed steps first (compilation, allocator)
    precision: str = "fp32"
    compile: bool = False
    repa: str = "off"  # one of REPA_MODES
    repa_projector_dim: int = PROJECTOR_DIM  # the REPA recipe's

    def __post_init__(self) -> None:
        if min(self.image_size, self.channels, self.batch, self.steps) < 1 or self.warmup < 0:
            raise ValueError(f"train speed: sizes and steps must be >= 1, got {self}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"train speed: precision must be fp32 or bf16, got {self.precision!r}")
        if self.repa not in REPA_MODES:
            raise ValueError(f"train speed: repa must be one of {REPA_MODES}, got {self.repa!r}")


@dataclass(frozen=True)
class TrainSpeed:
    device: str
    config: TrainSpeedConfig
    seconds_per_step: float  # median
    warmup_seconds: float  # the untimed first steps (with --compile: mostly compilation)
    images_per_s: float
    flops_per_image: float  # model FLOPs of one training image (forward + backward)
    achieved_flops: float  # FLOP/s
    mfu: float | None  # None where the device's peak is unknown


def train_flops_per_image(c: ModelConfig) -> float:
    """Forward + backward model FLOPs of one image (3x the forward)."""
    N, D, p = c.num_patches, c.width, c.patch_size
    hidden = int(D * c.mlp_ratio)
    block = 2 * N * (3 * D * D + D * D + 2 * D * hidden + 6 * D * D) + 4 * N * N * D
    embed = 2 * N * (c.in_channels * p * p * D + c.frequency_dim * D + D * D)
    final = 2 * N * (2 * D * D + D * p * p * c.out_channels)
    return 3.0 * (embed + c.depth * block + final)


def peak_flops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    peaks = next((v for k, v in _PEAKS.items() if k in name), None)
    return None if peaks is None else peaks[0 if precision == "bf16" else 1]


def training_step(
    net: PatchModel, model: nn.Module, config: TrainSpeedConfig, device: torch.device
) -> Callable[[], None]:
    """One full optimizer step of ``net`` (``model``, possibly compiled) per call: LTG times, the
    loss, backward and AdamW (fused on GPUs) in ``config.precision``, on a fixed random batch
    (seed 0) of the config's shape; with ``config.repa``, the alignment term of the REPA recipe
    and the projector's AdamW too."""
    c = config
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    time_dist = LTG()
    gen = torch.Generator(device=device).manual_seed(0)
    x1 = torch.randn(c.batch, c.channels, c.image_size, c.image_size, device=device, generator=gen)
    y = torch.randint(max(c.num_classes, 1), (c.batch,), device=device, generator=gen)
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if config.precision == "bf16"
        else nullcontext()
    )
    repa = _repa(c, model, x1, device) if c.repa != "off" else None
    optimizers = [opt] + ([repa.optimizer] if repa is not None else [])
    index = torch.arange(c.batch)

    def step() -> None:
        with autocast:
            out = patch_forcing_loss(net, x1, y, time_dist, gen, LossConfig())
            loss = repa.add_to(out, x1, index).loss.loss if repa is not None else out.loss
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in optimizers:
            o.step()

    return step


def _repa(
    config: TrainSpeedConfig, model: nn.Module, x1: torch.Tensor, device: torch.device
) -> RepaTraining:
    """The REPA recipe on ``model`` with the built-in encoder at the resolution that matches the
    token grid: its features of ``x1`` as a table ("cached"), or the encoder itself ("online")."""
    assert isinstance(model, PatchForcingDiT)
    grid = model.config.grid_size
    encoder = BuiltinEncoder(grid * encoder_stride("efficientnet-lite0"), device)
    features = (
        RepaFeatures(encoder.feature_dim, table=encoder(x1).half().cpu())
        if config.repa == "cached"
        else RepaFeatures(encoder.feature_dim, encoder=encoder)
    )
    repa = RepaConfig(
        depth=default_repa_depth(model.config.depth), projector_dim=config.repa_projector_dim
    )
    return RepaTraining(repa, model, features, OptimConfig(), seed=0)


def measure_train_speed(
    config: TrainSpeedConfig, device: torch.device, clock: str = "wall"
) -> TrainSpeed:
    """Time full optimizer steps (LTG times, loss, backward, AdamW) on random data and
    random weights, by the wall clock or (``clock="cpu"``) this process's CPU time."""
    mc = model_config_from_preset(
        config.preset,
        image_size=config.image_size,
        in_channels=config.channels,
        num_classes=config.num_classes,
    )
    model = PatchForcingDiT(mc).to(device).train()
    net = compile_model(model) if config.compile else model
    step = training_step(net, model, config, device)
    warmup_seconds = _timer(device, CLOCKS[clock], lambda: [step() for _ in range(config.warmup)])
    times = [_timer(device, CLOCKS[clock], step) for _ in range(config.steps)]
    seconds = statistics.median(times)
    flops = train_flops_per_image(mc)
    achieved = flops * config.batch / seconds
    peak = peak_flops(device, config.precision)
    return TrainSpeed(
        str(device),
        config,
        seconds,
        warmup_seconds,
        config.batch / seconds,
        flops,
        achieved,
        None if peak is None else achieved / peak,
    )


def parse_train_modes(text: str) -> tuple[str, ...]:
    """``fp32,bf16+compile`` -> the modes, each one of :data:`TRAIN_MODES`."""
    modes = tuple(m for m in text.split(",") if m)
    unknown = [m for m in modes if m not in TRAIN_MODES]
    if not modes or unknown:
        raise ValueError(
            f"unknown training mode(s) {unknown or text!r}; choose from {', '.join(TRAIN_MODES)}"
        )
    return modes


def measure_train_modes(
    config: TrainSpeedConfig,
    device: torch.device,
    modes: tuple[str, ...] = TRAIN_MODES,
    progress: bool = False,
    clock: str = "wall",
) -> list[TrainSpeed]:
    """The same training step in each mode (precision, optionally compiled), one after the other;
    ``progress`` names each mode on stderr as it starts."""
    results = []
    for i, mode in enumerate(modes, 1):
        precision, _, compiled = mode.partition("+")
        stage(
            f"bench speed --train {i}/{len(modes)}: {mode} training steps, {config.warmup} "
            f"untimed{' (compiling)' if compiled else ''} and {config.steps} timed",
            progress,
        )
        results.append(
            measure_train_speed(
                replace(config, precision=precision, compile=bool(compiled)), device, clock
            )
        )
    return results


def train_modes_markdown(results: list[TrainSpeed], clock: str = "wall") -> str:
    """A table of the modes, with each one's speed relative to the first."""
    first = results[0].images_per_s
    c = results[0].config
    lines = [
        f"\n### Training, preset {c.preset}, {c.image_size}x{c.image_size}x{c.channels}, batch "
        f"{c.batch}, {c.steps} timed steps on {results[0].device}, {clock} clock\n",
        "| mode | images/s | ms/step | vs first | warm-up s | MFU |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        mode = r.config.precision + (" + compile" if r.config.compile else "")
        mfu = "n/a" if r.mfu is None else f"{100 * r.mfu:.1f}%"
        lines.append(
            f"| {mode} | {r.images_per_s:.1f} | {r.seconds_per_step * 1e3:.1f} | "
            f"{r.images_per_s / first:.2f}x | {r.warmup_seconds:.1f} | {mfu} |"
        )
    return "\n".join(lines) + "\n"


def train_speed_markdown(r: TrainSpeed) -> str:
    """Two table rows matching ``bench speed``'s report style."""
    c = r.config
    mfu = "n/a (peak unknown)" if r.mfu is None else f"{100 * r.mfu:.1f}%"
    return (
        f"\ntraining, preset {c.preset}, batch {c.batch}, "
        f"{c.precision}{', compiled' if c.compile else ''}: {r.images_per_s:.1f} images/s, "
        f"{r.seconds_per_step * 1e3:.1f} ms/step, {r.flops_per_image / 1e9:.3f} GFLOP/image, "
        f"{r.achieved_flops / 1e12:.3f} TFLOP/s, MFU {mfu}\n"
    )


def measure_repa_modes(
    config: TrainSpeedConfig, device: torch.device, clock: str = "wall"
) -> list[TrainSpeed]:
    """The training step without REPA, with it reading a feature table, and with it running the
    built-in encoder on every batch (needs the ``[repa]`` extra), one after the other."""
    return [measure_train_speed(replace(config, repa=mode), device, clock) for mode in REPA_MODES]


_REPA_LABELS = {
    "off": "without REPA",
    "cached": "REPA, cached features",
    "online": "REPA, encoder forward every step",
}


def repa_markdown(results: list[TrainSpeed], clock: str = "wall") -> str:
    """A table of the REPA modes, each one's step time relative to the first (without REPA)."""
    first = results[0].seconds_per_step
    c = results[0].config
    lines = [
        f"\n### Training with REPA, preset {c.preset}, {c.image_size}x{c.image_size}x{c.channels}, "
        f"batch {c.batch}, {c.precision}, projector width {c.repa_projector_dim}, {c.steps} timed "
        f"steps on {results[0].device}, {clock} clock\n",
        "| mode | images/s | ms/step | step time vs without |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {_REPA_LABELS[r.config.repa]} | {r.images_per_s:.1f} | "
            f"{r.seconds_per_step * 1e3:.1f} | {r.seconds_per_step / first:.2f}x |"
        )
    return "\n".join(lines) + "\n"
