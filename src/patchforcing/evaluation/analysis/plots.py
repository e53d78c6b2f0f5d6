"""Matplotlib figures of the analyses (optional extra ``plots``)."""

from __future__ import annotations

from pathlib import Path

from patchforcing.evaluation.analysis.context import ContextStudy
from patchforcing.evaluation.analysis.correlation import DifficultyCorrelation
from patchforcing.evaluation.analysis.segments import SegmentLoss
from patchforcing.utils.io.atomic import atomic_write

__all__ = [
    "require_pyplot",
    "save_figure",
    "plot_segments",
    "plot_correlation",
    "plot_context",
    "plot_context_difficulty",
]


def require_pyplot():
    """matplotlib.pyplot with the file-only Agg backend, or a clear error naming the extra."""
    try:
        import matplotlib
    except ImportError as err:
        raise ValueError(
            "plots need matplotlib: pip install 'patchforcing[plots]' (or pip install matplotlib)"
        ) from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    plt = require_pyplot()
    fig.tight_layout()
    path = atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path


def plot_segments(result: SegmentLoss, path: str | Path) -> Path:
    plt = require_pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    labels = [f"{a:.2f}-{b:.2f}" for a, b in zip(result.edges[:-1], result.edges[1:])]
    ax.bar(range(len(result.mse)), result.mse, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
    ax.set_xlabel("t segment (0 = noise, 1 = data)")
    ax.set_ylabel("velocity MSE")
    ax.set_title("validation loss per t-segment")
    return save_figure(fig, path)


def plot_correlation(result: DifficultyCorrelation, path: str | Path) -> Path:
    plt = require_pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(result.times, result.pearson, "o-", label="Pearson")
    ax.plot(result.times, result.spearman, "s--", label="Spearman")
    ax.set_xlabel("t")
    ax.set_ylabel("corr(difficulty, patch loss)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
    return save_figure(fig, path)


def plot_context(result: ContextStudy, path: str | Path) -> Path:
    plt = require_pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for curve in result.curves:
        ax.plot(curve.ratios, curve.uncertain_mse, "o-", label=f"base t = {curve.base_t:g}")
    ax.set_xlabel("context time / base t (last point: clean context)")
    ax.set_ylabel("MSE on uncertain patches")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_context_difficulty(result: ContextStudy, path: str | Path) -> Path:
    """Median (and 25-75% band) of the uncertain patches' difficulty against the context ratio."""
    plt = require_pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    lo, mid, hi = (result.quantiles.index(q) for q in (0.25, 0.5, 0.75))
    for curve in result.curves:
        qs = curve.difficulty_quantiles
        (line,) = ax.plot(
            curve.ratios, [q[mid] for q in qs], "o-", label=f"base t = {curve.base_t:g}"
        )
        ax.fill_between(
            curve.ratios,
            [q[lo] for q in qs],
            [q[hi] for q in qs],
            color=line.get_color(),
            alpha=0.15,
        )
    ax.set_yscale("log")
    ax.set_xlabel("context time / base t")
    ax.set_ylabel("difficulty of uncertain patches")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
