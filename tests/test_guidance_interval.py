"""Interval guidance: the endpoint rule, and no unconditional pass where it would change nothing."""

from __future__ import annotations

import torch

from conftest import randomize
from patchforcing.model import PatchForcingDiT
from patchforcing.sampling import Guidance, predict


class CountingModel(PatchForcingDiT):
    """Records the batch size of every forward."""

    def forward(self, x, t, y, cache_modulation=True):
        self.batches.append(x.shape[0])
        return super().forward(x, t, y, cache_modulation)


def _model(tiny_config):
    model = randomize(CountingModel(tiny_config)).eval()
    model.batches = []
    return model


def test_outside_the_interval_runs_the_conditional_batch_alone(tiny_config):
    model = _model(tiny_config)
    x, y = torch.randn(3, 1, 8, 8), torch.tensor([0, 1, 2])
    guidance = Guidance(scale=3.0, interval=(0.5, 0.8))
    outside = predict(model, x, torch.full((3,), 0.3), y, guidance)
    plain = predict(model, x, torch.full((3,), 0.3), y)
    assert model.batches == [3, 3] and outside.images == 3
    assert torch.equal(outside.v, plain.v) and torch.equal(outside.logvar, plain.logvar)
    inside = predict(model, x, torch.tensor([0.3, 0.6, 0.9]), y, guidance)  # one sample inside
    assert model.batches[-1] == 6 and inside.images == 6
    # sample 0 is outside: its conditional velocity, up to the matrix kernels' rounding for another
    # row count (test_generation.py); sample 1 is guided
    assert torch.allclose(inside.v[0], plain.v[0], rtol=0, atol=1e-5)
    assert not torch.allclose(inside.v[1], plain.v[1], rtol=0, atol=1e-3)


def test_interval_endpoints_are_guided(tiny_config):
    model = _model(tiny_config)
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([0, 1])
    guidance = Guidance(scale=3.0, interval=(0.25, 0.75))
    for t in (0.25, 0.75):  # exactly on an endpoint (float32-exact values)
        predict(model, x, torch.full((2,), t), y, guidance)
        assert model.batches[-1] == 4
    predict(model, x, torch.full((2,), 0.7500001), y, guidance)
    assert model.batches[-1] == 2
