"""A second feature space: the residual classifier, its augmentation, the shipped one, and ``eval``
scoring in several spaces at once (the sensitivity of each space's FD:
benchmarks/tests/test_metric_sensitivity.py)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from patchforcing.cli.main import main
from patchforcing.evaluation.metrics import (
    AugmentConfig,
    FeatureClassifier,
    augment,
    classifier_config,
    load_classifier,
)
from patchforcing.evaluation.metrics.classifier import ClassifierConfig

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
def classifiers(tiny_npz, tmp_path):
    """A cnn and an augmented resnet trained for one epoch on the tiny dataset."""
    folders = {}
    for arch, extra in (("cnn", []), ("resnet", ["--augment"])):
        folders[arch] = tmp_path / f"clf-{arch}"
        assert (
            main(
                [
                    "classifier",
                    "train",
                    "--data",
                    str(tiny_npz),
                    "--arch",
                    arch,
                    *extra,
                    "--epochs",
                    "1",
                    "--batch-size",
                    "16",
                    "--threads",
                    "1",
                    "--out",
                    str(folders[arch]),
                ]
            )
            == 0
        )
    return folders


@pytest.mark.parametrize("size,channels", [(28, 1), (8, 1), (16, 3)])
def test_resnet_shapes_and_feature_width(size, channels):
    model = FeatureClassifier(classifier_config("resnet", size, channels, 10)).eval()
    x = torch.rand(3, channels, size, size) * 2 - 1
    assert model.features(x).shape == (3, model.num_features)
    assert model(x).shape == (3, 10)
    assert (
        model.num_features
        == 96
        != FeatureClassifier(classifier_config("cnn", size, channels, 10)).num_features
    )
    assert any(type(m).__name__ == "BasicBlock" for m in model.modules())
    with pytest.raises(ValueError, match="expects images"):
        model.features(torch.zeros(3, channels, size + 1, size + 1))


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="arch"):
        ClassifierConfig(arch="vit")
    with pytest.raises(ValueError, match="arch"):
        classifier_config("vit", 28, 1, 10)


def test_resnet_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = FeatureClassifier(classifier_config("resnet", 8, 1, 3)).eval()
    model.save_pretrained(tmp_path / "clf")
    config = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert config["architecture"]["arch"] == "resnet"
    loaded = FeatureClassifier.from_pretrained(tmp_path / "clf")
    assert loaded.config == model.config
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(loaded.features(x), model.features(x))


def test_a_folder_without_arch_key_loads_as_the_cnn():
    model = load_classifier("fmnist-classifier")  # written before the resnet existed
    assert model.meta is not None and "arch" not in model.meta.architecture
    assert model.config.arch == "cnn"


def test_augmentation_is_deterministic_and_keeps_shape_and_range():
    x = torch.rand(16, 1, 12, 12) * 2 - 1
    a = augment(x, AugmentConfig(), torch.Generator().manual_seed(3))
    b = augment(x, AugmentConfig(), torch.Generator().manual_seed(3))
    c = augment(x, AugmentConfig(), torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1


def test_shift_moves_content_and_fills_black():
    x = torch.rand(8, 2, 10, 10) * 2 - 1
    y = augment(
        x,
        AugmentConfig(max_shift=2, flip=False, noise_std=0, erase_prob=0),
        torch.Generator().manual_seed(0),
    )
    shifts = []
    for i in range(8):
        padded = F.pad(x[i], (2, 2, 2, 2), value=-1.0)  # (C, 14, 14)
        found = [
            (a, b)
            for a in range(5)
            for b in range(5)
            if torch.equal(y[i], padded[:, a : a + 10, b : b + 10])
        ]
        assert found, i
        shifts.append(found[0])
    assert len(set(shifts)) > 1


def test_erasing_and_noise_stay_in_range():
    x = torch.ones(32, 1, 8, 8)
    y = augment(
        x,
        AugmentConfig(max_shift=0, flip=False, noise_std=0, erase_prob=1.0),
        torch.Generator().manual_seed(0),
    )
    assert ((y == -1).flatten(1).any(1)).all()  # every image lost a box
    z = augment(
        -x,
        AugmentConfig(max_shift=0, flip=False, noise_std=0.5, erase_prob=0),
        torch.Generator().manual_seed(0),
    )
    assert z.min() >= -1 and z.max() <= 1 and (z > -1).any()


def test_shipped_second_classifier_loads_with_recorded_accuracy():
    model = FeatureClassifier.from_pretrained("fmnist-resnet-aug")
    assert model.config.arch == "resnet" and model.meta is not None
    assert model.meta.quality["test_accuracy"] > 0.85
    assert "--augment" in model.meta.training["command"]
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, model.num_features)


def test_eval_scores_in_two_feature_spaces(capsys, tiny_npz, classifiers, tmp_path):
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
    capsys.readouterr()
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(run),
                "--reference",
                str(tiny_npz),
                "--classifier",
                str(classifiers["cnn"]),
                "--classifier",
                str(classifiers["resnet"]),
                "--sampler",
                "euler",
                "--nfe",
                "2",
                "--num",
                "12",
                "--batch-size",
                "6",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--threads",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if "@ NFE" in line]
    assert len(rows) == 2 and "clf-cnn" in rows[0] and "clf-resnet" in rows[1]
    result = json.loads(out.read_text())
    spaces = result["feature_spaces"]
    assert list(spaces) == list(result["feature_names"]) and len(spaces) == 2
    assert result["metrics"] == spaces[result["features"]]  # the first space is the primary one
    assert all(m["num_fake"] == 12 for m in spaces.values())
