"""PatchForcingPipeline: the same images as ``patchforcing sample``, the sampler options and NFE,
the output types, loading through diffusers, the export command and the pinned extra."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from importlib.metadata import requires, version
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers", reason="the diffusers integration needs the [diffusers] extra")

import diffusers.utils.dynamic_modules_utils as dynamic_modules  # noqa: E402
from diffusers import DiffusionPipeline  # noqa: E402

from patchforcing.cli.main import main  # noqa: E402
from patchforcing.model import load_model  # noqa: E402
from patchforcing.pipelines import PatchForcingPipeline, pipeline_for  # noqa: E402
from patchforcing.sampling import DualLoop, Guidance, LookAhead  # noqa: E402
from patchforcing.sampling.generation import GenerationConfig, generate  # noqa: E402
from test_diffusers_scheduler import PROMPTS, text_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def seeded(seed: int, count: int) -> list[torch.Generator]:
    """The generators whose noise is that of ``patchforcing sample --seed seed``."""
    return [torch.Generator().manual_seed(seed + i) for i in range(count)]


@pytest.fixture
def modules_cache(tmp_path, monkeypatch):
    """Diffusers copies a folder's pipeline module file into its modules cache: keep it here."""
    monkeypatch.setattr(dynamic_modules, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))


def test_pipeline_equals_patchforcing_sample(tiny_model, tmp_path, single_thread) -> None:
    """Bitwise on CPU: the same noise (one generator per image seed), the same float64 grid, the
    same sampler code on the same model, so the same floats and the same PNG pixels."""
    folder = tiny_model.save_pretrained(tmp_path / "model")
    out = tmp_path / "samples"
    argv = ["sample", "--checkpoint", str(folder), "--sampler", "euler-pf", "--steps", "4"]
    argv += ["--num", "3", "--seed", "5", "--classes", "2,0,1", "--out", str(out)]
    assert main([*argv, "--threads", "1"]) == 0
    pipe = pipeline_for(load_model(folder))
    call = dict(class_labels=[2, 0, 1], num_inference_steps=4, sampler="euler-pf")
    result = pipe(**call, generator=seeded(5, 3))
    assert (result.nfe, result.steps, result.sampler) == (4, 4, "euler-pf")
    written = sorted((out / "images").glob("*.png"))
    assert len(written) == 3 and len(result.images) == 3
    for path, image in zip(written, result.images):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(image))
    config = GenerationConfig(steps=4, num_images=3, seed=5, classes=(2, 0, 1))
    expected = (generate(tiny_model, config) + 1) / 2
    assert torch.equal(pipe(**call, generator=seeded(5, 3), output_type="pt").images, expected)


def test_sampler_options_nfe_budget_and_output_types(tiny_model) -> None:
    pipe = pipeline_for(tiny_model)
    labels = [0, 1]
    dual = pipe(labels, num_inference_steps=3, sampler="dual-loop", sampler_options={"n_inner": 2})
    assert (dual.nfe, dual.sampler) == (6, "dual-loop")
    look = pipe(labels, sampler="look-ahead", sampler_options={"p": 0.4}, nfe=8, output_type="np")
    assert look.nfe == LookAhead(p=0.4).budget(8).nfe and look.sampler == "look-ahead"
    assert look.images.shape == (2, 8, 8, 1) and 0 <= look.images.min() <= look.images.max() <= 1
    given = pipe(labels, num_inference_steps=2, sampler=DualLoop(n_inner=3), output_type="pt")
    assert given.nfe == 6 and given.images.shape == (2, 1, 8, 8)
    default = pipe(labels, num_inference_steps=2, guidance_scale=2.0)
    assert default.sampler == "euler-pf" and default.images[0].size == (8, 8)


def test_latents_replace_the_noise(tiny_model) -> None:
    pipe = pipeline_for(tiny_model)
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    one = pipe([0, 1], num_inference_steps=2, latents=noise, output_type="pt").images
    gen = torch.Generator().manual_seed(3)
    assert torch.equal(
        one, pipe([0, 1], num_inference_steps=2, generator=gen, output_type="pt").images
    )


@pytest.mark.parametrize(
    "call,message",
    [
        (dict(), "give class_labels"),
        (dict(class_labels=[0], output_type="latent"), "output_type must be one of"),
        (dict(class_labels=[0], sampler="bogus"), "unknown sampler 'bogus'"),
        (dict(class_labels=[0], sampler=DualLoop(), sampler_options={"p": 1}), "by name"),
        (dict(class_labels=[7]), "out of range"),
        (dict(class_labels=[0], prompt=["x"]), "not both"),
        (dict(class_labels=[0, 1], generator=seeded(0, 1)), "1 generators for 2 images"),
        (dict(class_labels=[0], num_inference_steps=2, nfe=2), "not both"),
    ],
)
def test_bad_calls_say_what_is_wrong(tiny_model, call, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        pipeline_for(tiny_model)(**call)


def test_prompts_on_a_text_model() -> None:
    model = text_model()
    result = pipeline_for(model)(prompt=PROMPTS, num_inference_steps=3, generator=seeded(0, 2))
    config = GenerationConfig(steps=3, num_images=2, prompts=tuple(PROMPTS))
    expected = [np.asarray(Image.fromarray(a)) for a in _pixels(generate(model, config))]
    assert all(np.array_equal(np.asarray(i), e) for i, e in zip(result.images, expected))
    with pytest.raises(ValueError, match="give prompts, not classes"):
        pipeline_for(model)(class_labels=[0])


def _pixels(images: torch.Tensor) -> list[np.ndarray]:
    return [(((x[0] + 1) * 127.5).round().to(torch.uint8)).numpy() for x in images]


def test_saved_pipeline_loads_through_diffusers(tiny_model, tmp_path, modules_cache) -> None:
    pipe = pipeline_for(tiny_model)
    pipe.save_pretrained(tmp_path / "pipe")
    call = dict(class_labels=[1, 2], num_inference_steps=3, output_type="pt")
    expected = pipe(**call, generator=seeded(0, 2)).images
    ours = PatchForcingPipeline.from_pretrained(tmp_path / "pipe")
    theirs = DiffusionPipeline.from_pretrained(tmp_path / "pipe", trust_remote_code=True)
    for loaded in (ours, theirs):
        assert type(loaded) is PatchForcingPipeline
        assert torch.equal(loaded(**call, generator=seeded(0, 2)).images, expected)
    with pytest.raises(ValueError, match="trust_remote_code"):  # diffusers' rule for such files
        DiffusionPipeline.from_pretrained(tmp_path / "pipe")
    (tmp_path / "pipe" / "pipeline_patchforcing.py").write_text("import os\n")  # not ours
    with pytest.raises(ValueError, match="trust_remote_code"):
        PatchForcingPipeline.from_pretrained(tmp_path / "pipe")


def test_export_writes_a_diffusers_folder_of_a_shipped_model(tmp_path, modules_cache) -> None:
    destination = tmp_path / "fmnist-pf-diffusers"
    assert main(["export", "--format", "diffusers", "fmnist-pf", str(destination)]) == 0
    pipe = DiffusionPipeline.from_pretrained(destination, trust_remote_code=True)
    result = pipe(class_labels=[3], num_inference_steps=2, generator=seeded(0, 1))
    assert (result.sampler, result.nfe) == ("look-ahead", 3)  # the folder's recommended sampler
    assert result.images[0].size == (28, 28)
    assert (
        pipe.transformer.recommended_sampling == load_model("fmnist-pf").meta.recommended_sampling
    )
    assert pipe.transformer.data.class_names[3] == "Dress"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["export", "--format", "diffusers", "fmnist-pf", str(tmp_path / "taken")]) == 2
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_without_diffusers_the_error_names_the_extra(tmp_path) -> None:
    code = (
        "import sys; sys.modules['diffusers'] = None; from patchforcing.cli.main import main; "
        f"sys.exit(main(['export', '--format', 'diffusers', 'fmnist-pf', {str(tmp_path / 'd')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'patchforcing[diffusers]'" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "d").exists()


def test_the_extra_pins_the_tested_diffusers_and_no_torch() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    low, high = re.search(
        r'^diffusers = \["diffusers>=([\d.]+),<([\d.]+)"\]', pyproject, re.M
    ).groups()
    installed = tuple(int(p) for p in version("diffusers").split(".")[:2])
    assert tuple(map(int, low.split("."))) <= installed < tuple(map(int, high.split(".")))
    base = [r for r in requires("diffusers") or [] if "extra ==" not in r]
    assert not [r for r in base if r.lower().startswith("torch")]  # keeps the installed torch


def test_the_pipeline_takes_the_recommended_settings(tiny_model, tmp_path, single_thread) -> None:
    """What a call leaves at None is the model's recommendation, which the diffusers config keeps;
    a model without one samples unguided with the library's defaults."""
    from patchforcing.model.pretrained import RecommendedSampling, update_model_folder
    from patchforcing.pipelines import PatchForcingDiTModel

    record = RecommendedSampling("dual-loop", 8, 2.0, (0.1, 0.9))
    folder = tiny_model.save_pretrained(tmp_path / "model")
    assert pipeline_for(load_model(folder))(class_labels=[0], num_inference_steps=2).sampler == (
        "euler-pf"
    )
    update_model_folder(load_model(folder), recommended_sampling=record)
    pipe = pipeline_for(load_model(folder))
    pipe.transformer.save_pretrained(tmp_path / "transformer")
    saved = PatchForcingDiTModel.from_pretrained(tmp_path / "transformer")
    assert saved.recommended_sampling == record
    result = pipe(class_labels=[0, 1], generator=seeded(0, 2), output_type="pt")
    assert (result.sampler, result.nfe) == ("dual-loop", 8)
    config = GenerationConfig(sampler=DualLoop(), nfe=8, num_images=2, classes=(0, 1), batch_size=2)
    config = replace(config, guidance=Guidance(scale=2.0, interval=(0.1, 0.9)))
    assert torch.equal(result.images, (generate(load_model(folder), config) + 1) / 2)
    unguided = pipe(class_labels=[0, 1], generator=seeded(0, 2), output_type="pt", guidance_scale=1)
    assert unguided.sampler == "dual-loop" and not torch.equal(unguided.images, result.images)
