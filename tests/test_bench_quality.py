"""``bench quality``: the plan shares arms between parts, and the smoke mode runs end to end and resumes."""

from __future__ import annotations

import json

import pytest

from patchforcing.bench.quality_claims import check_claims
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
    assert bench("--smoke", "--out", str(out), "--threads", "1", "--docs", str(docs)) == 0
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
    cached = {p: p.stat().st_mtime_ns for p in (out / "arms").rglob("*") if p.is_file()}
    assert bench("--smoke", "--out", str(out), "--threads", "1", "--part", "main") == 0
    assert all(p.stat().st_mtime_ns == t for p, t in cached.items())  # arms and evaluations come from the cache
    again = json.loads((out / "results.json").read_text())
    assert set(again["parts"]) == set(PARTS) and len(again["commands"]) >= 1
    # another machine, another folder: with the results file kept (e.g. in the repository) nothing is retrained
    kept = tmp_path / "kept.json"
    kept.write_text((out / "results.json").read_text())
    elsewhere = tmp_path / "elsewhere"
    assert bench("--smoke", "--out", str(elsewhere), "--threads", "1", "--part", "main", "--results", str(kept)) == 0
    assert not (elsewhere / "arms").exists()
    folded = json.loads(kept.read_text())
    assert len(folded["evals"]) == len(results["evals"]) and folded["parts"]["main"] == again["parts"]["main"]
    controls = {r["sampler"] for r in results["parts"]["sampling"]}
    assert {"random", "hardest-first", "euler-pf"} <= controls  # the two controls run in the smoke bench


def test_estimate_prints_a_wall_time(capsys):
    assert bench("--smoke", "--estimate", "--threads", "1") == 0
    assert "estimated wall time" in capsys.readouterr().out


def _summary(arm, sampler, fds):
    mean = sum(fds) / len(fds)
    std = (sum((f - mean) ** 2 for f in fds) / (len(fds) - 1)) ** 0.5
    return {"arm": arm, "sampler": sampler, "nfe_requested": 16, "nfe": 16, "runs": len(fds),
            "mean": {"fd": mean}, "std": {"fd": std}}


def _evals(arm, sampler, fds):
    return [{"arm": arm, "sampler": sampler, "nfe_requested": 16, "train_seed": 0, "sample_seed": s,
             "metrics": {"fd": f}} for s, f in enumerate(fds)]


def test_claims_pair_runs_that_share_seeds():
    """Seed-to-seed noise shared by both arms cancels in the paired difference (not in the unpaired one)."""
    base, better = [30.0, 34.0, 38.0], [29.0, 33.1, 36.9]  # 1 lower on every seed, seeds spread by 4
    parts = {"main": [_summary("baseline", "euler", base), _summary("ltg", "euler-pf", better)]}
    evals = _evals("baseline", "euler", base) + _evals("ltg", "euler-pf", better)
    row = next(r for r in check_claims(parts, evals, 16) if r["claim"] == "PF + Euler beats the global-time baseline")
    assert row["pairs"] == 3 and row["verdict"] == "reproduced" and row["needed_se"] == pytest.approx(4.303)
    assert row["ours"] == pytest.approx(-1.0 / 34.0) and row["gap_in_se"] > 10
    assert row["paper"] == pytest.approx(27.9 / 33.0 - 1)
    unpaired = next(r for r in check_claims(parts, [], 16) if r["claim"] == row["claim"])
    assert unpaired["pairs"] == 0 and unpaired["verdict"] == "same direction"


def test_file_lock_excludes_another_process(tmp_path):
    """What lets two bench processes (different parts) share an arm and results.json safely."""
    import subprocess
    import sys

    from patchforcing.io import file_lock

    lock = tmp_path / "arm.lock"
    probe = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
             "except BlockingIOError:\n    print('held')")

    def ask() -> str:
        return subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True, text=True).stdout.strip()

    with file_lock(lock):
        assert ask() == "held"
    assert ask() == "free"


def test_claims_with_several_training_seeds_test_across_trainings():
    """Nine runs from three trainings: the unit is the training seed (df = 2), not the run (df = 8)."""
    base = [30.0, 31.0, 32.0, 36.0, 37.0, 38.0, 33.0, 34.0, 35.0]
    better = [b - d for b, d in zip(base, [1, 1, 1, 3, 3, 3, 2, 2, 2])]
    evals = []
    for arm, sampler, fds in (("baseline", "euler", base), ("ltg", "euler-pf", better)):
        evals += [{"arm": arm, "sampler": sampler, "nfe_requested": 16, "train_seed": i // 3, "sample_seed": i % 3,
                   "metrics": {"fd": f}} for i, f in enumerate(fds)]
    parts = {"main": [_summary("baseline", "euler", base), _summary("ltg", "euler-pf", better)]}
    row = next(r for r in check_claims(parts, evals, 16) if r["claim"] == "PF + Euler beats the global-time baseline")
    assert row["pairs"] == 9 and row["needed_se"] == pytest.approx(4.303)  # df = 3 training seeds - 1
    assert row["gap_in_se"] == pytest.approx(2.0 * 3 ** 0.5) and row["verdict"] == "same direction"  # 3.46 < 4.30


def test_sampler_options_reach_every_sampler_that_takes_them():
    from patchforcing.cli.bench_quality_cmd import build_config
    from patchforcing.cli.main import build_parser

    args = build_parser().parse_args(["bench", "quality", "--smoke", "--p", "0.3", "--n-inner", "2"])
    config = build_config(args)
    assert config.sampler_options == (("n_inner", 2), ("p", 0.3))
    assert (config.sampler("dual-loop").p, config.sampler("dual-loop").n_inner) == (0.3, 2)
    assert (config.sampler("look-ahead").p, config.sampler("random").n_inner) == (0.3, 2)
    assert config.options_tag == "-n_inner2-p0.3" and SMOKE.options_tag == ""
    assert config.sampler("euler-pf") == SMOKE.sampler("euler-pf")
