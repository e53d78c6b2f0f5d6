"""Text-to-image end to end at toy size: training on captions (and resuming it), prompts in
generation, the sample / eval / analyze commands, and the prompt files."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from patchforcing.cli.main import main
from patchforcing.data import ImageArrays
from patchforcing.model import (
    PatchForcingT2I,
    TextCondition,
    load_model,
    text_model_config_from_preset,
)
from patchforcing.sampling.generation import (
    NO_LABEL,
    GenerationConfig,
    batch_conditions,
    generate,
    single_image_config,
)
from patchforcing.sampling.generation.prompts import read_prompts
from patchforcing.train import train
from patchforcing.train.config import TextConfig, TrainConfig, config_from_dict, config_to_dict
from patchforcing.train.text import CaptionConditions, build_text_encoder, caption_generator
from test_alignment import _caption_folder

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 30),
    "blue": (30, 30, 220),
    "yellow": (230, 220, 30),
}


def _squares(count: int = 32) -> ImageArrays:
    """Coloured squares on white, 8x8 RGB; captions name the colour (two alternatives each)."""
    images = np.full((count, 3, 8, 8), 255, dtype=np.uint8)
    names = list(COLOURS)
    captions, labels = [], []
    for i in range(count):
        name = names[i % len(names)]
        images[i, :, 2:6, 2:6] = np.array(COLOURS[name])[:, None, None]
        captions.append((f"{name} square", f"a {name} block"))
        labels.append(i % len(names))
    return ImageArrays(
        torch.from_numpy(images), torch.tensor(labels), tuple(names), captions=tuple(captions)
    )


def _config(out_dir, steps: int = 4, baseline: bool = False) -> TrainConfig:
    data = _squares()
    text = TextConfig()
    vocab = build_text_encoder(text, data).vocab_size
    model = text_model_config_from_preset(
        "T2I-T/2",
        image_size=8,
        in_channels=3,
        text_vocab_size=vocab,
        time_mode="global" if baseline else "patch",
        difficulty_head=not baseline,
    )
    return TrainConfig(
        model=model,
        text=text,
        out_dir=str(out_dir),
        steps=steps,
        batch_size=8,
        log_every=1,
        sample_every=1000,
        checkpoint_every=2,
    )


def test_text_config_round_trips_and_pairs_model_with_text(tmp_path):
    config = _config(tmp_path / "run")
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    with pytest.raises(ValueError, match="text section"):
        replace(config, text=None)
    with pytest.raises(ValueError, match="pretrained"):
        TextConfig(encoder="pretrained")


def test_caption_draws_are_seeded_and_encoded(tmp_path):
    data = _squares()
    encoder = build_text_encoder(TextConfig(), data)
    conditions = CaptionConditions(encoder, data)
    index = torch.arange(8)
    a = conditions(index, caption_generator(0, 3), "cpu")
    b = conditions(index, caption_generator(0, 3), "cpu")
    c = conditions(index, caption_generator(0, 4), "cpu")
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)
    assert bool(a.mask[:, 0].all()) and a.tokens.dtype == torch.long
    part = conditions(
        index, caption_generator(0, 3), "cpu", slice(2, 5)
    )  # one rank's rows of the global batch
    expected = encoder.encode(data.caption_batch(index, caption_generator(0, 3))[2:5])
    assert torch.equal(part.tokens, expected.tokens) and torch.equal(part.mask, expected.mask)


def test_text_training_resumes_bitwise_and_writes_a_loadable_model(tmp_path, single_thread):
    data = _squares()
    whole = train(_config(tmp_path / "whole"), device="cpu", progress=False, data=data)
    part = _config(tmp_path / "part")
    train(part, device="cpu", progress=False, data=data, stop_after=2)
    resumed = train(part, device="cpu", progress=False, data=data)
    assert resumed.resumed_from == 2 and whole.losses[2:] == resumed.losses
    a, b = load_model(tmp_path / "whole"), load_model(tmp_path / "part")
    assert isinstance(a, PatchForcingT2I)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert (tmp_path / "whole" / "checkpoints" / "step_00000004" / "text_encoder.json").is_file()
    assert a.meta is not None and a.meta.model_type == "patchforcing-t2i"
    assert a.text_encoder().encode(["red square"]).tokens.shape == (1, 3)
    first = a.text_encoder()
    assert a.text_encoder() is first  # built once, not per generated batch
    smaller = build_text_encoder(
        TextConfig(min_count=100), _squares()
    )  # other words: only the special ids
    with pytest.raises(ValueError, match="vocab_size"):
        a.set_text_encoder(smaller)
    a.text_encoder_spec = dict(a.text_encoder_spec or {})  # a new description is rebuilt
    assert a.text_encoder() is not first and a.text_encoder().to_json() == first.to_json()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("t2i") / "run"
    train(_config(out, steps=2), device="cpu", progress=False, data=_squares())
    return out


def test_generation_takes_prompts_and_refuses_classes(tiny_run):
    model = load_model(tiny_run)
    config = GenerationConfig(
        steps=3, num_images=5, prompts=("red square", "blue square"), batch_size=2
    )
    y, labels, prompts = batch_conditions(model, config, [0, 1, 2], "cpu")
    assert isinstance(y, TextCondition) and prompts == ["red square", "blue square", "red square"]
    assert labels.tolist() == [NO_LABEL] * 3
    images = generate(model, config)
    assert images.shape == (5, 3, 8, 8)
    alone = generate(model, single_image_config(config, 3))  # image 3: seed 3, prompt "blue square"
    assert torch.allclose(alone[0], images[3], atol=1e-5)
    with pytest.raises(ValueError, match="give prompts"):
        generate(model, GenerationConfig(steps=2, num_images=1))
    with pytest.raises(ValueError, match="not classes"):
        generate(model, GenerationConfig(steps=2, num_images=1, classes=(0,)))
    with pytest.raises(ValueError, match="not both"):
        GenerationConfig(classes=(0,), prompts=("x",))


def test_prompt_files(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("red heart\n\n  a flag  \n")
    assert read_prompts(txt).prompts == ("red heart", "a flag")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a cat", "category": "Animals & Nature"}\n{"prompt": "tea"}\n')
    assert read_prompts(jsonl).categories == ("Animals & Nature", None)
    jsonl.write_text('{"prompt": "a cat"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_prompts(jsonl)
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="no prompts"):
        read_prompts(empty)
    with pytest.raises(ValueError, match="is a folder"):
        read_prompts(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_prompts(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="larger than 64 MiB"):
        read_prompts("/dev/zero")  # endless: read bounded, not to the end
    read, write = os.pipe()  # a pipe, as from --prompts <(...)
    os.write(write, b"a flag\n")
    os.close(write)
    assert read_prompts(f"/dev/fd/{read}").prompts == ("a flag",)
    os.close(read)


def test_words_outside_the_vocabulary_are_named_once(tiny_run, tmp_path, capsys):
    tokenizer = load_model(tiny_run).text_encoder()
    known = " ".join(tokenizer.vocab[3:5])
    assert tokenizer.unknown_words([f"{known} zorblax", "Zorblax qqq!"]) == ["zorblax", "qqq"]
    sample = ["sample", "--checkpoint", str(tiny_run), "--num", "2", "--steps", "1"]
    prompts = ["--prompt", f"{known} zorblax", "--prompt", "zorblax qqq"]
    assert main([*sample, *prompts, "--out", str(tmp_path / "a")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "vocabulary" in line]
    assert notes == [
        "note: the model's vocabulary lacks 2 word(s) of the prompts, read as unknown: "
        "'zorblax', 'qqq'"
    ]
    assert main([*sample, "--prompt", known, "--out", str(tmp_path / "b")]) == 0
    assert "vocabulary" not in capsys.readouterr().err


def test_sample_command_writes_prompts_into_names_and_manifest(tiny_run, tmp_path, capsys):
    out = tmp_path / "s"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(tiny_run),
                "--prompt",
                "red square",
                "--prompt",
                "a blue block",
                "--num",
                "3",
                "--steps",
                "2",
                "--sampler",
                "dual-loop",
                "--cfg",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in records] == ["red square", "a blue block", "red square"]
    assert (
        records[1]["file"] == "images/seed000001_a-blue-block.png"
        and records[0]["label"] == NO_LABEL
    )
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(tiny_run),
                "--num",
                "1",
                "--steps",
                "2",
                "--out",
                str(tmp_path / "none"),
            ]
        )
        == 2
    )
    assert "give prompts" in capsys.readouterr().err


def test_eval_scores_prompt_alignment_and_categories(tiny_run, tmp_path, capsys):
    from patchforcing.evaluation.metrics.alignment_train import image_text_model_for
    from patchforcing.evaluation.metrics.classifier import (
        FeatureClassifier,
        classifier_config,
        save_classifier,
    )

    data = _squares()
    _caption_folder(tmp_path / "reference", data)
    reference = tmp_path / "reference"
    torch.manual_seed(0)
    image_text = image_text_model_for(
        data, embed_dim=16, image_widths=(8, 16), text_width=16, text_depth=1, text_heads=2
    )
    image_text.save_pretrained(tmp_path / "clip", image_text.make_meta())
    classifier = FeatureClassifier(classifier_config("cnn", 8, 3, len(COLOURS)))
    save_classifier(classifier, tmp_path / "classifier", {}, class_names=tuple(sorted(COLOURS)))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '{"prompt": "red square", "category": "red"}\n'
        '{"prompt": "a blue block", "category": "blue"}\n'
    )
    common = [
        "eval",
        "--checkpoint",
        str(tiny_run),
        "--reference",
        str(reference),
        "--image-size",
        "8",
        "--classifier",
        str(tmp_path / "classifier"),
        "--image-text",
        str(tmp_path / "clip"),
        "--num",
        "6",
        "--nfe",
        "4",
        "--batch-size",
        "4",
    ]
    assert main([*common, "--prompts", str(prompts), "--out", str(tmp_path / "a.json")]) == 0
    alignment = json.loads((tmp_path / "a.json").read_text())["alignment"]
    assert alignment["count"] == 6 and alignment["num_prompts"] == 2
    assert (
        0 <= alignment["retrieval_top1"] <= alignment["retrieval_top5"] == 1.0
    )  # 2 prompts: always in the top 5
    assert alignment["category_accuracy"] is not None
    assert "prompt alignment" in capsys.readouterr().out
    assert (
        main([*common, "--reference-prompts", "--num", "32", "--out", str(tmp_path / "b.json")])
        == 0
    )
    assert json.loads((tmp_path / "b.json").read_text())["alignment"]["num_prompts"] == len(COLOURS)
    prompts.write_text('{"prompt": "red square", "category": "purple"}\n')
    assert main([*common, "--prompts", str(prompts), "--out", str(tmp_path / "c.json")]) == 2
    assert "purple" in capsys.readouterr().err


def test_viewer_offers_a_text_model_run_with_a_prompt_field(tiny_run):
    from patchforcing.viewer.catalog import describe_checkpoint, load_catalog

    (checkpoint,) = load_catalog([str(tiny_run)]).values()
    described = describe_checkpoint(checkpoint)
    assert (
        checkpoint.takes_prompts and described["prompt"] is True and described["class_names"] == []
    )


def test_training_with_a_frozen_pretrained_encoder_caches_the_captions(
    tiny_lm, tmp_path, monkeypatch, single_thread, capsys
):
    monkeypatch.setenv(
        "HOME", str(tmp_path)
    )  # the caption cache goes to ~/.cache/patchforcing/text
    data = _squares()
    lm = shutil.copytree(tiny_lm, tmp_path / "lm")
    text = TextConfig(encoder="pretrained", pretrained_path=str(lm))
    encoder = build_text_encoder(text, data)
    model = text_model_config_from_preset(
        "T2I-T/2", image_size=8, in_channels=3, text_feature_dim=encoder.feature_dim or 0
    )
    config = TrainConfig(
        model=model,
        text=text,
        out_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=8,
        sample_every=1000,
        checkpoint_every=2,
    )
    train(config, device="cpu", progress=False, data=data)
    assert (
        len(list((tmp_path / ".cache" / "patchforcing" / "text").glob("text-*.safetensors"))) == 1
    )
    trained = load_model(tmp_path / "run")
    y = trained.text_encoder().encode(["red square"])
    assert y.tokens.dtype == torch.float32 and y.tokens.shape[-1] == encoder.feature_dim
    moved = lm.rename(
        tmp_path / "moved"
    )  # the run read on another machine: its encoder lives elsewhere
    sample = [
        "sample",
        "--checkpoint",
        str(tmp_path / "run"),
        "--prompt",
        "red square",
        "--num",
        "1",
        "--steps",
        "2",
    ]
    assert main([*sample, "--out", str(tmp_path / "s")]) == 2 and not (tmp_path / "s").exists()
    assert "--text-encoder DIR" in capsys.readouterr().err
    assert main([*sample, "--out", str(tmp_path / "s"), "--text-encoder", str(moved)]) == 0
    assert len(list((tmp_path / "s" / "images").glob("*.png"))) == 1
