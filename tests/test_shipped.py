"""The shipped checkpoints load by name, match the recipe docs/shipped.md states (`train --recipe`),
and draw the class asked for."""

import numpy as np
import pytest
import torch

from patchforcing.data import ArrayData, DataConfig, ImageArrays, load_dataset
from patchforcing.evaluation.metrics.classifier import load_classifier
from patchforcing.model import PatchForcingDiT, load_model
from patchforcing.model.shipped import SHIPPED
from patchforcing.sampling import Euler, EulerPF, noise_for_seeds, uniform_schedule
from patchforcing.train.config import config_from_dict
from patchforcing.train.recipes import recipe

FMNIST = ("fmnist-pf", "fmnist-global")


def test_every_shipped_name_is_covered():
    assert set(SHIPPED) == {*FMNIST, "emoji-t2i"}


def _training_data(name: str, model, monkeypatch) -> ArrayData:
    """What the recipe's config needs of its data set: for a class model its sizes and classes (one
    blank image of the checkpoint's data spec), for a text model the captions its tokenizer is
    built from: those of its training, before the captions had the everyday emoji names."""
    spec = model.meta.data
    if name in FMNIST:
        blank = np.zeros((1, spec.channels, spec.image_size, spec.image_size), np.uint8)
        return ImageArrays.from_numpy(blank, np.zeros(1), spec.class_names)
    monkeypatch.setattr("patchforcing.data.emoji.everyday_name", lambda unified: None)
    try:
        return load_dataset(DataConfig(source="emoji"))
    except FileNotFoundError:
        pytest.skip("the emoji data set is not installed (`python -m patchforcing.data.emoji`)")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_is_its_recipe(name, monkeypatch):
    """The run configuration a shipped checkpoint records (written before `time_dist` was named so)
    is the library's recipe of that name; precision and folder are the training machine's."""
    model = load_model(name)
    run_only = ("exported_from", "run_id", "step", "weights", "budget")
    recorded = {k: v for k, v in model.meta.training.items() if k not in run_only}
    shipped = config_from_dict({"format_version": 1, **recorded, "model": model.meta.architecture})
    assert shipped == recipe(
        name,
        data=_training_data(name, model, monkeypatch),
        precision=shipped.precision,
        out_dir=shipped.out_dir,
    )
    assert model.meta.training["weights"] == "ema" and model.meta.format_version == 2
    assert name == "emoji-t2i" or model.meta.data.class_names[9] == "Ankle boot"


@pytest.mark.parametrize("name,sampler", [("fmnist-pf", EulerPF()), ("fmnist-global", Euler())])
def test_shipped_samples_are_the_requested_items(name, sampler):
    """The shipped classifier recognises the requested class far above chance (10%); on 100 images
    at 50 steps it was 78% (PF) and 76% (global) when the checkpoints were made."""
    torch.manual_seed(0)
    model = PatchForcingDiT.from_pretrained(name)
    labels = torch.arange(40) % 10
    noise = noise_for_seeds(range(40), (1, 28, 28))
    x = sampler(model, noise, labels, uniform_schedule(20)).x
    with torch.no_grad():
        predicted = load_classifier()(x.clamp(-1, 1)).argmax(dim=1)
    assert (predicted == labels).float().mean() >= 0.5


def test_shipped_text_to_image_model_draws_the_category_asked_for():
    """Category prompts, classified by the shipped emoji category classifier: 60% of 40 images were
    right at NFE 16 (flags 100%, food 30%, animals 60%, smileys 50%; chance 11%) when it
    was made."""
    from patchforcing import DualLoop, GenerationConfig, Guidance, PatchForcingT2I, generate

    torch.manual_seed(0)
    model = load_model("emoji-t2i")
    assert isinstance(model, PatchForcingT2I) and model.meta is not None
    classifier = load_classifier("emoji-classifier")
    names = classifier.meta.data.class_names
    pairs = [
        ("a flag", "Flags"),
        ("food", "Food & Drink"),
        ("an animal", "Animals & Nature"),
        ("a smiley", "Smileys & Emotion"),
    ]
    config = GenerationConfig(
        sampler=DualLoop(),
        nfe=16,
        guidance=Guidance(scale=3.0),
        num_images=16,
        prompts=tuple(p for p, _ in pairs),
        batch_size=16,
    )
    with torch.no_grad():
        predicted = classifier(generate(model, config)).argmax(dim=1)
    wanted = torch.tensor([names.index(name) for _, name in pairs] * 4)
    assert (predicted == wanted).float().mean() >= 0.35


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_cards_state_measured_quality_budget_and_samples(name):
    """Every shipped generator records its recommended settings and its card gives the measured
    quality unguided and at those settings (both Fashion-MNIST feature spaces; prompt alignment
    for text) with the commands, the training budget and hardware, and a sample grid."""
    from patchforcing.model.pretrained import recommended_sampling
    from patchforcing.model.shipped import SHIPPED_ALIGNMENT, SHIPPED_CLASSIFIERS, shipped_path

    model = load_model(name)
    record = recommended_sampling(model)
    assert record is not None and record.nfe == 32 and record.guidance_scale > 1
    assert record.chosen_by.startswith("Chosen by the")
    folder = shipped_path(name)
    card = (folder / "README.md").read_text()
    assert "## Recommended sampling" in card and record.describe() in card
    assert "| unguided: " in card and "| recommended: " in card
    spaces = (
        ("emoji-classifier", "alignment score")
        if name == "emoji-t2i"
        else (
            "FD (fmnist-classifier)",
            "FD (fmnist-resnet-aug)",
        )
    )
    assert all(space in card for space in spaces)
    assert card.count("patchforcing eval --checkpoint") == 2
    assert "2-core x86 CPU" in card and "min" in model.meta.training["budget"]
    assert "![Samples of" in card and (folder / "samples.png").is_file()
    for other in (*SHIPPED, *SHIPPED_CLASSIFIERS, *SHIPPED_ALIGNMENT):
        assert "Not measured yet" not in (shipped_path(other) / "README.md").read_text()
