"""Parity with the authors' adaptive samplers (SPEC.md section 4): the pixel-level certainty
quantile, the look-ahead's early-step test and its NFE, and random-control masks that do not depend
on the batch."""

from __future__ import annotations

import math
from fractions import Fraction

import einops
import numpy as np
import pytest
import torch

from conftest import randomize
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import DualLoop, LookAhead, RandomControl, certain_mask, uniform_schedule

pytestmark = pytest.mark.usefixtures("single_thread")


def distinct_scores(batch: int, n: int, seed: int) -> torch.Tensor:
    """(B, N) distinct positive scores in random order."""
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.stack([torch.randperm(10 * n, generator=gen)[:n] for _ in range(batch)]).float()
        / (10 * n)
        + 0.01
    )


def numpy_pixel_mask(scores: torch.Tensor, p: float, patch_size: int) -> np.ndarray:
    """Written independently: numpy's linear quantile over the pixel-level map (each patch's value
    repeated patch_size**2 times), certain = strictly below it."""
    values = scores.double().numpy()
    pixels = np.repeat(values, patch_size**2, axis=1)  # order does not matter to a quantile
    q = np.quantile(pixels, p, axis=1, method="linear", keepdims=True)
    return values < q


@pytest.mark.parametrize("n", [16, 49, 64, 196, 256, 1024])
@pytest.mark.parametrize("patch_size", [2, 4])
@pytest.mark.parametrize("p", [0.4, 0.25, 0.7, 0.9])
def test_pixel_quantile_matches_numpy(n, patch_size, p):
    scores = distinct_scores(3, n, seed=n + patch_size)
    mask = certain_mask(scores, p, strict=True, pixels=patch_size**2)
    assert np.array_equal(mask.numpy(), numpy_pixel_mask(scores, p, patch_size))
    r = (
        patch_size**2
    )  # closed form for distinct scores (certainty.py): ceil((p (N r - 1) + 1) / r) - 1
    assert mask.sum(1).tolist() == [math.ceil((Fraction(p) * (n * r - 1) + 1) / r) - 1] * 3


@pytest.mark.parametrize(
    "n,pixel,patch",
    [(16, 6, 6), (49, 19, 20), (64, 25, 26), (196, 78, 78), (256, 102, 102), (1024, 409, 410)],
)
def test_authors_counts_at_p04(n, pixel, patch):
    scores = distinct_scores(2, n, seed=1)
    assert (
        certain_mask(scores, 0.4, pixels=4).sum(1).tolist() == [pixel] * 2
    )  # patch size 2, the authors'
    assert certain_mask(scores, 0.4, pixels=1).sum(1).tolist() == [patch] * 2


@pytest.mark.parametrize("n", [16, 49, 64, 196, 256, 1024])
@pytest.mark.parametrize("p", [0.0, 0.4, 0.5, 0.7, 1.0])
def test_per_patch_option_gives_the_old_counts(n, p):
    scores = distinct_scores(2, n, seed=2)
    old = torch.quantile(
        scores, p, dim=1, keepdim=True
    )  # the quantile over the N values, as before
    for strict, count in ((True, math.ceil(p * (n - 1))), (False, math.floor(p * (n - 1)) + 1)):
        mask = certain_mask(scores, p, strict, pixels=1)
        assert torch.equal(mask, scores < old if strict else scores <= old)
        assert mask.sum(1).tolist() == [count] * 2


def test_inclusive_pixel_quantile_at_p1_makes_every_patch_certain():
    scores = distinct_scores(2, 64, seed=3)
    assert certain_mask(scores, 1.0, strict=False, pixels=4).all()
    assert certain_mask(scores, 1.0, strict=True, pixels=4).sum(1).tolist() == [63, 63]


# --- the samplers on a model with N = 64 patches, where the two quantiles differ ------------------

CONFIG_64 = ModelConfig(image_size=16, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)


@pytest.fixture(scope="module")
def model_64() -> PatchForcingDiT:
    return randomize(PatchForcingDiT(CONFIG_64), seed=4, std=0.2).eval()


@pytest.fixture(scope="module")
def inputs_64() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(5)), torch.tensor(
        [0, 2]
    )


def ahead(t: torch.Tensor) -> torch.Tensor:
    """(B, N) bool: the patches whose time is above the sample's lowest (moved ahead)."""
    return t > t.min(dim=1, keepdim=True).values


@pytest.mark.parametrize("pixel_quantile,count", [(True, 25), (False, 26)])
def test_samplers_use_the_configured_quantile(model_64, inputs_64, pixel_quantile, count):
    noise, y = inputs_64
    schedule = torch.tensor([0.2, 0.6, 1.0], dtype=torch.float64)  # no plain early step
    for sampler in (
        DualLoop(pixel_quantile=pixel_quantile),
        LookAhead(pixel_quantile=pixel_quantile),
    ):
        first = sampler(model_64, noise, y, schedule, trace=True).trace[
            0
        ]  # the state after the first pass
        assert ahead(first.t).sum(1).tolist() == [count] * 2, sampler
        if pixel_quantile:
            assert np.array_equal(
                ahead(first.t).numpy(), numpy_pixel_mask(first.difficulty, 0.4, 2)
            )
    control = RandomControl(pixel_quantile=pixel_quantile)
    first = control(
        model_64, noise, y, schedule, generator=torch.Generator().manual_seed(0), trace=True
    ).trace[0]
    assert ahead(first.t).sum(1).tolist() == [count] * 2  # the same number of patches as dual-loop


# --- look-ahead's early steps ---------------------------------------------------------------------


def plain_count(steps: int, inclusive: bool) -> int:
    """#{k : k / S < 1/20} (or <=), in exact arithmetic."""
    return sum(
        Fraction(k, steps) <= Fraction(1, 20) if inclusive else Fraction(k, steps) < Fraction(1, 20)
        for k in range(steps)
    )


@pytest.mark.parametrize("strict_early,nfe_100,nfe_20", [(True, 195, 39), (False, 194, 38)])
def test_lookahead_nfe_figures(strict_early, nfe_100, nfe_20):
    sampler = LookAhead(strict_early=strict_early)
    assert sampler.nfe(uniform_schedule(100)) == nfe_100 and sampler.early_t == 0.05
    assert sampler.nfe(uniform_schedule(20)) == nfe_20
    # every uniform grid, including those whose float64 times miss 0.05 by one ulp
    # (141 points, 221, ...)
    for steps in range(1, 401):
        assert sampler.nfe(uniform_schedule(steps)) == 2 * steps - plain_count(
            steps, not strict_early
        ), steps
    budget = sampler.budget(
        195
    )  # inclusive: 100 steps spend 194, 101 spend 196 (a tie: the cheaper)
    assert (budget.steps, budget.nfe) == (100, nfe_100)


@pytest.mark.parametrize(
    "strict_early,image_size,steps,nfe",
    [
        (True, 16, 100, 195),  # N = 64: their test is t_k < 0.05 on these grids
        (True, 16, 20, 39),
        (True, 4, 100, 194),  # N = 4: the float32 mean of 0.05 stays 0.05, t_k <= 0.05
        (True, 4, 20, 38),
        (False, 16, 100, 194),
        (False, 16, 20, 38),
    ],
)
def test_lookahead_spends_what_it_reports(strict_early, image_size, steps, nfe):
    config = ModelConfig(
        image_size=image_size, patch_size=2, depth=1, width=16, num_heads=2, num_classes=2
    )
    model = randomize(PatchForcingDiT(config), seed=6).eval()
    calls = []
    handle = model.register_forward_hook(lambda module, args, out: calls.append(1))
    noise, y = (
        torch.randn(1, 1, image_size, image_size, generator=torch.Generator().manual_seed(7)),
        torch.tensor([1]),
    )
    sampler = LookAhead(strict_early=strict_early)
    try:
        result = sampler(model, noise, y, uniform_schedule(steps))
    finally:
        handle.remove()
    assert (
        result.nfe == len(calls) == nfe == sampler.nfe(uniform_schedule(steps), config.num_patches)
    )


def authors_plain_steps(times: torch.Tensor, num_patches: int) -> list[bool]:
    """Their release's test, restated: the (S + 1, N) float32 schedule a broadcast of the grid
    (``einops.repeat``), step k plain when the mean of its row is <= 0.05."""
    rows = einops.repeat(times.to(torch.float32), "t -> t f", f=num_patches)  # (S + 1, N)
    return [bool(rows[k].mean() <= 0.05) for k in range(len(times) - 1)]


PATCH_COUNTS = [1, 2, 4, 9, 16, 25, 36, 49, 64, 100, 144, 196, 256, 576, 1024, 4096]


@pytest.mark.parametrize("num_patches", PATCH_COUNTS)
def test_lookahead_early_steps_match_the_authors_at_every_patch_count(num_patches):
    sampler = LookAhead()
    # their grid: torch.linspace in float32, whatever schedule values our uniform grid holds
    for steps in range(1, 301):
        expected = authors_plain_steps(torch.linspace(0, 1, steps + 1), num_patches)
        times = uniform_schedule(steps).tolist()[:-1]
        assert sampler.plain_steps(times, num_patches) == expected, steps
        assert sampler.nfe(uniform_schedule(steps), num_patches) == 2 * steps - sum(expected)
    # other schedules, with times at and one or two float32 steps around 0.05
    g = torch.Generator().manual_seed(num_patches)
    near = torch.tensor([0.05], dtype=torch.float32)
    for _ in range(2):
        near = torch.cat(
            [
                torch.nextafter(near[:1], torch.zeros(1)),
                near,
                torch.nextafter(near[-1:], torch.ones(1)),
            ]
        )
    for _ in range(200):
        inner = torch.rand(int(torch.randint(1, 12, (), generator=g)), generator=g).double()
        picked = near[torch.randint(len(near), (2,), generator=g)].double()
        schedule = torch.cat([torch.zeros(1), inner, picked, torch.ones(1)]).sort().values
        assert sampler.plain_steps(schedule.tolist()[:-1], num_patches) == authors_plain_steps(
            schedule, num_patches
        ), schedule.tolist()


# --- random control: masks from one generator per image ----------------------------------------

CONFIG_16 = ModelConfig(image_size=8, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)


def per_image(seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[torch.Generator]]:
    """Noise, labels and mask generators, each image from its own seed."""
    noise = torch.stack(
        [torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(s)) for s in seeds]
    )
    return (
        noise,
        torch.tensor([s % 3 for s in seeds]),
        [torch.Generator().manual_seed(1000 + s) for s in seeds],
    )


def test_random_control_image_does_not_depend_on_its_batch():
    model = randomize(PatchForcingDiT(CONFIG_16), seed=8, std=0.2).eval()
    schedule = uniform_schedule(4)
    batch = [0, 1, 2, 3, 4]
    noise, y, gens = per_image(batch)
    together = RandomControl()(model, noise, y, schedule, generator=gens).x
    for seeds in ([2], [4, 2], [3, 2, 9]):  # image 2 alone and in other company
        noise_s, y_s, gens_s = per_image(seeds)
        alone = RandomControl()(model, noise_s, y_s, schedule, generator=gens_s).x[seeds.index(2)]
        assert torch.allclose(alone, together[2], atol=1e-5), seeds
    # with one generator for the whole batch, the masks (and so image 2) depend on the batch
    shared = RandomControl()(
        model, noise, y, schedule, generator=torch.Generator().manual_seed(1002)
    ).x
    noise_s, y_s, _ = per_image([2])
    single = RandomControl()(
        model, noise_s, y_s, schedule, generator=torch.Generator().manual_seed(1002)
    ).x
    assert not torch.allclose(single[0], shared[2], atol=1e-3)


def test_random_control_rejects_bad_generators():
    model = randomize(PatchForcingDiT(CONFIG_16)).eval()
    noise, y, gens = per_image([0, 1, 2])
    with pytest.raises(ValueError, match="2 generators for a batch of 3"):
        RandomControl()(model, noise, y, uniform_schedule(2), generator=gens[:2])
    with pytest.raises(ValueError, match="torch.Generator"):
        RandomControl()(model, noise, y, uniform_schedule(2), generator=[gens[0], 1, gens[2]])
    with pytest.raises(ValueError, match="torch.Generator"):
        RandomControl()(model, noise, y, uniform_schedule(2))
