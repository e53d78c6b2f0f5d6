"""Prompt alignment: the InfoNCE loss in closed form, the scores on hand-built embeddings, a tiny
image-text model learning coloured squares, its model folder, and ``patchforcing clip``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from patchforcing.cli.main import main
from patchforcing.data import ImageArrays
from patchforcing.evaluation.metrics.alignment import AlignmentAccumulator, alignment_scores
from patchforcing.evaluation.metrics.alignment_model import ImageTextModel, load_image_text_model
from patchforcing.evaluation.metrics.alignment_train import (
    ImageTextTrainConfig,
    image_text_model_for,
    info_nce,
    train_image_text,
)
from patchforcing.model.pretrained import CheckpointError
from patchforcing.model.shipped import shipped_path

COLOURS = {
    "red": (230, 30, 30),
    "green": (30, 200, 30),
    "blue": (30, 30, 230),
    "yellow": (230, 230, 30),
}
PLACES = ("top", "bottom")
TINY = {
    "embed_dim": 16,
    "image_widths": (8, 16),
    "text_width": 16,
    "text_depth": 1,
    "text_heads": 2,
}


def squares(copies: int, seed: int) -> ImageArrays:
    """8x8 RGB images: a coloured bar at the top or bottom of a white image, with pixel noise;
    captions "red top" / "a red square at the top"; labels are the colours."""
    gen = torch.Generator().manual_seed(seed)
    images, labels, captions = [], [], []
    for k, (name, rgb) in enumerate(COLOURS.items()):
        for place in PLACES:
            for _ in range(copies):
                img = torch.full((3, 8, 8), 255, dtype=torch.uint8)
                rows = slice(0, 4) if place == "top" else slice(4, 8)
                img[:, rows, 1:7] = torch.tensor(rgb, dtype=torch.uint8)[:, None, None]
                noise = torch.randint(-20, 21, (3, 8, 8), generator=gen)
                images.append((img.int() + noise).clamp(0, 255).to(torch.uint8))
                labels.append(k)
                captions.append((f"{name} {place}", f"a {name} square at the {place}"))
    return ImageArrays(
        torch.stack(images), torch.tensor(labels), tuple(COLOURS), captions=tuple(captions)
    )


class OneHot:
    """Hand-built embedder: an image is its flattened pixels, a prompt the vector it is given."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(images.flatten(1).float(), dim=-1)

    def embed_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        return F.normalize(torch.tensor([self.vectors[p] for p in prompts]), dim=-1)


def test_info_nce_closed_form():
    s = torch.tensor(2.0)
    eye = torch.eye(4)
    loss = info_nce(eye, eye, torch.arange(4), s)  # every row: -s + log(e^s + 3)
    assert math.isclose(float(loss), -2.0 + math.log(math.exp(2.0) + 3), rel_tol=1e-6)
    # two images share the first text: image->text rows log(e^s + 1) - s; the shared text's target
    # is split over its two images: logsumexp(s, s, 0) - s; the other text: logsumexp(0, 0, s) - s
    images = torch.eye(2)[[0, 0, 1]]
    loss = info_nce(images, torch.eye(2), torch.tensor([0, 0, 1]), s)
    i2t = math.log(math.exp(2) + 1) - 2
    t2i = (math.log(2 * math.exp(2) + 1) - 2 + math.log(2 + math.exp(2)) - 2) / 2
    assert math.isclose(float(loss), (i2t + t2i) / 2, rel_tol=1e-6)


def test_scores_on_hand_built_embeddings():
    prompts = ["a", "b", "c", "d"]
    model = OneHot({p: torch.eye(4)[i].tolist() for i, p in enumerate(prompts)})
    images = torch.eye(4).reshape(4, 1, 2, 2)
    perfect = alignment_scores(model, images, prompts)
    assert (perfect.retrieval_top1, perfect.retrieval_top5, perfect.count, perfect.num_prompts) == (
        1.0,
        1.0,
        4,
        4,
    )
    assert perfect.clip_score == pytest.approx(100.0) and perfect.category_accuracy is None
    shuffled = alignment_scores(model, images, ["b", "c", "d", "a"])
    assert (
        shuffled.retrieval_top1 == 0.0
        and shuffled.retrieval_top5 == 1.0
        and shuffled.clip_score == 0.0
    )
    collapsed = alignment_scores(OneHot({p: [1.0, 0, 0, 0] for p in prompts}), images, prompts)
    assert collapsed.retrieval_top1 == 0.0  # ties count against the image


def test_clip_score_formula_and_streaming():
    angles = torch.tensor([0.0, 0.5, 1.2, 2.0, 3.0])  # cos 1, 0.88, 0.36, -0.42, -0.99
    images = torch.stack([angles.cos(), angles.sin()], dim=1).reshape(5, 1, 1, 2)
    model = OneHot({"x": [1.0, 0.0], "y": [0.0, 1.0]})
    result = alignment_scores(model, images, ["x"] * 5)
    assert result.clip_score == pytest.approx(
        float((100 * angles.cos().clamp(min=0)).mean()), rel=1e-5
    )
    prompts = ["x", "y", "x", "y", "x"]
    whole = alignment_scores(model, images, prompts)
    acc = AlignmentAccumulator(model)
    for start in range(0, 5, 2):
        acc.update(images[start : start + 2], prompts[start : start + 2])
    assert acc.compute() == whole


def test_parts_merged_from_other_processes_give_the_whole_scores():
    """What rank 0 does under torchrun: merge each rank's part (embeddings, prompts, sums) into
    its own."""
    model = OneHot(
        {"x": [1.0, 0.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0, 0.0], "z": [0.0, 0.0, 1.0, 1.0]}
    )
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    images = torch.randn(7, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    prompts, cats = ["x", "y", "x", "z", "y", "z", "x"], torch.tensor([0, 1, 0, 2, 1, 2, 0])
    whole = alignment_scores(model, images, prompts, cats, classifier)
    first, second, empty = (AlignmentAccumulator(model, classifier) for _ in range(3))
    first.update(
        images[:2], prompts[:2], cats[:2]
    )  # prompts "x", "y": "z" arrives only with the second part
    second.update(images[2:], prompts[2:], cats[2:])
    first.merge(second.part())
    first.merge(empty.part())  # a rank without images
    merged = first.compute()
    assert (
        merged.count,
        merged.num_prompts,
        merged.retrieval_top1,
        merged.retrieval_top5,
        merged.category_accuracy,
    ) == (
        whole.count,
        whole.num_prompts,
        whole.retrieval_top1,
        whole.retrieval_top5,
        whole.category_accuracy,
    )
    assert merged.clip_score == pytest.approx(whole.clip_score, rel=1e-12)


def test_category_accuracy():
    classifier = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        classifier.weight.copy_(torch.eye(4))
    classifier = nn.Sequential(nn.Flatten(), classifier)
    images = torch.eye(4).reshape(4, 1, 2, 2)
    model = OneHot({p: torch.eye(4)[i].tolist() for i, p in enumerate("abcd")})
    result = alignment_scores(model, images, list("abcd"), torch.tensor([0, 1, 3, 2]), classifier)
    assert result.category_accuracy == 0.5
    with pytest.raises(ValueError, match="pass both or neither"):
        alignment_scores(model, images, list("abcd"), torch.tensor([0, 1, 2, 3]))


def test_tiny_model_learns_coloured_squares(single_thread):
    train, test = squares(8, 0), squares(2, 1)
    config = ImageTextTrainConfig(epochs=20, batch_size=16, lr=3e-3)

    def run() -> tuple[ImageTextModel, float]:
        torch.manual_seed(0)  # the initial weights of a model passed in
        result = train_image_text(
            train, test, config, seed=0, model=image_text_model_for(train, **TINY)
        )
        return result.model, result.test.retrieval_top1

    model, top1 = run()
    assert top1 >= 0.75  # chance: 1 / 8 captions
    again, top1_again = run()
    assert top1_again == top1
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )


def test_round_trip_with_tokenizer(tmp_path):
    torch.manual_seed(0)
    model = image_text_model_for(squares(1, 0), **TINY).eval()
    folder = model.save_pretrained(tmp_path / "clip")
    loaded = load_image_text_model(folder)
    assert loaded.tokenizer == model.tokenizer and loaded.config == model.config
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    images = squares(1, 2).batch(torch.arange(8))[0]
    prompts = ["red top", "a blue square at the bottom", "unknown words"]
    with torch.no_grad():
        assert torch.equal(model.embed_images(images), loaded.embed_images(images))
        assert torch.equal(model.embed_prompts(prompts), loaded.embed_prompts(prompts))
    with pytest.raises(ValueError, match="expects images"):
        loaded.embed_images(torch.zeros(1, 1, 8, 8))


def test_shipped_model_ranks_its_own_caption_first():
    """emoji-clip by name: two captions of the data set's vocabulary, each closer to its
    own image."""
    model = load_image_text_model("emoji-clip")
    assert shipped_path("emoji-clip").is_dir() and model.meta is not None
    assert model.meta.quality["test_retrieval_top1"] > 0.3  # 0.44 when it was trained; chance 1/375
    texts = model.embed_prompts(["a flag", "heavy black heart"])  # (2, D), unit vectors
    assert texts.shape == (2, model.config.embed_dim)
    assert torch.allclose(texts.norm(dim=1), torch.ones(2), atol=1e-5)


def _caption_folder(root, data: ImageArrays):
    for i, (image, captions) in enumerate(zip(data.images, data.captions)):
        folder = root / data.class_names[int(data.labels[i])]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
        (folder / f"{i:03d}.txt").write_text("\n".join(captions) + "\n")


def test_cli_train_test_and_destination_safety(tmp_path, capsys, single_thread):
    data = tmp_path / "squares"
    _caption_folder(data, squares(2, 0))
    out = tmp_path / "clip"
    train = [
        "clip",
        "train",
        "--data",
        str(data),
        "--image-size",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert main(train) == 0
    model = load_image_text_model(out)
    assert model.meta is not None and "test_retrieval_top1" in model.meta.quality
    assert "red" in model.tokenizer.vocab
    assert (
        main(["clip", "test", "--checkpoint", str(out), "--data", str(data), "--image-size", "8"])
        == 0
    )
    assert "retrieval top-1" in capsys.readouterr().out
    assert main(train) == 2  # an existing model folder needs --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*train, "--overwrite"]) == 0
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    assert main([*train[:-1], str(user), "--overwrite"]) == 2
    assert (user / "notes.txt").read_text() == "keep me" and sorted(
        p.name for p in user.iterdir()
    ) == ["notes.txt"]
    uncaptioned = tmp_path / "plain"
    (uncaptioned / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(uncaptioned / "a" / "x.png")
    assert (
        main(
            [
                "clip",
                "train",
                "--data",
                str(uncaptioned),
                "--image-size",
                "8",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "no captions" in capsys.readouterr().err


def test_wrong_model_type_is_refused(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "dit")
    with pytest.raises(CheckpointError, match="patchforcing-clip"):
        load_image_text_model(folder)
