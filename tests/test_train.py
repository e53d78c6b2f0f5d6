import json
import math

import pytest
import torch
from safetensors.torch import load_file

from patchforcing.data import DataConfig
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train import NonFiniteLossError, TrainConfig, train
from patchforcing.train.checkpoint import read_train_config
from patchforcing.train.config import OptimConfig


def tiny_run(tmp_path, npz, name="run", **kw) -> TrainConfig:
    model = ModelConfig(
        image_size=8, in_channels=1, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3
    )
    base = dict(
        model=model,
        data=DataConfig(source=str(npz)),
        out_dir=str(tmp_path / name),
        steps=6,
        batch_size=8,
        checkpoint_every=2,
        sample_every=100,
        log_every=1,
        optim=OptimConfig(lr=1e-3, warmup_steps=2),
    )
    return TrainConfig(**{**base, **kw})


def test_train_checkpoint_resume_continues_exactly(tmp_path, tiny_npz):
    straight = train(tiny_run(tmp_path, tiny_npz, "a"), progress=False)
    assert len(straight.losses) == 6 and all(torch.isfinite(torch.tensor(straight.losses)))
    config = tiny_run(tmp_path, tiny_npz, "b")
    first = train(config, progress=False, stop_after=3)
    assert first.steps_done == 3
    second = train(config, progress=False)
    assert second.resumed_from == 3 and second.steps_done == 6
    # resumed from step 3's checkpoint? checkpoints are every 2 steps plus the end of each call
    assert first.losses + second.losses == straight.losses
    a = load_file(str(tmp_path / "a/checkpoints/step_00000006/model.safetensors"))
    b = load_file(str(tmp_path / "b/checkpoints/step_00000006/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (tmp_path / "b/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_layout_and_loading(tmp_path, tiny_npz):
    config = tiny_run(tmp_path, tiny_npz, steps=4, keep_checkpoints=1, sample_every=4)
    train(config, progress=False)
    run = tmp_path / "run"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000004"]
    files = sorted(p.name for p in (run / "checkpoints/step_00000004").iterdir())
    assert files == [
        "README.md",
        "config.json",
        "ema.safetensors",
        "model.safetensors",
        "train_config.json",
        "train_state.pt",
    ]
    assert (run / "samples/step_00000004.png").is_file()
    model = PatchForcingDiT.from_pretrained(run)
    assert model.config == config.model and not model.training
    assert model.source == run / "checkpoints/step_00000004" and model.meta.training["step"] == 4
    assert read_train_config(model.source) == config


def test_resume_refuses_a_different_configuration(tmp_path, tiny_npz):
    train(tiny_run(tmp_path, tiny_npz, steps=2), progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(tiny_run(tmp_path, tiny_npz, steps=2, batch_size=4), progress=False)
    # growing the step count continues the same run
    assert train(tiny_run(tmp_path, tiny_npz, steps=3), progress=False).resumed_from == 2


def test_a_run_written_before_the_time_dist_rename_resumes(tmp_path, tiny_npz):
    """Release 0.1 wrote the time distribution under "time_sampler" (run config.json and each
    checkpoint's train_config.json): such a run still reads, resumes, and is rewritten with the
    new key."""
    config = tiny_run(tmp_path, tiny_npz, steps=2)
    train(config, progress=False)
    run = tmp_path / "run"
    for path in (run / "config.json", *run.glob("checkpoints/*/train_config.json")):
        values = json.loads(path.read_text())
        values["time_sampler"] = values.pop("time_dist")
        path.write_text(json.dumps(values))
    assert read_train_config(run / "checkpoints/step_00000002") == config
    assert train(tiny_run(tmp_path, tiny_npz, steps=3), progress=False).resumed_from == 2
    assert "time_dist" in json.loads((run / "config.json").read_text())


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, tiny_npz, monkeypatch):
    config = tiny_run(tmp_path, tiny_npz, steps=6)
    train(config, progress=False, stop_after=2)
    before = load_file(str(tmp_path / "run/checkpoints/step_00000002/model.safetensors"))
    import patchforcing.train.loop as loop

    real = loop.patch_forcing_loss

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        return type(out)(
            loss=out.loss * float("nan"), mse=out.mse, nll=out.nll, per_patch_mse=out.per_patch_mse
        )

    monkeypatch.setattr(loop, "patch_forcing_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="non-finite loss at step 2"):
        train(config, progress=False)
    names = sorted(p.name for p in (tmp_path / "run/checkpoints").iterdir())
    assert names == ["step_00000002"]
    after = load_file(str(tmp_path / "run/checkpoints/step_00000002/model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_data_that_does_not_fit_the_model(tmp_path, tiny_npz):
    config = tiny_run(tmp_path, tiny_npz)
    bad = TrainConfig(
        **{
            **config.__dict__,
            "model": ModelConfig(
                image_size=16, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3
            ),
        }
    )
    with pytest.raises(ValueError, match="model expects 1-channel 16x16"):
        train(bad, progress=False)
    with pytest.raises(ValueError, match="fewer than the batch size"):
        train(tiny_run(tmp_path, tiny_npz, "big", batch_size=128), progress=False)


def test_ema_warmup_forgets_the_initial_weights():
    from patchforcing.train.helpers import ema_decay_at

    assert ema_decay_at(5, 0.9999, warmup=False) == 0.9999
    assert ema_decay_at(0, 0.9999, warmup=True) == 0.1
    assert ema_decay_at(10**6, 0.9999, warmup=True) == 0.9999
    # the weight left on the initial EMA after 2000 steps: 13% without warm-up, none with it
    kept = {w: math.prod(ema_decay_at(k, 0.999, w) for k in range(2000)) for w in (False, True)}
    assert 0.13 < kept[False] < 0.14 and kept[True] < 1e-6


def test_lr_schedules_closed_form():
    from patchforcing.train.helpers import lr_factor

    assert [lr_factor(s, 100, 4) for s in (0, 3, 50, 99)] == [
        0.25,
        1.0,
        1.0,
        1.0,
    ]  # the authors': constant
    cosine = [lr_factor(s, 104, 4, "cosine") for s in (0, 4, 54, 104)]
    assert cosine == pytest.approx([0.25, 1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="schedule must be one of"):
        OptimConfig(schedule="linear")
