"""Shared fixtures: tiny models and datasets that keep the suite fast on 2 CPU cores."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from patchforcing.model import ModelConfig, PatchForcingDiT

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
os.environ["HF_HUB_OFFLINE"] = "1"  # no test reaches the network: hub ids read the cache only


def randomize(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Replace the zero initialisation by small random weights so outputs depend on every input."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


@pytest.fixture
def single_thread():
    """Tiny models gain nothing from a second thread, and lose much when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_config() -> ModelConfig:
    return ModelConfig(
        image_size=8, in_channels=1, patch_size=2, depth=2, width=32, num_heads=2, num_classes=3
    )


@pytest.fixture
def tiny_model(tiny_config: ModelConfig) -> PatchForcingDiT:
    return randomize(PatchForcingDiT(tiny_config)).eval()


@pytest.fixture
def tiny_npz(tmp_path):
    """64 8x8 grey images in 3 classes: bright squares whose position depends on the class."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 64)
    images = np.zeros((64, 8, 8), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 3, 1:7] = 200 + rng.integers(0, 55)
    path = tmp_path / "tiny.npz"
    np.savez(path, images=images, labels=labels, class_names=np.array(["a", "b", "c"]))
    return path


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """A 2-layer BERT with hidden size 32 and a 9-word tokenizer, randomly initialised and saved."""
    transformers = pytest.importorskip(
        "transformers", reason="pretrained encoders need the [text] extra"
    )
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path_factory.mktemp("tiny-lm")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "red", "heart", "blue", "circle"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]"
    )
    fast.save_pretrained(str(folder))
    config = transformers.BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory):
    """A randomly initialised DINOv2 with patch 4, saved as a local folder, with an image
    processor's mean and std."""
    transformers = pytest.importorskip(
        "transformers", reason="Hugging Face image encoders need the [text] extra"
    )
    torch.manual_seed(0)
    config = transformers.Dinov2Config(
        hidden_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=16,
        patch_size=4,
    )
    folder = tmp_path_factory.mktemp("vit") / "tiny-dinov2"
    transformers.Dinov2Model(config).eval().save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.25, 0.3]})
    )
    return folder


@pytest.fixture
def vae_dir(tmp_path):
    """A tiny randomly initialised AutoencoderKL (2x downsampling, 4 latent channels), saved."""
    diffusers = pytest.importorskip("diffusers", reason="latents need the [latent] extra")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=16,
    )
    vae.save_pretrained(tmp_path / "vae")
    return tmp_path / "vae"
