"""Configuration validation: config.json fields and CLI options, with clear errors only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchforcing.cli.main import main
from patchforcing.train.config import (
    FORMAT_VERSION,
    TimeDistConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)

# The config.json of a run trained before the reliability work (and before the time distributions
# were named so: "time_sampler"): it must keep loading unchanged.
OLD_RUN = {
    "batch_size": 128,
    "checkpoint_every": 200,
    "data": {
        "channels": None,
        "data_dir": None,
        "image_size": None,
        "source": "fashion-mnist",
        "split": "train",
    },
    "format_version": 1,
    "keep_checkpoints": 2,
    "log_every": 50,
    "loss": {"label_dropout": 0.1, "logvar_max": 20.0, "logvar_min": -30.0, "nll_weight": 0.01},
    "model": {
        "depth": 4,
        "difficulty_head": True,
        "frequency_dim": 256,
        "image_size": 28,
        "in_channels": 1,
        "mlp_ratio": 4.0,
        "num_classes": 10,
        "num_heads": 4,
        "patch_size": 4,
        "time_mode": "patch",
        "width": 128,
    },
    "on_nonfinite": "stop",
    "optim": {
        "betas": [0.9, 0.999],
        "ema_decay": 0.999,
        "grad_clip": 1.0,
        "lr": 0.0006,
        "warmup_steps": 100,
        "weight_decay": 0.0,
    },
    "out_dir": "runs/fmnist-pf",
    "precision": "fp32",
    "sample_every": 200,
    "seed": 0,
    "steps": 1200,
    "time_sampler": {"name": "ltg", "params": {}},
}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _section(keys: list[str]) -> st.SearchStrategy:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), JSON, max_size=4)


def _mutations() -> st.SearchStrategy:
    """Valid configs with some fields replaced by random JSON values (or random keys added)."""
    base = config_to_dict(TrainConfig())
    sections = {k: _section(list(v)) for k, v in base.items() if isinstance(v, dict)}
    top = st.dictionaries(st.sampled_from(sorted(base)) | st.text(max_size=6), JSON, max_size=3)
    return st.tuples(top, st.fixed_dictionaries({}, optional=sections)).map(
        lambda parts: {**base, **parts[0], **{k: {**base[k], **v} for k, v in parts[1].items()}}
    )


@settings(max_examples=300, deadline=None)
@given(values=_mutations() | JSON)
def test_config_from_dict_only_raises_clear_value_errors(values) -> None:
    try:
        config = config_from_dict(values)
    except ValueError as err:
        assert str(err)
    else:
        assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config


def test_old_run_config_still_loads() -> None:
    config = config_from_dict(OLD_RUN)
    assert config.data.on_bad_file == "error" and config.optim.betas == (0.9, 0.999)
    assert config.time_dist == TimeDistConfig("ltg", {})
    written = config_to_dict(config)
    assert "time_sampler" not in written and written["time_dist"] == {"name": "ltg", "params": {}}
    with pytest.raises(ValueError, match="both 'time_dist' and its old name 'time_sampler'"):
        config_from_dict({**OLD_RUN, "time_dist": written["time_dist"]})
    with pytest.warns(DeprecationWarning, match="renamed time_dist"):
        assert config.time_sampler is config.time_dist


def test_time_sampler_config_is_the_renamed_time_dist_config() -> None:
    import patchforcing.train as train
    from patchforcing.train import config

    for module in (config, train):
        with pytest.warns(DeprecationWarning, match="TimeSamplerConfig is renamed TimeDistConfig"):
            assert module.TimeSamplerConfig is TimeDistConfig


@pytest.mark.parametrize(
    "change, message",
    [
        ({"steps": "10"}, "steps must be int"),
        ({"steps": True}, "steps must be int"),
        ({"optim": {"lr": float("nan")}}, "optim.lr must be a finite number"),
        ({"optim": {"betas": [0.9]}}, "optim.betas must be a list of 2"),
        ({"model": {"patch_size": 3}}, "not divisible by the patch size 3"),
        ({"model": {"width": 100, "num_heads": 3}}, "not divisible by num_heads"),
        ({"data": {"on_bad_file": "ignore"}}, "on_bad_file must be one of"),
        ({"data": {"split": "val"}}, "split must be one of"),
        ({"typo": 1}, "unknown config key"),
        ({"format_version": FORMAT_VERSION + 1}, "newer than this patchforcing supports"),
        ({"format_version": "1"}, "format_version"),
    ],
)
def test_config_errors_name_the_field(change: dict, message: str) -> None:
    values = json.loads(json.dumps(OLD_RUN))
    for key, value in change.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ValueError, match=message):
        config_from_dict(values)


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    np.savez(tmp_path / "d.npz", images=np.zeros((16, 8, 8), np.uint8), labels=np.arange(16) % 2)
    return tmp_path / "d.npz"


@pytest.mark.parametrize(
    "flags",
    [
        ["--stepz", "3"],
        ["--step", "3"],
        ["--steps", "0"],
        ["--steps", "x"],
        ["--lr", "-1"],
        ["--lr", "nan"],
        ["--ema-decay", "2"],
        ["--channels", "2"],
        ["--precision", "fp16"],
        ["--on-bad-file", "maybe"],
    ],
)
def test_cli_rejects_bad_options(npz: Path, flags: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(npz), "--dry-run", *flags])
    assert info.value.code == 2 and "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--patch-size", "3"], "not divisible by the patch size 3"),
        (["--width", "30", "--heads", "4"], "not divisible by num_heads"),
        (["--data-dir", "/tmp"], "--data-dir only applies"),
        (["--channels", "3"], "only apply to image folders"),
        (["--on-bad-file", "skip"], "only apply to image folders"),
        (["--ema-decay", "1"], "ema_decay must lie in"),
        (["--baseline", "--time-dist", "ltg"], "global time distribution"),
        (
            ["--time-dist", "srm", "--time-sampler", "srm"],
            "--time-sampler is the old name of --time-dist",
        ),
        (
            ["--image-size", "16", "--batch-size", "64", "--device", "cpu"],
            "fewer than the batch size",
        ),
        (["--device", "gpu0"], "unknown device"),
    ],
)
def test_cli_combinations_fail_with_one_clear_line(
    npz: Path, tmp_path: Path, flags: list[str], message: str, capsys
) -> None:
    dry = [] if "--device" in flags else ["--dry-run"]
    args = [
        "train",
        "--data",
        str(npz),
        "--preset",
        "T/4",
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        *dry,
    ]
    assert main([*args, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
