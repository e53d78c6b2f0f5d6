"""The quality bench: the paper's ablations reproduced at small scale on Fashion-MNIST.

Every arm trains with the ``fmnist-pf`` / ``fmnist-global`` recipe (3 training seeds by default).
Parts (each runnable alone, all resumable):

- ``timesamplers``: one PF arm per training time sampler of the paper (plain LTG among them) plus
  the recipe's LTG with a global share of 0.25 ("pf"), each scored with Euler-PF at ``nfe``;
- ``sampling``: the "pf" arm with the two controls (random mask, hardest-first) and parallel /
  dual-loop / look-ahead at equal NFE, plus an NFE sweep for the global baseline (Euler) and every
  PF sampler;
- ``main``: global-time baseline with Euler vs "pf" with Euler-PF / dual-loop / look-ahead.

Every evaluation is scored in each feature space of ``config.classifiers`` at once (the first is the
primary one) and by its background level. Results fold into a results file (default
``<out>/results.json``) after every trained arm, about once a minute in between and when the run
stops (each evaluation is also cached beside its arm), so an interrupted bench loses nothing; a file
kept in the repository lets a run on another machine do only what is missing. ``<out>/report.md``
and PNG plots are written at the end.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from benchmarks.paths import portable_command, portable_path, record_root
from benchmarks.quality.claims import Summary, summarize
from benchmarks.quality.parts import part_summaries
from benchmarks.quality.plan import (
    PARTS,
    EvalSpec,
    QualityBenchConfig,
    plan_arms,
    plan_part,
)
from benchmarks.quality.report import write_report
from benchmarks.quality.run import (
    PORTABLE_FIELDS,
    ArmRecord,
    EvalRecord,
    Provenance,
    adopt_arm,
    arm_folder,
    load_results,
    portable_results,
    read_results,
    run_eval,
    train_arm,
)
from patchforcing.data import DataConfig, load_dataset
from patchforcing.evaluation import EvalOptions, Evaluator
from patchforcing.utils.distributed import DistEnv
from patchforcing.utils.io import file_lock
from patchforcing.utils.io.json_file import write_json

__all__ = [
    "QualityBenchResult",
    "run_quality_bench",
    "machine_description",
    "merge_results",
    "recorded_results",
]


@dataclass(frozen=True)
class QualityBenchResult:
    config: QualityBenchConfig
    parts: dict[
        str, list[Summary]
    ]  # this run's parts, over their evaluations made now or found recorded
    arms: list[ArmRecord]
    evals: list[EvalRecord]
    machine: str
    command: str
    seconds: float


def machine_description(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return (
        f"{platform.system()} {cpu}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch "
        f"threads{gpu}, torch {torch.__version__}, python {platform.python_version()}"
    )


def _evaluator(config: QualityBenchConfig, device: torch.device) -> Evaluator:
    """Every evaluation is scored against the (first ``reference_size``) Fashion-MNIST test images
    in each of ``config.classifiers``' feature spaces, their features cached in the
    output folder."""
    options = EvalOptions(
        reference="fashion-mnist",
        split="test",
        reference_size=config.reference_size,
        data_dir=config.data_dir,
        classifiers=tuple(config.classifiers),
        cache_dir=str(Path(config.out_dir) / "reference"),
    )
    return Evaluator.build(options, DistEnv(device=device))


def _differing(a: dict, b: dict) -> list[str]:
    return sorted(
        k for k in a.keys() | b.keys() if k not in PORTABLE_FIELDS and a.get(k) != b.get(k)
    )


def _config_dict(config: QualityBenchConfig) -> dict:
    """The configuration as a results file records it: JSON types, and its folders portable."""
    values = json.loads(json.dumps(asdict(config)))  # tuples -> lists, as read back from disk
    root = record_root(config.out_dir)
    return {
        **values,
        **{k: portable_path(values[k], root) for k in PORTABLE_FIELDS if values[k] is not None},
    }


def _refuse_other(path: Path, saved: dict, config: dict) -> None:
    diff = _differing(saved, config)
    if diff:
        raise ValueError(
            f"{path} holds results of another bench configuration (it differs in {diff}); pass "
            "another --results (or --out) to keep them, or the options they were made with"
        )


def recorded_results(
    config: QualityBenchConfig, path: Path
) -> tuple[dict[tuple, EvalRecord], dict[tuple, ArmRecord]]:
    """Evaluations and arms already in a results file (e.g. one committed to the repository), keyed
    by (arm, train seed, sampler, NFE, sampling seed) and (arm, train seed); empty for a missing
    file. A file of another bench configuration is refused (folding into it would discard it)."""
    if not path.is_file():
        return {}, {}
    payload = read_results(path)
    _refuse_other(path, payload.get("config", {}), _config_dict(config))
    found = load_results(payload)
    return {e.key: e for e in found.evals}, {a.key: a for a in found.arms}


def run_quality_bench(
    config: QualityBenchConfig,
    parts: tuple[str, ...] = PARTS,
    device: str | torch.device = "cpu",
    progress: bool = False,
    command: str = "",
    log=print,
    results: Path | None = None,
    adopt: tuple[tuple[str, int, Path], ...] = (),
    compile: bool = False,
) -> QualityBenchResult:
    """Adopt the given runs, train what is missing, score what is missing, and write the results
    file, report.md and plots.

    ``results`` (default ``out_dir/results.json``) is read first: evaluations it already holds are
    reused, and an arm whose evaluations are all there is not trained at all. ``adopt`` holds (arm
    label, training seed, run folder of ``patchforcing train``) to use as that arm
    (see :func:`adopt_arm`); ``compile`` trains the arms with ``torch.compile``."""
    from patchforcing.evaluation.analysis.plots import require_pyplot

    require_pyplot()  # the report needs it: fail now, not after hours of training
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown bench part(s) {unknown}; choose from {PARTS}")
    device = torch.device(device)
    config = config.resolved(device)
    command = portable_command(command, record_root(config.out_dir))  # as results files record it
    made_by = Provenance(machine_description(device), command)
    start = time.perf_counter()
    results_path = results or Path(config.out_dir) / "results.json"
    done, done_arms = recorded_results(config, results_path)
    arms: dict[tuple[str, int], ArmRecord] = {}
    planned = {(a.label, a.train_seed): a for a in plan_arms(config, parts)}
    for label, seed, source in adopt:
        if (label, seed) not in planned:
            raise ValueError(
                f"--adopt {label}:{seed}: no such arm in parts {list(parts)} (arms "
                f"{sorted({k[0] for k in planned})}, training seeds {list(config.train_seeds)})"
            )
        arms[(label, seed)] = adopt_arm(config, planned[(label, seed)], source, made_by)
        log(f"arm {label} (train seed {seed}): adopted {source} as {arms[(label, seed)].run_dir}")
    data = load_dataset(DataConfig(data_dir=config.data_dir))
    evaluator = _evaluator(config, device)
    header = {
        "config": _config_dict(config),
        "feature_names": evaluator.names,
        "reference_background": evaluator.reference_background,
        "machine": made_by.machine,
        "command": command,
    }
    fold = _Fold(results_path, header, start)
    fold.add(arms=tuple(arms.values()))
    evals: dict[EvalSpec, EvalRecord] = {}
    summaries: dict[str, list[Summary]] = {}
    work = [(part, spec) for part in parts for spec in plan_part(config, part)]
    # evaluations of arms that are already trained (adopted, or recorded with their folder here)
    # first: a run stopped while training a new arm has then kept every evaluation it could make
    # without training
    ready = set(arms) | {
        k for k, a in done_arms.items() if (arm_folder(config, a) / "arm.json").is_file()
    }
    work.sort(
        key=lambda item: (
            (item[1].arm.label, item[1].arm.train_seed) not in ready and item[1].key not in done
        )
    )
    queue = deque(work)
    busy: set[tuple[str, int]] = set()  # arms another bench process was training when last asked
    try:
        while queue:
            part, spec = queue.popleft()
            key = (spec.arm.label, spec.arm.train_seed)
            found = done.get(spec.key)
            if found is not None and spec not in evals:
                evals[spec] = found
                if key in done_arms:
                    arms.setdefault(key, done_arms[key])
            if spec not in evals:
                if key not in arms:
                    # wait for another process's arm only when every arm left is someone else's
                    wait = all((s.arm.label, s.arm.train_seed) in busy | {key} for _, s in queue)
                    if key in busy and not wait:
                        queue.append((part, spec))
                        continue
                    # the evaluations made so far reach the results file before a long training
                    fold.flush()
                    log(
                        f"[{part}] arm {spec.arm.label} (train seed {spec.arm.train_seed})"
                        + (" (waiting for the process training it)" if wait and key in busy else "")
                    )
                    record = train_arm(
                        config, spec.arm, data, device, made_by, progress, compile, wait=wait
                    )
                    if record is None:
                        busy.add(key)
                        queue.append((part, spec))
                        log(
                            f"[{part}] arm {spec.arm.label} (train seed {spec.arm.train_seed}): "
                            "another process is training it; later"
                        )
                        continue
                    busy.discard(key)
                    arms[key] = record
                    fold.add(arms=(record,))
                evals[spec] = e = run_eval(config, spec, arms[key], evaluator, made_by)
                fold.add(evals=(e,))
                log(
                    f"[{part}] {spec.arm.label} {spec.sampler} NFE {e.nfe} seed "
                    f"{spec.sample_seed}: FD {e.metrics['fd']:.3f} ({e.seconds:.1f} s)"
                )
        for part in parts:
            summaries[part] = summarize([evals[spec] for spec in plan_part(config, part)])
    finally:  # what is done is kept, whatever stopped the run
        payload = fold.flush()
    write_report(payload, Path(config.out_dir))
    return QualityBenchResult(
        config,
        summaries,
        list(arms.values()),
        list(evals.values()),
        made_by.machine,
        command,
        time.perf_counter() - start,
    )


class _Fold:
    """Records of this run not yet in the results file: folded in with the first record ``every``
    seconds after the last fold (the evaluations are cached beside their arms meanwhile), after
    every trained arm, and by :meth:`flush`: before an arm is trained, and when the run ends
    or stops."""

    def __init__(self, path: Path, header: dict, start: float, every: float = 60.0) -> None:
        self.path, self.header, self.last, self.every = path, header, start, every
        self.arms: list[ArmRecord] = []
        self.evals: list[EvalRecord] = []

    def add(self, arms: tuple[ArmRecord, ...] = (), evals: tuple[EvalRecord, ...] = ()) -> None:
        self.arms += arms
        self.evals += evals
        if arms or time.perf_counter() - self.last >= self.every:
            self.flush()

    def flush(self) -> dict:
        now = time.perf_counter()
        payload = {
            **self.header,
            "arms": [asdict(a) for a in self.arms],
            "evals": [asdict(e) for e in self.evals],
            "seconds": now - self.last,
        }
        self.arms, self.evals, self.last = [], [], now
        return merge_results(payload, self.path)


def merge_results(payload: dict, path: Path) -> dict:
    """Fold records into ``path``: arms and evaluations accumulate (a newer record replaces the one
    of the same key), wall times add up, and the per-part summaries are recomputed from
    every evaluation."""
    payload = json.loads(json.dumps(payload))  # tuples -> lists, as read back from disk
    with file_lock(path.with_name(path.name + ".lock")):  # side-by-side runs fold in one at a time
        return _merge_locked(payload, path)


def _keep(items: list[dict], new: list[dict], key: Callable[[dict], object]) -> list[dict]:
    """One entry per key, the newest one, in the order the keys first appear in ``items``
    then ``new``."""
    return list({key(x): x for x in [*items, *new]}.values())


def _merge_locked(payload: dict, path: Path) -> dict:
    if path.is_file():
        old = portable_results(read_results(path))  # a file of an older version: paths as today
        _refuse_other(path, old.get("config", {}), payload["config"])
        payload = {
            **payload,
            "arms": _keep(
                old.get("arms", []), payload["arms"], lambda a: (a["label"], a["train_seed"])
            ),
            "evals": _keep(
                old.get("evals", []),
                payload["evals"],
                lambda e: (
                    e["arm"],
                    e["train_seed"],
                    e["sampler"],
                    e["nfe_requested"],
                    e["sample_seed"],
                ),
            ),
            "seconds": old.get("seconds", 0.0) + payload["seconds"],
            "feature_names": {**old.get("feature_names", {}), **payload["feature_names"]},
            "commands": list(dict.fromkeys([*old.get("commands", []), payload["command"]])),
        }
    payload.setdefault("commands", [payload["command"]])
    found = load_results(payload)
    payload["parts"] = {
        part: [asdict(s) for s in rows]
        for part, rows in part_summaries(found.config, found.evals).items()
    }
    write_json(payload, path)
    return payload
