"""The plain reference DiT of the training-speed comparison computes what our model does."""

from __future__ import annotations

import pytest
import torch

from conftest import randomize
from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.core.time_dist import LTG
from patchforcing.evaluation.speed.reference import ReferenceDiT
from patchforcing.evaluation.speed.training import TrainSpeedConfig
from patchforcing.evaluation.speed.versus import compare_to_reference, reference_markdown
from patchforcing.model import PatchForcingDiT


def _loss_and_grads(model, x1, y):
    gen = torch.Generator().manual_seed(3)
    out = patch_forcing_loss(model, x1, y, LTG(), gen, LossConfig())
    model.zero_grad(set_to_none=True)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad for n, p in model.named_parameters()}


def test_reference_loss_and_gradients_equal_ours(tiny_config):
    ours = randomize(PatchForcingDiT(tiny_config)).train()
    ref = ReferenceDiT(tiny_config).train()
    ref.load_state_dict(ours.state_dict())  # the same parameter names: every weight copied
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(6, 1, 8, 8, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 0, 1])  # the null label (3) included
    loss, grads = _loss_and_grads(ours, x1, y)
    ref_loss, ref_grads = _loss_and_grads(ref, x1, y)
    assert loss > 0
    assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert torch.allclose(grad, ref_grads[name], rtol=1e-4, atol=1e-6), name


def test_reference_differs_when_weights_differ(tiny_config):
    """The comparison above can fail: another initialisation gives another loss."""
    ours = randomize(PatchForcingDiT(tiny_config), seed=0).train()
    ref = randomize(ReferenceDiT(tiny_config), seed=1).train()
    x1 = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3])
    assert not torch.allclose(_loss_and_grads(ours, x1, y)[0], _loss_and_grads(ref, x1, y)[0])


def test_compare_to_reference_times_both_steps_in_each_mode(single_thread):
    config = TrainSpeedConfig(preset="T/4", image_size=8, batch=2, steps=3, warmup=1)
    results = compare_to_reference(config, torch.device("cpu"), ("fp32", "bf16"), clock="cpu")
    assert [r.mode for r in results] == ["fp32", "bf16"]
    for r in results:
        assert r.ours_seconds > 0 and r.reference_seconds > 0
        assert r.speed_iqr[0] <= r.speed <= r.speed_iqr[1]
    table = reference_markdown(config, torch.device("cpu"), results, "cpu")
    assert "| bf16 |" in table and "cpu clock" in table
    with pytest.raises(ValueError, match="clock"):
        compare_to_reference(config, torch.device("cpu"), ("fp32",), clock="sundial")
