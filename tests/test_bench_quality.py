"""``bench quality``: the plan shares arms between parts, and the smoke mode runs end to end and resumes."""

from __future__ import annotations

import json
import time

from patchforcing.bench.quality_plan import PARTS, SMOKE, QualityBenchConfig, arm_train_config, plan_part
from patchforcing.cli.main import main


def bench(*argv: str) -> int:
    return main(["bench", "quality", *argv])


def test_plan_shares_arms_and_counts_evaluations():
    config = QualityBenchConfig()
    plans = {part: plan_part(config, part) for part in PARTS}
    assert len(plans["timesamplers"]) == 8 * 3
    assert len(plans["main"]) == 4 * 3
    assert set(plans["main"]) - set(plans["sampling"]) == set()  # the main table reuses the sampling evaluations
    arms = {s.arm for specs in plans.values() for s in specs}
    assert len(arms) == 9 and {a.label for a in arms} >= {"ltg", "baseline", "srm-s10"}
    ltg = next(a for a in arms if a.label == "ltg")
    assert arm_train_config(config, ltg, "x") == arm_train_config(config, ltg, "x")
    budgets = {arm_train_config(config, a, "x").steps for a in arms}
    assert budgets == {config.train_steps}


def test_smoke_runs_end_to_end_and_resumes(tmp_path, capsys):
    out, docs = tmp_path / "bench", tmp_path / "docs" / "results.md"
    start = time.perf_counter()
    assert bench("--smoke", "--out", str(out), "--threads", "1", "--docs", str(docs)) == 0
    first = time.perf_counter() - start
    results = json.loads((out / "results.json").read_text())
    assert set(results["parts"]) == set(PARTS)
    for part, rows in results["parts"].items():
        assert rows and all(r["runs"] == len(SMOKE.sample_seeds) for r in rows), part
    sweep = {(r["sampler"], r["nfe_requested"]) for r in results["parts"]["sampling"]}
    assert {("euler", n) for n in SMOKE.nfe_sweep} <= sweep
    report = (out / "report.md").read_text()
    assert "## The paper's claims" in report and "## Main table" in report and "Wall times" in report
    assert all((out / "plots" / f).is_file() for f in ("main.png", "timesamplers.png", "nfe_sweep.png"))
    assert "results_files/main.png" in docs.read_text() and (docs.parent / "results_files" / "main.png").is_file()
    start = time.perf_counter()
    assert bench("--smoke", "--out", str(out), "--threads", "1", "--part", "main") == 0
    assert time.perf_counter() - start < first / 2  # arms and evaluations come from the cache
    again = json.loads((out / "results.json").read_text())
    assert set(again["parts"]) == set(PARTS) and len(again["commands"]) >= 1


def test_estimate_prints_a_wall_time(capsys):
    assert bench("--smoke", "--estimate", "--threads", "1") == 0
    assert "estimated wall time" in capsys.readouterr().out
