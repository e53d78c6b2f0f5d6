"""The quality bench: the plan follows the training recipes, finished runs can be adopted, the
verdicts state their power, the smoke mode runs end to end in two feature spaces and resumes, and
what it writes names no machine's absolute path."""

from __future__ import annotations

import json
import re
import signal
from dataclasses import replace

import pytest
import torch

from benchmarks.quality.__main__ import build_config, build_parser, main
from benchmarks.quality.bench import run_quality_bench
from benchmarks.quality.claims import check_claims, verdict
from benchmarks.quality.plan import (
    PARTS,
    SMOKE,
    QualityBenchConfig,
    arm_train_config,
    plan_arms,
    plan_part,
)
from benchmarks.quality.run import EvalRecord, _arm_lock
from patchforcing.model.pretrained import latest_checkpoint
from patchforcing.train.checkpoint import recorded_train_seconds
from patchforcing.utils.io import file_lock

CPU = torch.device("cpu")


def bench(*argv: str) -> int:
    return main(list(argv))


def test_plan_shares_arms_and_counts_evaluations():
    config = QualityBenchConfig().resolved(CPU)
    plans = {part: plan_part(config, part) for part in PARTS}
    assert (
        len(plans["timesamplers"]) == 9 * 3 * 3
    )  # 8 paper samplers + the recipe's LTG, 3 training x 3 sampling seeds
    assert len(plans["main"]) == 4 * 3 * 3
    assert (
        set(plans["main"]) - set(plans["sampling"]) == set()
    )  # the main table reuses the sampling evaluations
    arms = plan_arms(config)
    assert len(arms) == 10 * 3 and {a.label for a in arms} >= {"pf", "ltg", "baseline", "srm-s10"}
    assert {a.label for a in plan_arms(config, ("main",))} == {"pf", "baseline"}
    assert {arm_train_config(config, a, "x").steps for a in arms} == {config.train_steps}
    with pytest.raises(ValueError, match="resolve"):
        arm_train_config(
            QualityBenchConfig(), arms[0], "x"
        )  # precision "auto" means nothing before a device


def test_verdicts_state_their_power():
    assert verdict(-2.0, 0.1, 2, 40.0).text == "reproduced"
    assert verdict(2.0, 0.1, 2, 40.0).text == "reversed"
    flat = verdict(-0.1, 0.1, 2, 40.0)  # 1 SE, under the 4.30 SE needed with df = 2
    assert flat.kind == "no detectable difference"
    assert flat.mde == pytest.approx((4.303 + 1.061) * 0.1 / 40.0)
    assert flat.text == "no detectable difference (MDE 1.3%)"
    assert (
        verdict(-5.0, 1.0, 0, 40.0).kind == "no detectable difference"
    )  # one unit: no spread, no test


def _evals(arm, sampler, fds, train_seeds=None, spaces=("k1",)):
    return [
        EvalRecord(
            arm,
            train_seeds[i] if train_seeds else 0,
            sampler,
            16,
            16,
            i % 3 if train_seeds else i,
            500,
            1.0,
            {"fd": f},
            {k: {"fd": f * (1 + j)} for j, k in enumerate(spaces)},
        )
        for i, f in enumerate(fds)
    ]


def _claim(checks, text):
    return next(c for c in checks if c.claim.text == text)


def test_claims_pair_runs_that_share_seeds():
    """Seed-to-seed noise shared by both arms cancels in the paired difference, in every
    feature space."""
    base, better = (
        [30.0, 34.0, 38.0],
        [29.0, 33.1, 36.9],
    )  # 1 lower on every seed, seeds spread by 4
    evals = _evals("baseline", "euler", base, spaces=("k1", "k2")) + _evals(
        "pf", "euler-pf", better, spaces=("k1", "k2")
    )
    check = _claim(
        check_claims(evals, 16, ("k1", "k2")), "PF + Euler-PF beats the global-time baseline"
    )
    assert check.claim.kind == "control" and check.agree is True
    t = check.tests[0]
    assert (
        t is not None
        and t.pairs == 3
        and t.verdict.kind == "reproduced"
        and t.needed == pytest.approx(4.303)
    )
    assert (
        t.change == pytest.approx(-1.0 / 34.0) and t.gap_in_se > 10 and t.unit == "sampling seeds"
    )
    assert check.claim.paper_change == pytest.approx(27.9 / 33.0 - 1)
    unpaired = _claim(
        check_claims(
            [replace(e, sample_seed=e.sample_seed + 5) for e in evals[3:]] + evals[:3],
            16,
            ("k1", "k2"),
        ),
        check.claim.text,
    )
    assert unpaired.tests[0] is not None and unpaired.tests[0].pairs == 0
    assert unpaired.tests[0].verdict.kind == "no detectable difference"
    pending = _claim(
        check_claims(evals, 16, ("k1", "k2")), "dual-loop beats parallel Euler at equal NFE"
    )
    assert pending.tests == (None, None) and pending.agree is None


def test_claims_with_several_training_seeds_test_across_trainings():
    """Nine runs from three trainings: the unit is the training seed (df = 2), not the run
    (df = 8)."""
    base = [30.0, 31.0, 32.0, 36.0, 37.0, 38.0, 33.0, 34.0, 35.0]
    better = [b - d for b, d in zip(base, [1, 1, 1, 3, 3, 3, 2, 2, 2])]
    seeds = [i // 3 for i in range(9)]
    evals = _evals("baseline", "euler", base, seeds) + _evals("pf", "euler-pf", better, seeds)
    t = _claim(
        check_claims(evals, 16, ("k1",)), "PF + Euler-PF beats the global-time baseline"
    ).tests[0]
    assert t is not None and t.pairs == 9 and t.units == 3 and t.unit == "training seeds"
    assert t.needed == pytest.approx(4.303) and t.gap_in_se == pytest.approx(
        2.0 * 3**0.5
    )  # 3.46 < 4.30
    assert t.verdict.text.startswith("no detectable difference (MDE ")


def test_partial_and_old_format_results_render(tmp_path):
    """A results file of an older version (no feature spaces, background or attribution) still
    renders, with what the plan still lacks listed as pending."""
    from benchmarks.quality.report import render_markdown

    old_config = {
        k: v
        for k, v in json.loads(json.dumps(vars(QualityBenchConfig()))).items()
        if k not in ("precision", "lr_schedule", "ema_warmup", "classifiers")
    }
    evals = [
        {
            "arm": arm,
            "train_seed": 0,
            "sampler": "euler-pf",
            "nfe_requested": 16,
            "nfe": 16,
            "sample_seed": s,
            "num_images": 500,
            "seconds": 1.0,
            "metrics": dict.fromkeys(
                ("fd", "kid", "precision", "recall", "density", "coverage"), 30.0 + s + i
            ),
        }
        for i, arm in enumerate(("ltg", "srm-s4"))
        for s in range(3)
    ]
    payload = {
        "config": old_config,
        "parts": {},
        "evals": evals,
        "seconds": 60.0,
        "machine": "old machine",
        "command": "old command",
        "commands": ["old command"],
        "arms": [
            {
                "label": "ltg",
                "train_seed": 0,
                "run_dir": "x",
                "train_seconds": 5.0,
                "val": {},
                "machine": "old machine",
                "command": "train (adopted by `bench quality`)",
            },
            {"label": "srm-s4", "train_seed": 0, "run_dir": "y", "train_seconds": None, "val": {}},
        ],
    }
    text = render_markdown(payload, {})
    assert (
        "| ltg | 0 | 5 | R1 | - |" in text and "| srm-s4 | 0 | - | R2 | - |" in text
    )  # None: not recorded
    assert "pending: " in text and "srm-s4 seeds 1, 2 (6 evaluations)" in text
    assert (
        "| timesamplers | paper | max-controlled" in text
        and "| R2 | old machine | `old command` |" in text
    )
    assert (
        "| R1 | old machine | `` train (adopted by `bench quality`) `` |" in text
    )  # a code span holding backticks


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke bench, run once: (output folder, docs page)."""
    root = tmp_path_factory.mktemp("smoke")
    out, docs = root / "bench", root / "docs" / "results.md"
    assert bench("--smoke", "--out", str(out), "--threads", "1", "--docs", str(docs)) == 0
    return out, docs


def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_smoke_runs_end_to_end_in_two_feature_spaces(smoke):
    out, docs = smoke
    results = json.loads((out / "results.json").read_text())
    assert set(results["parts"]) == set(PARTS) and results["config"]["precision"] == "fp32"
    for part, rows in results["parts"].items():
        assert rows and all(r["runs"] == len(SMOKE.sample_seeds) for r in rows), part
    assert set(results["feature_names"].values()) == {"fmnist-classifier", "fmnist-resnet-aug"}
    assert all(
        len(e["feature_spaces"]) == 2
        and e["background"] is not None
        and e["machine"]
        and e["command"]
        for e in results["evals"]
    )
    controls = {r["sampler"] for r in results["parts"]["sampling"]}
    assert {
        "random",
        "hardest-first",
        "euler-pf",
    } <= controls  # the two controls run in the smoke bench
    report = (out / "report.md").read_text()
    assert "## The paper's claims" in report and "## Main table" in report and "## Runs" in report
    assert (
        "fmnist-resnet-aug: FD change" in report
        and "| agree |" in report
        and "FD (fmnist-resnet-aug)" in report
    )
    assert (
        "| control | hardest-first (dual-loop, ranking inverted) is worse than dual-loop |"
        in report
    )
    assert "| control | PF + Euler-PF beats the global-time baseline |" in report
    assert "| extra | LTG with a global share of 0.25 (the recipe) beats plain LTG |" in report
    assert "Pending" not in report and "| R1 | Linux" in report
    assert all(
        (out / "plots" / f).is_file() for f in ("main.png", "timesamplers.png", "nfe_sweep.png")
    )
    assert (
        "results_files/main.png" in docs.read_text()
        and (docs.parent / "results_files" / "main.png").is_file()
    )


def test_results_file_and_reports_hold_no_absolute_path(smoke):
    """Run folders are named relative to the output folder, and the command's paths
    are shortened."""
    out, docs = smoke
    texts = {p: p.read_text() for p in (out / "results.json", out / "report.md", docs)}
    top = f"/{out.parts[1]}/"  # e.g. /tmp/: where the bench ran
    for path, text in texts.items():
        assert str(out) not in text and top not in text, path
    results = json.loads(texts[out / "results.json"])
    assert {a["run_dir"].partition("/")[0] for a in results["arms"]} == {"arms"}
    assert results["config"]["out_dir"] == out.name == "bench"
    assert results["commands"][0] == (
        "python -m benchmarks.quality --smoke --out bench --threads 1 --docs docs/results.md"
    )  # the docs page lies beside the output folder


def test_an_older_results_file_is_made_portable():
    """Absolute paths of a file written by an older version: under the output folder made relative
    to it, elsewhere shortened to their last two components; every number is kept."""
    from benchmarks.quality.run import load_results, portable_results

    command = (
        "patchforcing bench quality --out /data/bq --adopt pf:0=/data/runs/fmnist-pf --part main"
    )
    evals = [
        {
            "arm": "pf",
            "train_seed": 0,
            "sampler": "euler-pf",
            "nfe_requested": 16,
            "nfe": 16,
            "sample_seed": 0,
            "num_images": 500,
            "seconds": 1.5,
            "metrics": {"fd": 12.345},
            "command": command,
        }
    ]
    old = {
        "config": {"out_dir": "/data/bq", "data_dir": "/srv/datasets/fmnist"},
        "command": command,
        "commands": [command],
        "evals": evals,
        "seconds": 60.0,
        "arms": [
            {
                "label": "pf",
                "train_seed": 0,
                "run_dir": "/data/bq/arms/pf-seed0-abc",
                "train_seconds": 5.0,
                "val": {"val_loss": 0.5},
                "adopted_from": "/data/runs/fmnist-pf",
                "command": f"patchforcing train (run /data/runs/fmnist-pf, adopted by `{command}`)",
            },
            {
                "label": "ltg",
                "train_seed": 0,
                "run_dir": "bq/arms/ltg-seed0-def",
                "train_seconds": None,
                "val": {},
            },
        ],
    }
    new = portable_results(old)
    short = "patchforcing bench quality --out bq --adopt pf:0=runs/fmnist-pf --part main"
    assert (
        new["command"] == short
        and new["commands"] == [short]
        and new["evals"][0]["command"] == short
    )
    assert new["config"] == {"out_dir": "bq", "data_dir": "datasets/fmnist"}
    pf, ltg = new["arms"]
    assert (pf["run_dir"], ltg["run_dir"]) == ("arms/pf-seed0-abc", "arms/ltg-seed0-def")
    assert pf["adopted_from"] == "runs/fmnist-pf"
    assert pf["command"].startswith("patchforcing train (run runs/fmnist-pf,")
    assert new["evals"][0]["metrics"] == {"fd": 12.345} and pf["val"] == {"val_loss": 0.5}
    assert portable_results(new) == new  # what is portable stays as it is
    assert "/data/" not in json.dumps(new) and load_results(old) == load_results(new)


def test_smoke_resumes_from_its_cache_and_from_a_kept_results_file(smoke, tmp_path, capsys):
    out, _ = smoke
    results = json.loads((out / "results.json").read_text())
    cached = {p: p.stat().st_mtime_ns for p in (out / "arms").rglob("*") if p.is_file()}
    assert bench("--smoke", "--out", str(out), "--threads", "1", "--part", "main") == 0
    assert all(
        p.stat().st_mtime_ns == t for p, t in cached.items()
    )  # arms and evaluations come from the cache
    # another machine, another folder: with the results file kept (e.g. in the repository) nothing
    # is retrained
    kept = tmp_path / "kept.json"
    kept.write_text((out / "results.json").read_text())
    elsewhere = tmp_path / "elsewhere"
    assert (
        bench(
            "--smoke",
            "--out",
            str(elsewhere),
            "--threads",
            "1",
            "--part",
            "main",
            "--results",
            str(kept),
        )
        == 0
    )
    assert not (elsewhere / "arms").exists()
    folded = json.loads(kept.read_text())
    assert len(folded["evals"]) == len(results["evals"]) and folded["parts"] == results["parts"]
    # a results file of another configuration is refused, not overwritten
    assert (
        bench("--smoke", "--out", str(elsewhere), "--train-steps", "7", "--results", str(kept)) == 2
    )
    assert "another bench configuration (it differs in ['train_steps'])" in capsys.readouterr().err
    assert json.loads(kept.read_text()) == folded


def test_adopt_refuses_another_configuration_and_copies_a_matching_run(smoke, tmp_path, capsys):
    """A finished `patchforcing train` run (here: the smoke bench's own pf arm, trained by the
    same code)."""
    out, _ = smoke
    run = next(p for p in (out / "arms").glob("pf-seed0-*") if p.is_dir())
    before = _snapshot(run)
    target = tmp_path / "b"
    assert (
        bench("--smoke", "--out", str(target), "--adopt", f"pf:1={run}", "--train-seeds", "0,1")
        == 2
    )
    err = capsys.readouterr().err
    assert "differs from the arm's in sections ['seed']" in err and "seed: run 0, arm 1" in err
    assert bench("--smoke", "--out", str(target), "--adopt", f"baseline:0={run}") == 2
    assert "['model', 'time_dist']" in capsys.readouterr().err
    assert bench("--smoke", "--out", str(target), "--adopt", f"srm-s4:7={run}") == 2
    assert "no such arm" in capsys.readouterr().err
    assert not target.exists()
    kept = (
        tmp_path / "kept.json"
    )  # every evaluation recorded: the adopted arm is copied, nothing is trained
    kept.write_text((out / "results.json").read_text())
    assert (
        bench(
            "--smoke",
            "--out",
            str(target),
            "--part",
            "main",
            "--results",
            str(kept),
            "--adopt",
            f"pf:0={run}",
        )
        == 0
    )
    assert _snapshot(run) == before  # the source run is only read
    (copy,) = (p for p in (target / "arms").iterdir() if p.is_dir())
    assert copy.name == run.name and (copy / "checkpoints").is_dir()
    adopted = next(a for a in json.loads(kept.read_text())["arms"] if a["label"] == "pf")
    assert (
        adopted["adopted_from"] == f"arms/{run.name}" and adopted["run_dir"] == f"arms/{copy.name}"
    )
    trained = next(
        a for a in json.loads((out / "results.json").read_text())["arms"] if a["label"] == "pf"
    )
    assert (
        adopted["train_seconds"] == recorded_train_seconds(latest_checkpoint(run)) > 0
    )  # its training loop time
    # the run's own record is taken at its last checkpoint, before the final validation: not later
    assert adopted["train_seconds"] <= trained["train_seconds"]


@pytest.mark.parametrize("compile", [False, True])
def test_estimate_prints_a_wall_time(capsys, monkeypatch, compile):
    """With --compile the estimate times the compiled training step, as the bench would train it."""
    from benchmarks.quality import estimate

    compiled: list[torch.nn.Module] = []
    monkeypatch.setattr(estimate, "compile_model", lambda model: compiled.append(model) or model)
    flags = ("--compile",) if compile else ()
    assert (
        bench("--smoke", "--estimate", *flags, "--threads", "1", "--out", "/nonexistent/bench") == 0
    )
    out = capsys.readouterr().out
    assert "estimated wall time" in out and "left: 10 of 10 arms" in out
    assert len(compiled) == int(compile) and ("s of compilation per arm" in out) == compile
    # the smoke run lasts seconds: shown in seconds, not as 0.00 h, with its validations and scores
    assert re.search(r"estimated wall time: (\d+ s|\d+\.\d min) on", out), out
    assert "and 16 validation batches at" in out and "s per evaluation" in out


def test_an_estimate_counts_validations_and_scores_and_nothing_when_nothing_is_left(
    smoke, tmp_path
):
    from benchmarks.quality.bench import recorded_results
    from benchmarks.quality.estimate import VALIDATION_PASSES, duration, estimate_cost

    e = estimate_cost(replace(SMOKE, out_dir=str(tmp_path / "new")), repeats=1)
    assert (e.arms, e.evals, VALIDATION_PASSES) == (
        10,
        54,
        16,
    )  # 2 losses of 2000 in batches of 250
    assert min(e.validation_s, e.score_s, e.train_step_s, e.forward_s) > 0
    counted = (
        10 * (6 * e.train_step_s + 16 * e.validation_s)
        + e.eval_forwards * e.forward_s
        + 54 * (e.embed_s + e.score_s)  # one batch of 24 images per evaluation
    )
    assert e.total_s == pytest.approx(counted)
    out, _ = smoke
    done, _ = recorded_results(replace(SMOKE, out_dir=str(out)).resolved(CPU), out / "results.json")
    left = estimate_cost(replace(SMOKE, out_dir=str(out)), recorded=frozenset(done))
    assert (left.arms, left.evals, left.total_s, left.forward_s) == (0, 0, 0.0, 0.0)  # not timed
    assert [duration(s) for s in (0.4, 89, 90, 5399, 5400, 36000)] == [
        "0 s",
        "89 s",
        "1.5 min",
        "90.0 min",
        "1.5 h",
        "10.0 h",
    ]


def test_the_estimate_of_a_finished_bench_says_nothing_is_left(smoke, capsys):
    out, _ = smoke
    assert bench("--smoke", "--estimate", "--out", str(out)) == 0
    assert capsys.readouterr().out.startswith(
        f"nothing left: {out / 'results.json'} holds all 54 evaluations of these parts"
    )


def test_an_arm_another_process_trains_is_left_for_later(tmp_path):
    """Two bench processes on the same part train different arms: the arm whose lock is held
    elsewhere is deferred while the other is trained, and waited for (then trained here) once
    nothing else is left."""
    from contextlib import ExitStack

    config = replace(SMOKE, out_dir=str(tmp_path / "b"), train_seeds=(0,))
    resolved = config.resolved(CPU)
    first, second = dict.fromkeys(s.arm for s in plan_part(resolved, "main"))
    other = ExitStack()  # the lock another process would hold while it trains the first arm
    run_dir = arm_train_config(resolved, first, str(tmp_path / "b" / "arms")).out_dir
    other.enter_context(file_lock(_arm_lock(config.out_dir, run_dir)))
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith(
            f"[main] {second.label} "
        ):  # the other process is done once this one evaluates
            other.close()

    def stuck(*_) -> None:
        raise TimeoutError(
            "the bench waited for the held arm instead of training the other one first"
        )

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(300)
    try:
        run_quality_bench(config, ("main",), "cpu", log=log)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    starts = [line for line in lines if " arm " in line]
    assert starts == [
        f"[main] arm {first.label} (train seed 0)",
        f"[main] arm {first.label} (train seed 0): another process is training it; later",
        f"[main] arm {second.label} (train seed 0)",
        f"[main] arm {first.label} (train seed 0) (waiting for the process training it)",
    ]
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert {a["label"] for a in results["arms"]} == {first.label, second.label}
    assert len(results["evals"]) == len(plan_part(resolved, "main"))


def test_sampler_options_reach_every_sampler_that_takes_them():
    args = build_parser().parse_args(["--smoke", "--p", "0.3", "--n-inner", "2"])
    config = build_config(args)
    assert config.sampler_options == (("n_inner", 2), ("p", 0.3))
    assert (config.sampler("dual-loop").p, config.sampler("dual-loop").n_inner) == (0.3, 2)
    assert (config.sampler("look-ahead").p, config.sampler("random").n_inner) == (0.3, 2)
    assert config.options_tag == "-n_inner2-p0.3" and SMOKE.options_tag == ""
    assert config.sampler("euler-pf") == SMOKE.sampler("euler-pf")


def test_evaluations_of_trained_arms_come_before_any_training(smoke, tmp_path):
    """With the pf arm adopted, every evaluation it needs runs before the baseline is trained, and
    reaches the results file before that training starts, so a run stopped during a long training
    keeps them."""
    out, _ = smoke
    run = next(p for p in (out / "arms").glob("pf-seed0-*") if p.is_dir())
    lines: list[str] = []
    filed: list[int] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("[main] arm baseline"):
            filed.append(len(json.loads((tmp_path / "b" / "results.json").read_text())["evals"]))

    config = replace(SMOKE, out_dir=str(tmp_path / "b"), train_seeds=(0,))
    run_quality_bench(config, ("main",), "cpu", log=log, adopt=(("pf", 0, run),))
    trained = next(i for i, line in enumerate(lines) if line.startswith("[main] arm baseline"))
    pf_evals = [i for i, line in enumerate(lines) if line.startswith("[main] pf ")]
    assert len(pf_evals) == 3 * len(SMOKE.sample_seeds) and max(pf_evals) < trained
    assert filed == [len(pf_evals)]  # in the results file when the baseline's training starts


def test_compile_reaches_every_arm_the_bench_trains(smoke, tmp_path, monkeypatch):
    """`bench quality --compile`: the arms trained here are compiled (compilation itself:
    test_compile.py)."""
    import patchforcing.train.data_parallel as distributed

    out, _ = smoke
    run = next(p for p in (out / "arms").glob("pf-seed0-*") if p.is_dir())
    compiled: list[torch.nn.Module] = []
    monkeypatch.setattr(distributed, "compile_model", lambda model: compiled.append(model) or model)
    config = replace(SMOKE, out_dir=str(tmp_path / "b"), train_seeds=(0,))
    run_quality_bench(
        config, ("main",), "cpu", log=lambda _: None, adopt=(("pf", 0, run),), compile=True
    )
    assert [type(m).__name__ for m in compiled] == [
        "PatchForcingDiT"
    ]  # the baseline; the adopted pf arm is not


def test_recorded_arms_are_evaluated_before_any_training(smoke, tmp_path):
    """An arm the results file records, with its folder here, counts as trained: its missing
    evaluations run before a new arm is trained."""
    import shutil

    out, _ = smoke
    source = next(p for p in (out / "arms").glob("pf-seed0-*") if p.is_dir())
    target = tmp_path / "b"
    shutil.copytree(source, target / "arms" / source.name)
    payload = json.loads((out / "results.json").read_text())
    arm = next(a for a in payload["arms"] if a["label"] == "pf" and a["train_seed"] == 0)
    arm["run_dir"] = str(target / "arms" / source.name)
    (target / "arms" / source.name / "arm.json").write_text(json.dumps(arm))
    kept = [e for e in payload["evals"] if e["arm"] == "pf" and e["train_seed"] == 0][
        :1
    ]  # one of pf's, no other
    results = tmp_path / "results.json"
    results.write_text(json.dumps({**payload, "arms": [arm], "evals": kept}))
    lines: list[str] = []
    config = replace(SMOKE, out_dir=str(target), train_seeds=(0,))
    run_quality_bench(config, ("main",), "cpu", log=lines.append, results=results)
    trained = next(i for i, line in enumerate(lines) if line.startswith("[main] arm baseline"))
    pf_evals = [i for i, line in enumerate(lines) if line.startswith("[main] pf ")]
    assert len(pf_evals) == 3 * len(SMOKE.sample_seeds) - 1 and max(pf_evals) < trained
    assert not any(line.startswith("[main] arm pf") for line in lines)  # reused, not retrained


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"config": {"nfe": [8', "is not JSON (truncated or damaged?)"),
        ("[1, 2]", "holds a JSON list, not an object"),
        ('{"config": 3, "evals": 5}', "is not a results file of this bench"),
        ('{"evals": [{"arm": 1}]}', "is not a results file of this bench"),
    ],
)
def test_a_damaged_or_foreign_results_file_is_one_line_naming_it(tmp_path, capsys, text, message):
    results = tmp_path / "results.json"
    results.write_text(text)
    for extra in (["--report-only"], ["--report-only", "--docs", str(tmp_path / "r.md")]):
        assert bench(*extra, "--results", str(results), "--out", str(tmp_path / "bq")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"results file {results} " in err[0] and message in err[0], err
