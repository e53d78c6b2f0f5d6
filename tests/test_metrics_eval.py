"""The evaluation setup (:class:`Evaluator`) against an independent computation of the same figures,
and ``patchforcing eval`` and ``classifier`` end to end on a tiny dataset and model."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from patchforcing.cli.main import build_parser, main
from patchforcing.data import DataConfig, load_images
from patchforcing.evaluation import EvalOptions, Evaluator, evaluate_folder, evaluate_model
from patchforcing.evaluation.metrics import (
    ClassifierFeatures,
    FeatureClassifier,
    InceptionFeatures,
    background_masks,
    classifier_config,
    compute_quality,
    embed_batches,
    image_batches,
    save_classifier,
)
from patchforcing.sampling import DualLoop
from patchforcing.sampling.generation import GenerationConfig, generate_batches, write_sample_folder
from patchforcing.utils.io.pixels import from_model_range, to_model_range

TINY = [
    "--preset",
    "T/4",
    "--depth",
    "1",
    "--width",
    "32",
    "--heads",
    "2",
    "--patch-size",
    "2",
    "--threads",
    "1",
    "--no-progress",
]


@pytest.fixture
def tiny_run(tiny_npz, tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_npz),
                *TINY,
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    clf = tmp_path / "clf"
    assert (
        main(
            [
                "classifier",
                "train",
                "--data",
                str(tiny_npz),
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--threads",
                "1",
                "--out",
                str(clf),
            ]
        )
        == 0
    )
    return run, clf


@pytest.fixture
def classifier(tmp_path):
    """An untrained classifier of 8x8 grey images in 3 classes, as a model folder: a fixed
    feature space."""
    torch.manual_seed(0)
    folder = tmp_path / "clf"
    save_classifier(
        FeatureClassifier(classifier_config("cnn", 8, 1, 3)),
        folder,
        {},
        class_names=("a", "b", "c"),
    )
    return folder


@pytest.fixture
def evaluator(tiny_npz, classifier, tmp_path) -> Evaluator:
    return Evaluator.build(
        EvalOptions(
            reference=str(tiny_npz),
            classifiers=(str(classifier), str(classifier)),
            cache_dir=str(tmp_path / "cache"),
        )
    )


def test_evaluator_holds_the_reference_setup(evaluator, tiny_npz, classifier):
    """One feature space per classifier named (each once), the reference's features in it, and the
    reference's background masks and level, computed here without the evaluator."""
    data = load_images(
        DataConfig(source=str(tiny_npz))
    )  # an .npz file has one split: the reference
    extractor = ClassifierFeatures(classifier)
    (space,) = evaluator.spaces
    assert evaluator.names == {extractor.key: str(classifier)}
    assert torch.equal(space.reference, embed_batches(extractor, image_batches(data)))
    assert evaluator.reference is not None and torch.equal(evaluator.reference.images, data.images)
    masks = background_masks(data.images, data.labels, data.num_classes)
    assert evaluator.reference_background == masks.level(data.images, data.labels) is not None


def test_evaluator_options_are_checked():
    with pytest.raises(ValueError, match="unknown feature extractor"):
        EvalOptions(features="clip")
    with pytest.raises(ValueError, match="at least one classifier"):
        EvalOptions(classifiers=())
    assert EvalOptions(features="inception").feature_names == ("inception",)
    assert EvalOptions(classifiers=("a", "b", "a")).feature_names == ("a", "b")


def test_evaluator_scores_exactly_the_pixels_generate_makes(evaluator, tiny_model):
    """FD etc. of the generated images rounded to 8-bit pixels, embedded here in one batch, and
    their background level; the deprecated ``evaluate_model`` gives the same figures."""
    config = GenerationConfig(sampler=DualLoop(), nfe=4, num_images=7, seed=3, batch_size=3)
    result = evaluator.score_model(tiny_model, config, source="tiny")
    batches = list(generate_batches(tiny_model, config))
    pixels = from_model_range(torch.cat([b.images for b in batches]))  # (7, 1, 8, 8) uint8
    labels = torch.cat([b.labels for b in batches])
    (space,) = evaluator.spaces
    want = compute_quality(space.reference, space.extractor(to_model_range(pixels)))
    assert asdict(result.metrics) == pytest.approx(asdict(want), rel=1e-6)
    assert evaluator.background is not None
    assert result.background == pytest.approx(evaluator.background.level(pixels, labels), rel=1e-9)
    assert (result.source, result.seeds, result.num_images, result.nfe) == ("tiny", (3, 9), 7, 4)
    assert result.reference_background == evaluator.reference_background
    with pytest.warns(DeprecationWarning, match="Evaluator"):
        old = evaluate_model(
            tiny_model,
            config,
            space.extractor,
            space.reference,
            "tiny",
            background=evaluator.background,
            reference_background=evaluator.reference_background,
        )
    assert old is not None
    assert {**old.to_dict(), "seconds": 0} == {**result.to_dict(), "seconds": 0}


def test_evaluator_scores_a_written_sample_folder_as_the_model(evaluator, tiny_model, tmp_path):
    config = GenerationConfig(nfe=4, num_images=9, seed=2, batch_size=4, classes=(0, 2))
    model_result = evaluator.score_model(tiny_model, config)
    write_sample_folder(tiny_model, config, tmp_path / "samples")
    folder_result = evaluator.score_folder(tmp_path / "samples")
    assert asdict(folder_result.metrics) == pytest.approx(asdict(model_result.metrics), rel=1e-6)
    assert (
        folder_result.background == model_result.background is not None
    )  # classes from samples.jsonl
    (space,) = evaluator.spaces
    with pytest.warns(DeprecationWarning, match="Evaluator"):
        old = evaluate_folder(
            tmp_path / "samples", space.extractor, space.reference, 8, 1, evaluator.background
        )
    assert old.metrics == folder_result.metrics and old.background == folder_result.background


def test_metric_setup_is_the_evaluator_setup(evaluator, tiny_npz, classifier, tmp_path):
    from patchforcing.cli.eval_cmd import eval_options, metric_setup

    args = build_parser().parse_args(
        [
            "eval",
            "--reference",
            str(tiny_npz),
            "--classifier",
            str(classifier),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert eval_options(args) == EvalOptions(
        reference=str(tiny_npz), classifiers=(str(classifier),), cache_dir=str(tmp_path / "cache")
    )
    with pytest.warns(DeprecationWarning, match="Evaluator"):
        extractors, references, data = metric_setup(args, "cpu")
    assert [e.key for e in extractors] == list(evaluator.names)
    assert torch.equal(references[0], evaluator.spaces[0].reference) and len(data) == 64


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
    args = [
        "eval",
        "--checkpoint",
        str(run),
        "--reference",
        str(tiny_npz),
        "--classifier",
        str(clf),
        "--sampler",
        "look-ahead",
        "--nfe",
        "4",
        "--num",
        "12",
        "--batch-size",
        "5",
        "--seed",
        "3",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed, err = capsys.readouterr()
    assert "FD" in printed and "look-ahead" in printed
    stages = [line for line in err.splitlines() if line.startswith(("eval:", "scoring"))]
    assert stages == [  # each stage as it starts, the generation bar between the last two
        f"eval: the reference ({tiny_npz}) and its features in {clf} (computed once, then read "
        "from the cache)",
        "eval: generating 12 images and embedding them batch by batch",
        "scoring 12 images in 1 feature space(s): FD, KID, precision / recall, density / coverage",
    ]
    assert "look-ahead: 100%" in err
    result = json.loads(out.read_text())
    assert result["seeds"] == [3, 14] and result["num_images"] == 12 and result["nfe"] <= 4
    assert set(result["metrics"]) >= {
        "fd",
        "kid",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
    }
    assert result["metrics"]["num_real"] == 64


def test_eval_scores_a_folder(capsys, tiny_npz, tiny_run, tmp_path):
    run, clf = tiny_run
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run),
                "--num",
                "8",
                "--steps",
                "2",
                "--threads",
                "1",
                "--out",
                str(tmp_path / "samples"),
            ]
        )
        == 0
    )
    out = tmp_path / "folder.json"
    assert (
        main(
            [
                "eval",
                "--folder",
                str(tmp_path / "samples"),
                "--reference",
                str(tiny_npz),
                "--classifier",
                str(clf),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert result["num_images"] == 8 and result["sampler"] is None


def test_missing_inception_weights_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(FileNotFoundError, match="pt_inception-2015-12-05"):
        InceptionFeatures(tmp_path / "missing.pth")
    code = main(["eval", "--folder", str(tmp_path), "--features", "inception"])
    assert code == 2 and "pt_inception" in capsys.readouterr().err


def test_an_out_named_as_a_folder_is_refused_before_any_work(capsys, tmp_path):
    """``--out results/`` once wrote a file named ``results``."""
    for out in (f"{tmp_path / 'results'}/", str(tmp_path)):
        assert main(["eval", "--folder", str(tmp_path), "--out", out]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is a folder; give a file name such as" in err[0], err
    assert not (tmp_path / "results").exists()


def test_classifier_test_reports_accuracy(capsys, tiny_npz, tiny_run):
    _, clf = tiny_run
    assert main(["classifier", "test", "--classifier", str(clf), "--data", str(tiny_npz)]) == 0
    assert "accuracy" in capsys.readouterr().out
