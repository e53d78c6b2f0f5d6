"""Pictures and the ``patchforcing sample`` command: traces, comparison grids,
inpainting, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import randomize
from patchforcing.cli.main import main
from patchforcing.evaluation.viz import colorize, save_compare_grid, save_trace
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import DualLoop, uniform_schedule
from patchforcing.train.checkpoint import save_checkpoint
from patchforcing.train.config import TrainConfig

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIG = ModelConfig(image_size=8, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    model = randomize(PatchForcingDiT(CONFIG), seed=3, std=0.2)
    save_checkpoint(
        folder, 1, TrainConfig(model=CONFIG, out_dir=str(folder)), model, model, {}, keep=1
    )
    return folder


def test_colorize_endpoints():
    rgb = colorize(np.array([0.0, 1.0, 2.0]))
    assert (
        rgb.shape == (3, 3)
        and rgb.dtype == np.uint8
        and (rgb[1] == rgb[2]).all()
        and (rgb[0] != rgb[1]).any()
    )


def test_save_trace_writes_gif_and_still(tmp_path):
    model = randomize(PatchForcingDiT(CONFIG), seed=3, std=0.2).eval()
    result = DualLoop(n_inner=2)(
        model, torch.randn(2, 1, 8, 8), torch.tensor([0, 1]), uniform_schedule(3), trace=True
    )
    written = save_trace(result.trace, tmp_path, [0, 1], stills=3, size=32)
    assert sorted(p.name for p in written) == [
        "trace_0.gif",
        "trace_0.png",
        "trace_1.gif",
        "trace_1.png",
    ]
    with Image.open(tmp_path / "trace_0.gif") as gif:
        assert gif.n_frames == result.nfe
        width = gif.width
    with Image.open(tmp_path / "trace_0.png") as still:
        assert (
            still.width == width and still.height > 3 * 32
        )  # three passes stacked, three panels side by side
    grid = [("a", torch.zeros(2, 1, 8, 8)), ("b", torch.ones(2, 1, 8, 8))]
    assert save_compare_grid(grid, tmp_path / "c.png").is_file()


def test_sample_cli_trace_and_budget(run_dir, tmp_path, capsys):
    out = tmp_path / "s"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run_dir),
                "--num",
                "3",
                "--sampler",
                "look-ahead",
                "--nfe",
                "9",
                "--trace",
                "2",
                "--cfg",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "5 steps, NFE 9 (budget 9)" in text
    assert {p.name for p in (out / "trace").iterdir()} == {
        "trace_0.gif",
        "trace_0.png",
        "trace_1.gif",
        "trace_1.png",
    }
    assert (out / "grid.png").is_file() and len(list((out / "images").iterdir())) == 3


def test_sample_cli_compare(run_dir, tmp_path, capsys):
    out = tmp_path / "c"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run_dir),
                "--num",
                "2",
                "--compare",
                "all",
                "--nfe",
                "8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    for name in ("euler:", "euler-pf:", "dual-loop:", "look-ahead:", "random:"):
        assert name in text
    assert (out / "compare.png").is_file()


def test_sample_cli_inpaint_keeps_known_pixels(run_dir, tmp_path):
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    hole = np.zeros((8, 8), dtype=np.uint8)
    hole[4:, 2:7] = 255
    Image.fromarray(pixels).save(tmp_path / "image.png")
    Image.fromarray(hole).save(tmp_path / "mask.png")
    out = tmp_path / "i"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run_dir),
                "--num",
                "2",
                "--steps",
                "4",
                "--inpaint",
                str(tmp_path / "image.png"),
                "--mask",
                str(tmp_path / "mask.png"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for png in (out / "images").iterdir():
        result = np.asarray(Image.open(png))
        assert (result[hole == 0] == pixels[hole == 0]).all()
        assert (result[hole > 0] != pixels[hole > 0]).any()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--sampler", "euler-pf", "--n-inner", "3"], "does not apply to the euler-pf sampler"),
        (
            ["--sampler", "dual-loop", "--inpaint", "x.png", "--mask", "m.png"],
            "need the matrix sampler",
        ),
        (["--inpaint", "x.png"], "go together"),
        (["--classes", "7"], "out of range"),
    ],
)
def test_sample_cli_errors(run_dir, tmp_path, capsys, argv, message):
    if "x.png" in argv:
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "x.png")
        Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "m.png")
        argv = [str(tmp_path / a) if a.endswith(".png") else a for a in argv]
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run_dir),
                "--num",
                "1",
                "--steps",
                "2",
                "--out",
                str(tmp_path / "out"),
                *argv,
            ]
        )
        == 2
    )
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "inpaint,mask,message",
    [
        ("bomb.png", "ok.png", "the image to inpaint"),
        ("ok.png", "bomb.png", "the mask"),
        ("big.png", "ok.png", "is 16x16; the model makes 8x8 images"),
        ("ok.png", ".", "the mask"),
    ],
)
def test_sample_cli_inpaint_files_are_checked(run_dir, tmp_path, capsys, inpaint, mask, message):
    """A decompression bomb, a known image of another size than the model's and a folder are one
    line each, before anything is written."""
    Image.new("1", (14_000, 14_000)).save(tmp_path / "bomb.png")  # 24 KB, 196 megapixels
    Image.new("L", (8, 8), 255).save(tmp_path / "ok.png")
    Image.new("L", (16, 16), 255).save(tmp_path / "big.png")
    out = tmp_path / "out"
    known = ["--inpaint", str(tmp_path / inpaint), "--mask", str(tmp_path / mask)]
    args = ["sample", "--checkpoint", str(run_dir), "--num", "1", "--steps", "2", "--out", str(out)]
    assert main([*args, *known]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "error:" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--p", "1.5"],
        ["--ratio", "0.5"],
        ["--n-inner", "0"],
        ["--sampler", "heun"],
        ["--steps", "3", "--nfe", "4"],
        ["--compare", "euler,foo"],
        ["--early-t", "1"],
    ],
)
def test_sample_cli_rejects_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as err:
        main(["sample", *argv])
    assert err.value.code == 2 and "error: argument" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["euler-pf", "dual-loop", "look-ahead", "random", "matrix"])
def test_a_trace_function_sees_every_step_as_it_happens(name, tiny_model):
    from patchforcing.sampling import SAMPLERS
    from patchforcing.sampling.generation import GenerationConfig, generate_batches

    seen = []
    config = GenerationConfig(sampler=SAMPLERS[name](), steps=3, num_images=2)
    batch = next(generate_batches(tiny_model, config, trace=seen.append))
    assert len(seen) == len(batch.trace) > 0
    assert all(a is b for a, b in zip(seen, batch.trace))
