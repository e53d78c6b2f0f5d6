"""Recommended sampling settings: they round-trip through the model folder, `sample`, `eval`,
`generate` and the diffusers pipeline use them for what is not given (each option given overrides
just its own setting), and a folder without them loads and samples unguided, as before."""

from __future__ import annotations

import json

import pytest
import torch

from patchforcing.cli.main import main
from patchforcing.evaluation.metrics.classifier import (
    FeatureClassifier,
    classifier_config,
    save_classifier,
)
from patchforcing.model import PatchForcingDiT, load_model
from patchforcing.model.pretrained import (
    CheckpointError,
    RecommendedSampling,
    read_meta,
    recommended_sampling,
    update_model_folder,
)
from patchforcing.sampling import DualLoop, Guidance
from patchforcing.sampling.generation import (
    GenerationConfig,
    fill_recommended,
    generate,
    recommended_config,
)

RECORD = RecommendedSampling(
    "dual-loop", 8, 2.0, (0.1, 0.9), chosen_by="lowest FD of a grid (test)."
)


@pytest.fixture
def plain_folder(tiny_model, tmp_path):
    """A model folder as every folder before the record existed: no recommended settings."""
    return tiny_model.save_pretrained(tmp_path / "plain")


@pytest.fixture
def recommending_folder(tiny_model, tmp_path):
    folder = tiny_model.save_pretrained(tmp_path / "recommending")
    update_model_folder(
        PatchForcingDiT.from_pretrained(folder),
        recommended_sampling=RECORD,
        quality={
            "evaluations": [
                {
                    "settings": "recommended",
                    "images": 10,
                    "command": "patchforcing eval --checkpoint recommending",
                    "metrics": {"FD (a)": 1.25},
                }
            ]
        },
        training={"budget": "2 steps on a test machine"},
    )
    return folder


def test_the_record_round_trips_and_the_weights_stay(recommending_folder, plain_folder):
    meta = read_meta(recommending_folder)
    assert meta.recommended_sampling == RECORD
    assert json.loads((recommending_folder / "config.json").read_text())[
        "recommended_sampling"
    ] == {
        "sampler": "dual-loop",
        "nfe": 8,
        "guidance_scale": 2.0,
        "guidance_interval": [0.1, 0.9],
        "chosen_by": "lowest FD of a grid (test).",
    }
    weights = (recommending_folder / "model.safetensors").read_bytes()
    assert weights == (plain_folder / "model.safetensors").read_bytes()
    card = (recommending_folder / "README.md").read_text()
    assert "dual-loop, NFE 8, CFG 2 on t in [0.1, 0.9]." in card
    assert "| recommended | 10 | 1.250 |" in card and "2 steps on a test machine." in card
    assert "Not measured yet" not in card and "recommended_config(model" in card
    model = load_model(recommending_folder)
    assert recommended_sampling(model) == RECORD
    assert recommended_sampling(model.save_pretrained(recommending_folder.parent / "again")) is None
    assert read_meta(recommending_folder.parent / "again").recommended_sampling == RECORD


def test_a_folder_without_a_record_reads_as_none_recorded(plain_folder):
    assert "recommended_sampling" not in json.loads((plain_folder / "config.json").read_text())
    model = load_model(plain_folder)
    assert recommended_sampling(model) is None
    assert recommended_config(model, num_images=3) == GenerationConfig(num_images=3)
    assert "Not measured yet" in (plain_folder / "README.md").read_text()


@pytest.mark.parametrize(
    "values,message",
    [
        ({"sampler": "euler", "nfe": 0, "guidance_scale": 1.0}, "NFE must be an integer >= 1"),
        ({"sampler": "euler", "nfe": 8, "guidance_scale": -1}, "scale must be >= 0"),
        ({"nfe": 8, "guidance_scale": 1.0}, "KeyError"),
        (
            {"sampler": "euler", "nfe": 8, "guidance_scale": 1, "guidance_interval": [0.9, 0.1]},
            "0 <= t_lo <= t_hi <= 1",
        ),
    ],
)
def test_a_bad_record_is_one_clear_error(plain_folder, values, message):
    config = json.loads((plain_folder / "config.json").read_text())
    (plain_folder / "config.json").write_text(
        json.dumps({**config, "recommended_sampling": values})
    )
    with pytest.raises(CheckpointError, match=message):
        read_meta(plain_folder)


def test_fill_recommended_fills_only_what_is_unset():
    given = GenerationConfig(steps=5, guidance=Guidance(scale=4.0, guide_logvar=False))
    filled = fill_recommended(given, RECORD, ["sampler", "guidance_interval"], {"p": 0.25})
    assert filled.applied == ("sampler", "guidance_interval")
    assert filled.config.sampler == DualLoop(p=0.25) and filled.config.steps == 5
    assert filled.config.guidance == Guidance(scale=4.0, interval=(0.1, 0.9), guide_logvar=False)
    note = filled.note("m")
    assert note is not None and "sampler dual-loop" in note and "CFG" not in note
    assert (
        fill_recommended(given, None).config == given
        and fill_recommended(given, None).note("m") is None
    )
    with pytest.raises(ValueError, match="unknown settings"):
        fill_recommended(given, RECORD, ["nfe"])
    with pytest.raises(ValueError, match="does not have"):
        fill_recommended(given, RecommendedSampling("matrix", 8, 1.0))


def test_generate_without_a_config_uses_the_recommendation(recommending_folder, single_thread):
    model = load_model(recommending_folder)
    config = recommended_config(model, num_images=2, classes=(0, 1))
    assert config.sampler == DualLoop() and config.nfe == 8
    assert config.guidance == Guidance(scale=2.0, interval=(0.1, 0.9))
    expected = GenerationConfig(
        sampler=DualLoop(), nfe=8, guidance=config.guidance, num_images=20, batch_size=64
    )
    assert torch.equal(generate(model), generate(model, expected))
    unguided = recommended_config(model, num_images=2, guidance=Guidance())
    assert unguided.guidance == Guidance() and unguided.sampler == DualLoop()


def _sample(capsys, folder, out, *options):
    argv = ["sample", "--checkpoint", str(folder), "--num", "3", "--threads", "1"]
    assert main([*argv, *options, "--out", str(out)]) == 0
    return capsys.readouterr().err, sorted((out / "images").iterdir())


def test_sample_applies_the_recommendation_and_each_option_overrides_its_own(
    capsys, recommending_folder, tmp_path
):
    err, images = _sample(capsys, recommending_folder, tmp_path / "rec")
    assert (
        "using the recommended settings of" in err
        and "sampler dual-loop, NFE 8, CFG 2, guidance interval [0.1, 0.9]" in err
    )
    explicit = (
        "--sampler",
        "dual-loop",
        "--nfe",
        "8",
        "--cfg",
        "2",
        "--cfg-interval",
        "0.1",
        "0.9",
    )
    err, same = _sample(capsys, recommending_folder, tmp_path / "explicit", *explicit)
    assert "recommended" not in err
    assert [p.read_bytes() for p in images] == [p.read_bytes() for p in same]
    err, unguided = _sample(capsys, recommending_folder, tmp_path / "cfg1", "--cfg", "1")
    assert "sampler dual-loop, NFE 8, guidance interval" in err and "CFG 2" not in err
    err, other = _sample(capsys, recommending_folder, tmp_path / "ex1", *explicit, "--cfg", "1")
    assert [p.read_bytes() for p in unguided] == [p.read_bytes() for p in other]
    assert [p.read_bytes() for p in unguided] != [p.read_bytes() for p in images]
    assert json.loads((tmp_path / "rec/samples.jsonl").read_text().splitlines()[0])["nfe"] == 8


def test_a_folder_without_a_record_samples_unguided_as_before(capsys, plain_folder, tmp_path):
    err, images = _sample(capsys, plain_folder, tmp_path / "default")
    assert "recommended" not in err
    err, same = _sample(
        capsys,
        plain_folder,
        tmp_path / "explicit",
        "--sampler",
        "euler-pf",
        "--steps",
        "50",
        "--cfg",
        "1",
    )
    assert [p.read_bytes() for p in images] == [p.read_bytes() for p in same]


def test_eval_applies_the_recommendation(capsys, recommending_folder, tiny_npz, tmp_path):
    torch.manual_seed(0)
    classifier = tmp_path / "clf"
    untrained = FeatureClassifier(classifier_config("cnn", 8, 1, 3))
    save_classifier(untrained, classifier, {}, class_names=("a", "b", "c"))
    common = [
        *("eval", "--checkpoint", str(recommending_folder), "--reference", str(tiny_npz)),
        *("--classifier", str(classifier), "--num", "6", "--cache-dir", str(tmp_path / "cache")),
        *("--threads", "1"),
    ]
    assert main([*common, "--out", str(tmp_path / "a.json")]) == 0
    assert "using the recommended settings" in capsys.readouterr().err
    result = json.loads((tmp_path / "a.json").read_text())
    assert result["sampler"].startswith("DualLoop(") and result["nfe_requested"] == 8
    assert result["guidance"]["scale"] == 2.0 and result["guidance"]["interval"] == [0.1, 0.9]
    given = ("--sampler", "euler-pf", "--nfe", "4", "--cfg", "1")
    assert main([*common, *given, "--out", str(tmp_path / "b.json")]) == 0
    assert "CFG" not in capsys.readouterr().err
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["sampler"] == "EulerPF()" and result["nfe"] == 4
    assert result["guidance"]["scale"] == 1.0
