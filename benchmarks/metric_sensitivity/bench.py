"""``bench metrics``: how the FD of each feature space responds to known corruptions of real images.

Real train images (the first ``num_images``), clean or corrupted, are scored against the reference
set (the 10k Fashion-MNIST test images) in every feature space given. Corruptions, in the model
range [-1, 1] and rounded to 8-bit pixels afterwards as written images are:

- Gaussian pixel noise of sd sigma on every pixel, or only on the background (the reference's
  per-class background masks, :mod:`patchforcing.evaluation.metrics.background`); clamped to
  [-1, 1], so noise on a black background only brightens it;
- Gaussian blur of sd sigma pixels (separable, replicated border);
- missing classes: the first ``num_images`` train images of the classes left after dropping the k
  lowest class labels (0 .. k-1), so every row scores the same number of images.

FD values are in squared feature units, which differ between networks; ``FD / tr(S_ref)`` divides by
the total variance of the reference features to compare the networks' sensitivities. None of these
feature spaces is Inception-v3's: no figure here is an FID.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from patchforcing.data import ImageArrays
from patchforcing.evaluation import Evaluator
from patchforcing.evaluation.metrics import BackgroundMasks, embed_batches, frechet_distance
from patchforcing.utils.io.atomic import atomic_write
from patchforcing.utils.io.pixels import from_model_range, to_model_range

__all__ = [
    "Corruption",
    "SensitivityConfig",
    "SpaceInfo",
    "SensitivityRow",
    "SensitivityReport",
    "corrupt",
    "gaussian_blur",
    "run_sensitivity",
    "sensitivity_markdown",
    "write_sensitivity",
]

KINDS = ("clean", "noise", "background noise", "blur", "missing classes")


@dataclass(frozen=True)
class Corruption:
    kind: str  # one of KINDS
    amount: float = (
        0.0  # noise sd (of the [-1, 1] range), blur sd (pixels) or number of dropped classes
    )

    @property
    def label(self) -> str:
        if self.kind == "clean":
            return "clean"
        if self.kind == "missing classes":
            k = int(self.amount)
            return "class 0 missing" if k == 1 else f"classes 0-{k - 1} missing"
        return f"{self.kind} sigma {self.amount:g}"


@dataclass(frozen=True)
class SensitivityConfig:
    num_images: int = 5000
    noise: tuple[float, ...] = (0.05, 0.1, 0.2)
    blur: tuple[float, ...] = (0.5, 1.0, 2.0)
    drop: tuple[int, ...] = (3, 6)
    seed: int = 0  # of the pixel noise

    def corruptions(self) -> tuple[Corruption, ...]:
        return (
            Corruption("clean"),
            *(Corruption("noise", s) for s in self.noise),
            *(Corruption("background noise", s) for s in self.noise),
            *(Corruption("blur", s) for s in self.blur),
            *(Corruption("missing classes", k) for k in self.drop),
        )


@dataclass(frozen=True)
class SpaceInfo:
    name: str  # as given (a shipped name or a folder)
    key: str  # extractor key (weights digest)
    num_features: int
    reference_variance: float  # tr(S_ref): total variance of the reference features


@dataclass(frozen=True)
class SensitivityRow:
    corruption: str  # Corruption.label
    num_images: int
    background: float | None  # mean pixel value (0-255) on the reference's background masks
    fd: tuple[float, ...]  # one per feature space, in the report's order


@dataclass(frozen=True)
class SensitivityReport:
    spaces: tuple[SpaceInfo, ...]
    rows: tuple[SensitivityRow, ...]
    num_reference: int
    reference_background: float | None
    config: SensitivityConfig
    seconds: float
    command: str = ""
    machine: str = ""

    def disagreements(self) -> list[tuple[str, str]]:
        """Pairs of corruptions (a, b) that one feature space scores a < b and another a > b."""
        pairs = []
        for i, a in enumerate(self.rows):
            for b in self.rows[i + 1 :]:
                signs = {math.copysign(1.0, fa - fb) for fa, fb in zip(a.fd, b.fd)}
                if len(signs) > 1:
                    pairs.append((a.corruption, b.corruption))
        return pairs

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "disagreements": self.disagreements()}, indent=2) + "\n"


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of images (B, C, H, W), radius ceil(3 sigma), replicated border."""
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.dtype)
    C = x.shape[1]
    x = F.conv2d(
        F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C
    )
    return F.conv2d(
        F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C
    )


def corrupt(
    images: torch.Tensor,
    labels: torch.Tensor,
    corruption: Corruption,
    masks: BackgroundMasks,
    gen: torch.Generator,
) -> torch.Tensor:
    """A corrupted copy of uint8 images (B, C, H, W) with labels (B,), as uint8 pixels. Missing
    classes are chosen before (see :func:`_select`), so here they are the identity."""
    x = to_model_range(images)  # (B, C, H, W) in [-1, 1]
    if corruption.kind in ("noise", "background noise"):
        noise = corruption.amount * torch.randn(x.shape, generator=gen)
        if corruption.kind == "background noise":
            noise = noise * masks.masks[masks.rows(labels)].expand_as(
                x
            )  # (B, C, H, W), zero off the background
        x = x + noise
    elif corruption.kind == "blur":
        x = gaussian_blur(x, corruption.amount)
    elif corruption.kind not in ("clean", "missing classes"):
        raise ValueError(f"unknown corruption {corruption.kind!r}; choose one of {KINDS}")
    return from_model_range(x)


def _select(
    data: ImageArrays, corruption: Corruption, num_images: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels): the first ``num_images`` of ``data``, of the kept classes for
    missing classes."""
    if corruption.kind != "missing classes":
        return data.images[:num_images], data.labels[:num_images]
    dropped = int(corruption.amount)
    if not 0 < dropped < data.num_classes:
        raise ValueError(
            f"can drop 1 to {data.num_classes - 1} of the {data.num_classes} classes, not {dropped}"
        )
    keep = (data.labels >= dropped).nonzero().squeeze(1)[:num_images]
    return data.images[keep], data.labels[keep]


def _batches(images: torch.Tensor, batch_size: int = 500) -> Iterator[torch.Tensor]:
    for start in range(0, images.shape[0], batch_size):
        yield to_model_range(images[start : start + batch_size])


def run_sensitivity(
    data: ImageArrays,
    evaluator: Evaluator,
    config: SensitivityConfig = SensitivityConfig(),
    progress: bool = False,
) -> SensitivityReport:
    """Score each corruption of ``data`` in every feature space of ``evaluator`` against its
    reference features; the background noise and levels use the reference's background masks."""
    start = time.perf_counter()
    masks, reference = evaluator.background, evaluator.reference
    if masks is None or reference is None:
        raise ValueError(
            "the sensitivity bench needs an evaluator built with its reference "
            "images (Evaluator.build)"
        )
    infos = tuple(
        SpaceInfo(
            s.name, s.key, s.extractor.num_features, float(s.reference.double().var(dim=0).sum())
        )
        for s in evaluator.spaces
    )
    rows = []
    for corruption in config.corruptions():
        images, labels = _select(data, corruption, config.num_images)
        pixels = corrupt(
            images, labels, corruption, masks, torch.Generator().manual_seed(config.seed)
        )
        fds = tuple(
            frechet_distance(s.reference, embed_batches(s.extractor, _batches(pixels)))
            for s in evaluator.spaces
        )
        rows.append(
            SensitivityRow(corruption.label, pixels.shape[0], masks.level(pixels, labels), fds)
        )
        if progress:
            print(f"{corruption.label}: FD " + ", ".join(f"{f:.3f}" for f in fds), flush=True)
    return SensitivityReport(
        infos,
        tuple(rows),
        len(reference),
        evaluator.reference_background,
        config,
        time.perf_counter() - start,
    )


def sensitivity_markdown(report: SensitivityReport) -> str:
    """The table (FD and FD / tr(S_ref) per feature space), the spaces, and where they disagree."""
    names = [s.name for s in report.spaces]
    head = (
        "| corruption | n | background (0-255) | "
        + " | ".join(f"FD {n} | FD / tr(S_ref) {n}" for n in names)
        + " |"
    )
    lines = [head, "|" + "---|" * (3 + 2 * len(names))]
    for row in report.rows:
        level = "-" if row.background is None else f"{row.background:.2f}"
        cells = " | ".join(
            f"{fd:.3f} | {fd / s.reference_variance:.4f}" for fd, s in zip(row.fd, report.spaces)
        )
        lines.append(f"| {row.corruption} | {row.num_images} | {level} | {cells} |")
    ref_level = "-" if report.reference_background is None else f"{report.reference_background:.2f}"
    lines += [
        "",
        f"Reference: {report.num_reference} images (background {ref_level}). Feature spaces (none "
        "is Inception-v3, so none of these FDs is an FID):",
        "",
    ]
    lines += [
        f"- {s.name}: {s.num_features} features, key {s.key}, tr(S_ref) = "
        f"{s.reference_variance:.3f}"
        for s in report.spaces
    ]
    pairs = report.disagreements()
    lines += [
        "",
        f"Pairs of rows the feature spaces order differently ({len(pairs)}):"
        if pairs
        else "The feature spaces order every pair of rows the same way.",
    ]
    by_label = {row.corruption: row for row in report.rows}
    for a, b in pairs:
        scores = zip(report.spaces, by_label[a].fd, by_label[b].fd)
        lines.append(
            f"- {a} vs {b}: " + ", ".join(f"{s.name} {fa:.3f} vs {fb:.3f}" for s, fa, fb in scores)
        )
    if report.command or report.machine:
        lines += [
            "",
            f"Command: `{report.command}`; machine: {report.machine}; {report.seconds:.0f} s.",
        ]
    return "\n".join(lines) + "\n"


def write_sensitivity(report: SensitivityReport, path: str | Path) -> list[Path]:
    """``path`` as JSON (any suffix but .md) plus the markdown next to it (suffix .md)."""
    path = Path(path)
    json_path = path if path.suffix != ".md" else path.with_suffix(".json")
    text, md = report.to_json(), sensitivity_markdown(report)
    return [
        atomic_write(json_path, lambda tmp: tmp.write_text(text)),
        atomic_write(json_path.with_suffix(".md"), lambda tmp: tmp.write_text(md)),
    ]
