"""Rectified-flow path with a time per patch.

Time convention (the only one in this package): ``t = 0`` is pure noise ``x0 ~ N(0, I)``,
``t = 1`` is clean data ``x1``.

    x_t = t * x1 + (1 - t) * x0            u = dx_t/dt = x1 - x0

An image of shape (B, C, H, W) is cut into p x p patches numbered row-major, giving
``N = (H/p) * (W/p)``. A per-patch time has shape (B, N); every pixel and channel of patch i
uses ``t[:, i]``. A global time is the case where all N entries are equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange

__all__ = [
    "PathSample",
    "check_patchable",
    "num_patches",
    "patchify",
    "unpatchify",
    "broadcast_patches",
    "pool_patches",
    "patch_difficulty",
    "interpolate",
    "sample_path",
    "to_sigma",
    "from_sigma",
]


@dataclass(frozen=True)
class PathSample:
    """One draw from the path: noise, data, per-patch time, noisy input and velocity target."""

    x0: torch.Tensor  # (B, C, H, W) noise
    x1: torch.Tensor  # (B, C, H, W) data
    t: torch.Tensor  # (B, N) per-patch time
    xt: torch.Tensor  # (B, C, H, W)
    u: torch.Tensor  # (B, C, H, W) target velocity


def check_patchable(height: int, width: int, patch_size: int) -> None:
    """Raise ``ValueError`` unless an H x W image splits into whole p x p patches."""
    if patch_size < 1:
        raise ValueError(f"patch size must be >= 1, got {patch_size}")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image size {height}x{width} is not divisible by the patch size {patch_size}"
        )


def num_patches(height: int, width: int, patch_size: int) -> int:
    """N = (H/p) * (W/p), after checking divisibility."""
    check_patchable(height, width, patch_size)
    return (height // patch_size) * (width // patch_size)


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, p*p*C), patches row-major, pixels (p1, p2, C) inside a patch.

    Args:
        x: images or any per-pixel map, H and W multiples of ``patch_size``.
        patch_size: p.

    Example::

        tokens = patchify(torch.zeros(2, 1, 28, 28), 7)  # (2, 16, 49)
        unpatchify(tokens, 7, 28, 28).shape  # (2, 1, 28, 28), the same tensor back
    """
    check_patchable(x.shape[-2], x.shape[-1], patch_size)
    p = patch_size
    return rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=p, p2=p)


def unpatchify(tokens: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: (B, N, p*p*C) -> (B, C, H, W).

    Args:
        tokens: (B, N, p*p*C) with N = (H/p) * (W/p).
        patch_size: p.
        height, width: H and W of the image to rebuild.
    """
    p = patch_size
    check_patchable(height, width, p)
    h, w = height // p, width // p
    if tokens.shape[1] != h * w:
        raise ValueError(
            f"expected {h * w} patches for {height}x{width} / p={p}, got {tokens.shape[1]}"
        )
    return rearrange(tokens, "b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=h, w=w, p1=p, p2=p)


def broadcast_patches(
    values: torch.Tensor, patch_size: int, height: int, width: int
) -> torch.Tensor:
    """Per-patch values (B, N) -> per-pixel map (B, 1, H, W); broadcasts over channels.

    Args:
        values: one value per patch (a time, a difficulty), (B, N) in row-major patch order.
        patch_size: p.
        height, width: H and W of the map.

    Example::

        t = torch.tensor([[0.0, 1.0, 0.5, 0.5]])  # (1, 4): a 2 x 2 grid of patches
        broadcast_patches(t, 2, 4, 4)[0, 0]  # (4, 4): each value fills its 2 x 2 pixels
    """
    p = patch_size
    check_patchable(height, width, p)
    h, w = height // p, width // p
    if values.dim() != 2 or values.shape[1] != h * w:
        raise ValueError(
            f"expected per-patch values of shape (B, {h * w}), got {tuple(values.shape)}"
        )
    grid = values.reshape(values.shape[0], 1, h, w)  # (B, 1, H/p, W/p)
    return grid.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)  # (B, 1, H, W)


def pool_patches(pixel_map: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Per-pixel map (B, C, H, W) -> per-patch mean over the p x p pixels and channels (B, N);
    the reverse direction of :func:`broadcast_patches` (pooling a broadcast map gives the values
    back)."""
    tokens = patchify(pixel_map, patch_size)  # (B, N, p*p*C)
    return tokens.mean(dim=-1)


def patch_difficulty(logvar: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Difficulty of each patch: the mean of exp(logvar) over its p x p pixels, (B, 1, H, W) ->
    (B, N)."""
    return pool_patches(logvar.float().exp(), patch_size)


def interpolate(
    x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, patch_size: int
) -> torch.Tensor:
    """x_t = t * x1 + (1 - t) * x0 with t per patch (B, N) or per sample (B,).

    Args:
        x0: noise (B, C, H, W).
        x1: data (B, C, H, W).
        t: time in [0, 1] (0 = noise, 1 = data), (B,) or (B, N).
        patch_size: p, which maps the patches of ``t`` to pixels.
    """
    if t.dim() == 1:
        t = t[:, None].expand(-1, num_patches(x1.shape[-2], x1.shape[-1], patch_size))
    tt = broadcast_patches(t.to(x1.dtype), patch_size, x1.shape[-2], x1.shape[-1])  # (B, 1, H, W)
    return tt * x1 + (1 - tt) * x0


def sample_path(
    x1: torch.Tensor,
    t: torch.Tensor,
    patch_size: int,
    x0: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> PathSample:
    """Draw noise (unless given), interpolate to per-patch time ``t`` and return the target.

    Args:
        x1: data (B, C, H, W).
        t: time (B, N) or (B,), 0 = noise, 1 = data.
        patch_size: p.
        x0: noise (B, C, H, W); drawn from ``generator`` when None.
        generator: the random source of the noise.

    Returns:
        A :class:`PathSample` with ``x0``, ``x1``, ``t``, ``xt`` and the velocity target
        ``u = x1 - x0``.

    Example::

        s = sample_path(images, torch.rand(len(images), 16), patch_size=7)  # 28 x 28: N = 16
        loss = (model(s.xt, s.t, labels).v - s.u).square().mean()
    """
    if x0 is None:
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
    xt = interpolate(x0, x1, t, patch_size)
    return PathSample(x0=x0, x1=x1, t=t, xt=xt, u=x1 - x0)


def to_sigma(t: torch.Tensor) -> torch.Tensor:
    """Our time -> the noise level used by diffusers' flow-match schedulers (sigma = 1 - t)."""
    return 1 - t


def from_sigma(sigma: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_sigma`."""
    return 1 - sigma
