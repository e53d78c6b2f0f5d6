"""``bench quality``: the paper's ablations reproduced at small scale on Fashion-MNIST.

Parts (each runnable alone, all resumable):

- ``timesamplers``: one PF arm per training time sampler, each scored with Euler-PF at ``nfe``;
- ``sampling``: the LTG arm with random control / parallel / dual-loop / look-ahead at equal NFE,
  plus an NFE sweep for the global baseline (Euler) and every PF sampler;
- ``main``: global-time baseline with Euler vs PF with Euler-PF / dual-loop / look-ahead.

Every number is a mean and standard deviation over sampling seeds (and training seeds when more
than one is configured). Results go to ``<out>/results.json`` and ``<out>/report.md`` with PNG plots.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from patchforcing.bench.quality_plan import PARTS, EvalSpec, QualityBenchConfig, plan_part
from patchforcing.bench.quality_run import ArmRecord, EvalRecord, run_eval, train_arm
from patchforcing.data import DataConfig, ImageArrays, load_dataset, load_images
from patchforcing.io import file_lock
from patchforcing.io.json_file import write_json
from patchforcing.metrics import ClassifierFeatures, reference_features

__all__ = ["Summary", "QualityBenchResult", "run_quality_bench", "summarize", "machine_description", "merge_results"]

METRICS = ("fd", "kid", "precision", "recall", "density", "coverage")


@dataclass(frozen=True)
class Summary:
    """Mean and spread of every metric for one (arm, sampler, NFE) over its seeds."""

    arm: str
    sampler: str
    nfe_requested: int
    nfe: int
    runs: int
    mean: dict[str, float]
    std: dict[str, float]


@dataclass(frozen=True)
class QualityBenchResult:
    config: QualityBenchConfig
    parts: dict[str, list[Summary]]
    arms: list[ArmRecord]
    evals: list[EvalRecord]
    machine: str
    command: str
    seconds: float


def machine_description(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads{gpu}, "
            f"torch {torch.__version__}, python {platform.python_version()}")


def summarize(records: list[EvalRecord]) -> list[Summary]:
    """Group records by (arm, sampler, requested NFE); sample standard deviation over the group."""
    groups: dict[tuple[str, str, int], list[EvalRecord]] = {}
    for r in records:
        groups.setdefault((r.arm, r.sampler, r.nfe_requested), []).append(r)
    out = []
    for (arm, sampler, nfe), rs in groups.items():
        mean = {m: sum(r.metrics[m] for r in rs) / len(rs) for m in METRICS}
        std = {m: math.sqrt(sum((r.metrics[m] - mean[m]) ** 2 for r in rs) / max(len(rs) - 1, 1)) for m in METRICS}
        out.append(Summary(arm, sampler, nfe, max(r.nfe for r in rs), len(rs), mean, std))
    return out


def _reference(config: QualityBenchConfig, device: torch.device):
    test = load_images(DataConfig(data_dir=config.data_dir, split="test"))
    if config.reference_size is not None:
        keep = slice(0, min(config.reference_size, len(test)))
        test = ImageArrays(test.images[keep], test.labels[keep], test.class_names)
    extractor = ClassifierFeatures(device=device)
    return extractor, reference_features(extractor, test, Path(config.out_dir) / "reference")


_PORTABLE = ("out_dir", "data_dir")  # config fields that may differ between machines sharing results


def _same_bench(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k not in _PORTABLE} == {k: v for k, v in b.items() if k not in _PORTABLE}


def _eval_key(arm: str, train_seed: int, sampler: str, nfe_requested: int, sample_seed: int) -> tuple:
    return arm, train_seed, sampler, nfe_requested, sample_seed


def recorded_results(config: QualityBenchConfig, path: Path) -> tuple[dict[tuple, EvalRecord], dict[tuple, ArmRecord]]:
    """Evaluations and arms already in a results file (e.g. one committed to the repository) made with
    the same bench configuration, keyed by (arm, train seed, sampler, NFE, sampling seed) and (arm,
    train seed); empty for a missing file or another configuration."""
    if not path.is_file():
        return {}, {}
    payload = json.loads(path.read_text())
    if not _same_bench(payload.get("config", {}), json.loads(json.dumps(asdict(config)))):
        return {}, {}
    evals = {_eval_key(e["arm"], e["train_seed"], e["sampler"], e["nfe_requested"], e["sample_seed"]): EvalRecord(**e)
             for e in payload.get("evals", [])}
    arms = {(a["label"], a["train_seed"]): ArmRecord(**a) for a in payload.get("arms", [])}
    return evals, arms


def run_quality_bench(config: QualityBenchConfig, parts: tuple[str, ...] = PARTS, device: str | torch.device = "cpu",
                      progress: bool = False, command: str = "", log=print,
                      results: Path | None = None) -> QualityBenchResult:
    """Train what is missing, score what is missing, and write results.json, report.md and plots.

    ``results`` (default ``out_dir/results.json``) is read first: evaluations it already holds for this
    configuration are reused, and an arm whose evaluations are all there is not trained at all, so a
    results file kept in the repository lets a run on another machine resume. This run's results are
    folded into it."""
    from patchforcing.analysis.plots import require_pyplot
    from patchforcing.bench.quality_report import write_report

    require_pyplot()  # the report needs it: fail now, not after hours of training
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown bench part(s) {unknown}; choose from {PARTS}")
    device = torch.device(device)
    start = time.perf_counter()
    data = load_dataset(DataConfig(data_dir=config.data_dir))
    extractor, reference = _reference(config, device)
    results_path = results or Path(config.out_dir) / "results.json"
    done, done_arms = recorded_results(config, results_path)
    arms: dict[tuple[str, int], ArmRecord] = {}
    evals: dict[EvalSpec, EvalRecord] = {}
    summaries: dict[str, list[Summary]] = {}
    for part in parts:
        records = []
        for spec in plan_part(config, part):
            key = (spec.arm.label, spec.arm.train_seed)
            found = done.get(_eval_key(*key, spec.sampler, spec.nfe, spec.sample_seed))
            if found is not None and spec not in evals:
                evals[spec] = found
                if key in done_arms:
                    arms.setdefault(key, done_arms[key])
            if key not in arms and spec not in evals:
                log(f"[{part}] arm {spec.arm.label} (train seed {spec.arm.train_seed})")
                arms[key] = train_arm(config, spec.arm, data, device, progress)
            if spec not in evals:
                evals[spec] = run_eval(config, spec, arms[key], extractor, reference, device)
                e = evals[spec]
                log(f"[{part}] {spec.arm.label} {spec.sampler} NFE {e.nfe} seed {spec.sample_seed}: "
                    f"FD {e.metrics['fd']:.3f} ({e.seconds:.1f} s)")
            records.append(evals[spec])
        summaries[part] = summarize(records)
    result = QualityBenchResult(config, summaries, list(arms.values()), list(evals.values()),
                                machine_description(device), command, time.perf_counter() - start)
    write_report(merge_results(asdict(result), results_path), Path(config.out_dir))
    return result


def merge_results(payload: dict, path: Path) -> dict:
    """Fold this run into ``path``: parts run now replace earlier ones, arms and evaluations accumulate,
    wall times add up; a different configuration starts the file afresh."""
    payload = json.loads(json.dumps(payload))  # tuples -> lists, as read back from disk
    with file_lock(path.with_name(path.name + ".lock")):  # side-by-side runs fold in one at a time
        return _merge_locked(payload, path)


def _keep(items: list[dict], new: list[dict], key: Callable[[dict], object]) -> list[dict]:
    """One entry per key, the newest one, in the order the keys first appear in ``items`` then ``new``."""
    return list({key(x): x for x in [*items, *new]}.values())


def _merge_locked(payload: dict, path: Path) -> dict:
    if path.is_file():
        old = json.loads(path.read_text())
        if _same_bench(old.get("config", {}), payload["config"]):
            payload = {**payload, "parts": {**old["parts"], **payload["parts"]},
                       "arms": _keep(old["arms"], payload["arms"], lambda a: a["run_dir"]),
                       "evals": _keep(old["evals"], payload["evals"],
                                      lambda e: (e["arm"], e["train_seed"], e["sampler"], e["nfe_requested"],
                                                 e["sample_seed"])),
                       "seconds": old["seconds"] + payload["seconds"],
                       "commands": list(dict.fromkeys([*old.get("commands", []), payload["command"]]))}
    payload.setdefault("commands", [payload["command"]])
    write_json(payload, path)
    return payload
