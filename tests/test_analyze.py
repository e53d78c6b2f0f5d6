"""The analyses on a tiny model: well-formed JSON, plots, and clear errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import randomize
from patchforcing.cli.main import main
from patchforcing.data import DataConfig, load_dataset
from patchforcing.evaluation.analysis import (
    AnalysisConfig,
    context_study,
    difficulty_correlation,
    pearson,
    run_analyses,
    spearman,
)
from patchforcing.model import PatchForcingDiT

CONFIG = AnalysisConfig(num_images=16, batch_size=8)


@pytest.fixture
def tiny_data(tiny_npz):
    return load_dataset(DataConfig(source=str(tiny_npz)))


def test_correlations_match_closed_forms():
    a = torch.arange(10.0)
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)


def test_run_analyses_writes_json_and_plots(tiny_model, tiny_data, tmp_path):
    written = run_analyses(tiny_model, tiny_data, tmp_path, config=CONFIG)
    assert set(written) == {"segments", "correlation", "context"}
    for files in written.values():
        assert all(f.is_file() and f.stat().st_size > 0 for f in files)
        assert [f.suffix for f in files][0] == ".json" and all(
            f.suffix == ".png" for f in files[1:]
        )
    seg = json.loads((tmp_path / "segments.json").read_text())
    assert len(seg["edges"]) == 9 and len(seg["mse"]) == 8 and seg["num_images"] == 16
    assert all(math.isfinite(v) and v > 0 for v in seg["mse"])
    corr = json.loads((tmp_path / "correlation.json").read_text())
    assert len(corr["times"]) == len(corr["pearson"]) == len(corr["spearman"])
    assert all(-1 <= r <= 1 for r in corr["pearson"] + corr["spearman"])
    ctx = json.loads((tmp_path / "context.json").read_text())
    for curve in ctx["curves"]:
        assert curve["ratios"][0] == 1.0 and curve["ratios"][-1] * curve["base_t"] == pytest.approx(
            1.0
        )
        assert (
            len(curve["uncertain_mse"])
            == len(curve["ratios"])
            == len(curve["difficulty_quantiles"])
        )
        assert all(q == sorted(q) for q in curve["difficulty_quantiles"])


def test_context_ratio_one_is_the_uniform_state(tiny_model, tiny_data):
    """At ratio 1 nothing changes, so the curve's first point equals a second run's first
    point exactly."""
    a = context_study(tiny_model, tiny_data, CONFIG, base_times=(0.3,), ratios=(1.0,))
    b = context_study(tiny_model, tiny_data, CONFIG, base_times=(0.3,), ratios=(1.0, 2.0))
    assert a.curves[0].uncertain_mse[0] == b.curves[0].uncertain_mse[0]


def test_patch_analyses_refuse_a_global_model(tiny_config, tiny_data, tmp_path):
    from dataclasses import replace

    model = randomize(
        PatchForcingDiT(replace(tiny_config, time_mode="global", difficulty_head=False))
    ).eval()
    with pytest.raises(ValueError, match="Patch Forcing model"):
        difficulty_correlation(model, tiny_data, CONFIG)
    assert len(run_analyses(model, tiny_data, tmp_path, ("segments",), CONFIG)["segments"]) == 2


def test_analyze_cli(capsys, tiny_npz, tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_npz),
                "--preset",
                "T/4",
                "--depth",
                "1",
                "--width",
                "32",
                "--heads",
                "2",
                "--patch-size",
                "2",
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "analyze",
                "segments",
                "correlation",
                "--checkpoint",
                str(run),
                "--data",
                str(tiny_npz),
                "--num",
                "8",
                "--out",
                str(tmp_path / "an"),
            ]
        )
        == 0
    )
    assert (tmp_path / "an" / "correlation.png").is_file() and not (
        tmp_path / "an" / "context.json"
    ).exists()
