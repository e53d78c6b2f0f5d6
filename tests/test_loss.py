import math

import torch

from conftest import randomize
from patchforcing.core.loss import LossConfig, flow_loss, patch_forcing_loss
from patchforcing.core.time_dist import LTG
from patchforcing.model import PatchForcingDiT


def test_loss_closed_form():
    v, u = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    logvar = torch.randn(2, 1, 4, 4)
    out = flow_loss(v, u, logvar, 2)
    mse = ((v - u) ** 2).mean()
    nll = (0.5 * (math.log(2 * math.pi) + logvar + (u - v) ** 2 / logvar.exp())).mean()
    assert torch.allclose(out.mse, mse) and torch.allclose(out.nll, nll)
    assert torch.allclose(out.loss, mse + 0.01 * nll)
    assert out.per_patch_mse.shape == (2, 4)
    assert torch.allclose(out.per_patch_mse.mean(), mse)


def test_nll_sends_no_gradient_into_velocity():
    v = torch.randn(2, 1, 4, 4, requires_grad=True)
    logvar = torch.randn(2, 1, 4, 4, requires_grad=True)
    u = torch.randn(2, 1, 4, 4)
    out = flow_loss(v, u, logvar, 2, LossConfig(nll_weight=1.0))
    out.nll.backward()
    assert v.grad is None or torch.count_nonzero(v.grad) == 0
    assert torch.count_nonzero(logvar.grad) > 0
    # while the MSE term does reach v
    v2 = v.detach().requires_grad_()
    flow_loss(v2, u, logvar.detach(), 2).mse.backward()
    assert torch.count_nonzero(v2.grad) > 0


def test_nll_optimum_is_squared_error():
    v, u = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    best = min(
        (float(flow_loss(v, u, torch.full((1, 1, 2, 2), lv), 2).nll), lv)
        for lv in torch.linspace(-4, 1, 501).tolist()
    )
    assert abs(best[1] - math.log(0.25)) < 0.02


def test_logvar_is_clamped():
    v, u = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    out = flow_loss(v, u, torch.full((1, 1, 2, 2), -1000.0), 2)
    assert torch.isfinite(out.loss)


def test_nll_reaches_no_velocity_output_weight(tiny_config):
    """Through the full model: the NLL term's gradient on the output rows that produce v is zero."""
    model = randomize(PatchForcingDiT(tiny_config))
    x1, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    out = patch_forcing_loss(model, x1, y, LTG(), torch.Generator().manual_seed(0))
    out.nll.backward()
    grad = model.final_layer.linear.weight.grad.view(
        2 * 2, tiny_config.out_channels, -1
    )  # (p*p, C+1, D)
    assert torch.count_nonzero(grad[:, : tiny_config.in_channels]) == 0
    assert torch.count_nonzero(grad[:, tiny_config.in_channels :]) > 0


def test_patch_forcing_loss_is_deterministic_and_drops_labels(tiny_model):
    x1, y = torch.randn(64, 1, 8, 8), torch.zeros(64, dtype=torch.long)
    a = patch_forcing_loss(tiny_model, x1, y, LTG(), torch.Generator().manual_seed(3))
    b = patch_forcing_loss(tiny_model, x1, y, LTG(), torch.Generator().manual_seed(3))
    assert torch.equal(a.loss, b.loss)
    seen = []
    tiny_model.y_embedder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    patch_forcing_loss(
        tiny_model, x1, y, LTG(), torch.Generator().manual_seed(3), LossConfig(label_dropout=1.0)
    )
    assert (seen[-1] == tiny_model.null_class).all()
