"""The text-to-image model: per-token time, the modulation layouts with rotary positions, the null
text, guidance, every sampler, the loss, model folders and the preset sizes (SPEC.md section 6)."""

from __future__ import annotations

import pytest
import torch

from conftest import randomize
from patchforcing.core.condition import null_condition
from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.core.time_dist import Independent
from patchforcing.model import (
    TEXT_PRESETS,
    PatchForcingDiT,
    PatchForcingT2I,
    TextCondition,
    TextModelConfig,
    load_model,
    text_model_config_from_preset,
)
from patchforcing.model.conditioning import SegmentConditioning
from patchforcing.model.pretrained import CheckpointError
from patchforcing.model.rope import Rotary, rotary_table_1d, rotary_table_2d
from patchforcing.model.text import WordTokenizer
from patchforcing.sampling import SAMPLERS, Guidance, ScheduleMatrix, uniform_schedule
from patchforcing.sampling.guidance import predict
from test_samplers import Counting

pytestmark = pytest.mark.usefixtures("single_thread")

CAPTIONS = ["a red heart", "a blue circle", "two green squares", "a red circle on blue"]
TOKENIZER = WordTokenizer.build(CAPTIONS, max_length=8)
CONFIG = text_model_config_from_preset(
    "T2I-T/2", image_size=8, in_channels=1, text_vocab_size=TOKENIZER.vocab_size, max_text_length=8
)


@pytest.fixture(scope="module")
def model() -> PatchForcingT2I:
    return randomize(PatchForcingT2I(CONFIG, TOKENIZER), seed=3, std=0.2).eval()


def _inputs(batch: int = 3) -> tuple[torch.Tensor, TextCondition]:
    x = torch.randn(batch, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    return x, TOKENIZER.encode(
        (["a red heart", "blue", "two green squares on a red circle"] * batch)[:batch]
    )


def _states(batch: int, n: int) -> dict[str, torch.Tensor]:
    """Times (B, N): one per sample, dual-loop-like (the same count of certain patches per sample,
    at other places), and all distinct."""
    gen = torch.Generator().manual_seed(5)
    certain = torch.stack(
        [torch.randperm(n, generator=gen) < n // 4 for _ in range(batch)]
    )  # (B, N)
    return {
        "uniform": torch.full((batch, n), 0.3),
        "dual-loop": torch.where(certain, torch.tensor(0.55), torch.tensor(0.3)),
        "distinct": torch.rand(batch, n, generator=gen),
    }


def test_shapes_and_per_token_time(model):
    x, y = _inputs()
    out = model(x, torch.full((3,), 0.4), y)
    assert out.v.shape == x.shape and out.logvar is not None and out.logvar.shape == (3, 1, 8, 8)
    assert out.difficulty(CONFIG.patch_size).shape == (3, CONFIG.num_patches)
    per_patch = model(x, torch.full((3, CONFIG.num_patches), 0.4), y)
    assert torch.equal(per_patch.v, out.v) and torch.equal(per_patch.logvar, out.logvar)
    t = torch.full((3, CONFIG.num_patches), 0.4)
    t[:, 0] = 0.9  # only the first patch's time changes, and the first patch's output changes
    moved = model(x, t, y)
    assert not torch.allclose(moved.v[:, :, :2, :2], out.v[:, :, :2, :2])


@pytest.mark.parametrize("state", ["uniform", "dual-loop", "distinct"])
def test_cached_modulation_equals_per_token(model, state):
    x, y = _inputs()
    t = _states(3, CONFIG.num_patches)[state]
    with torch.no_grad(), model.reuse_buffers():
        cond = model.conditioning(t)
        cached, plain = model(x, t, y), model(x, t, y, cache_modulation=False)
    if state == "dual-loop":  # tokens are reordered, and the rotary table with them
        assert (
            isinstance(cond, SegmentConditioning)
            and cond.order is not None
            and len(cond.sizes) == 2
        )
    assert torch.allclose(cached.v, plain.v, atol=1e-5) and torch.allclose(
        cached.logvar, plain.logvar, atol=1e-5
    )
    with torch.no_grad():  # the gathered layout without the reused buffer gives the same values
        assert torch.allclose(model(x, t, y).v, cached.v, atol=1e-6)


def test_rotary_follows_a_token_permutation_and_depends_on_offsets_only():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 1, 2, 16, 8, generator=gen)  # each (B, nh, N, hs)
    table = rotary_table_2d(4, 4, 8)  # (16, 8)
    perm = torch.randperm(16, generator=gen)
    rope = Rotary.from_table(table, torch.float32)
    laid_out = Rotary.from_table(table[perm].expand(1, -1, -1), torch.float32)
    assert torch.allclose(laid_out.apply(q[:, :, perm]), rope.apply(q)[:, :, perm])
    # the scores of rotated queries and keys depend only on the difference of their positions
    line = Rotary.from_table(rotary_table_1d(12, 8), torch.float32)
    qs, ks = (
        line.apply(q[:, :, :1].expand(-1, -1, 12, -1)),
        line.apply(k[:, :, :1].expand(-1, -1, 12, -1)),
    )
    scores = (qs[..., :, None, :] * ks[..., None, :, :]).sum(-1)  # (B, nh, 12, 12)
    assert torch.allclose(scores[..., 3, 1], scores[..., 10, 8], atol=1e-5)
    assert torch.allclose(scores[..., 0, 5], scores[..., 6, 11], atol=1e-5)
    with pytest.raises(ValueError, match="divisible by 4"):
        rotary_table_2d(4, 4, 6)


def test_null_text_and_padding(model):
    x, y = _inputs()
    t = torch.full((3,), 0.5)
    with torch.no_grad():
        out = model(x, t, y)
        null = model(x, t, null_condition(y, CONFIG.num_classes))
        assert (null.v - out.v).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # every row differs
        empty = model(x, t, TOKENIZER.encode(["", "", ""]))
        assert not torch.allclose(empty.v, null.v)  # the empty prompt is not the null text
        padded = y.padded(8)
        junk = torch.where(
            padded.mask,
            padded.tokens,
            torch.randint(0, CONFIG.text_vocab_size, padded.tokens.shape),
        )
        assert torch.allclose(model(x, t, TextCondition(junk, padded.mask)).v, out.v, atol=1e-5)


def test_guidance_on_text(model):
    x, y = _inputs()
    t = torch.full((3, CONFIG.num_patches), 0.3)
    pred = predict(model, x, t, y, Guidance(scale=3.0))
    with torch.no_grad():
        v_c, v_u = model(x, t, y).v, model(x, t, y.null()).v
    assert pred.images == 6
    assert torch.allclose(pred.v, v_u + 3.0 * (v_c - v_u), atol=1e-4)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_runs_on_the_text_model(model, name):
    noise, y = _inputs(2)
    sampler = SAMPLERS[name]()
    if isinstance(sampler, ScheduleMatrix):
        rows = torch.linspace(0, 1, 4, dtype=torch.float64)[:, None].repeat(
            1, CONFIG.num_patches
        )  # (4, N)
        rows[1:3, ::2] += 0.1  # half the patches ahead in the middle rows
        sampler = ScheduleMatrix(matrix=rows)
    budget = sampler.budget(6)
    schedule = uniform_schedule(budget.steps)

    def run(target):
        generators = [torch.Generator().manual_seed(s) for s in (11, 12)]
        return sampler(target, noise, y, schedule, Guidance(scale=2.0), generators)

    counting = Counting(model)
    result = run(counting)
    assert result.x.shape == noise.shape and torch.isfinite(result.x).all()
    assert (
        result.nfe == budget.nfe == len(counting.calls)
        and result.images_forwarded == 2 * 2 * result.nfe
    )
    again = run(model)
    assert torch.equal(again.x, result.x) and model._gather_buffer is None


def test_loss_backward_with_caption_dropout():
    model = randomize(PatchForcingT2I(CONFIG), seed=6).train()
    x1 = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = TOKENIZER.encode(CAPTIONS)
    out = patch_forcing_loss(
        model, x1, y, Independent(), torch.Generator().manual_seed(2), LossConfig(label_dropout=0.5)
    )
    out.loss.backward()
    assert torch.isfinite(out.loss)
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(
        g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values()
    )
    model.zero_grad()
    dropped = patch_forcing_loss(
        model, x1, y, Independent(), torch.Generator().manual_seed(2), LossConfig(label_dropout=1.0)
    )
    dropped.loss.backward()  # every caption dropped: only the null token's embedding row learns
    rows = model.text_embedder.weight.grad.abs().sum(dim=1)  # (V,)
    assert rows[0] > 0 and rows[1:].eq(0).all()


def test_model_folder_round_trip(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "t2i")
    assert (folder / "text_encoder.json").is_file()
    loaded = PatchForcingT2I.from_pretrained(folder)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert loaded.text_encoder() == TOKENIZER and loaded.config == CONFIG
    x, y = _inputs()
    with torch.no_grad():
        assert torch.equal(
            loaded(x, torch.full((3,), 0.2), y).v, model(x, torch.full((3,), 0.2), y).v
        )
    assert isinstance(load_model(folder), PatchForcingT2I)
    with pytest.raises(CheckpointError, match="load_model"):
        PatchForcingDiT.from_pretrained(folder)


def test_clear_errors(model):
    x, y = _inputs()
    t = torch.full((3,), 0.5)
    with pytest.raises(TypeError, match="TextCondition"):
        model(x, t, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="token ids"):
        model(
            x,
            t,
            TextCondition(
                torch.full((3, 2), CONFIG.text_vocab_size), torch.ones(3, 2, dtype=torch.bool)
            ),
        )
    with pytest.raises(ValueError, match="features"):
        model(x, t, TextCondition(torch.zeros(3, 2, 4), torch.ones(3, 2, dtype=torch.bool)))
    with pytest.raises(ValueError, match="at most 8 tokens"):
        model(
            x,
            t,
            TextCondition(torch.ones(3, 9, dtype=torch.long), torch.ones(3, 9, dtype=torch.bool)),
        )
    with pytest.raises(ValueError, match="exactly one"):
        TextModelConfig(text_vocab_size=10, text_feature_dim=16)
    with pytest.raises(ValueError, match="heads of a size divisible by 4"):
        TextModelConfig(width=36, num_heads=6, text_vocab_size=10)
    with pytest.raises(ValueError, match="vocab_size"):
        PatchForcingT2I(CONFIG, WordTokenizer.build(["other words"]))
    bare = PatchForcingT2I(CONFIG)
    with pytest.raises(ValueError, match="no text encoder"):
        bare.text_encoder()


def test_feature_model_runs_with_features():
    config = text_model_config_from_preset(
        "T2I-T/2", image_size=8, in_channels=1, text_feature_dim=12
    )
    model = randomize(PatchForcingT2I(config), seed=4).eval()
    features = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    x, t = torch.randn(2, 1, 8, 8), torch.full((2,), 0.5)
    with torch.no_grad():
        out = model(x, t, TextCondition(features, mask))
        junk = torch.where(mask[..., None], features, torch.randn(2, 5, 12))
        assert torch.allclose(model(x, t, TextCondition(junk, mask)).v, out.v, atol=1e-5)
        assert not torch.allclose(model(x, t, TextCondition(features, mask).null()).v, out.v)


def test_presets_and_the_paper_size_without_allocating():
    big = text_model_config_from_preset("T2I-1.2B")
    assert (
        big.depth,
        big.width,
        big.num_heads,
        big.mapping_width,
        big.refiner_width,
        big.refiner_depth,
        big.patch_size,
        big.in_channels,
        big.image_size,
        big.text_feature_dim,
    ) == (28, 1536, 16, 384, 1536, 2, 2, 4, 32, 2048)
    assert 1.15e9 < big.parameter_count < 1.3e9
    for name in TEXT_PRESETS:
        extra = {} if name == "T2I-1.2B" else {"text_vocab_size": 1000}
        config = text_model_config_from_preset(name, **extra)
        with torch.device("meta"):
            built = PatchForcingT2I(config)
        assert sum(p.numel() for p in built.parameters()) == config.parameter_count, name
    small = text_model_config_from_preset("T2I-S/4", text_vocab_size=1000)
    assert 3e6 < small.parameter_count < 6e6
    with pytest.raises(ValueError, match="unknown text model preset"):
        text_model_config_from_preset("T2I-XXL")
