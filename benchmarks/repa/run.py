"""Training the REPA bench's arms, its second emoji feature space, and scoring its evaluations, each
cached on disk.

Arms train with the quality bench's :func:`~benchmarks.quality.run.train_run` (a folder per arm
configuration, resumed when interrupted, reused when finished, locked against a second process);
evaluations are JSON records beside their arm, the quality bench's records plus the prompt
alignment of a text-to-image arm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from benchmarks.quality.run import (
    IMAGE_SEED_STRIDE,
    ArmRecord,
    EvalRecord,
    Provenance,
    read_record,
    train_run,
)
from benchmarks.repa.plan import (
    SHIPPED_SPACES,
    TRAINED_SPACE,
    RepaArm,
    RepaBenchConfig,
    RepaEval,
    arm_train_config,
)
from patchforcing.cli.main import main as patchforcing
from patchforcing.data import ArrayData
from patchforcing.evaluation import EvalOptions, Evaluator
from patchforcing.model import load_model
from patchforcing.sampling import SAMPLERS, Guidance
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.sampling.generation.prompts import PromptSet
from patchforcing.utils.distributed import DistEnv
from patchforcing.utils.io import file_lock
from patchforcing.utils.io.json_file import write_json

__all__ = [
    "RepaEvalRecord",
    "feature_spaces",
    "build_evaluator",
    "train_repa_arm",
    "run_repa_eval",
]


@dataclass(frozen=True)
class RepaEvalRecord(EvalRecord):
    """A quality-bench evaluation record with the prompt alignment of a text-to-image arm (empty
    for a class model): score (mean of 100 max(cos, 0)), retrieval top-1 / top-5, category
    accuracy."""

    alignment: dict = field(default_factory=dict)


def feature_spaces(config: RepaBenchConfig) -> tuple[str, ...]:
    """The data's shipped feature spaces, and for the emoji set a second one the bench trains once
    (``patchforcing classifier train --arch resnet --augment``) into ``out/classifiers``."""
    spaces = SHIPPED_SPACES[config.data]
    if config.data != "emoji":
        return spaces
    folder = Path(config.out_dir) / "classifiers" / TRAINED_SPACE
    with file_lock(folder.with_suffix(".lock")):
        if not (folder / "model.safetensors").is_file():
            args = ["classifier", "train", "--data", "emoji", "--arch", "resnet", "--augment"]
            args += ["--epochs", str(config.classifier_epochs), "--seed", "0", "--out", str(folder)]
            args += ["--data-dir", config.data_dir] if config.data_dir else []
            if patchforcing(args) != 0:
                raise RuntimeError(f"training the feature classifier {folder} failed")
    return (*spaces, str(folder))


def build_evaluator(config: RepaBenchConfig, device: torch.device) -> Evaluator:
    """The held-out images in every feature space (their features cached in the output folder),
    with the image-text model of prompt alignment."""
    options = EvalOptions(
        reference=config.data,
        reference_size=config.reference_size,
        data_dir=config.data_dir,
        classifiers=feature_spaces(config),
        cache_dir=str(Path(config.out_dir) / "reference"),
    )
    return Evaluator.build(options, DistEnv(device=device))


def train_repa_arm(
    config: RepaBenchConfig,
    arm: RepaArm,
    data: ArrayData,
    device: torch.device,
    made_by: Provenance,
    progress: bool = False,
) -> ArmRecord:
    run = arm_train_config(config, arm, str(Path(config.out_dir) / "arms"), data)
    record = train_run(
        run, arm.label, arm.train_seed, config.out_dir, data, device, made_by, progress
    )
    assert record is not None  # train_run waits for another process training the same arm
    return record


def run_repa_eval(
    config: RepaBenchConfig,
    spec: RepaEval,
    arm: ArmRecord,
    evaluator: Evaluator,
    made_by: Provenance,
) -> RepaEvalRecord:
    """Generate and score one evaluation (text arms: image i from the first caption of reference
    image i, with its prompt alignment), or read it from the cache."""
    spaces = "+".join(s.key for s in evaluator.spaces)
    name = (
        f"{spec.sampler}-nfe{spec.nfe}-cfg{config.cfg:g}-seed{spec.sample_seed}-"
        f"n{config.num_images}-{spaces}.json"
    )
    folder = Path(config.out_dir) / arm.run_dir
    path = folder / "evals" / name
    if path.is_file():
        return read_record(RepaEvalRecord, path, config.out_dir, made_by)
    model = load_model(folder, device=evaluator.env.device)
    prompts: PromptSet | None = evaluator.reference_prompts() if config.text else None
    gen = GenerationConfig(
        sampler=SAMPLERS[spec.sampler](),
        nfe=spec.nfe,
        guidance=Guidance(scale=config.cfg),
        num_images=config.num_images,
        seed=spec.sample_seed * IMAGE_SEED_STRIDE,
        batch_size=config.eval_batch,
        prompts=prompts.prompts if prompts else None,
    )
    scoring = evaluator.prompt_scoring(prompts.categories) if prompts else None
    result = evaluator.score_model(model, gen, alignment=scoring, source=str(folder))
    alignment = asdict(result.alignment) if result.alignment is not None else {}
    record = RepaEvalRecord.of(spec.key, result, made_by, alignment=alignment)
    write_json(asdict(record), path)
    return record
