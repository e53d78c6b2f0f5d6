"""Training, adopting and scoring the arms of the quality bench, each cached on disk.

Arms train through :func:`patchforcing.train.train` in folders keyed by their configuration, so an
interrupted arm resumes and a finished one is reused; a lock per arm lets bench processes running
side by side share the work: an arm another process is training is left for later, and waited for
only when nothing else is left. A finished run of
``patchforcing train`` with exactly the arm's configuration can be adopted instead (copied in; the
original is never touched). Each finished evaluation is a JSON file keyed by (arm folder, sampler,
NFE, sampling seed, image count, feature spaces); rerunning skips it. Every record says which
machine and command produced it, so results merged from several machines stay attributed;
:func:`load_results` reads the records of a results file of any version back. Records name an arm's
folder relative to the output folder (``arms/NAME``) and hold no machine's absolute path
(:mod:`benchmarks.paths`).
"""

from __future__ import annotations

import json
import shutil
import signal
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path, PurePath
from typing import Any, TypeVar

import torch

from benchmarks.paths import portable_command, portable_path, record_root
from benchmarks.quality.plan import (
    RECIPE_ARMS,
    Arm,
    EvalSpec,
    QualityBenchConfig,
    arm_train_config,
    bench_config_from_dict,
)
from patchforcing.data import ArrayData
from patchforcing.evaluation import EvalResult, Evaluator
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import latest_checkpoint, list_checkpoints
from patchforcing.model.pretrained.folder import checkpoint_name
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.train import train
from patchforcing.train.checkpoint import read_config, recorded_train_seconds
from patchforcing.train.config import TrainConfig, config_to_dict
from patchforcing.train.data_parallel import Parallel
from patchforcing.utils.io import file_lock
from patchforcing.utils.io.json_file import write_json

__all__ = [
    "ArmRecord",
    "EvalRecord",
    "Provenance",
    "BenchInterrupted",
    "Results",
    "load_record",
    "load_results",
    "read_results",
    "portable_results",
    "run_name",
    "arm_folder",
    "train_arm",
    "train_run",
    "read_record",
    "adopt_arm",
    "run_eval",
    "IMAGE_SEED_STRIDE",
    "PORTABLE_FIELDS",
]

IMAGE_SEED_STRIDE = 1_000_000  # sampling seed s uses image seeds s * stride + i
PORTABLE_FIELDS = (
    "out_dir",
    "data_dir",
)  # config fields that may differ between machines sharing results


@dataclass(frozen=True)
class Provenance:
    machine: str
    command: str


@dataclass(frozen=True)
class ArmRecord:
    label: str
    train_seed: int
    run_dir: str  # relative to the output folder: arms/NAME (run_name)
    train_seconds: (
        float | None
    )  # training-loop wall time of all its steps, over resumes (None: not recorded)
    val: dict
    machine: str = ""  # "" in files written before records were attributed
    command: str = ""
    adopted_from: str = ""  # the `patchforcing train` run folder it was copied from

    @property
    def key(self) -> tuple[str, int]:
        return self.label, self.train_seed


R = TypeVar("R", bound="EvalRecord")  # the record class, or a subclass adding fields


@dataclass(frozen=True)
class EvalRecord:
    arm: str
    train_seed: int
    sampler: str
    nfe_requested: int
    nfe: int
    sample_seed: int
    num_images: int
    seconds: float
    metrics: dict  # primary feature space
    feature_spaces: dict = field(
        default_factory=dict
    )  # extractor key -> metrics, the primary one included
    background: float | None = None  # mean background pixel value (0-255)
    machine: str = ""
    command: str = ""

    @property
    def key(self) -> tuple[str, int, str, int, int]:
        """(arm, training seed, sampler, requested NFE, sampling seed), as :attr:`EvalSpec.key`."""
        return self.arm, self.train_seed, self.sampler, self.nfe_requested, self.sample_seed

    @classmethod
    def of(
        cls: type[R],
        key: tuple[str, int, str, int, int],
        result: EvalResult,
        made_by: Provenance,
        **extra: Any,
    ) -> R:
        """The record of the evaluation ``key`` (as :attr:`key`) that gave ``result``; ``extra``
        fills the fields a subclass adds."""
        arm, train_seed, sampler, nfe_requested, sample_seed = key
        assert result.nfe is not None  # a model's evaluation spends NFE
        return cls(
            arm,
            train_seed,
            sampler,
            nfe_requested,
            result.nfe,
            sample_seed,
            result.num_images,
            result.seconds,
            asdict(result.metrics),
            {s.features: asdict(s.metrics) for s in result.scores},
            result.background,
            made_by.machine,
            made_by.command,
            **extra,
        )


class BenchInterrupted(Exception):
    """SIGINT / SIGTERM stopped an arm's training (its checkpoint is saved; rerunning resumes)."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


Record = TypeVar("Record", bound=ArmRecord | EvalRecord)  # or a subclass of one


def load_record(
    cls: type[Record], values: dict[str, Any], default: Provenance | None = None
) -> Record:
    """A record from its JSON form; fields a file lacks (written before they existed) take their
    defaults, or ``default``'s machine and command."""
    known = {f.name for f in fields(cls)}
    record = cls(**{k: v for k, v in values.items() if k in known})
    if default is not None and not record.machine:
        record = replace(record, machine=default.machine, command=record.command or default.command)
    return record


@dataclass(frozen=True)
class Results:
    """A results file read back: records from any format version, attributed to a machine
    and command."""

    config: QualityBenchConfig
    arms: list[ArmRecord]
    evals: list[EvalRecord]
    spaces: tuple[
        tuple[str, str], ...
    ]  # (extractor key, classifier name) per feature space, the primary first


def run_name(run_dir: str | PurePath) -> str:
    """An arm's folder as records name it, relative to the output folder: ``arms/NAME``. Files of
    older versions hold ``OUT/arms/NAME``, absolute or relative to where the bench ran."""
    return PurePath(*PurePath(run_dir).parts[-2:]).as_posix()


def arm_folder(config: QualityBenchConfig, arm: ArmRecord) -> Path:
    """Where the arm's folder is on this machine."""
    return Path(config.out_dir) / arm.run_dir


def _portable_record(values: dict[str, Any], root: Path) -> dict[str, Any]:
    """A record's JSON form with its paths portable; ``root`` is what absolute ones are made
    relative to."""
    out = dict(values)
    if "run_dir" in out:
        out["run_dir"] = run_name(out["run_dir"])
    if out.get("adopted_from"):
        out["adopted_from"] = portable_path(out["adopted_from"], root)
    if out.get("command"):
        out["command"] = portable_command(out["command"], root)
    return out


def portable_results(payload: dict) -> dict:
    """A results payload with every path portable (:mod:`benchmarks.paths`): the absolute paths of
    files written by older versions become relative to the output folder the file records
    (or shortened)."""
    config = payload.get("config", {})
    root = record_root(config.get("out_dir") or ".")
    out = {
        **payload,
        "config": {
            **config,
            **{k: portable_path(config[k], root) for k in PORTABLE_FIELDS if config.get(k)},
        },
        "arms": [_portable_record(a, root) for a in payload.get("arms", [])],
        "evals": [_portable_record(e, root) for e in payload.get("evals", [])],
    }
    if "command" in payload:
        out["command"] = portable_command(payload["command"], root)
    if "commands" in payload:
        out["commands"] = [portable_command(c, root) for c in payload["commands"]]
    return out


def read_record(cls: type[Record], path: Path, out_dir: str, made_by: Provenance) -> Record:
    """A record cached on disk (beside its arm in the bench folder ``out_dir``), its paths portable
    whatever version wrote it."""
    return load_record(
        cls, _portable_record(json.loads(path.read_text()), record_root(out_dir)), made_by
    )


def load_results(payload: dict) -> Results:
    """The records of a results payload; files from before records were attributed give every record
    the file's machine and commands, and absolute paths of older files are made portable."""
    payload = portable_results(payload)
    default = Provenance(
        payload.get("machine", ""), "; ".join(payload.get("commands", [payload.get("command", "")]))
    )
    config = bench_config_from_dict(payload.get("config", {}))
    by_name = {name: key for key, name in payload.get("feature_names", {}).items()}
    # files from before several spaces were kept: the classifier's FD alone, in each
    # record's metrics
    spaces = tuple((by_name[n], n) for n in config.classifiers if n in by_name) or (
        ("primary", "fmnist-classifier"),
    )
    return Results(
        config,
        [load_record(ArmRecord, a, default) for a in payload.get("arms", [])],
        [load_record(EvalRecord, e, default) for e in payload.get("evals", [])],
        spaces,
    )


def read_results(path: str | Path) -> dict:
    """The payload of a results file, checked to load: a truncated, damaged or foreign file is one
    ValueError naming it (never a traceback from deep inside the report)."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"results file {path} is not JSON (truncated or damaged?): {err}"
        ) from None
    try:
        if not isinstance(payload, dict):
            raise TypeError(f"it holds a JSON {type(payload).__name__}, not an object")
        load_results(payload)
    except (TypeError, KeyError, AttributeError, ValueError) as err:
        raise ValueError(
            f"results file {path} is not a results file of this bench: {err}"
        ) from None
    return payload


def _arm_lock(out_dir: str, run_dir: str) -> Path:
    return Path(out_dir) / "arms" / f"{Path(run_dir).name}.lock"


def train_arm(
    config: QualityBenchConfig,
    arm: Arm,
    data: ArrayData,
    device: torch.device,
    made_by: Provenance,
    progress: bool = False,
    compile: bool = False,
    wait: bool = True,
) -> ArmRecord | None:
    """Train (or resume, or reuse) one arm; the record of a finished arm is cached beside it.

    Another bench process may be training this arm (side by side, on the same or another part): with
    ``wait`` this one waits for it and then reuses the arm; without, it returns None at once, so
    that the caller can take other work first."""
    run = arm_train_config(config, arm, str(Path(config.out_dir) / "arms"))
    return train_run(
        run,
        arm.label,
        arm.train_seed,
        config.out_dir,
        data,
        device,
        made_by,
        progress,
        compile,
        wait,
    )


def train_run(
    run: TrainConfig,
    label: str,
    train_seed: int,
    out_dir: str,
    data: ArrayData,
    device: torch.device,
    made_by: Provenance,
    progress: bool = False,
    compile: bool = False,
    wait: bool = True,
) -> ArmRecord | None:
    """:func:`train_arm` for any run configuration whose folder lies in ``out_dir/arms`` (the
    REPA bench's arms train this way too)."""
    record_path = Path(run.out_dir) / "arm.json"
    with file_lock(_arm_lock(out_dir, run.out_dir), wait=wait) as held:
        if not held:
            return None
        if record_path.is_file() and latest_checkpoint(run.out_dir) is not None:
            return read_record(ArmRecord, record_path, out_dir, made_by)
        result = train(
            run,
            device=str(device),
            progress=progress,
            data=data,
            parallel=Parallel(compile=compile),
        )
        if result.stopped_by_signal is not None:
            raise BenchInterrupted(
                result.stopped_by_signal,
                f"{signal.Signals(result.stopped_by_signal).name} stopped arm {label} (train "
                f"seed {train_seed}) after step {result.steps_done}; its checkpoint is in "
                f"{run.out_dir}: rerun the same command to resume",
            )
        record = ArmRecord(
            label,
            train_seed,
            run_name(run.out_dir),
            result.train_seconds,
            result.val,
            made_by.machine,
            made_by.command,
        )
        write_json(asdict(record), record_path)
    return record


def _differences(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """'section.key: run X, arm Y' for every differing value but the folder."""
    out = []
    for key in sorted(wanted.keys() | saved.keys()):
        a, b = saved.get(key), wanted.get(key)
        if key == "out_dir" or a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [
                f"{key}.{k}: run {a.get(k)!r}, arm {b.get(k)!r}"
                for k in sorted(a.keys() | b.keys())
                if a.get(k) != b.get(k)
            ]
        else:
            out.append(f"{key}: run {a!r}, arm {b!r}")
    return out


def _last_validation(run_dir: Path) -> dict:
    lines = (
        (run_dir / "metrics.jsonl").read_text().splitlines()
        if (run_dir / "metrics.jsonl").is_file()
        else []
    )
    vals = [row for row in map(json.loads, filter(None, lines)) if "val_loss" in row]
    return {k: v for k, v in vals[-1].items() if k != "step"} if vals else {}


def adopt_arm(
    config: QualityBenchConfig, arm: Arm, source: str | Path, made_by: Provenance
) -> ArmRecord:
    """Use a finished ``patchforcing train`` run as ``arm``: refused unless its saved configuration
    equals the arm's (but the folder) and it holds the final checkpoint; then copied into the arm's
    folder (``source`` is only read). An arm already finished in the bench is kept as it is."""
    source = Path(source)
    where = f"--adopt {arm.label}:{arm.train_seed}={source}"
    if not (source / "config.json").is_file():
        raise FileNotFoundError(
            f"{where}: no config.json there; pass the run folder (--out) of `patchforcing train`"
        )
    wanted = arm_train_config(config, arm, str(Path(config.out_dir) / "arms"))
    diff = _differences(config_to_dict(read_config(source / "config.json")), config_to_dict(wanted))
    if diff:
        sections = sorted({d.partition(":")[0].partition(".")[0] for d in diff})
        hint = (
            f"`patchforcing train --recipe {RECIPE_ARMS[arm.label]} --seed {arm.train_seed}` "
            "builds the default bench's arm"
            if arm.label in RECIPE_ARMS
            else "let the bench train this arm"
        )
        raise ValueError(
            f"{where}: the run's configuration differs from the arm's in sections {sections} "
            f"({'; '.join(diff)}); {hint}"
        )
    final = source / "checkpoints" / checkpoint_name(wanted.steps)
    if final not in list_checkpoints(source):
        raise ValueError(
            f"{where}: the run has no complete final checkpoint {final.name}; finish it first "
            "(rerun its `patchforcing train` command)"
        )
    target = Path(wanted.out_dir)
    with file_lock(_arm_lock(config.out_dir, wanted.out_dir)):
        if (target / "arm.json").is_file():
            return read_record(ArmRecord, target / "arm.json", config.out_dir, made_by)
        if target.exists():
            raise ValueError(
                f"{where}: the arm's folder {target} already holds a partial training; remove it "
                "to adopt the run, or drop --adopt to let the bench finish it"
            )
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock"))
        shown = portable_path(source.resolve(), record_root(config.out_dir))
        record = ArmRecord(
            arm.label,
            arm.train_seed,
            run_name(target),
            recorded_train_seconds(final),
            _last_validation(source),
            made_by.machine,
            f"patchforcing train (run {shown}, adopted by `{made_by.command}`)",
            shown,
        )
        write_json(asdict(record), target / "arm.json")
    return record


def run_eval(
    config: QualityBenchConfig,
    spec: EvalSpec,
    arm: ArmRecord,
    evaluator: Evaluator,
    made_by: Provenance,
) -> EvalRecord:
    """Generate and score one evaluation in every feature space of ``evaluator`` (on its device), or
    read it from the cache."""
    spaces = "+".join(s.key for s in evaluator.spaces)
    name = (
        f"{spec.sampler}{config.options_tag}-nfe{spec.nfe}-seed{spec.sample_seed}-n"
        f"{config.num_images}-{spaces}.json"
    )
    folder = arm_folder(config, arm)
    path = folder / "evals" / name
    if path.is_file():
        return read_record(EvalRecord, path, config.out_dir, made_by)
    model = PatchForcingDiT.from_pretrained(folder, device=evaluator.env.device)
    gen = GenerationConfig(
        sampler=config.sampler(spec.sampler),
        nfe=spec.nfe,
        num_images=config.num_images,
        seed=spec.sample_seed * IMAGE_SEED_STRIDE,
        batch_size=config.eval_batch,
    )
    result = evaluator.score_model(model, gen, source=str(folder))
    record = EvalRecord.of(spec.key, result, made_by)
    write_json(asdict(record), path)
    return record
