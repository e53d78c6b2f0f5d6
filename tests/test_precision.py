"""Training precision: bf16 by default where it is faster, fp32 elsewhere, and the same loss
either way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from patchforcing.cli.main import build_parser
from patchforcing.cli.train_cmd import build_train_config
from patchforcing.core.time_dist import build_time_distribution
from patchforcing.data import DataConfig, load_dataset
from patchforcing.evaluation.speed.training import (
    TrainSpeedConfig,
    measure_train_modes,
    parse_train_modes,
)
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train import TrainConfig, train
from patchforcing.train.config import OptimConfig
from patchforcing.train.validate import validation_loss
from patchforcing.utils.device import bf16_is_fast, resolve_precision


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n")
    return path


@pytest.mark.parametrize(
    "flags,fast",
    [
        ("avx512f avx512_bf16", True),
        ("amx_tile amx_bf16", True),
        ("avx512f avx512bw", False),
        ("", False),
    ],
)
def test_bf16_is_the_default_only_where_the_cpu_has_bf16_instructions(
    tmp_path, monkeypatch, flags, fast
):
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert bf16_is_fast(torch.device("cpu"), _cpuinfo(tmp_path, flags)) is fast
    monkeypatch.setattr("patchforcing.utils.device.bf16_is_fast", lambda device: fast)
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if fast else "fp32")
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_other_machines_and_unreadable_cpuinfo_fall_back_to_fp32(tmp_path, monkeypatch):
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    assert not bf16_is_fast(torch.device("cpu"), _cpuinfo(tmp_path, "avx512_bf16"))
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    assert not bf16_is_fast(torch.device("cpu"), tmp_path / "missing")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", torch.device("cpu"))


def test_auto_keeps_the_precision_of_a_run_being_resumed(tmp_path, tiny_npz, monkeypatch):
    monkeypatch.setattr("patchforcing.utils.device.bf16_is_fast", lambda device: True)
    argv = [
        "train",
        "--data",
        str(tiny_npz),
        "--preset",
        "T/4",
        "--patch-size",
        "2",
        "--out",
        str(tmp_path / "run"),
    ]
    assert build_train_config(build_parser().parse_args(argv)).precision == "bf16"
    old = build_train_config(build_parser().parse_args([*argv, "--precision", "fp32"]))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(
        __import__("patchforcing.train.config", fromlist=["x"]).config_to_json(old)
    )
    assert build_train_config(build_parser().parse_args(argv)).precision == "fp32"


def test_bf16_training_reaches_the_fp32_validation_loss(tmp_path, tiny_npz):
    """Tiny model, 100 steps: the held-out loss (fixed noise and times) of bf16 autocast training is
    within 5% of fp32's, and both improve on the initial loss by far more than that."""
    model = ModelConfig(
        image_size=8, in_channels=1, patch_size=2, depth=2, width=32, num_heads=2, num_classes=3
    )
    data = load_dataset(DataConfig(source=str(tiny_npz)))
    ltg = build_time_distribution("ltg", {})
    losses = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(
            model=model,
            data=DataConfig(source=str(tiny_npz)),
            out_dir=str(tmp_path / precision),
            steps=100,
            batch_size=16,
            checkpoint_every=100,
            sample_every=1000,
            precision=precision,
            optim=OptimConfig(lr=2e-3, warmup_steps=10, ema_decay=0.9, ema_warmup=True),
        )
        train(config, progress=False)
        trained = PatchForcingDiT.from_pretrained(tmp_path / precision)
        losses[precision] = validation_loss(trained, data, ltg).mse
    torch.manual_seed(0)
    initial = validation_loss(PatchForcingDiT(model).eval(), data, ltg).mse
    assert abs(losses["bf16"] - losses["fp32"]) <= 0.05 * losses["fp32"]
    assert max(losses.values()) < 0.7 * initial


def test_train_speed_compares_modes_in_one_run():
    config = TrainSpeedConfig(preset="T/4", image_size=8, batch=2, steps=1, warmup=1)
    results = measure_train_modes(config, torch.device("cpu"), parse_train_modes("fp32,bf16"))
    assert [r.config.precision for r in results] == ["fp32", "bf16"]
    assert all(r.images_per_s > 0 and r.warmup_seconds > 0 for r in results)
    with pytest.raises(ValueError, match="unknown training mode"):
        parse_train_modes("fp16")
