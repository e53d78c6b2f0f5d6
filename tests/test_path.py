import pytest
import torch

from patchforcing.core.path import (
    broadcast_patches,
    from_sigma,
    interpolate,
    num_patches,
    patchify,
    pool_patches,
    sample_path,
    to_sigma,
    unpatchify,
)

SHAPES = [(2, 1, 8, 8, 2), (3, 3, 12, 8, 4), (1, 4, 6, 6, 3), (2, 2, 4, 4, 1)]


@pytest.mark.parametrize("B,C,H,W,p", SHAPES)
def test_patchify_round_trip(B, C, H, W, p):
    x = torch.randn(B, C, H, W)
    tokens = patchify(x, p)
    assert tokens.shape == (B, (H // p) * (W // p), p * p * C)
    assert torch.equal(unpatchify(tokens, p, H, W), x)


def test_patchify_order_is_row_major_like_a_conv():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    tokens = patchify(x, 2)
    # patch 1 is the top-right 2x2 block, patch 2 the bottom-left one
    assert tokens[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]
    assert tokens[0, 2].tolist() == [8.0, 9.0, 12.0, 13.0]
    conv = torch.nn.Conv2d(1, 4, 2, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(4).view(4, 1, 2, 2))
    assert torch.allclose(conv(x).flatten(2).transpose(1, 2), tokens)


@pytest.mark.parametrize("B,C,H,W,p", SHAPES)
def test_broadcast_patches_closed_form(B, C, H, W, p):
    values = torch.rand(B, num_patches(H, W, p))
    grid = broadcast_patches(values, p, H, W)
    assert grid.shape == (B, 1, H, W)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                assert grid[b, 0, i, j] == values[b, (i // p) * (W // p) + j // p]
    assert torch.allclose(pool_patches(grid, p), values)


@pytest.mark.parametrize("B,C,H,W,p", SHAPES)
def test_interpolate_per_patch_closed_form(B, C, H, W, p):
    x0, x1 = torch.randn(B, C, H, W), torch.randn(B, C, H, W)
    t = torch.rand(B, num_patches(H, W, p))
    xt = interpolate(x0, x1, t, p)
    x0_tok, x1_tok, xt_tok = patchify(x0, p), patchify(x1, p), patchify(xt, p)
    expected = t[..., None] * x1_tok + (1 - t[..., None]) * x0_tok
    assert torch.allclose(xt_tok, expected, atol=1e-6)


def test_interpolate_endpoints_and_global_time():
    x0, x1 = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    assert torch.equal(interpolate(x0, x1, torch.zeros(2, 16), 2), x0)
    assert torch.equal(interpolate(x0, x1, torch.ones(2, 16), 2), x1)
    t = torch.tensor([0.3, 0.8])
    assert torch.allclose(
        interpolate(x0, x1, t, 2), interpolate(x0, x1, t[:, None].expand(2, 16), 2)
    )
    assert torch.allclose(
        interpolate(x0, x1, t, 2), t[:, None, None, None] * x1 + (1 - t[:, None, None, None]) * x0
    )


def test_sample_path_target_is_velocity():
    x1 = torch.randn(2, 1, 8, 8)
    t = torch.rand(2, 16)
    path = sample_path(x1, t, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(path.u, x1 - path.x0)
    # d/dt of x_t along the path equals u
    eps = 1e-3
    later = interpolate(path.x0, x1, t + eps, 2)
    assert torch.allclose((later - path.xt) / eps, path.u, atol=1e-2)


def test_sigma_conversion_round_trip():
    t = torch.rand(10)
    assert torch.allclose(from_sigma(to_sigma(t)), t)
    assert torch.equal(to_sigma(torch.tensor([0.0, 1.0])), torch.tensor([1.0, 0.0]))


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="not divisible by the patch size 3"):
        patchify(torch.randn(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match=r"per-patch values of shape \(B, 16\)"):
        broadcast_patches(torch.rand(2, 15), 2, 8, 8)
