"""Layouts of the per-token conditioning: which one a forward picks, and that all give the
same output."""

from __future__ import annotations

import pytest
import torch

from patchforcing.model.conditioning import (
    MAX_SEGMENTS,
    GatheredConditioning,
    SegmentConditioning,
    TokenConditioning,
    time_segments,
)


def equal_count_times(
    batch: int, values: list[float], counts: list[int], seed: int
) -> torch.Tensor:
    """(batch, sum(counts)) times: every sample has counts[j] tokens at values[j], at
    random places."""
    gen = torch.Generator().manual_seed(seed)
    row = torch.cat([torch.full((n,), v) for v, n in zip(values, counts)])  # (N,)
    return torch.stack(
        [row[torch.randperm(row.numel(), generator=gen)] for _ in range(batch)]
    )  # (B, N)


def test_time_segments_orders_tokens_by_time():
    t = torch.tensor([[0.5, 0.25, 0.5, 0.25], [0.25, 0.5, 0.25, 0.5]])
    order, times, sizes = time_segments(t)
    assert sizes == (2, 2) and times.tolist() == [[0.25, 0.5], [0.25, 0.5]]
    assert order.tolist() == [1, 3, 0, 2, 4, 6, 5, 7]  # indices into the flattened (B*N,) batch
    assert torch.equal(t.reshape(-1)[order].view(2, 2, 2), times[:, :, None].expand(2, 2, 2))


def test_time_segments_refuses_unshared_or_too_many_segments():
    assert (
        time_segments(torch.tensor([[0.1, 0.2, 0.2], [0.1, 0.1, 0.2]])) is None
    )  # sizes (1, 2) vs (2, 1)
    assert (
        time_segments(torch.tensor([[0.1, 0.2, 0.2], [0.3, 0.4, 0.4]])) is not None
    )  # other values, same sizes
    many = torch.linspace(0, 1, MAX_SEGMENTS + 1)[None]
    assert (
        time_segments(many) is None
        and time_segments(many, max_segments=MAX_SEGMENTS + 1) is not None
    )


@pytest.mark.parametrize(
    "values,counts",
    [([0.3, 0.7], [6, 10]), ([0.9, 0.1, 0.5], [1, 5, 10]), ([0.2, 0.4, 0.6, 0.8], [4, 4, 4, 4])],
)
def test_segment_forward_equals_per_token_forward(tiny_model, values, counts):
    t = equal_count_times(5, values, counts, seed=len(values))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 1, 8, 8, generator=gen)
    y = torch.tensor([0, 3, 1, 1, 2])  # the null label (3) included
    with torch.no_grad():
        assert isinstance(tiny_model.conditioning(t, y), SegmentConditioning)
        fast, plain = tiny_model(x, t, y), tiny_model(x, t, y, cache_modulation=False)
        again = tiny_model(x, t, y)
    assert torch.allclose(fast.v, plain.v, atol=1e-5) and torch.allclose(
        fast.logvar, plain.logvar, atol=1e-5
    )
    assert torch.equal(fast.v, again.v)  # deterministic


def test_layout_choice(tiny_model):
    y = torch.tensor([0, 1, 2])
    mixed = equal_count_times(3, [0.2, 0.6], [7, 9], seed=0)
    unequal = mixed.clone()
    unequal[0, mixed[0] == 0.2] = 0.6  # sample 0 now has a single time, the others two
    many = equal_count_times(
        3, torch.linspace(0.1, 0.9, MAX_SEGMENTS + 1).tolist(), [3, 3, 3, 3, 4], seed=1
    )
    uniform = torch.full((3, 16), 0.4)
    with torch.no_grad():
        assert tiny_model.conditioning(uniform, y).order is None  # patch order, one row per sample
        assert isinstance(tiny_model.conditioning(mixed, y), SegmentConditioning)
        assert isinstance(tiny_model.conditioning(unequal, y), GatheredConditioning)
        assert isinstance(tiny_model.conditioning(many, y), GatheredConditioning)
        assert isinstance(tiny_model.conditioning(mixed, y, cache=False), TokenConditioning)
    assert isinstance(tiny_model.conditioning(mixed, y), TokenConditioning)  # with gradients
    assert isinstance(tiny_model.conditioning(uniform, y), SegmentConditioning)


def test_segment_forward_leaves_inputs_alone(tiny_model):
    t = equal_count_times(2, [0.3, 0.8], [5, 11], seed=4)
    x = torch.randn(2, 1, 8, 8)
    x_before, t_before = x.clone(), t.clone()
    with torch.no_grad():
        tiny_model(x, t, torch.tensor([0, 1]))
    assert torch.equal(x, x_before) and torch.equal(t, t_before)


def test_layout_round_trip(tiny_model):
    t = equal_count_times(4, [0.3, 0.5, 0.8], [2, 6, 8], seed=2)
    with torch.no_grad():
        cond = tiny_model.conditioning(t, torch.tensor([0, 1, 2, 0]))
    h = torch.randn(4, 16, 5)
    assert torch.equal(cond.to_patches(cond.to_layout(h)), h)
    flat_t = cond.to_layout(t[:, :, None])[..., 0]  # (B, N) times in layout order
    assert torch.equal(flat_t, flat_t.sort(dim=1).values)


@pytest.mark.parametrize("name", ["dual-loop", "look-ahead", "random"])
def test_adaptive_samplers_run_their_mixed_passes_on_segments(tiny_model, name, monkeypatch):
    from patchforcing.sampling import SAMPLERS, Guidance

    layouts = []
    conditioning = tiny_model.conditioning

    def record(t, y, cache=True):
        cond = conditioning(t, y, cache)
        layouts.append((type(cond).__name__, getattr(cond, "sizes", None)))
        return cond

    monkeypatch.setattr(tiny_model, "conditioning", record)
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    schedule = torch.linspace(0, 1, 5)
    SAMPLERS[name]()(
        tiny_model,
        noise,
        torch.tensor([0, 1, 2, 0]),
        schedule,
        Guidance(scale=2.0),
        torch.Generator().manual_seed(0),
    )
    mixed = [layout for layout in layouts if layout[1] != (16,)]
    assert mixed and all(kind == "SegmentConditioning" and len(sizes) == 2 for kind, sizes in mixed)
