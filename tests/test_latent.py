"""Latent space with a tiny randomly initialised AutoencoderKL: encode, shards, decode, errors."""

import sys

import numpy as np
import pytest
import torch

from patchforcing.cli.main import main
from patchforcing.data import to_model_range
from patchforcing.data.latent import (
    SD_VAE_SCALE,
    VaeCodec,
    is_latent_folder,
    load_latents,
    load_vae,
)
from patchforcing.data.latent.encode import EncodeConfig, encode_dataset

diffusers = pytest.importorskip("diffusers")


@pytest.fixture
def rgb_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "rgb.npz"
    np.savez(
        path, images=rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8), labels=np.arange(10) % 3
    )
    return path


def test_codec_uses_posterior_mode_and_scale(vae_dir):
    codec = VaeCodec(load_vae(vae_dir), batch_size=3)
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    z = codec.encode(x)
    assert z.shape == (5, 4, 8, 8) and codec.downsample == 2
    with torch.no_grad():
        mean = codec.vae.encode(x).latent_dist.mean
        assert torch.allclose(z, mean * SD_VAE_SCALE, atol=1e-6)
        assert torch.allclose(
            codec.decode(z), codec.vae.decode(mean).sample.clamp(-1, 1), atol=1e-5
        )


@pytest.mark.parametrize("dtype,atol", [("float32", 0.0), ("float16", 2e-3)])
def test_pre_encoding_round_trips_shapes_and_values(tmp_path, vae_dir, rgb_npz, dtype, atol):
    codec = VaeCodec(load_vae(vae_dir))
    out = tmp_path / f"latents-{dtype}"
    result = encode_dataset(
        EncodeConfig(
            str(rgb_npz), str(out), image_size=16, batch_size=4, shard_size=4, dtype=dtype
        ),
        codec,
        progress=False,
    )
    assert result.count == 10 and result.latent_shape == (4, 8, 8) and is_latent_folder(out)
    assert len(list(out.glob("shard_*.safetensors"))) == 3  # 4 + 4 + 2
    data = load_latents(out)
    images = to_model_range(torch.from_numpy(np.load(rgb_npz)["images"]).permute(0, 3, 1, 2))
    assert len(data) == 10 and data.channels == 4 and data.image_size == 8 and data.num_classes == 3
    x, y = data.batch(torch.arange(10))
    assert torch.equal(y, torch.arange(10) % 3) and x.dtype == torch.float32
    assert torch.allclose(x, codec.encode(images), atol=atol, rtol=atol)
    assert data.scale == SD_VAE_SCALE


def test_encode_cli_and_clear_errors(tmp_path, vae_dir, rgb_npz, monkeypatch, capsys):
    assert (
        main(
            [
                "encode",
                "--data",
                str(rgb_npz),
                "--vae",
                str(vae_dir),
                "--out",
                str(tmp_path / "z"),
                "--image-size",
                "16",
            ]
        )
        == 0
    )
    printed, err = capsys.readouterr()
    assert "encoded 10 images" in printed
    assert [line for line in err.splitlines() if "encode: " in line and "%|" not in line] == [
        f"encode: loading the VAE {vae_dir}",
        f"encode: reading the images of {rgb_npz} at 16x16 and encoding them 64 at a time into "
        f"{tmp_path / 'z'}",
    ]
    assert "encode: 100%" in err and "10/10" in err
    assert (
        main(
            [
                "encode",
                "--data",
                str(rgb_npz),
                "--vae",
                str(tmp_path / "nope"),
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "--vae with a local folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs the SD-VAE weights"):
        load_vae(None)
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if not installed
    assert (
        main(
            ["encode", "--data", str(rgb_npz), "--vae", str(vae_dir), "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert "pip install 'patchforcing[latent]'" in capsys.readouterr().err


def test_train_on_latents_then_sample_decoded_images(tmp_path, vae_dir, rgb_npz, capsys):
    latents, run, out = tmp_path / "latents", tmp_path / "run", tmp_path / "samples"
    assert (
        main(
            [
                "encode",
                "--data",
                str(rgb_npz),
                "--vae",
                str(vae_dir),
                "--out",
                str(latents),
                "--image-size",
                "16",
                "--dtype",
                "float32",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--data",
                str(latents),
                "--preset",
                "T/4",
                "--patch-size",
                "2",
                "--depth",
                "1",
                "--width",
                "32",
                "--heads",
                "2",
                "--steps",
                "2",
                "--batch-size",
                "4",
                "--out",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(["sample", "--checkpoint", str(run), "--num", "2", "--steps", "2", "--out", str(out)])
        == 2
    )
    assert "4-channel latents" in capsys.readouterr().err
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(run),
                "--vae",
                str(vae_dir),
                "--num",
                "2",
                "--steps",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    pngs = sorted((out / "images").glob("*.png"))
    assert len(pngs) == 2
    from patchforcing.utils.io.images import load_png

    assert load_png(pngs[0]).shape == (16, 16, 3)  # decoded RGB at the VAE's resolution
