"""Crash safety, signals, disk faults and non-finite steps of the training loop (tiny CPU runs)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import patchforcing.train.loop as loop
from patchforcing.data import DataConfig
from patchforcing.model import PatchForcingDiT, model_config_from_preset
from patchforcing.model.pretrained import latest_checkpoint, list_checkpoints
from patchforcing.train import NonFiniteLossError, OptimConfig, TrainConfig, train
from patchforcing.train.checkpoint import recorded_train_seconds
from patchforcing.utils.io.atomic import DiskWriteError

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(
        path, images=rng.integers(0, 256, (32, 8, 8), dtype=np.uint8), labels=np.arange(32) % 3
    )
    return path


def tiny(npz: Path, out: Path, steps: int = 6, **overrides) -> TrainConfig:
    model = model_config_from_preset(
        "T/4", depth=1, width=32, num_heads=2, image_size=8, in_channels=1, num_classes=3
    )
    fields = dict(
        model=model,
        data=DataConfig(source=str(npz)),
        optim=OptimConfig(lr=1e-3, warmup_steps=2),
        out_dir=str(out),
        steps=steps,
        batch_size=8,
        checkpoint_every=1,
        sample_every=1000,
        log_every=1,
    )
    return TrainConfig(**{**fields, **overrides})


def final_state(run: Path) -> dict[str, torch.Tensor]:
    folder = latest_checkpoint(run)
    opt = torch.load(folder / "train_state.pt", weights_only=True)["optimizer"]["state"]
    return {
        **{f"model.{k}": v for k, v in load_file(str(folder / "model.safetensors")).items()},
        **{f"ema.{k}": v for k, v in load_file(str(folder / "ema.safetensors")).items()},
        **{f"opt.{i}.{k}": v for i, s in opt.items() for k, v in s.items()},
    }


def assert_bitwise_equal(a: Path, b: Path) -> None:
    sa, sb = final_state(a), final_state(b)
    assert sa.keys() == sb.keys()
    assert [k for k in sa if not torch.equal(sa[k], sb[k])] == []


def poison_call(n: int, make):
    """A patch_forcing_loss that returns ``make(out)`` on its n-th call (0-based)."""
    real, calls = loop.patch_forcing_loss, {"n": 0}

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        return make(out) if calls["n"] - 1 == n else out

    return wrapped


def test_resume_in_pieces_is_bitwise_equal(npz: Path, tmp_path: Path) -> None:
    train(tiny(npz, tmp_path / "ref"), device="cpu", progress=False)
    pieces = tiny(npz, tmp_path / "pieces")
    for n in (2, 1, 3):
        train(pieces, device="cpu", progress=False, stop_after=n)
    assert_bitwise_equal(tmp_path / "ref", tmp_path / "pieces")


def test_training_seconds_add_up_over_resumes(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run")
    first = train(config, device="cpu", progress=False, stop_after=2)
    step2 = latest_checkpoint(tmp_path / "run")
    assert (
        first.train_seconds is not None and 0 < recorded_train_seconds(step2) <= first.train_seconds
    )
    state = torch.load(step2 / "train_state.pt", weights_only=True)
    torch.save(
        {**state, "train_seconds": 1000.0}, step2 / "train_state.pt"
    )  # as if the first call took 1000 s
    start = time.perf_counter()
    second = train(config, device="cpu", progress=False, stop_after=2)
    assert (
        second.train_seconds is not None
        and 1000 < second.train_seconds < 1000 + time.perf_counter() - start
    )
    assert recorded_train_seconds(latest_checkpoint(tmp_path / "run")) == pytest.approx(
        second.train_seconds, abs=1.0
    )
    step4 = latest_checkpoint(tmp_path / "run")
    state = torch.load(step4 / "train_state.pt", weights_only=True)
    del state["train_seconds"]  # a checkpoint written before checkpoints recorded the time
    torch.save(state, step4 / "train_state.pt")
    assert recorded_train_seconds(step4) is None
    assert (
        train(config, device="cpu", progress=False).train_seconds is None
    )  # unknown, not understated


def test_sigterm_saves_a_checkpoint_and_resume_is_exact(npz: Path, tmp_path: Path) -> None:
    train(tiny(npz, tmp_path / "ref"), device="cpu", progress=False)
    config = tiny(npz, tmp_path / "run", checkpoint_every=100)

    def sigterm(out):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-step, like a scheduler's preemption
        return out

    with mock.patch.object(loop, "patch_forcing_loss", poison_call(2, sigterm)):
        result = train(config, device="cpu", progress=False)
    assert result.stopped_by_signal == signal.SIGTERM and result.steps_done == 3
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000003"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handler removed again
    train(config, device="cpu", progress=False)
    assert_bitwise_equal(tmp_path / "ref", tmp_path / "run")


def test_fault_script_quick_kill_resume_loop() -> None:
    """SIGKILL at random moments (subprocesses), SIGTERM, disk and data faults:
    scripts/fault_tests.py."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fault_tests.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {
        cells[0]: cells[1:]
        for cells in (re.split(r"\s{2,}", line.strip()) for line in proc.stdout.splitlines())
    }
    injected, _resumed, corrupted, equal, result = rows["SIGKILL at a random moment"]
    episodes = equal.split("/")[
        1
    ]  # a run may finish before its kill lands: then the next episode takes it
    assert (injected, corrupted, result, equal) == ("3", "0", "ok", f"{episodes}/{episodes}")
    assert rows["SIGTERM (save + clean exit)"][-1] == "ok"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_failed_checkpoint_write_keeps_the_previous_one(
    npz: Path, tmp_path: Path, code: int
) -> None:
    config = tiny(npz, tmp_path / "run")
    train(config, device="cpu", progress=False, stop_after=2)
    fault = OSError(code, os.strerror(code))
    target = (
        "patchforcing.model.pretrained.folder.save_file"
        if code == errno.ENOSPC
        else "tempfile.mkdtemp"
    )
    with mock.patch(target, side_effect=fault), pytest.raises(DiskWriteError) as info:
        train(config, device="cpu", progress=False)
    assert os.strerror(code) in str(info.value) and "step_00000002 is intact" in str(info.value)
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step_00000001", "step_00000002"]  # nothing pruned, no temporaries left
    assert PatchForcingDiT.from_pretrained(tmp_path / "run").source.name == "step_00000002"


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root ignores directory permissions (the EROFS case mocks it)"
)
def test_read_only_checkpoint_folder(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run")
    train(config, device="cpu", progress=False, stop_after=2)
    folder = tmp_path / "run" / "checkpoints"
    folder.chmod(0o555)
    try:
        with pytest.raises(DiskWriteError, match="Permission denied"):
            train(config, device="cpu", progress=False)
    finally:
        folder.chmod(0o755)
    assert PatchForcingDiT.from_pretrained(tmp_path / "run").source.name == "step_00000002"


def test_failed_sample_write_says_so_after_saving_the_checkpoint(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run", sample_every=2)
    full = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch("patchforcing.utils.io.images.atomic_write", side_effect=full):
        with pytest.raises(DiskWriteError, match="sample grid .*No space left"):
            train(config, device="cpu", progress=False)
    assert latest_checkpoint(tmp_path / "run").name == "step_00000002"


def _nan_loss(out):
    return type(out)(out.loss * float("nan"), out.mse, out.nll, out.per_patch_mse)


def test_nonfinite_loss_stops_without_saving(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run")
    with mock.patch.object(loop, "patch_forcing_loss", poison_call(3, _nan_loss)):
        with pytest.raises(NonFiniteLossError, match="non-finite loss at step 3"):
            train(config, device="cpu", progress=False)
    assert latest_checkpoint(tmp_path / "run").name == "step_00000003"


def test_nonfinite_loss_skip_keeps_ema_finite(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run", on_nonfinite="skip", steps=5)
    with mock.patch.object(loop, "patch_forcing_loss", poison_call(4, _nan_loss)):  # the last step
        result = train(config, device="cpu", progress=False)
    assert (
        result.skipped_steps == [4] and latest_checkpoint(tmp_path / "run").name == "step_00000005"
    )
    assert all(torch.isfinite(v).all() for v in final_state(tmp_path / "run").values())


def _nan_gradient(out):
    out.loss.register_hook(
        lambda grad: grad * float("nan")
    )  # the loss stays finite, every gradient is NaN
    return out


def test_nonfinite_gradient_is_detected(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run", on_nonfinite="skip", steps=3)
    with mock.patch.object(loop, "patch_forcing_loss", poison_call(1, _nan_gradient)):
        result = train(config, device="cpu", progress=False)
    assert result.skipped_steps == [1]
    assert all(torch.isfinite(v).all() for v in final_state(tmp_path / "run").values())
    config = tiny(npz, tmp_path / "stop", steps=3)
    with mock.patch.object(loop, "patch_forcing_loss", poison_call(1, _nan_gradient)):
        with pytest.raises(NonFiniteLossError, match="non-finite gradient norm at step 1"):
            train(config, device="cpu", progress=False)


def test_diverged_run_stops_after_many_skips(npz: Path, tmp_path: Path) -> None:
    config = tiny(npz, tmp_path / "run", on_nonfinite="skip", steps=30, checkpoint_every=100)
    real = loop.patch_forcing_loss
    with mock.patch.object(loop, "patch_forcing_loss", lambda *a, **k: _nan_loss(real(*a, **k))):
        with pytest.raises(NonFiniteLossError, match="20 consecutive non-finite steps"):
            train(config, device="cpu", progress=False)
    assert latest_checkpoint(tmp_path / "run") is None
