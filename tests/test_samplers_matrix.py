"""Schedule-matrix sampler: the rows it is given are the times it feeds, negative increments are
clamped, and inpainting keeps the known pixels exactly."""

from __future__ import annotations

import pytest
import torch

from conftest import randomize
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.sampling import (
    EulerPF,
    Guidance,
    KnownContent,
    ScheduleMatrix,
    inpainting_matrix,
    uniform_schedule,
)
from test_samplers import Counting

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIG = ModelConfig(image_size=8, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3)
SCHEDULE_UNUSED = uniform_schedule(
    1
)  # a config with a fixed matrix takes its times from the matrix


@pytest.fixture(scope="module")
def model() -> PatchForcingDiT:
    return randomize(PatchForcingDiT(CONFIG), seed=2, std=0.2).eval()


def _noise(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_matrix_rows_are_fed_and_negative_increments_clamped(model):
    noise, y = _noise(), torch.tensor([0, 1])
    ramp = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]  # (5, 1)
    matrix = ramp.expand(5, 16).clone()
    matrix[:, :8] = torch.tensor([0.0, 0.6, 0.3, 0.8, 1.0], dtype=torch.float64)[
        :, None
    ]  # goes back once
    counting = Counting(model)
    out = ScheduleMatrix(matrix=matrix)(counting, noise, y, SCHEDULE_UNUSED, trace=True)
    assert out.nfe == len(counting.calls) == 4
    for k, (_, t) in enumerate(counting.calls):
        assert torch.equal(t, matrix[k].float().expand(2, 16))
    assert torch.equal(out.trace[0].t, matrix[1].float().expand(2, 16))
    # step 0.6 -> 0.3 is clamped to 0: patches 0-7 (pixel rows 0-3) do not move, the others do
    assert torch.equal(out.trace[1].x[:, :, :4], out.trace[0].x[:, :, :4])
    assert not torch.equal(out.trace[1].x[:, :, 4:], out.trace[0].x[:, :, 4:])


def test_uniform_matrix_equals_euler_pf(model):
    noise, y = _noise(), torch.tensor([0, 1])
    schedule = uniform_schedule(6)
    matrix = schedule[:, None].expand(7, 16)
    fixed = ScheduleMatrix(matrix=matrix)(model, noise, y, SCHEDULE_UNUSED)
    assert torch.allclose(fixed.x, EulerPF()(model, noise, y, schedule).x, atol=1e-6)
    assert torch.equal(
        ScheduleMatrix()(model, noise, y, schedule).x, fixed.x
    )  # the rows built from the schedule


@pytest.mark.parametrize("cfg", [1.0, 2.0])
def test_inpainting_keeps_known_pixels_exactly(model, cfg):
    gen = torch.Generator().manual_seed(4)
    image = torch.rand(3, 1, 8, 8, generator=gen) * 2 - 1
    mask = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    mask[:, :, :4] = True  # top half known: whole patches
    mask[:, :, 5, 1:6] = True  # and a few pixels of partly known patches
    known = KnownContent(image=image, mask=mask)
    counting = Counting(model)
    out = ScheduleMatrix(known=known)(
        counting, _noise(3), torch.tensor([0, 1, 2]), uniform_schedule(5), Guidance(cfg)
    )
    assert torch.equal(out.x[mask], image[mask])
    assert not torch.allclose(out.x[~mask], image[~mask])
    first = counting.calls[0][1]  # known patches start (and stay) at t = 1, the rest at 0
    assert first[:, :8].eq(1).all() and first[:, 8:].eq(0).all()


def test_inpainting_matrix_and_errors(model):
    known = torch.zeros(1, 16, dtype=torch.bool)
    known[0, 3] = True
    rows = inpainting_matrix(known, uniform_schedule(4))
    assert (
        rows.shape == (1, 5, 16)
        and rows[0, :, 3].eq(1).all()
        and rows[0, :, 0].tolist() == [0, 0.25, 0.5, 0.75, 1]
    )
    noise, y = _noise(1), torch.tensor([0])
    with pytest.raises(ValueError, match="no known content"):
        ScheduleMatrix(matrix=rows)(model, noise, y, SCHEDULE_UNUSED)
    with pytest.raises(ValueError, match="last row"):
        ScheduleMatrix(matrix=torch.zeros(3, 16))(model, noise, y, SCHEDULE_UNUSED)
    with pytest.raises(ValueError, match="steps \\+ 1"):
        ScheduleMatrix(matrix=torch.ones(3, 15))(model, noise, y, SCHEDULE_UNUSED)
    with pytest.raises(ValueError, match="bool"):
        KnownContent(image=torch.zeros(1, 1, 8, 8), mask=torch.zeros(1, 1, 8, 8))
    fixed = ScheduleMatrix(matrix=torch.ones(4, 16))
    assert fixed.budget(40).nfe == 3 and not fixed.budget(40).exact
