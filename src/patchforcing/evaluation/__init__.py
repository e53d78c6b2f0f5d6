"""Evaluation: stream generated images from a model (or read a folder) into the quality metrics."""

from patchforcing.evaluation.evaluate import EvalResult, PromptScoring, evaluate_folder, evaluate_model, folder_batches

__all__ = ["EvalResult", "PromptScoring", "evaluate_folder", "evaluate_model", "folder_batches"]
