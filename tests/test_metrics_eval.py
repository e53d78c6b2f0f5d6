"""``patchforcing eval`` and ``classifier`` end to end on a tiny dataset and model."""

from __future__ import annotations

import json

import pytest
import torch

from patchforcing.cli.main import main
from patchforcing.evaluation.metrics import InceptionFeatures
from patchforcing.sampling import DualLoop
from patchforcing.sampling.generation import GenerationConfig, generate_batches

TINY = ["--preset", "T/4", "--depth", "1", "--width", "32", "--heads", "2", "--patch-size", "2", "--threads", "1",
        "--no-progress"]


@pytest.fixture
def tiny_run(tiny_npz, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), *TINY, "--steps", "2", "--batch-size", "8", "--out", str(run)]) == 0
    clf = tmp_path / "clf"
    assert main(["classifier", "train", "--data", str(tiny_npz), "--epochs", "1", "--batch-size", "16",
                 "--threads", "1", "--out", str(clf)]) == 0
    return run, clf


def test_generation_streams_batches_with_recorded_seeds(tiny_model):
    config = GenerationConfig(sampler=DualLoop(), nfe=4, num_images=5, seed=7, batch_size=2)
    batches = list(generate_batches(tiny_model, config))
    assert [b.seeds for b in batches] == [[7, 8], [9, 10], [11]]
    assert all(b.nfe == 4 and b.images.shape[1:] == (1, 8, 8) for b in batches)
    again = next(generate_batches(tiny_model, config))
    assert torch.equal(again.images, batches[0].images)


def test_eval_generates_scores_and_writes_json(capsys, tiny_npz, tiny_run, tmp_path):
    run, clf = tiny_run
    out = tmp_path / "eval.json"
    args = ["eval", "--checkpoint", str(run), "--reference", str(tiny_npz), "--classifier", str(clf),
            "--sampler", "look-ahead", "--nfe", "4", "--num", "12", "--batch-size", "5", "--seed", "3",
            "--cache-dir", str(tmp_path / "cache"), "--threads", "1", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "FD" in printed and "look-ahead" in printed
    result = json.loads(out.read_text())
    assert result["seeds"] == [3, 14] and result["num_images"] == 12 and result["nfe"] <= 4
    assert set(result["metrics"]) >= {"fd", "kid", "kid_std", "precision", "recall", "density", "coverage"}
    assert result["metrics"]["num_real"] == 64


def test_eval_scores_a_folder(capsys, tiny_npz, tiny_run, tmp_path):
    run, clf = tiny_run
    assert main(["sample", "--checkpoint", str(run), "--num", "8", "--steps", "2", "--threads", "1",
                 "--out", str(tmp_path / "samples")]) == 0
    out = tmp_path / "folder.json"
    assert main(["eval", "--folder", str(tmp_path / "samples"), "--reference", str(tiny_npz),
                 "--classifier", str(clf), "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["num_images"] == 8 and result["sampler"] is None


def test_missing_inception_weights_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05"):
        InceptionFeatures(tmp_path / "missing.pth")
    code = main(["eval", "--folder", str(tmp_path), "--features", "inception"])
    assert code == 2 and "pt_inception" in capsys.readouterr().err


def test_classifier_test_reports_accuracy(capsys, tiny_npz, tiny_run):
    _, clf = tiny_run
    assert main(["classifier", "test", "--classifier", str(clf), "--data", str(tiny_npz)]) == 0
    assert "accuracy" in capsys.readouterr().out
