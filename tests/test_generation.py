"""The one generation path: every image depends on its seed only (not on the batch, the command or
the process), classes cycle from the first image, the sample folder holds exactly those images, and
eval scores exactly what sample writes."""

from __future__ import annotations

import json
from dataclasses import replace
from unittest import mock

import pytest
import torch

from conftest import randomize
from patchforcing.cli.main import main
from patchforcing.evaluation import folder_batches
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import SAMPLERS, Guidance
from patchforcing.sampling.generation import (
    GenerationConfig,
    generate,
    generate_batches,
    read_manifest,
    single_image_config,
    write_sample_folder,
)
from patchforcing.utils.io.pixels import from_model_range, to_model_range

PF_SAMPLERS = [name for name in SAMPLERS if name != "euler"]


@pytest.fixture
def global_model(tiny_config: ModelConfig) -> PatchForcingDiT:
    return randomize(
        PatchForcingDiT(replace(tiny_config, time_mode="global", difficulty_head=False))
    ).eval()


def _model(name: str, tiny_model, global_model):
    return global_model if name == "euler" else tiny_model


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_an_image_does_not_depend_on_its_batch(name, tiny_model, global_model):
    """Same batch size: bitwise the same images, whoever asks. Other batch sizes: the matrix kernels
    round differently for other row counts (about 1e-7 here), nothing more: every image keeps its
    own noise, class and masks."""
    model = _model(name, tiny_model, global_model)
    config = GenerationConfig(
        sampler=SAMPLERS[name](),
        steps=3,
        num_images=5,
        seed=11,
        batch_size=2,
        guidance=Guidance(scale=1.5),
    )
    whole = generate(model, config)  # (5, C, H, W)
    assert whole.shape == (5, 1, 8, 8)
    assert torch.equal(generate(model, config), whole)
    for batch_size in (1, 3, 5):
        assert torch.allclose(
            generate(model, replace(config, batch_size=batch_size)), whole, rtol=0, atol=1e-5
        )
    alone = generate(model, single_image_config(config, 3))
    assert torch.allclose(alone[0], whole[3], rtol=0, atol=1e-5)
    other = generate(
        model, replace(config, seed=12, num_images=4)
    )  # a shifted range: other batch members
    assert torch.allclose(other, whole[1:], rtol=0, atol=1e-5)


def test_batches_record_seeds_labels_and_cost(tiny_model):
    config = GenerationConfig(
        sampler=SAMPLERS["dual-loop"](), nfe=8, num_images=5, seed=7, batch_size=2, classes=(2, 0)
    )
    batches = list(generate_batches(tiny_model, config))
    assert [b.seeds for b in batches] == [[7, 8], [9, 10], [11]]
    assert [b.labels.tolist() for b in batches] == [[2, 0], [2, 0], [2]]
    assert all(b.nfe == 8 and b.steps == 2 and b.sampler == "dual-loop" for b in batches)
    assert next(
        generate_batches(tiny_model, replace(config, seed=9, num_images=1))
    ).labels.tolist() == [2]


def test_default_sampler_and_cost(tiny_model, global_model):
    assert next(generate_batches(tiny_model, GenerationConfig(num_images=1))).sampler == "euler-pf"
    batch = next(generate_batches(global_model, GenerationConfig(num_images=1)))
    assert (batch.sampler, batch.steps, batch.nfe) == ("euler", 50, 50)
    with pytest.raises(ValueError, match="not both"):
        GenerationConfig(steps=4, nfe=8)
    with pytest.raises(ValueError, match="out of range"):
        generate(tiny_model, GenerationConfig(num_images=1, classes=(3,)))


def test_eval_scores_exactly_what_sample_writes(tmp_path, tiny_npz, capsys):
    """``eval`` on a checkpoint scores the very pixels ``sample`` writes (same options, seeds and
    batch size); ``eval --folder`` on that output (with a contact sheet in the folder) gives the
    same metrics, up to the float rounding of embedding them in other batches."""
    run = tmp_path / "run"
    tiny = [
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
    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_npz),
                *tiny,
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
    options = ["--sampler", "random", "--nfe", "8", "--p", "0.5", "--seed", "4"]
    metric = [
        "--reference",
        str(tiny_npz),
        "--classifier",
        str(clf),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    out = tmp_path / "samples"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run),
                *options,
                "--num",
                "9",
                "--batch-size",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (out / "grid.png").is_file() and len(list((out / "images").iterdir())) == 9
    manifest = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in manifest] == list(range(4, 13)) and {r["nfe"] for r in manifest} == {
        8
    }
    assert (
        main(["eval", "--folder", str(out), *metric, "--out", str(tmp_path / "folder.json")]) == 0
    )
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(run),
                *options,
                "--num",
                "9",
                "--batch-size",
                "4",
                *metric,
                "--out",
                str(tmp_path / "model.json"),
            ]
        )
        == 0
    )
    folder, model = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("folder", "model"))
    assert folder["num_images"] == model["num_images"] == 9
    # the features of the same pixels, embedded in other batch compositions: equal up to
    # float rounding
    assert folder["metrics"] == pytest.approx(model["metrics"], rel=1e-6)
    assert (
        folder["background"] == model["background"] is not None
    )  # the classes come from samples.jsonl
    assert model["sampler"].startswith("RandomControl(p=0.5")
    pf = PatchForcingDiT.from_pretrained(run)
    config = GenerationConfig(
        sampler=SAMPLERS["random"](p=0.5), nfe=8, num_images=9, seed=4, batch_size=4
    )
    written = torch.cat([to_model_range(pixels) for pixels, _ in folder_batches(out, 8, 1)])
    assert torch.equal(
        to_model_range(from_model_range(generate(pf, config))), written
    )  # the very pixels sample wrote


def test_sample_and_eval_take_the_same_sampler_options():
    from patchforcing.cli.main import build_parser

    def flags(command: str) -> set[str]:
        sub = next(a for a in build_parser()._subparsers._group_actions)  # noqa: SLF001 (argparse internals)
        return {s for action in sub.choices[command]._actions for s in action.option_strings}

    shared = {
        "--sampler",
        "--p",
        "--n-inner",
        "--ratio",
        "--early-t",
        "--inclusive-quantile",
        "--guided-early",
        "--guided-jump",
        "--cfg",
        "--cfg-interval",
        "--per-patch-interval",
        "--no-guide-logvar",
        "--seed",
        "--classes",
        "--batch-size",
        "--raw-weights",
    }
    assert shared <= flags("sample") and shared <= flags("eval")


def test_an_option_the_sampler_does_not_take_is_an_error(capsys, tmp_path):
    code = main(
        [
            "sample",
            "--sampler",
            "euler-pf",
            "--n-inner",
            "2",
            "--num",
            "1",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert (
        code == 2 and "--n-inner does not apply to the euler-pf sampler" in capsys.readouterr().err
    )


def test_sample_writes_batch_by_batch(tmp_path, monkeypatch, tiny_model):
    """``sample --num`` never holds more than a batch of images beyond the capped contact sheet:
    each batch is written before the next one is generated."""
    import patchforcing.sampling.generation.folder as folder_module

    folder = tiny_model.save_pretrained(tmp_path / "m")
    events: list[tuple[str, int]] = []
    real_save, real_generate = folder_module.save_images, folder_module.generate_batches

    def save(images, out, names):
        events.append(("write", images.shape[0]))
        return real_save(images, out, names)

    def batches(*args, **kwargs):
        for batch in real_generate(*args, **kwargs):
            events.append(("made", batch.images.shape[0]))
            yield batch

    monkeypatch.setattr(folder_module, "save_images", save)
    monkeypatch.setattr(folder_module, "generate_batches", batches)
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(folder),
                "--num",
                "23",
                "--batch-size",
                "5",
                "--steps",
                "1",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert events == [(kind, n) for n in (5, 5, 5, 5, 3) for kind in ("made", "write")]
    assert len(list((tmp_path / "s" / "images").iterdir())) == 23


def test_a_written_sample_folder_holds_the_generated_images(tmp_path, tiny_model):
    """Every image of the config as a PNG named by its seed and class, listed in seed order by the
    manifest that ``eval --folder`` reads, with the very pixels :func:`generate` makes."""
    config = GenerationConfig(steps=2, num_images=7, seed=4, batch_size=3, classes=(2, 0))
    out = tmp_path / "samples"
    written = write_sample_folder(tiny_model, config, out, nrow=4)
    assert (written.count, written.steps, written.nfe, written.sampler) == (7, 2, 2, "euler-pf")
    assert written.grid == out / "grid.png" and written.grid.is_file()
    assert written.manifest is not None and [r.seed for r in written.manifest] == list(range(4, 11))
    assert [r.file for r in written.manifest][:2] == [
        "images/seed000004_class2.png",
        "images/seed000005_class0.png",
    ]
    listed = read_manifest(out)
    assert listed is not None and [label for _, label in listed] == [2, 0, 2, 0, 2, 0, 2]
    batches = list(folder_batches(out, 8, 1))
    pixels = torch.cat([p for p, _ in batches])
    assert torch.equal(pixels, from_model_range(generate(tiny_model, config)))
    assert torch.cat([labels for _, labels in batches]).tolist() == [2, 0, 2, 0, 2, 0, 2]


def test_a_sample_folder_is_replaced_only_with_overwrite(tmp_path, tiny_model):
    config = GenerationConfig(steps=1, num_images=3, seed=0)
    out = tmp_path / "samples"
    write_sample_folder(tiny_model, config, out)
    with pytest.raises(ValueError, match="already holds a sample folder made with other options"):
        write_sample_folder(tiny_model, replace(config, seed=5, num_images=2), out)
    write_sample_folder(tiny_model, replace(config, seed=5, num_images=2), out, overwrite=True)
    seeds = sorted(p.name.split("_")[0] for p in (out / "images").iterdir())
    assert seeds == ["seed000005", "seed000006"]  # the earlier images are gone
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty and is not a sample folder"):
        write_sample_folder(tiny_model, config, foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep"


def test_sample_command_writes_what_write_sample_folder_writes(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(folder),
                "--num",
                "5",
                "--steps",
                "2",
                "--seed",
                "3",
                "--batch-size",
                "2",
                "--classes",
                "1,2",
                "--threads",
                "1",
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )
    config = GenerationConfig(steps=2, num_images=5, seed=3, batch_size=2, classes=(1, 2))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the command ran
    write_sample_folder(PatchForcingDiT.from_pretrained(folder), config, tmp_path / "lib")
    torch.set_num_threads(threads)
    cli, lib = (sorted((tmp_path / name / "images").iterdir()) for name in ("cli", "lib"))
    assert [p.name for p in cli] == [p.name for p in lib] and len(cli) == 5
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(cli, lib))
    assert (tmp_path / "cli/samples.jsonl").read_text() == (
        tmp_path / "lib/samples.jsonl"
    ).read_text()


def test_an_interrupted_sample_folder_is_resumed_by_the_same_request(tmp_path, tiny_model):
    """Stopped after its first batch, a sample folder is still a sample folder: the same request
    makes only the missing images (the same pixels as one uninterrupted run), another request is
    refused without overwrite."""
    config = GenerationConfig(steps=2, num_images=5, seed=1, batch_size=2)
    whole = write_sample_folder(tiny_model, config, tmp_path / "whole")
    out = tmp_path / "s"

    class Stop(Exception):
        pass

    def first_batch_only(*args, **kwargs):
        batches = generate_batches(*args, **kwargs)
        yield next(batches)
        raise Stop

    with (
        mock.patch("patchforcing.sampling.generation.folder.generate_batches", first_batch_only),
        pytest.raises(Stop),
    ):
        write_sample_folder(tiny_model, config, out)
    assert len(list((out / "images").iterdir())) == 2 and not (out / "samples.jsonl").exists()
    for other in (replace(config, steps=3), replace(config, batch_size=3)):
        with pytest.raises(ValueError, match="other options"):
            write_sample_folder(tiny_model, other, out)
    resumed = write_sample_folder(tiny_model, config, out)
    assert resumed.resumed == 2 and resumed.count == 5 and resumed.nfe == whole.nfe
    assert (out / "samples.jsonl").read_text() == (tmp_path / "whole/samples.jsonl").read_text()
    for a, b in zip(
        sorted((out / "images").iterdir()), sorted((tmp_path / "whole/images").iterdir())
    ):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()
    assert (out / "grid.png").read_bytes() == (tmp_path / "whole/grid.png").read_bytes()
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png",
        "images",
        "sample.json",
        "samples.jsonl",
    ]
    again = write_sample_folder(tiny_model, config, out)  # complete: nothing left to make
    assert again.resumed == 5


def test_overwrite_deletes_only_the_images_the_package_wrote(tmp_path, tiny_model):
    config = GenerationConfig(steps=1, num_images=3, seed=0)
    out = tmp_path / "s"
    write_sample_folder(tiny_model, config, out)
    (out / "images" / "edited.png").write_bytes(b"mine")
    (out / "images" / "picks").mkdir()
    (out / "images" / "picks" / "seed000001_class0.png").write_bytes(b"mine too")
    written = write_sample_folder(tiny_model, replace(config, seed=7), out, overwrite=True)
    assert (out / "images" / "edited.png").read_bytes() == b"mine"
    assert (out / "images" / "picks" / "seed000001_class0.png").read_bytes() == b"mine too"
    assert sorted(p.name for p in written.kept) == ["edited.png", "picks"]
    made = sorted(p.name.split("_")[0] for p in (out / "images").glob("seed*.png"))
    assert made == ["seed000007", "seed000008", "seed000009"]  # seeds 0-2 are gone
    assert [r.seed for r in written.manifest or ()] == [7, 8, 9]


def test_sample_without_out_never_stops_on_an_earlier_output(tmp_path, tiny_model, monkeypatch):
    """The README's sample lines one after another: other options go to samples-2, the same
    options resume (here: find complete) their own folder."""
    folder = tiny_model.save_pretrained(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    args = ["sample", "--checkpoint", str(folder), "--num", "2", "--steps", "1", "--threads", "1"]
    assert main(args) == 0 and main([*args, "--cfg", "2.5"]) == 0 and main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "m") == ["samples", "samples-2"]
    assert (
        json.loads((tmp_path / "samples-2" / "sample.json").read_text())["guidance"]["scale"] == 2.5
    )
