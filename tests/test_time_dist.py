"""The training time distributions: one contract for all, their closed forms and statistics, and the
names of release 0.1 that still work with a DeprecationWarning."""

import math

import pytest
import torch

from patchforcing.core.time_dist import (
    LTG,
    SRM,
    TIME_DISTRIBUTIONS,
    GaussianMean,
    GlobalLogitNormal,
    GlobalUniform,
    TruncatedGaussian,
    build_time_distribution,
)

B, N = 4000, 16


def draw(dist, seed=0, batch=B, n=N):
    return dist(batch, n, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(TIME_DISTRIBUTIONS))
def test_contract_shape_range_dtype_determinism(name):
    dist = build_time_distribution(name)
    t = draw(dist)
    assert t.shape == (B, N) and t.dtype == torch.float32
    assert t.min() >= 0 and t.max() <= 1
    assert torch.equal(t, draw(dist))
    assert not torch.equal(t, draw(dist, seed=1))
    assert draw(dist, batch=3, n=5).shape == (3, 5)


@pytest.mark.parametrize(
    "dist,mean",
    [
        (GlobalUniform(), 0.5),
        (GlobalLogitNormal(), 0.5),
        (build_time_distribution("independent"), 0.5),
        (SRM(), 0.5),
        (SRM(sharpness=10), 0.5),
        (GaussianMean(), 0.5),
    ],
)
def test_means(dist, mean):
    assert abs(float(draw(dist).mean()) - mean) < 0.02


def test_global_distributions_share_time_across_patches():
    for dist in (GlobalUniform(), GlobalLogitNormal()):
        t = draw(dist)
        assert torch.equal(t, t[:, :1].expand_as(t))
        assert dist.is_global


def test_logit_normal_matches_closed_form_quantiles():
    t = draw(GlobalLogitNormal(loc=0.0, scale=1.0), batch=20000)[:, 0]
    # median of sigmoid(N(0,1)) is 0.5; P(t < sigmoid(1)) = Phi(1)
    assert abs(float(t.median()) - 0.5) < 0.02
    assert abs(float((t < 1 / (1 + math.exp(-1))).float().mean()) - 0.8413) < 0.015


@pytest.mark.parametrize("sharpness", [1.0, 4.0, 10.0])
@pytest.mark.parametrize("n", [1, 7, 16, 49])
def test_srm_exact_per_sample_mean_is_uniform(sharpness, n):
    t = draw(SRM(sharpness=sharpness), batch=3000, n=n).double()
    means = t.mean(dim=1)
    # every sample's mean is its drawn m: the set of means is U(0, 1)
    assert abs(float(means.mean()) - 0.5) < 0.02
    assert abs(float(means.var()) - 1 / 12) < 0.01
    assert float(t.min()) >= 0 and float(t.max()) <= 1


def test_srm_mean_equals_drawn_budget_exactly():
    import numpy as np

    dist = SRM(sharpness=4.0)
    rng = np.random.default_rng(0)
    total = rng.random(50) * 16
    leaves = dist._split(rng, total, 16)
    assert np.allclose(leaves.sum(1), total, atol=1e-9)
    assert (leaves >= -1e-12).all() and (leaves <= 1 + 1e-12).all()


def test_srm_sharper_means_less_spread_within_sample():
    spread = [float(draw(SRM(sharpness=s)).std(dim=1).mean()) for s in (1.0, 10.0)]
    assert spread[1] < spread[0]


def test_gaussian_spread_is_capped():
    t = draw(GaussianMean(std=0.2), batch=2000, n=64)
    assert float(t.std(dim=1).max()) < 0.25


@pytest.mark.parametrize("dist", [TruncatedGaussian(), LTG(), LTG(std=0.2, loc=0.0)])
def test_ceiling_distributions_never_exceed_ceiling(dist):
    t = draw(dist, batch=3000, n=32)
    top = t.max(dim=1).values
    # the ceiling c is drawn per sample; reproduce it from the same generator stream
    gen = torch.Generator().manual_seed(0)
    if isinstance(dist, LTG):
        c = torch.sigmoid(
            dist.loc + dist.scale * torch.randn((3000, 1), generator=gen, dtype=torch.float64)
        )
    else:
        c = torch.rand((3000, 1), generator=gen, dtype=torch.float64)
    c = c.float()[:, 0]
    assert (top <= c + 1e-6).all()
    # the maximum patch sits close below the ceiling
    assert float((c - top).mean()) < 0.1


def test_ltg_ceiling_distribution_is_logit_normal():
    t = draw(LTG(), batch=20000, n=64)
    top = t.max(dim=1).values
    # the median ceiling is sigmoid(0.7) ~ 0.668; the max patch sits a little below it
    assert 0.6 < float(top.median()) < 0.68
    # std >= 0.5: sd is always c/2, so (c - t)/c = |eps|/2 for |eps| <= 2 and U(0, 1) after a
    # redraw: E[(c - t)/c] = 0.5 * sqrt(2/pi) * (1 - exp(-2)) + 0.5 * P(|eps| > 2)
    gen = torch.Generator().manual_seed(0)
    c = torch.sigmoid(0.7 + torch.randn((20000, 1), generator=gen, dtype=torch.float64)).float()
    expected = 0.5 * math.sqrt(2 / math.pi) * (1 - math.exp(-2)) + 0.5 * math.erfc(2 / math.sqrt(2))
    assert abs(float(((c - t) / c).mean()) - expected) < 0.005


def test_truncated_gaussian_redraws_are_below_ceiling():
    t = draw(TruncatedGaussian(std=0.5), batch=2000, n=64)
    assert float(t.min()) >= 0


def test_build_rejects_unknown_names_and_parameters():
    with pytest.raises(ValueError, match="unknown time distribution 'nope'"):
        build_time_distribution("nope")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['sd'\]"):
        build_time_distribution("ltg", {"sd": 0.1})
    with pytest.raises(ValueError, match="must be > 0"):
        build_time_distribution("srm", {"sharpness": 0})


def test_ltg_global_share_gives_that_share_of_samples_one_uniform_time():
    """Not in the paper (an option, default 0): a share of the samples has every patch at one time
    drawn from U(0, 1), as the global baseline trains; the default draws exactly the
    authors' numbers."""
    gen = torch.Generator().manual_seed(0)
    t = build_time_distribution("ltg", {"global_share": 0.25})(8000, 16, generator=gen)
    shared = (t == t[:, :1]).all(dim=1)
    assert abs(shared.float().mean().item() - 0.25) < 0.03
    assert (
        abs(t[shared, 0].mean().item() - 0.5) < 0.03 and (t[shared, 0] > 0.9).float().mean() > 0.07
    )
    plain = build_time_distribution("ltg")(64, 16, generator=torch.Generator().manual_seed(1))
    zero = build_time_distribution("ltg", {"global_share": 0.0})(
        64, 16, generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(plain, zero)
    with pytest.raises(ValueError, match="global_share must lie in"):
        build_time_distribution("ltg", {"global_share": 1.5})


@pytest.mark.parametrize(
    "old,new",
    [
        ("TimeSampler", "TimeDistribution"),
        ("TIME_SAMPLERS", "TIME_DISTRIBUTIONS"),
        ("build_time_sampler", "build_time_distribution"),
        ("time_sampler_spec", "time_distribution_spec"),
    ],
)
def test_names_of_release_0_1_warn_and_give_the_renamed_object(old, new):
    from patchforcing.core import time_dist

    with pytest.warns(DeprecationWarning, match=f"{old} is renamed {new}"):
        assert getattr(time_dist, old) is getattr(time_dist, new)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        time_dist.nope  # noqa: B018
