"""Training time distributions: each draws a per-patch time t of shape (B, N) in [0, 1].

They are called "time samplers" in the paper; here they are *distributions*, so that "sampler"
names only the image samplers of :mod:`patchforcing.sampling`. Every distribution has one
signature, ``dist(batch, num_patches, *, device, dtype, generator)``. A global distribution is the
broadcast case (all N entries equal), not a second code path. Names and defaults follow the paper
(SPEC.md section 3).
"""

from __future__ import annotations

import math
from dataclasses import Field, asdict, dataclass, fields
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from patchforcing._moved import moved_names

__all__ = [
    "TimeDistribution",
    "GlobalUniform",
    "GlobalLogitNormal",
    "Independent",
    "SRM",
    "GaussianMean",
    "TruncatedGaussian",
    "LTG",
    "TIME_DISTRIBUTIONS",
    "build_time_distribution",
    "time_distribution_spec",
]


class TimeDistribution(Protocol):
    name: ClassVar[str]
    is_global: ClassVar[bool]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # a (frozen) dataclass of its parameters

    def __call__(
        self,
        batch: int,
        num_patches: int,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    """Uniform draws made on the generator's device, then moved (keeps CPU seeds portable)."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64).to(device)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device, dtype=torch.float64).to(
        device
    )


@dataclass(frozen=True)
class GlobalUniform:
    """One u ~ U(0, 1) per sample, shared by all patches."""

    name: ClassVar[str] = "uniform"
    is_global: ClassVar[bool] = True

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        u = _rand((batch, 1), generator, device)  # (B, 1)
        return u.expand(batch, num_patches).to(dtype)  # (B, N)


@dataclass(frozen=True)
class GlobalLogitNormal:
    """One sigmoid(loc + scale * eps) per sample (SD3 / SiT-style logit-normal)."""

    name: ClassVar[str] = "logit_normal"
    is_global: ClassVar[bool] = True
    loc: float = 0.0
    scale: float = 1.0

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        t = torch.sigmoid(self.loc + self.scale * _randn((batch, 1), generator, device))
        return t.expand(batch, num_patches).to(dtype)


@dataclass(frozen=True)
class Independent:
    """t_i ~ U(0, 1) i.i.d. per patch (Diffusion-Forcing style)."""

    name: ClassVar[str] = "independent"
    is_global: ClassVar[bool] = False

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        return _rand((batch, num_patches), generator, device).to(dtype)


@dataclass(frozen=True)
class SRM:
    """Mean-controlled recursive split: the patch times of a sample average exactly m ~ U(0, 1).

    The budget m * N is split in halves recursively; the first half's share is drawn from a
    symmetric Beta(a, a) on its feasible interval, a = (d - 1 - d mod 2) ** 1.05 * sharpness for a
    block of d cells. Positions are shuffled per sample.
    """

    name: ClassVar[str] = "srm"
    is_global: ClassVar[bool] = False
    sharpness: float = 1.0

    def _split(self, rng: np.random.Generator, total: np.ndarray, d: int) -> np.ndarray:
        if d == 1:
            return total[:, None]
        d1 = d // 2
        d2 = d - d1
        lo = np.maximum(0.0, total - d2)
        hi = np.minimum(float(d1), total)
        a = (d - 1 - d % 2) ** 1.05 * self.sharpness
        first = lo + (hi - lo) * rng.beta(a, a, size=total.shape)
        first = np.clip(first, lo, hi)
        return np.concatenate([self._split(rng, first, d1), self._split(rng, total - first, d2)], 1)

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        rng = np.random.default_rng(seed)
        mean = rng.random(batch)  # (B,)
        t = np.clip(self._split(rng, mean * num_patches, num_patches), 0.0, 1.0)  # (B, N)
        perm = np.argsort(rng.random((batch, num_patches)), axis=1)
        t = np.take_along_axis(t, perm, axis=1)
        return torch.from_numpy(t).to(device=device, dtype=dtype)


@dataclass(frozen=True)
class GaussianMean:
    """m ~ U(0, 1); t_i = clip(m + sd * eps_i, 0, 1) with sd = min(min(m, 1 - m) / 2, std)."""

    name: ClassVar[str] = "gaussian"
    is_global: ClassVar[bool] = False
    std: float = 0.2

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        m = _rand((batch, 1), generator, device)  # (B, 1)
        sd = torch.clamp(torch.minimum(m, 1 - m) / 2, max=self.std)
        t = m + sd * _randn((batch, num_patches), generator, device)
        return t.clamp(0, 1).to(dtype)


def _below_ceiling(
    ceiling: torch.Tensor, std: float, num_patches: int, generator, device
) -> torch.Tensor:
    """t_i = c - sd * |eps_i| with sd = min(c / 2, std); a t_i below 0 is redrawn as U(0, c)."""
    batch = ceiling.shape[0]
    sd = torch.clamp(ceiling / 2, max=std)  # (B, 1)
    t = ceiling - sd * _randn((batch, num_patches), generator, device).abs()  # (B, N)
    redraw = _rand((batch, num_patches), generator, device) * ceiling
    return torch.where(t < 0, redraw, t)


@dataclass(frozen=True)
class TruncatedGaussian:
    """Max-controlled: ceiling c ~ U(0, 1); no patch is ever above c."""

    name: ClassVar[str] = "truncated_gaussian"
    is_global: ClassVar[bool] = False
    std: float = 0.2

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        c = _rand((batch, 1), generator, device)
        return _below_ceiling(c, self.std, num_patches, generator, device).to(dtype)


@dataclass(frozen=True)
class LTG:
    """Logit-normal truncated Gaussian (the paper's choice): c = sigmoid(loc + scale * eps)."""

    name: ClassVar[str] = "ltg"
    is_global: ClassVar[bool] = False
    std: float = 0.6
    loc: float = 0.7
    scale: float = 1.0
    global_share: float = (
        0.0  # not in the paper: this share of samples gets one time t ~ U(0, 1) for every patch
    )

    def __call__(self, batch, num_patches, *, device="cpu", dtype=torch.float32, generator=None):
        c = torch.sigmoid(self.loc + self.scale * _randn((batch, 1), generator, device))
        t = _below_ceiling(c, self.std, num_patches, generator, device)  # (B, N)
        if (
            self.global_share > 0
        ):  # drawn only when asked, so the default consumes the authors' random numbers
            chosen = _rand((batch, 1), generator, device) < self.global_share  # (B, 1)
            t = torch.where(chosen, _rand((batch, 1), generator, device).expand_as(t), t)
        return t.to(dtype)


TIME_DISTRIBUTIONS: dict[str, type] = {
    cls.name: cls
    for cls in (
        GlobalUniform,
        GlobalLogitNormal,
        Independent,
        SRM,
        GaussianMean,
        TruncatedGaussian,
        LTG,
    )
}


def build_time_distribution(name: str, params: dict[str, Any] | None = None) -> TimeDistribution:
    """Build a time distribution by name; unknown names or parameters raise ``ValueError``.

    Args:
        name: a key of :data:`TIME_DISTRIBUTIONS`.
        params: its parameters by field name (defaults for those left out).

    Every distribution is then called as ``dist(batch, num_patches, device=..., dtype=...,
    generator=...)`` and returns per-patch training times (batch, num_patches) in [0, 1].
    """
    if name not in TIME_DISTRIBUTIONS:
        raise ValueError(
            f"unknown time distribution {name!r}; choose one of {sorted(TIME_DISTRIBUTIONS)}"
        )
    cls = TIME_DISTRIBUTIONS[name]
    params = dict(params or {})
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"time distribution {name!r} has no parameter(s) {unknown}; it takes {sorted(allowed)}"
        )
    for key, value in params.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"time distribution parameter {key}={value!r} must be a finite number")
        if key in ("std", "scale", "sharpness") and value <= 0:
            raise ValueError(f"time distribution parameter {key} must be > 0, got {value}")
        if key == "global_share" and not 0 <= value <= 1:
            raise ValueError(
                f"time distribution parameter global_share must lie in [0, 1], got {value}"
            )
    return cls(**params)


def time_distribution_spec(dist: TimeDistribution) -> dict[str, Any]:
    """The JSON form of a time distribution: its name and parameters."""
    return {"name": dist.name, "params": asdict(dist)}


_RENAMED = {  # name of release 0.1 -> its name now; the old names are removed in 0.3
    "TimeSampler": "TimeDistribution",
    "TIME_SAMPLERS": "TIME_DISTRIBUTIONS",
    "build_time_sampler": "build_time_distribution",
    "time_sampler_spec": "time_distribution_spec",
}


__getattr__ = moved_names(
    __name__, {old: f"patchforcing.core.time_dist:{new}" for old, new in _RENAMED.items()}
)
