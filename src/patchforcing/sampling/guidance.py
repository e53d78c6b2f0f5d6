"""One network evaluation with optional classifier-free guidance, counted for compute accounting."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Guidance", "Prediction", "predict"]


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance v = v_u + scale * (v_c - v_u) on a doubled batch [null; cond].

    ``interval`` (t_lo, t_hi): guidance applies to a sample only while the mean of its patch times
    lies inside it (per-sample decision, which works with per-patch time). ``guide_logvar`` guides
    the log-variance the same way before exp, as the authors' release does.
    """

    scale: float = 1.0
    interval: tuple[float, float] = (0.0, 1.0)
    guide_logvar: bool = True

    def __post_init__(self) -> None:
        if not self.scale >= 0:
            raise ValueError(f"guidance scale must be >= 0, got {self.scale}")
        lo, hi = self.interval
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"guidance interval must satisfy 0 <= t_lo <= t_hi <= 1, got {self.interval}")

    @property
    def active(self) -> bool:
        return self.scale != 1.0


@dataclass(frozen=True)
class Prediction:
    """Result of one NFE: guided v, conditional-only v_c, (guided) logvar, and images pushed."""

    v: torch.Tensor  # (B, C, H, W)
    v_cond: torch.Tensor  # (B, C, H, W)
    logvar: torch.Tensor | None  # (B, 1, H, W)
    images: int


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
            guidance: Guidance = Guidance()) -> Prediction:
    """Evaluate the model at x with time t ((B,) or (B, N)) and labels y: exactly one NFE."""
    if not guidance.active:
        out = model(x, t, y)
        return Prediction(v=out.v, v_cond=out.v, logvar=out.logvar, images=x.shape[0])
    B = x.shape[0]
    null = torch.full_like(y, model.config.num_classes)
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([null, y]))
    v_u, v_c = out.v.chunk(2)
    t_mean = t.float().reshape(B, -1).mean(dim=1)  # (B,)
    lo, hi = guidance.interval
    w = torch.where((t_mean >= lo) & (t_mean <= hi), guidance.scale, 1.0).to(v_c.dtype)[:, None, None, None]
    v = v_u + w * (v_c - v_u)
    logvar = None
    if out.logvar is not None:
        lv_u, lv_c = out.logvar.chunk(2)
        logvar = lv_u + w * (lv_c - lv_u) if guidance.guide_logvar else lv_c
    return Prediction(v=v, v_cond=v_c, logvar=logvar, images=2 * B)
