"""Training the arms and scoring the evaluations of ``bench quality``, each cached on disk.

Arms train through :func:`patchforcing.train.train` in folders keyed by their configuration, so an
interrupted arm resumes and a finished one is reused; a lock per arm lets bench processes running
different parts side by side share an arm (the second waits for the first). Each finished evaluation
is a JSON file keyed by (arm folder, sampler, NFE, sampling seed, image count); rerunning skips it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from patchforcing.bench.quality_plan import Arm, EvalSpec, QualityBenchConfig, arm_train_config
from patchforcing.data import ArrayData
from patchforcing.evaluation import evaluate_model
from patchforcing.generation import GenerationConfig
from patchforcing.io import file_lock
from patchforcing.io.json_file import write_json
from patchforcing.metrics import FeatureExtractor
from patchforcing.model import PatchForcingDiT
from patchforcing.pretrained import latest_checkpoint
from patchforcing.train import train

__all__ = ["ArmRecord", "EvalRecord", "train_arm", "run_eval", "IMAGE_SEED_STRIDE"]

IMAGE_SEED_STRIDE = 1_000_000  # sampling seed s uses image seeds s * stride + i


@dataclass(frozen=True)
class ArmRecord:
    label: str
    train_seed: int
    run_dir: str
    train_seconds: float  # wall time of the training call that finished it (0 when reused)
    val: dict


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
    metrics: dict


def train_arm(config: QualityBenchConfig, arm: Arm, data: ArrayData, device: torch.device,
              progress: bool = False) -> ArmRecord:
    """Train (or resume, or reuse) one arm; the record of a finished arm is cached beside it."""
    run = arm_train_config(config, arm, str(Path(config.out_dir) / "arms"))
    record_path = Path(run.out_dir) / "arm.json"
    # a bench process running another part side by side may be training this arm: wait for it, then reuse
    with file_lock(Path(config.out_dir) / "arms" / f"{Path(run.out_dir).name}.lock"):
        if record_path.is_file() and latest_checkpoint(run.out_dir) is not None:
            return ArmRecord(**json.loads(record_path.read_text()))
        start = time.perf_counter()
        result = train(run, device=str(device), progress=progress, data=data)
        record = ArmRecord(arm.label, arm.train_seed, run.out_dir, time.perf_counter() - start, result.val)
        write_json(asdict(record), record_path)
    return record


def run_eval(config: QualityBenchConfig, spec: EvalSpec, arm: ArmRecord, extractor: FeatureExtractor,
             reference: torch.Tensor, device: torch.device) -> EvalRecord:
    """Generate and score one evaluation, or read it from the cache."""
    name = (f"{spec.sampler}{config.options_tag}-nfe{spec.nfe}-seed{spec.sample_seed}-n{config.num_images}-"
            f"{extractor.key}.json")
    path = Path(arm.run_dir) / "evals" / name
    if path.is_file():
        return EvalRecord(**json.loads(path.read_text()))
    model = PatchForcingDiT.from_pretrained(arm.run_dir, device=device)
    gen = GenerationConfig(sampler=config.sampler(spec.sampler), nfe=spec.nfe, num_images=config.num_images,
                           seed=spec.sample_seed * IMAGE_SEED_STRIDE, batch_size=config.eval_batch)
    result = evaluate_model(model, gen, extractor, reference, arm.run_dir, device)
    assert result is not None and result.nfe is not None  # one process: rank 0; a model's evaluation spends NFE
    record = EvalRecord(spec.arm.label, spec.arm.train_seed, spec.sampler, spec.nfe, result.nfe, spec.sample_seed,
                        result.num_images, result.seconds, asdict(result.metrics))
    write_json(asdict(record), path)
    return record
