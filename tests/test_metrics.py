"""Metric sanity on real Fashion-MNIST with the shipped classifier: clean sets score near zero,
degraded sets score clearly worse, more degradation scores worse still, and KID is unbiased."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from patchforcing.data import DataConfig, load_dataset
from patchforcing.evaluation.metrics import (
    ClassifierFeatures,
    compute_quality,
    frechet_distance,
    image_batches,
    kernel_distance,
    manifold_metrics,
    reference_features,
)

SUBSET = 2000


@pytest.fixture(scope="module")
def extractor():
    return ClassifierFeatures()


@pytest.fixture(scope="module")
def test_feats(extractor, tmp_path_factory):
    test = load_dataset(DataConfig(split="test"))
    cache = tmp_path_factory.mktemp("ref")
    feats = reference_features(extractor, test, cache)
    assert feats.shape == (10_000, extractor.num_features)
    assert torch.equal(
        reference_features(extractor, test, cache), feats
    )  # second call reads the cache
    return feats


@pytest.fixture(scope="module")
def train_images():
    train = load_dataset(DataConfig(split="train"))
    return train.images[:SUBSET], train.labels[:SUBSET]


def embed(extractor, images: torch.Tensor) -> torch.Tensor:
    """Features of float images in [-1, 1], (M, C, H, W)."""
    return torch.cat([extractor(images[i : i + 1000]) for i in range(0, len(images), 1000)])


def model_range(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-(r**2) / (2 * sigma**2))
    k = k / k.sum()
    kernel = (k[:, None] * k[None, :])[None, None]
    return F.conv2d(F.pad(x, (3, 3, 3, 3), mode="replicate"), kernel)


@pytest.fixture(scope="module")
def scores(extractor, test_feats, train_images):
    images, labels = train_images
    x = model_range(images)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=gen)
    sets = {
        "clean": x,
        "blur1": blur(x, 1.0),
        "blur2": blur(x, 2.0),
        "noise0.2": (x + 0.2 * noise).clamp(-1, 1),
        "noise0.5": (x + 0.5 * noise).clamp(-1, 1),
        "drop3": x[labels >= 3],
        "drop6": x[labels >= 6],
    }
    return {
        name: compute_quality(test_feats, embed(extractor, s), kid_subsets=20)
        for name, s in sets.items()
    }


def test_test_set_against_train_set_is_near_zero(scores):
    clean = scores["clean"]
    assert clean.fd < 1.0
    assert abs(clean.kid) < 0.03  # degraded sets score 0.5 to 5
    assert clean.precision > 0.9 and clean.recall > 0.9 and clean.coverage > 0.9


def test_degradations_score_clearly_worse_and_in_order(scores):
    clean = scores["clean"].fd
    for name in ("blur1", "blur2", "noise0.2", "noise0.5", "drop3", "drop6"):
        assert scores[name].fd > 5 * clean, name
        assert scores[name].kid > 0.3, name
    assert scores["blur1"].fd < scores["blur2"].fd
    assert scores["noise0.2"].fd < scores["noise0.5"].fd
    assert scores["drop3"].fd < scores["drop6"].fd
    # dropping classes costs recall / coverage, not precision; heavy noise costs precision
    assert scores["drop6"].recall < scores["clean"].recall - 0.15
    assert scores["drop6"].coverage < scores["clean"].coverage - 0.2
    assert scores["drop6"].precision > 0.8
    assert scores["noise0.5"].precision < scores["clean"].precision - 0.2


def test_fd_of_a_set_with_itself_is_zero(test_feats):
    assert frechet_distance(test_feats, test_feats) == pytest.approx(0.0, abs=1e-6)
    m = manifold_metrics(test_feats[:2000], test_feats[:2000])
    assert m.precision == m.recall == m.coverage == 1.0


def test_kid_is_unbiased_for_two_halves_of_the_test_set(test_feats):
    perm = torch.randperm(len(test_feats), generator=torch.Generator().manual_seed(0))
    a, b = test_feats[perm[:5000]], test_feats[perm[5000:]]
    kid, kid_std = kernel_distance(a, b, subsets=50)
    assert abs(kid) < 0.01 and abs(kid) < kid_std  # a noised set scores ~2.3
    assert frechet_distance(a, b) < 0.5


def test_reference_batches_cover_the_dataset():
    data = load_dataset(DataConfig(split="test"))
    sizes = [b.shape[0] for b in image_batches(data, 3000)]
    assert sizes == [3000, 3000, 3000, 1000]


def test_background_masks_and_level_closed_form():
    from patchforcing.evaluation.metrics import background_masks

    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    images[0, 0, 0, 0] = 200  # class 0: pixel (0, 0) is lit in one of two images
    images[2:, 0, 1, 1] = 50  # class 1: pixel (1, 1) lit in both
    labels = torch.tensor([0, 0, 1, 1])
    masks = background_masks(images, labels, 2, share=0.5)
    assert masks.masks[0, 0].tolist() == [[True, True], [True, True]]
    assert masks.masks[1, 0].tolist() == [[True, True], [True, False]]
    assert masks.level(images, labels) == pytest.approx(200 / (4 + 4 + 3 + 3))
    noisy = torch.full((1, 1, 2, 2), 3, dtype=torch.uint8)
    assert masks.level(noisy, torch.tensor([1])) == 3.0
    strict = background_masks(images, labels, 2, share=1.0)
    assert (
        not strict.masks[0, 0, 0, 0]
        and strict.level(noisy[:, :, :1, :1].expand(1, 1, 2, 2), torch.tensor([0])) == 3
    )


def test_background_of_a_white_colour_dataset():
    """Emoji and folder images with transparency lie on white: the level is the distance
    from white."""
    from patchforcing.evaluation.metrics import background_masks

    images = torch.full((3, 3, 2, 2), 255, dtype=torch.uint8)
    images[:, :, 0, 0] = torch.tensor([200, 30, 90], dtype=torch.uint8).view(
        1, 3
    )  # an object in every image
    images[0, 2, 1, 1] = 0  # a blue-less pixel in one image of three
    masks = background_masks(images, torch.zeros(3, dtype=torch.long), 0, share=0.6)
    assert masks.colours.tolist() == [[255, 255, 255]]
    assert masks.masks[0, 0].tolist() == [[False, True], [True, True]]
    assert masks.level(images, torch.zeros(3, dtype=torch.long)) == pytest.approx(255 / (3 * 3 * 3))
    grey = torch.full((1, 3, 2, 2), 250, dtype=torch.uint8)
    assert masks.level(grey, torch.zeros(1, dtype=torch.long)) == 5.0
    black = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    black[0, 0, 0, 0] = (
        255  # a white square, one class of two: black background for the class, white for all
    )
    per_class = background_masks(
        torch.cat([black, images[:, :1]]), torch.tensor([0, 0, 1, 1, 1]), 2, share=0.6
    )
    assert per_class.colours[:, 0].tolist() == [0, 255, 255]  # class 0, class 1, all images
    text_label = torch.tensor([-1])  # the label of a text-to-image model's image
    assert (
        per_class.level(grey[:, :1], text_label)
        == per_class.level(grey[:, :1], torch.tensor([1]))
        == 5.0
    )
    assert per_class.level(grey[:, :1], torch.tensor([0])) == 250.0


def test_background_refuses_a_class_the_reference_lacks():
    """Images labelled beyond the reference's classes (another data set) are a one-line ValueError
    naming the class, not an IndexError; a reference without classes takes any label."""
    from patchforcing.evaluation.metrics import background_masks

    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    two = background_masks(images, torch.tensor([0, 0, 1, 1]), 2)
    with pytest.raises(ValueError, match=r"class 4 is beyond the reference's 2 classes \(0-1\)"):
        two.level(images[:1], torch.tensor([4]))
    with pytest.raises(ValueError, match="class 2 is beyond"):
        two.level(images[:1], torch.tensor([2]))  # once silently scored against all images
    unlabelled = background_masks(images, torch.zeros(4, dtype=torch.long), 0)
    assert unlabelled.level(images[:1], torch.tensor([7])) == 0.0
