"""Running the REPA bench: train what is missing, score what is missing, write the results file
(after every arm and evaluation) and the report.

Every arm and evaluation is cached beside its arm (:mod:`benchmarks.repa.run`), so rerunning the
same command resumes; the results file ``<out>/results.json`` is rewritten from those records and
``<out>/report.md`` from the results file.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from benchmarks.paths import portable_command, portable_path, record_root
from benchmarks.quality.bench import machine_description
from benchmarks.quality.run import ArmRecord, Provenance
from benchmarks.repa.plan import DATA, RepaBenchConfig, plan_evals
from benchmarks.repa.report import write_report
from benchmarks.repa.run import RepaEvalRecord, build_evaluator, run_repa_eval, train_repa_arm
from patchforcing.data import DataConfig, load_dataset
from patchforcing.train.recipes import recipe_setup
from patchforcing.utils.io.json_file import write_json

__all__ = ["RepaBenchResult", "run_repa_bench"]


@dataclass(frozen=True)
class RepaBenchResult:
    config: RepaBenchConfig
    arms: list[ArmRecord]
    evals: list[RepaEvalRecord]
    results: Path
    report: Path
    seconds: float


def run_repa_bench(
    config: RepaBenchConfig,
    device: str | torch.device = "cpu",
    command: str = "",
    progress: bool = False,
    log=print,
) -> RepaBenchResult:
    """Train the arms, score the evaluations and write ``results.json`` and ``report.md`` in
    ``config.out_dir``."""
    start = time.perf_counter()
    device = torch.device(device)
    config = config.resolved(device)
    command = portable_command(command, record_root(config.out_dir))
    made_by = Provenance(machine_description(device), command)
    source = recipe_setup(DATA[config.data][0]).data.source
    data = load_dataset(DataConfig(source=source, data_dir=config.data_dir))
    evaluator = build_evaluator(config, device)
    arms: dict[tuple[str, int], ArmRecord] = {}
    evals: list[RepaEvalRecord] = []
    results = Path(config.out_dir) / "results.json"

    root = record_root(config.out_dir)
    recorded = {
        **asdict(config),
        **{k: portable_path(v, root) for k in ("out_dir", "data_dir") if (v := getattr(config, k))},
    }
    names = {key: Path(name).name for key, name in evaluator.names.items()}  # no folder paths

    def save() -> dict:
        payload = {
            "config": recorded,
            "feature_names": names,
            "machine": made_by.machine,
            "commands": [command],
            "arms": [asdict(a) for a in arms.values()],
            "evals": [asdict(e) for e in evals],
            "seconds": time.perf_counter() - start,
        }
        write_json(payload, results)
        return payload

    for spec in plan_evals(config):
        key = (spec.arm.label, spec.arm.train_seed)
        if key not in arms:
            log(f"arm {spec.arm.label} (train seed {spec.arm.train_seed})")
            arms[key] = train_repa_arm(config, spec.arm, data, device, made_by, progress)
            save()
        evals.append(run_repa_eval(config, spec, arms[key], evaluator, made_by))
        e = evals[-1]
        aligned = f", alignment {e.alignment['clip_score']:.2f}" if e.alignment else ""
        fd = e.metrics["fd"]
        log(f"{e.arm} {e.sampler} NFE {e.nfe} seed {e.sample_seed}: FD {fd:.3f}{aligned}")
        save()
    report = write_report(save(), Path(config.out_dir) / "report.md")
    return RepaBenchResult(
        config, list(arms.values()), evals, results, report, time.perf_counter() - start
    )
