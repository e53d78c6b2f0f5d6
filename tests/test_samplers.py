"""Sampler contract (every sampler) and the exact equivalences between samplers
(SPEC.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from conftest import randomize
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import (
    SAMPLERS,
    DualLoop,
    Euler,
    EulerPF,
    Guidance,
    LookAhead,
    RandomControl,
    ScheduleMatrix,
    certain_mask,
    uniform_schedule,
)

CONFIG = ModelConfig(image_size=8, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)
SCHEDULE = torch.tensor(
    [0.0, 0.1, 0.35, 0.6, 0.8, 1.0], dtype=torch.float64
)  # non-uniform on purpose


class Counting(nn.Module):
    """Wraps a model and records every forward: (batch size, per-patch time)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.config = model, model.config
        self.calls: list[tuple[int, torch.Tensor]] = []

    def forward(self, x, t, y):
        self.calls.append(
            (x.shape[0], t.clone() if t.dim() == 2 else t[:, None].expand(-1, CONFIG.num_patches))
        )
        return self.model(x, t, y)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def model() -> PatchForcingDiT:
    return randomize(PatchForcingDiT(CONFIG), seed=1, std=0.2).eval()


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(3, 1, 8, 8, generator=gen), torch.tensor([0, 2, 3])


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(7)


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("cfg", [1.0, 2.5])
def test_contract(model, inputs, name, cfg):
    noise, y = inputs
    sampler, guidance = SAMPLERS[name](), Guidance(scale=cfg)
    counting = Counting(model)
    result = sampler(counting, noise, y, SCHEDULE, guidance, _gen(), trace=True)
    assert result.x.shape == noise.shape and torch.isfinite(result.x).all()
    assert not torch.allclose(result.x, noise)
    # exact NFE: one per forward (a CFG pass on the doubled batch counts once), as predicted by
    # the config
    assert result.nfe == len(counting.calls) == sampler.nfe(SCHEDULE) == len(result.trace)
    assert (
        result.images_forwarded
        == sum(b for b, _ in counting.calls)
        == result.nfe * len(y) * (2 if cfg != 1 else 1)
    )
    # the schedule it is given is the one it uses: the passes at a uniform time are exactly the grid
    uniform = [float(t[0, 0]) for _, t in counting.calls if bool((t == t[:, :1]).all())]
    assert sorted(set(uniform)) == pytest.approx(SCHEDULE[:-1].tolist())
    assert counting.calls[0][1].eq(0).all()
    assert torch.equal(result.trace[-1].t, torch.ones(3, CONFIG.num_patches))
    # deterministic under a seed, and the same through the wrapper (plain gathers) as on the model
    # itself (which reuses one gather buffer for the call and frees it after)
    again = sampler(model, noise, y, SCHEDULE, guidance, _gen())
    assert torch.equal(result.x, again.x) and model._gather_buffer is None


def test_uniform_per_patch_euler_equals_global_euler(model, inputs):
    noise, y = inputs
    a, b = Euler()(model, noise, y, SCHEDULE), EulerPF()(model, noise, y, SCHEDULE)
    assert torch.equal(a.x, b.x) and a.nfe == b.nfe == 5


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_dual_loop_all_certain_equals_euler_pf(model, inputs, cfg):
    noise, y = inputs
    ref = EulerPF()(model, noise, y, SCHEDULE, Guidance(scale=cfg))
    out = DualLoop(p=1.0, n_inner=3, strict_quantile=False)(
        model, noise, y, SCHEDULE, Guidance(scale=cfg)
    )
    assert torch.equal(out.x, ref.x)
    assert out.nfe == 3 * ref.nfe  # the inner passes are still spent (and counted)


def test_dual_loop_single_inner_step_equals_euler_pf(model, inputs):
    noise, y = inputs
    ref = EulerPF()(model, noise, y, SCHEDULE)
    out = DualLoop(p=0.4, n_inner=1)(model, noise, y, SCHEDULE)
    assert torch.equal(out.x, ref.x) and out.nfe == ref.nfe


def test_dual_loop_moves_certain_patches_ahead(model, inputs):
    noise, y = inputs
    out = DualLoop(p=0.5, n_inner=4)(model, noise, y, uniform_schedule(2), trace=True)
    t_inner = out.trace[0].t  # after the first pass of the first outer step
    ahead = t_inner == 0.5
    assert ahead.sum(dim=1).tolist() == [
        8,
        8,
        8,
    ]  # strict quantile at p = 0.5 of 16 distinct values
    assert torch.allclose(t_inner[~ahead], torch.tensor(0.125))
    assert not torch.allclose(out.x, EulerPF()(model, noise, y, uniform_schedule(2)).x)


def test_lookahead_ratio_one_equals_euler_pf_and_reports_extra_passes(model, inputs):
    noise, y = inputs
    ref = EulerPF()(model, noise, y, SCHEDULE)
    out = LookAhead(ratio=1.0)(model, noise, y, SCHEDULE)
    assert torch.equal(out.x, ref.x)
    assert (
        out.nfe == 2 * 5 - 1
    )  # t = 0 is a plain early step (t < 0.05), the other 4 steps take 2 passes
    assert LookAhead(ratio=1.0, early_t=-1).nfe(SCHEDULE) == 10
    assert LookAhead(ratio=1.0, early_t=-1)(model, noise, y, SCHEDULE).nfe == 10


def test_lookahead_quirk_options_change_the_result(model, inputs):
    noise, y = inputs
    g = Guidance(scale=3.0)
    base = LookAhead()(model, noise, y, SCHEDULE, g)
    for options in (
        dict(guided_early=True),
        dict(jump_guided=True),
        dict(strict_quantile=False, p=0.5),
    ):
        assert not torch.equal(LookAhead(**options)(model, noise, y, SCHEDULE, g).x, base.x), (
            options
        )
    assert not torch.equal(
        LookAhead()(model, noise, y, SCHEDULE, Guidance(3.0, guide_logvar=False)).x, base.x
    )


def test_random_control_differs_from_dual_loop_only_in_the_mask(model, inputs):
    noise, y = inputs
    out = RandomControl(p=0.4, n_inner=3)(model, noise, y, SCHEDULE, generator=_gen(), trace=True)
    gen = _gen()

    @dataclass(frozen=True, kw_only=True)
    class UniformScores(
        DualLoop
    ):  # dual-loop's schedule, the mask written here from uniform scores
        def mask_rule(self, model, noise, generator):
            return lambda pred: certain_mask(
                torch.rand(3, CONFIG.num_patches, generator=gen), 0.4, True, CONFIG.patch_size**2
            )

    same = UniformScores(n_inner=3)(model, noise, y, SCHEDULE, trace=True)
    assert torch.equal(out.x, same.x)
    ref = DualLoop(p=0.4, n_inner=3)(model, noise, y, SCHEDULE, trace=True)
    assert out.nfe == ref.nfe == 15
    for k in range(
        0, 15, 3
    ):  # the first inner state of each outer step: same number of patches ahead
        assert torch.equal(
            (out.trace[k].t > out.trace[k].t.min(1, keepdim=True).values).sum(1),
            (ref.trace[k].t > ref.trace[k].t.min(1, keepdim=True).values).sum(1),
        )
    assert not torch.equal(out.x, ref.x)


@pytest.mark.parametrize(
    "p,strict,count",
    [
        (0.4, True, 6),
        (0.4, False, 7),
        (1.0, True, 15),
        (1.0, False, 16),
        (0.0, True, 0),
        (0.0, False, 1),
        (0.5, True, 8),
    ],
)
def test_certain_mask_counts(p, strict, count):
    scores = torch.rand(4, 16, generator=torch.Generator().manual_seed(3))
    assert certain_mask(scores, p, strict).sum(1).tolist() == [count] * 4


def test_cached_modulation_equals_per_token_forward(model):
    gen = torch.Generator().manual_seed(5)
    for distinct in (1, 2, 3, 7, 16):
        x = torch.randn(6, 1, 8, 8, generator=gen)
        t = torch.rand(distinct, generator=gen)[torch.randint(distinct, (6, 16), generator=gen)]
        y = torch.tensor([0, 3, 1, 1, 3, 2])  # null label (3) included, repeated labels
        fast, plain = model(x, t, y), model(x, t, y, cache_modulation=False)
        assert torch.allclose(fast.v, plain.v, atol=1e-5) and torch.allclose(
            fast.logvar, plain.logvar, atol=1e-5
        )


def test_per_patch_interval_guidance(model, inputs):
    noise, y = inputs
    inside = Guidance(scale=2.0, interval=(0.0, 1.0), per_patch=True)
    assert torch.allclose(
        EulerPF()(model, noise, y, SCHEDULE, inside).x,
        EulerPF()(model, noise, y, SCHEDULE, Guidance(scale=2.0)).x,
        atol=1e-6,
    )
    late = DualLoop()(
        model, noise, y, SCHEDULE, Guidance(scale=2.0, interval=(0.5, 1.0), per_patch=True)
    )
    assert torch.isfinite(late.x).all()


def test_budget_picks_steps():
    assert Euler().budget(40).steps == 40 and EulerPF().budget(7).nfe == 7
    assert (DualLoop().budget(40).steps, DualLoop().budget(40).nfe) == (10, 40)
    assert (LookAhead().budget(40).steps, LookAhead().budget(40).nfe) == (21, 40)
    closest = DualLoop().budget(42)
    assert (closest.steps, closest.nfe, closest.exact) == (10, 40, False)
    assert RandomControl(n_inner=3).budget(2).nfe == 3  # the cheapest it can do
    for name, cls in SAMPLERS.items():
        b = cls().budget(24)
        assert b.nfe == cls().nfe(uniform_schedule(b.steps)), name


def test_clear_errors(inputs):
    noise, y = inputs
    baseline = randomize(
        PatchForcingDiT(
            ModelConfig(
                image_size=8,
                patch_size=2,
                depth=1,
                width=32,
                num_heads=2,
                num_classes=3,
                time_mode="global",
                difficulty_head=False,
            )
        )
    )
    with pytest.raises(ValueError, match="Patch Forcing model"):
        DualLoop()(baseline, noise, y, SCHEDULE)
    assert Euler()(baseline, noise, y, SCHEDULE).nfe == 5
    with pytest.raises(ValueError, match="torch.Generator"):
        RandomControl()(randomize(PatchForcingDiT(CONFIG)), noise, y, SCHEDULE)
    with pytest.raises(ValueError, match="fraction p"):
        DualLoop(p=1.5)
    with pytest.raises(ValueError, match="n_inner"):
        DualLoop(n_inner=0)
    with pytest.raises(ValueError, match="context ratio"):
        LookAhead(ratio=0.5)
    with pytest.raises(TypeError):
        DualLoop(0.3)  # options are keyword-only: their order is not part of the API
    with pytest.raises(ValueError, match="non-decreasing"):
        EulerPF()(randomize(PatchForcingDiT(CONFIG)), noise, y, torch.tensor([0.0, 0.6, 0.4, 1.0]))
    assert ScheduleMatrix().nfe(SCHEDULE) == 5


def test_hardest_first_moves_the_most_difficult_patches_ahead(tiny_model):
    from patchforcing.sampling import SAMPLERS, noise_for_seeds, uniform_schedule

    noise = noise_for_seeds(range(3), (1, 8, 8))
    y = torch.tensor([0, 1, 2])
    for name, hardest in (("dual-loop", False), ("hardest-first", True)):
        first = SAMPLERS[name]()(tiny_model, noise, y, uniform_schedule(2), trace=True).trace[0]
        ahead = (
            first.t > first.t.min(dim=1, keepdim=True).values
        )  # (B, N) the certain set of the first step
        d = first.difficulty
        for b in range(3):
            if hardest:
                assert d[b][ahead[b]].min() >= d[b][~ahead[b]].max()
            else:
                assert d[b][ahead[b]].max() <= d[b][~ahead[b]].min()
