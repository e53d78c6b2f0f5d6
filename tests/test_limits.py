"""Resource limits: every size from a flag or a file is checked before anything is allocated,
against a named limit that the environment can raise (property-based where the rule is general)."""

from __future__ import annotations

import argparse
import json
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchforcing.cli.common import int_list
from patchforcing.cli.main import main
from patchforcing.data.npz import load_npz
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.utils.limits import (
    LIMITS_ENV,
    MAX_SEED,
    LimitError,
    Limits,
    available_memory,
    check_limit,
    check_memory,
    check_seeds,
    current_limits,
)

NAMES = [name for name in Limits.__dataclass_fields__ if name != "memory"]


@given(name=st.sampled_from(NAMES), value=st.integers(min_value=0, max_value=10**40))
def test_a_value_passes_exactly_when_within_its_limit(name, value):
    bound = getattr(Limits(), name)
    if value <= bound:
        assert check_limit("x", value, name) == value
    else:
        with pytest.raises(LimitError, match=f"{LIMITS_ENV}={name}=N"):
            check_limit("x", value, name)


@settings(max_examples=50)
@given(
    raised=st.dictionaries(
        st.sampled_from(NAMES), st.integers(min_value=0, max_value=10**30), min_size=1
    )
)
def test_the_environment_raises_limits_by_name(raised):
    with mock.patch.dict(os.environ, {LIMITS_ENV: ",".join(f"{k}={v}" for k, v in raised.items())}):
        limits = current_limits()
    for name in NAMES:
        assert getattr(limits, name) == raised.get(name, getattr(Limits(), name))


@pytest.mark.parametrize(
    "text,message",
    [
        ("depth=ten", "whole number"),
        ("colour=3", "unknown limit 'colour'"),
        ("images=-1", "whole number"),
    ],
)
def test_a_bad_limits_variable_is_one_clear_error(monkeypatch, text, message):
    monkeypatch.setenv(LIMITS_ENV, text)
    with pytest.raises(LimitError, match=message):
        current_limits()


@given(
    first=st.integers(min_value=0, max_value=2**70), count=st.integers(min_value=0, max_value=10**7)
)
def test_seeds_stay_in_what_a_torch_generator_takes(first, count):
    if first + max(count, 1) - 1 <= MAX_SEED:
        check_seeds(first, count)
    else:
        with pytest.raises(LimitError, match="seed range"):
            check_seeds(first, count)


@settings(max_examples=60)
@given(
    parts=st.lists(
        st.tuples(st.integers(0, 10**15), st.integers(0, 10**15)), min_size=1, max_size=5
    )
)
def test_class_ranges_are_counted_before_they_are_expanded(parts):
    text = ",".join(f"{a}-{b}" for a, b in parts)
    count = sum(max(b - a + 1, 0) for a, b in parts)
    if count > Limits().images:
        with pytest.raises(argparse.ArgumentTypeError, match="above the limit"):
            int_list(text)
    elif count:
        assert len(int_list(text)) == count


@settings(max_examples=25, deadline=None)
@given(
    depth=st.integers(1, 3),
    heads=st.sampled_from([1, 2, 4]),
    head_size=st.sampled_from([2, 4, 8]),
    patch=st.sampled_from([1, 2, 4]),
    grid=st.integers(1, 3),
    channels=st.integers(1, 4),
    classes=st.integers(0, 20),
    ratio=st.sampled_from([1.0, 2.5, 4.0]),
    freq=st.sampled_from([2, 16]),
    head=st.booleans(),
)
def test_the_parameter_count_is_known_before_building(
    depth, heads, head_size, patch, grid, channels, classes, ratio, freq, head
):
    width = heads * head_size
    if width % 4:
        return
    config = ModelConfig(
        image_size=patch * grid,
        in_channels=channels,
        patch_size=patch,
        depth=depth,
        width=width,
        num_heads=heads,
        mlp_ratio=ratio,
        num_classes=classes,
        frequency_dim=freq,
        difficulty_head=head,
    )
    assert config.parameter_count == sum(p.numel() for p in PatchForcingDiT(config).parameters())


@given(depth=st.integers(1, 10**12), width=st.sampled_from([32, 4096, 16_384, 10**6 * 4]))
def test_model_configs_from_disk_cannot_ask_for_any_size(depth, width):
    config = dict(width=width, num_heads=2, image_size=8, patch_size=2)
    fits = depth <= Limits().depth and width <= Limits().width
    if fits:
        one, two = (ModelConfig(**config, depth=d).parameter_count for d in (1, 2))
        fits = one + (depth - 1) * (two - one) <= Limits().parameters
    if fits:
        ModelConfig(**config, depth=depth)
    else:
        with pytest.raises(LimitError):
            ModelConfig(**config, depth=depth)


@given(num=st.integers(0, 10**18), steps=st.integers(1, 10**18))
def test_generation_sizes(num, steps):
    if num <= Limits().images and steps <= Limits().sample_steps:
        GenerationConfig(num_images=num, steps=steps)
    else:
        with pytest.raises(LimitError):
            GenerationConfig(num_images=num, steps=steps)


def test_the_memory_check_refuses_what_cannot_fit(monkeypatch):
    free = available_memory()
    assert free is not None and free > 0
    check_memory(free // 2, "half of it")
    with pytest.raises(LimitError, match="GiB of memory"):
        check_memory(free * 4, "four times it")
    monkeypatch.setenv(LIMITS_ENV, "memory=0")
    check_memory(free * 4, "on purpose")


def test_a_tiny_npz_cannot_claim_a_huge_class_count(tmp_path):
    labels = np.arange(6)
    labels[-1] = 10**12
    np.savez(tmp_path / "x.npz", images=np.zeros((6, 8, 8), np.uint8), labels=labels)
    with pytest.raises(LimitError, match="largest label is 1,000,000,000,000"):
        load_npz(tmp_path / "x.npz")
    labels[-1] = (
        90_000  # within the limit, but most classes have no image: said without listing them all
    )
    np.savez(tmp_path / "y.npz", images=np.zeros((6, 8, 8), np.uint8), labels=labels)
    with pytest.raises(
        ValueError, match=r"classes \[5, 6, 7, 8, 9, 10, 11, 12, 13, 14\] have no images"
    ):
        load_npz(tmp_path / "y.npz")


def test_absurd_flags_are_one_line_errors(tiny_npz, tmp_path, capsys, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    train = [
        "train",
        "--data",
        str(tiny_npz),
        "--out",
        str(tmp_path / "run"),
        "--preset",
        "T/4",
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--no-progress",
    ]
    sample = ["sample", "--checkpoint", str(folder), "--out", str(tmp_path / "s")]
    cases = [
        ([*train, "--steps", str(10**12)], "at most 99,999,999 steps"),
        ([*train, "--seed", str(2**64)], "seed range"),
        ([*train, "--image-size", str(10**6)], "image_size is 1,000,000"),
        ([*sample, "--num", str(10**15)], "number of images is"),
        ([*sample, "--nfe", str(10**12)], "function evaluations (NFE) is"),
        ([*sample, "--seed", str(2**63)], "seed range"),
        (
            [*sample, "--sampler", "dual-loop", "--steps", "100000", "--n-inner", "1000000"],
            "NFE dual-loop would spend per image",
        ),
    ]
    for args, phrase in cases:
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and phrase in err[0], (args, err)
    values = json.loads((folder / "config.json").read_text())
    values["architecture"]["num_classes"] = 10**9
    (folder / "config.json").write_text(json.dumps(values))
    assert main(sample) == 2 and "num_classes is 1,000,000,000" in capsys.readouterr().err


def test_the_nfe_a_sampler_spends_and_a_batch_memory_are_checked_before_sampling(
    tiny_model, monkeypatch, tmp_path, capsys
):
    from patchforcing.sampling import DualLoop
    from patchforcing.sampling.generation import generate
    from patchforcing.sampling.generation.config import batch_memory

    c = tiny_model.config
    costly = GenerationConfig(
        sampler=DualLoop(n_inner=1_000_000), steps=100_000, num_images=1
    )  # each flag within its limit, 10**11 passes together
    with pytest.raises(LimitError, match="NFE dual-loop would spend per image is 100,000,000,000"):
        costly.check_cost(c)
    with pytest.raises(LimitError, match="NFE dual-loop"):
        generate(tiny_model, costly)
    with pytest.raises(ValueError, match="NFE 4 per image for the budget 2; the smallest budget"):
        GenerationConfig(sampler=DualLoop(), nfe=2).check_budget(c.time_mode)  # once overspent 2x
    GenerationConfig(sampler=DualLoop(), nfe=4).check_budget(c.time_mode)
    GenerationConfig(sampler=DualLoop(), nfe=2).check_cost(c)  # the library: closest reachable
    assert batch_memory(c, 10, guided=True) == 2 * batch_memory(c, 10) == 20 * batch_memory(c, 1)
    monkeypatch.setattr("patchforcing.utils.limits.available_memory", lambda: 100 * 2**20)
    fits = 100 * 2**20 // batch_memory(c, 1)
    GenerationConfig(steps=2, num_images=10**6, batch_size=fits).check_cost(c)
    GenerationConfig(steps=2, num_images=3, batch_size=10**6).check_cost(c)  # batches of 3
    with pytest.raises(LimitError, match=f"a batch of {fits + 1:,} images"):
        GenerationConfig(steps=2, num_images=10**6, batch_size=fits + 1).check_cost(c)
    folder, out = tiny_model.save_pretrained(tmp_path / "m"), tmp_path / "s"
    batch = ["--batch-size", str(fits + 1), "--num", str(fits + 1), "--steps", "1"]
    assert main(["sample", "--checkpoint", str(folder), "--out", str(out), *batch]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GiB of memory" in err[0] and not out.exists()
    budget = ["--sampler", "dual-loop", "--nfe", "2", "--num", "1"]
    assert main(["sample", "--checkpoint", str(folder), "--out", str(out), *budget]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "smallest budget it can honour is 4" in err[0] and not out.exists()


def test_a_bad_limits_variable_is_blamed_on_itself(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(LIMITS_ENV, "garbage")
    assert main(["sample", "--num", "1", "--steps", "1", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"patchforcing sample: error: {LIMITS_ENV}: unknown limit 'garbage'; known: "
        + ", ".join(Limits.__dataclass_fields__)
    ]
    assert not (tmp_path / "s").exists()
