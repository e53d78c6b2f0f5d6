import pytest
import torch

from conftest import randomize
from patchforcing.model import PRESETS, ModelConfig, PatchForcingDiT, model_config_from_preset
from patchforcing.model.embed import TimestepEmbedder, sincos_pos_embed_2d


def test_output_shapes(tiny_model, tiny_config):
    x = torch.randn(3, 1, 8, 8)
    out = tiny_model(x, torch.rand(3, 16), torch.tensor([0, 1, 3]))
    assert out.v.shape == (3, 1, 8, 8)
    assert out.logvar.shape == (3, 1, 8, 8)
    assert out.difficulty(tiny_config.patch_size).shape == (3, 16)


def test_zero_init_outputs_zero_and_adaln_is_zero(tiny_config):
    model = PatchForcingDiT(tiny_config)
    out = model(torch.randn(2, 1, 8, 8), torch.rand(2, 16), torch.tensor([0, 2]))
    assert torch.count_nonzero(out.v) == 0 and torch.count_nonzero(out.logvar) == 0
    for block in model.blocks:
        assert torch.count_nonzero(block.adaLN_modulation[-1].weight) == 0
    assert torch.count_nonzero(model.final_layer.linear.weight) == 0
    assert not model.pos_embed.requires_grad


def test_uniform_per_patch_time_equals_broadcast_time(tiny_model):
    x = torch.randn(4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3])
    t = torch.tensor([0.1, 0.5, 0.5, 0.9])
    a = tiny_model(x, t, y)
    b = tiny_model(x, t[:, None].expand(4, 16).clone(), y)
    c = tiny_model(x, t[:, None].expand(4, 16).clone(), y, cache_modulation=False)
    assert torch.equal(a.v, b.v) and torch.equal(a.logvar, b.logvar)
    assert torch.allclose(a.v, c.v, atol=1e-5) and torch.allclose(a.logvar, c.logvar, atol=1e-5)


@pytest.mark.parametrize("distinct", [1, 2, 5, 16])
def test_cached_modulation_equals_per_token(tiny_model, distinct):
    gen = torch.Generator().manual_seed(distinct)
    x = torch.randn(3, 1, 8, 8, generator=gen)
    values = torch.rand(distinct, generator=gen)
    t = values[torch.randint(distinct, (3, 16), generator=gen)]
    y = torch.tensor([0, 3, 1])
    with torch.no_grad():  # the cached layouts serve no-grad forwards only
        fast, plain = tiny_model(x, t, y), tiny_model(x, t, y, cache_modulation=False)
    assert torch.allclose(fast.v, plain.v, atol=1e-5)
    assert torch.allclose(fast.logvar, plain.logvar, atol=1e-5)


def test_reused_gather_buffer_gives_identical_outputs_and_is_freed(tiny_model):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 1, 8, 8, generator=gen)
    t = torch.rand(4, generator=gen)[torch.randint(4, (3, 16), generator=gen)]
    y = torch.tensor([0, 3, 1])
    with torch.no_grad():
        fresh = tiny_model(x, t, y)
        with tiny_model.reuse_buffers():
            with tiny_model.reuse_buffers():  # nested: keeps the outer buffer
                reused = tiny_model(x, t, y)
                buffer = tiny_model._gather_buffer
            again = tiny_model(
                torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y])
            )  # grows the buffer
            assert buffer is tiny_model._gather_buffer and buffer.data.numel() >= 6 * 6 * 16 * 32
    assert tiny_model._gather_buffer is None
    assert torch.equal(fresh.v, reused.v) and torch.equal(fresh.logvar, reused.logvar)
    assert torch.equal(again.v[:3], fresh.v)


def test_forward_with_gradients_ignores_the_gather_buffer(tiny_model):
    x = torch.randn(2, 1, 8, 8)
    t = torch.rand(2, 16)
    with tiny_model.reuse_buffers():
        out = tiny_model(x, t, torch.tensor([0, 1]))
        out.v.square().mean().backward()
        assert tiny_model._gather_buffer.data is None
    grads = [p.grad for p in tiny_model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_residual_stream_is_contiguous(tiny_model):
    assert tiny_model.x_embedder(torch.randn(2, 1, 8, 8)).is_contiguous()


def test_per_patch_time_changes_only_through_conditioning(tiny_model):
    x = torch.randn(1, 1, 8, 8)
    t = torch.full((1, 16), 0.5)
    t2 = t.clone()
    t2[0, 3] = 0.9
    a, b = tiny_model(x, t, torch.tensor([1])), tiny_model(x, t2, torch.tensor([1]))
    assert not torch.allclose(a.v, b.v)


def test_baseline_has_no_head_and_rejects_mixed_times():
    config = ModelConfig(
        image_size=8,
        patch_size=2,
        depth=1,
        width=32,
        num_heads=2,
        num_classes=3,
        time_mode="global",
        difficulty_head=False,
    )
    model = randomize(PatchForcingDiT(config))
    out = model(torch.randn(2, 1, 8, 8), torch.rand(2), torch.tensor([0, 1]))
    assert out.logvar is None and out.v.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="no difficulty head"):
        out.difficulty(2)
    with pytest.raises(ValueError, match="global-time model got different times"):
        model(torch.randn(2, 1, 8, 8), torch.rand(2, 16), torch.tensor([0, 1]))
    # same backbone: the PF model differs only by the head's extra output channel
    pf = PatchForcingDiT(
        ModelConfig(image_size=8, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)
    )
    base_keys = {k: v.shape for k, v in model.state_dict().items()}
    pf_keys = {k: v.shape for k, v in pf.state_dict().items()}
    assert base_keys.keys() == pf_keys.keys()
    differ = [k for k in base_keys if base_keys[k] != pf_keys[k]]
    assert differ == ["final_layer.linear.weight", "final_layer.linear.bias"]


def test_null_class_row_exists(tiny_model, tiny_config):
    assert tiny_model.y_embedder.embedding_table.num_embeddings == tiny_config.num_classes + 1
    assert tiny_model.null_class == tiny_config.num_classes


def test_shape_errors(tiny_model):
    with pytest.raises(ValueError, match=r"expected x of shape \(B, 1, 8, 8\)"):
        tiny_model(torch.randn(2, 1, 9, 9), torch.rand(2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"expected t of shape"):
        tiny_model(torch.randn(2, 1, 8, 8), torch.rand(2, 15), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"expected labels y"):
        tiny_model(torch.randn(2, 1, 8, 8), torch.rand(2), torch.tensor([0]))


def test_timestep_features_closed_form():
    emb = TimestepEmbedder(8, frequency_dim=4)
    t = torch.tensor([0.0, 0.5])
    freqs = torch.tensor([1.0, 10_000**-0.5])
    expected = torch.cat([torch.cos(t[:, None] * freqs), torch.sin(t[:, None] * freqs)], dim=1)
    assert torch.allclose(emb.features(t), expected)


def test_pos_embed_layout():
    emb = sincos_pos_embed_2d(8, 2, 3)[0]  # (6, 8)
    assert emb.shape == (6, 8)
    # token 0 is (row 0, col 0): sin(0) = 0, cos(0) = 1 in both halves
    assert emb[0].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    # tokens of one row share the row half; tokens of one column share the column half
    assert torch.equal(emb[0, 4:], emb[2, 4:]) and torch.equal(emb[1, :4], emb[4, :4])


@pytest.mark.parametrize("name,params", [("B/2", 130e6), ("L/2", 458e6), ("XL/2", 675e6)])
def test_paper_presets_match_parameter_counts(name, params):
    config = model_config_from_preset(name, image_size=32, in_channels=4, num_classes=1000)
    with torch.device("meta"):
        model = PatchForcingDiT(config)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - params) / params < 0.03
    assert name in PRESETS


def test_config_validation():
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        ModelConfig(image_size=28, patch_size=3)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        ModelConfig(width=100, num_heads=3)
    with pytest.raises(ValueError, match="time_mode"):
        ModelConfig(time_mode="both")
    with pytest.raises(ValueError, match="unknown model preset"):
        model_config_from_preset("Z/9")
