"""Evaluation: stream generated images from a checkpoint (or a folder) into the quality metrics."""

from patchforcing.evaluation.evaluate import EvalResult, evaluate_folder, evaluate_model, folder_batches, write_json
from patchforcing.evaluation.generate import GeneratedBatch, GenerationConfig, build_sampler, generate_batches

__all__ = ["EvalResult", "evaluate_folder", "evaluate_model", "folder_batches", "write_json", "GeneratedBatch",
           "GenerationConfig", "build_sampler", "generate_batches"]
