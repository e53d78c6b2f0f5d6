"""One network evaluation with optional classifier-free guidance, counted for compute accounting."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from patchforcing.core.condition import Condition, cat_conditions, null_condition
from patchforcing.core.path import broadcast_patches, patch_difficulty
from patchforcing.model import PatchModel

__all__ = ["Guidance", "Prediction", "predict"]


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance v = v_u + scale * (v_c - v_u) on a doubled batch [null; cond].

    ``interval`` (t_lo, t_hi): guidance applies only while t lies inside it, both endpoints
    included (t_lo <= t <= t_hi, compared in float32: a step exactly on an endpoint is guided).
    With ``per_patch=False`` the decision is per sample from the float32 mean of its patch times
    (which works with per-patch time); with ``per_patch=True`` each patch is decided from its own
    t_i. A forward with every sample (or patch) outside the interval runs the conditional batch
    alone: the unconditional half would not change its output.
    ``guide_logvar`` guides the log-variance the same way before exp, as the authors' release does;
    ``False`` keeps the conditional log-variance.
    """

    scale: float = 1.0
    interval: tuple[float, float] = (0.0, 1.0)
    guide_logvar: bool = True
    per_patch: bool = False

    def __post_init__(self) -> None:
        if not self.scale >= 0:
            raise ValueError(f"guidance scale must be >= 0, got {self.scale}")
        lo, hi = self.interval
        if not 0 <= lo <= hi <= 1:
            raise ValueError(
                f"guidance interval must satisfy 0 <= t_lo <= t_hi <= 1, got {self.interval}"
            )

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

    def difficulty(self, patch_size: int) -> torch.Tensor:
        """Per-patch difficulty d_i = mean over patch i of exp(logvar), (B, N)."""
        if self.logvar is None:
            raise ValueError(
                "this sampler needs a difficulty head; the model has none (global-time baseline?)"
            )
        return patch_difficulty(self.logvar, patch_size)


def _weight(
    t: torch.Tensor, guidance: Guidance, shape: torch.Size, patch_size: int
) -> torch.Tensor:
    """Guidance weight per sample (B, 1, 1, 1) or per patch (B, 1, H, W): scale inside the interval,
    else 1."""
    lo, hi = guidance.interval
    B = shape[0]
    if guidance.per_patch and t.dim() == 2:
        inside = (t >= lo) & (t <= hi)  # (B, N)
        w = torch.where(inside, guidance.scale, 1.0)
        return broadcast_patches(w, patch_size, shape[-2], shape[-1])
    t_mean = t.float().reshape(B, -1).mean(dim=1)  # (B,)
    return torch.where((t_mean >= lo) & (t_mean <= hi), guidance.scale, 1.0)[:, None, None, None]


@torch.no_grad()
def predict(
    model: PatchModel,
    x: torch.Tensor,
    t: torch.Tensor,
    y: Condition,
    guidance: Guidance = Guidance(),
) -> Prediction:
    """Evaluate the model at x with time t ((B,) or (B, N)) and condition y (labels or text):
    exactly one NFE."""
    if not guidance.active:
        out = model(x, t, y)
        return Prediction(v=out.v, v_cond=out.v, logvar=out.logvar, images=x.shape[0])
    B = x.shape[0]
    w = _weight(t, guidance, x.shape, model.config.patch_size)  # (B, 1, 1 or H, 1 or W)
    narrowed = guidance.interval != (0.0, 1.0)  # (0, 1) holds every t: no check, no sync
    if narrowed and not bool((w != 1.0).any()):  # outside everywhere: v = v_c, one pass
        out = model(x, t, y)
        return Prediction(v=out.v, v_cond=out.v, logvar=out.logvar, images=B)
    null = null_condition(y, model.config.num_classes)
    out = model(torch.cat([x, x]), torch.cat([t, t]), cat_conditions(null, y))
    v_u, v_c = out.v.chunk(2)
    w = w.to(v_c.dtype)
    v = v_u + w * (v_c - v_u)
    logvar = None
    if out.logvar is not None:
        lv_u, lv_c = out.logvar.chunk(2)
        logvar = lv_u + w * (lv_c - lv_u) if guidance.guide_logvar else lv_c
    return Prediction(v=v, v_cond=v_c, logvar=logvar, images=2 * B)
