"""Sampling refuses what would silently make wrong images: non-finite weights or outputs, schedule
matrices of the wrong shape or damaged files; a damaged reference-feature cache is recomputed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from patchforcing.cli.main import main
from patchforcing.data import ImageArrays
from patchforcing.evaluation.metrics.reference import reference_features
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import CheckpointError
from patchforcing.sampling.generation import GenerationConfig, NonFiniteOutputError, generate


def _sample(folder, out, *extra):
    return [
        "sample",
        "--checkpoint",
        str(folder),
        "--num",
        "2",
        "--steps",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_non_finite_weights_are_refused_at_load(tmp_path, tiny_model, capsys):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    weights = load_file(str(folder / "model.safetensors"))
    weights["final_layer.linear.weight"][0, 0] = float("inf")
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match="1 non-finite values .* 'final_layer.linear.weight'"):
        PatchForcingDiT.from_pretrained(folder)
    assert main(_sample(folder, tmp_path / "out")) == 2 and "non-finite" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_non_finite_outputs_are_refused_naming_the_model(tmp_path, tiny_model):
    with torch.no_grad():
        for p in tiny_model.parameters():
            p.mul_(1e30).add_(1e30)  # finite weights whose activations overflow
    tiny_model.source = tmp_path / "huge"
    with pytest.raises(
        NonFiniteOutputError, match=r"huge produced non-finite values .* seeds 0\.\.1"
    ):
        generate(tiny_model, GenerationConfig(steps=2, num_images=2))


def test_schedule_matrices_of_the_wrong_shape_or_damaged_files(tmp_path, tiny_model, capsys):
    folder = tiny_model.save_pretrained(tmp_path / "m")  # 8x8 images, patch 2: 16 patches
    np.save(tmp_path / "wrong.npy", np.ones((3, 7)))
    (tmp_path / "damaged.pt").write_bytes(b"PK\x03\x04 not a zip")
    torch.save(["a", "list"], tmp_path / "list.pt")
    cases = {
        "wrong.npy": "a schedule matrix must be (steps + 1, 16)",
        "damaged.pt": "cannot read --matrix",
        "list.pt": "must hold one numeric array",
    }
    for name, phrase in cases.items():
        assert main(_sample(folder, tmp_path / "out", "--matrix", str(tmp_path / name))) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and phrase in err[0], err
    assert not (tmp_path / "out").exists()


class _Features:
    key, num_features = "test", 3

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :3]


def test_a_damaged_reference_cache_is_recomputed(tmp_path, capsys):
    data = ImageArrays(
        torch.arange(128, dtype=torch.uint8).reshape(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)
    )
    first = reference_features(_Features(), data, tmp_path)
    (cache,) = tmp_path.iterdir()
    for damage in (b"garbage", None):
        if damage is None:
            save_file({"features": torch.full((2, 3), float("nan"))}, str(cache))
        else:
            cache.write_bytes(damage)
        assert torch.equal(reference_features(_Features(), data, tmp_path), first)
        assert "is damaged" in capsys.readouterr().err and torch.equal(
            load_file(str(cache))["features"], first
        )
