"""The sampler functions of 0.1 still work for one release: each warns and returns exactly what
the sampler config it names returns."""

from __future__ import annotations

import pytest
import torch

import patchforcing
import patchforcing.sampling as sampling
from conftest import randomize
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import (
    DualLoop,
    Euler,
    EulerPF,
    Guidance,
    HardestFirst,
    KnownContent,
    LookAhead,
    RandomControl,
    SampleResult,
    ScheduleMatrix,
    certain_mask,
    inpainting_matrix,
    uniform_schedule,
)

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIG = ModelConfig(image_size=8, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)
SCHEDULE = torch.tensor([0.0, 0.03, 0.35, 0.6, 1.0], dtype=torch.float64)
G = Guidance(scale=2.0)


@pytest.fixture(scope="module")
def model() -> PatchForcingDiT:
    return randomize(PatchForcingDiT(CONFIG), seed=3, std=0.2).eval()


@pytest.fixture(scope="module")
def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    noise = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    return noise, torch.tensor([0, 1, 3])


def _gens() -> list[torch.Generator]:
    return [torch.Generator().manual_seed(10 + i) for i in range(3)]


def _known() -> KnownContent:
    mask = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    mask[:, :, :4] = True
    return KnownContent(image=torch.zeros(3, 1, 8, 8), mask=mask)


def _first_five(pred) -> torch.Tensor:  # a mask rule: the first 5 patches certain
    mask = torch.zeros(pred.v.shape[0], CONFIG.num_patches, dtype=torch.bool)
    mask[:, :5] = True
    return mask


def _fresh(args: tuple) -> list:
    return [arg() if arg is _gens else arg for arg in args]


def same(a: SampleResult, b: SampleResult) -> bool:
    """Bit for bit: the image, the compute spent and every traced step."""
    steps = len(a.trace) == len(b.trace) and all(
        torch.equal(s.x, t.x) and torch.equal(s.t, t.t) for s, t in zip(a.trace, b.trace)
    )
    spent = (a.nfe, a.images_forwarded) == (b.nfe, b.images_forwarded)
    return torch.equal(a.x, b.x) and spent and steps


LOOKAHEAD = dict(
    p=0.5,
    ratio=1.2,
    pixel_quantile=False,
    early_t=0.1,
    strict_early=False,
    guided_early=True,
    jump_guided=True,
)
CASES = {  # old function: its arguments after (model, noise, y), the config, the config's arguments
    # (_gens: fresh mask generators for each call)
    "euler": ((SCHEDULE, G, True), Euler(), (SCHEDULE, G, None, True)),
    "euler_pf": ((SCHEDULE, G, True), EulerPF(), (SCHEDULE, G, None, True)),
    "dual_loop": (
        (SCHEDULE, 0.3, 3, False, False, G, True),
        DualLoop(p=0.3, n_inner=3, strict_quantile=False, pixel_quantile=False),
        (SCHEDULE, G, None, True),
    ),
    "lookahead": (
        (SCHEDULE, 0.5, 1.2, True, False, 0.1, False, True, True, G, True),
        LookAhead(**LOOKAHEAD),
        (SCHEDULE, G, None, True),
    ),
    "random_control": (
        (SCHEDULE, _gens, 0.4, 2),
        RandomControl(n_inner=2),
        (SCHEDULE, Guidance(), _gens),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_old_functions_warn_and_equal_their_configs(model, inputs, name):
    noise, y = inputs
    args, config, call = CASES[name]
    new = config(model, noise, y, *_fresh(call))
    for module in (patchforcing, sampling):
        with pytest.warns(DeprecationWarning, match=f"{name}.*deprecated"):
            old = getattr(module, name)(model, noise, y, *_fresh(args))
        assert same(old, new), (module.__name__, name)


def test_old_dual_loop_variants_and_matrix(model, inputs):
    noise, y = inputs
    with pytest.warns(DeprecationWarning, match="dual_loop"):
        hardest = sampling.dual_loop(model, noise, y, SCHEDULE, hardest_first=True)
    assert same(hardest, HardestFirst()(model, noise, y, SCHEDULE))
    with pytest.warns(DeprecationWarning, match="masked_dual_loop"):
        masked = sampling.masked_dual_loop(model, noise, y, SCHEDULE, 2, _first_five, G, True)
    assert masked.nfe == 8 and masked.trace[0].t[:, :5].eq(SCHEDULE[1].float()).all()
    known = _known()
    rows = inpainting_matrix(known.known_patches(2), SCHEDULE)
    with pytest.warns(DeprecationWarning, match="schedule_matrix"):
        old = sampling.schedule_matrix(model, noise, y, rows, G, known, True)
    assert same(old, ScheduleMatrix(known=known)(model, noise, y, SCHEDULE, G, trace=True))
    with pytest.warns(DeprecationWarning, match="lookahead_nfe"):
        nfe = sampling.lookahead_nfe(uniform_schedule(100), 0.05, False)
    assert nfe == LookAhead(strict_early=False).nfe(uniform_schedule(100)) == 194


def test_the_functions_are_no_longer_exported():
    for name in CASES:
        assert name not in patchforcing.__all__ and name not in sampling.__all__
    assert certain_mask.__module__ == "patchforcing.sampling.certainty"  # helpers stay public
