"""What long work shows while it runs: the generation bar moves with every network pass and
changes no image, and it stays off (nothing hooked, nothing printed) where a caller turns it off."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from conftest import randomize
from patchforcing.cli.main import main
from patchforcing.data import DataConfig, load_dataset
from patchforcing.evaluation.analysis import AnalysisConfig, run_analyses
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import SAMPLERS, Guidance
from patchforcing.sampling.generation import GenerationConfig, generate, generate_batches
from patchforcing.sampling.generation import progress as progress_module
from patchforcing.sampling.generation.progress import pass_progress


class _Recorded(progress_module.tqdm):
    """The bar, keeping (its name, its count) after every update: tqdm itself may skip redraws."""

    counts: list[tuple[str, int]] = []

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        if not self.disable:  # a disabled bar keeps no name
            _Recorded.counts.append((str(self.desc), int(self.n)))
        return shown


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[str, int]]:
    _Recorded.counts = []
    monkeypatch.setattr(progress_module, "tqdm", _Recorded)
    return _Recorded.counts


def _steps(counts: list[int]) -> list[int]:
    """The counts reached one pass at a time."""
    return [n for before, n in zip([0, *counts], counts) if n == before + 1]


@pytest.fixture
def global_model(tiny_config: ModelConfig) -> PatchForcingDiT:
    return randomize(
        PatchForcingDiT(replace(tiny_config, time_mode="global", difficulty_head=False))
    ).eval()


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_network_pass_moves_the_bar_and_no_image_changes(
    name, tiny_model, global_model, recorded, capsys
):
    """One step of the bar per NFE (a guided pass on the doubled batch counts once), over all
    batches, and bitwise the images made without a bar."""
    model = global_model if name == "euler" else tiny_model
    quiet = GenerationConfig(
        sampler=SAMPLERS[name](), steps=3, num_images=5, batch_size=2, guidance=Guidance(2.0)
    )
    shown = replace(quiet, progress=True)
    batches = list(generate_batches(model, shown))
    nfe, counts = batches[0].nfe, [n for _, n in recorded]
    assert counts[-1] == 3 * nfe  # three batches
    assert _steps(counts) == list(range(1, 3 * nfe + 1))  # each pass, not a batch at a time
    assert not model._forward_hooks  # the hook is gone with the bar
    err = capsys.readouterr().err
    assert f"{3 * nfe}/{3 * nfe}" in err and "pass/s" in err and "5/5 images" in err
    assert torch.equal(torch.cat([b.images for b in batches]), generate(model, quiet))
    assert capsys.readouterr().err == ""  # the default: no bar


def test_pass_progress_counts_the_forwards_of_its_block_only(tiny_model, capsys):
    x, t = torch.zeros(2, 1, 8, 8), torch.full((2, tiny_model.config.num_patches), 0.5)
    y = torch.tensor([0, 1])
    with pass_progress(tiny_model, total=4, desc="passes") as bar:
        out = tiny_model(x, t, y)
        tiny_model(x, t, y)
        assert bar.n == 2
    assert torch.equal(out.v, tiny_model(x, t, y).v)  # after the block: same output, bar gone
    assert not tiny_model._forward_hooks and "passes:  50%" in capsys.readouterr().err
    with pass_progress(tiny_model, total=4, desc="passes", enabled=False):
        assert not tiny_model._forward_hooks
        tiny_model(x, t, y)
    assert capsys.readouterr().err == ""


def test_analyze_names_each_analysis_and_moves_a_bar_with_its_passes(
    tiny_model, tiny_npz, tmp_path, recorded, capsys
):
    data = load_dataset(DataConfig(source=str(tiny_npz)))
    config = AnalysisConfig(num_images=12, batch_size=8)  # two batches
    run_analyses(tiny_model, data, tmp_path, ("context", "segments"), config, progress=True)
    err = capsys.readouterr().err
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("analyze")]
    assert lines == [
        "analyze 1/2: segments, validation loss on 8 t-segments (12 images, 16 passes of up to 8)",
        "analyze 2/2: context, cleaner context at 4 base times (12 images, 56 passes of up to 8)",
    ]
    for name, passes in (("segments", 16), ("context", 56)):
        counts = [n for desc, n in recorded if desc == name]
        assert _steps(counts) == list(range(1, passes + 1)) and counts[-1] == passes
    run_analyses(tiny_model, data, tmp_path, ("segments",), config)
    assert capsys.readouterr().err == ""  # the library's default: silent


def test_sample_shows_passes_and_no_progress_silences_it(tiny_model, tmp_path, capsys):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    sample = ["sample", "--checkpoint", str(folder), "--num", "3", "--steps", "2"]
    assert main([*sample, "--batch-size", "2", "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "euler-pf: 100%" in err and "4/4 [" in err and "3/3 images" in err, err
    assert main([*sample, "--out", str(tmp_path / "t"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_bench_speed_says_what_it_measures_between_the_timed_jobs(capsys):
    from patchforcing.evaluation.speed.inference import SpeedConfig, run_speed
    from patchforcing.evaluation.speed.training import TrainSpeedConfig, measure_train_modes
    from patchforcing.evaluation.speed.versus import compare_to_reference

    config = SpeedConfig(preset="T/4", image_size=8, batch=1, steps=1, repeats=2, forwards=1)
    config = replace(config, samplers=("euler-pf", "dual-loop"))
    run_speed(config, torch.device("cpu"), progress=True)
    train = TrainSpeedConfig(preset="T/4", image_size=8, batch=2, steps=1, warmup=1)
    measure_train_modes(train, torch.device("cpu"), ("fp32",), progress=True)
    compare_to_reference(train, torch.device("cpu"), ("fp32",), progress=True)
    err = capsys.readouterr().err
    assert "bench speed: 4 measurements (the forward ratio, 1 with two times per image, 2 " in err
    assert "bench speed: 100%" in err and "8/8 [" in err and "round 2/2" in err  # 4 x 2 rounds
    assert "bench speed --train 1/1: fp32 training steps, 1 untimed and 1 timed" in err
    assert "bench speed --train 1/1: fp32 against the reference DiT" in err
    run_speed(config, torch.device("cpu"))
    assert capsys.readouterr().err == ""
