"""Summaries of the quality bench's evaluations and the paper's claims (SPEC.md section 5) checked
on them.

A claim "A has lower FD than B" gets one of three verdicts in each feature space:

- **reproduced**: our mean difference has the claimed sign and exceeds t_{0.975, df} standard errors
  (a two-sided 95% Student t test: 4.30 SE with 3 units, 2.31 with 9);
- **reversed**: the opposite sign, beyond the same threshold;
- **no detectable difference**: within it. Its power is stated as the minimal detectable effect at
  80% power, MDE = (t_{0.975, df} + t_{0.80, df}) * SE, as a share of the worse arm's FD: a true
  difference of that size would have been detected four times out of five.

The difference is paired: evaluations with the same (training seed, sampling seed) draw the same
noise and class labels for every image (image i of sampling seed s uses image seed s * stride + i),
so d_j = FD_A(j) - FD_B(j) removes the noise they share, and the standard error is sd(d) / sqrt(n)
with df = n - 1. With several training seeds the unit is a training seed instead (d averaged over
its sampling seeds; n = training seeds), so training noise is in the test. With fewer than two units
it falls back to the unpaired sqrt(s_A^2 / n_A + s_B^2 / n_B) with the conservative df = min(n_A,
n_B) - 1.

Controls and extras have no paper value to reproduce: their stated direction takes the place of the
paper's sign.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.quality.run import EvalRecord

__all__ = [
    "Summary",
    "summarize",
    "METRICS",
    "Claim",
    "CLAIMS",
    "PAPER_TABLES",
    "Verdict",
    "verdict",
    "SpaceTest",
    "ClaimCheck",
    "check_claims",
    "fd_value",
    "t_critical",
    "t_power",
    "VERDICTS",
]

METRICS = ("fd", "kid", "precision", "recall", "density", "coverage")
VERDICTS = ("reproduced", "reversed", "no detectable difference")

# Quantiles of Student's t for df = 1..30 (beyond: the df = 30 value, slightly conservative):
# two-sided 95% (t_{0.975}) and the one-sided 80% power term (t_{0.80}).
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)
_T80 = (
    1.376,
    1.061,
    0.978,
    0.941,
    0.920,
    0.906,
    0.896,
    0.889,
    0.883,
    0.879,
    0.876,
    0.873,
    0.870,
    0.868,
    0.866,
    0.865,
    0.863,
    0.862,
    0.861,
    0.860,
    0.859,
    0.858,
    0.858,
    0.857,
    0.856,
    0.856,
    0.855,
    0.855,
    0.854,
    0.854,
)


def t_critical(df: int) -> float:
    """t_{0.975, df}: how many standard errors a difference must exceed; infinite without
    a spread."""
    return math.inf if df < 1 else _T975[min(df, len(_T975)) - 1]


def t_power(df: int) -> float:
    """t_{0.80, df}: the extra standard errors a true effect needs to be detected with 80% power."""
    return math.inf if df < 1 else _T80[min(df, len(_T80)) - 1]


@dataclass(frozen=True)
class Summary:
    """Mean and spread of every metric for one (arm, sampler, NFE) over its seeds."""

    arm: str
    sampler: str
    nfe_requested: int
    nfe: int
    runs: int
    mean: dict[str, float]  # primary feature space
    std: dict[str, float]
    fd: dict[str, tuple[float, float]]  # extractor key -> (mean, std) of FD in that space
    background: tuple[float, float] | None  # (mean, std) of the background level, where recorded


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(records: Sequence[EvalRecord]) -> list[Summary]:
    """Group records by (arm, sampler, requested NFE); sample standard deviation over the group."""
    groups: dict[tuple[str, str, int], list[EvalRecord]] = {}
    for r in records:
        groups.setdefault((r.arm, r.sampler, r.nfe_requested), []).append(r)
    out = []
    for (arm, sampler, nfe), rs in groups.items():
        stats = {m: _mean_std([r.metrics[m] for r in rs]) for m in METRICS}
        spaces = dict.fromkeys(k for r in rs for k in r.feature_spaces)
        fd = {
            k: _mean_std([r.feature_spaces[k]["fd"] for r in rs if k in r.feature_spaces])
            for k in spaces
        }
        levels = [r.background for r in rs if r.background is not None]
        out.append(
            Summary(
                arm,
                sampler,
                nfe,
                max(r.nfe for r in rs),
                len(rs),
                {m: s[0] for m, s in stats.items()},
                {m: s[1] for m, s in stats.items()},
                fd,
                _mean_std(levels) if levels else None,
            )
        )
    return out


# FID values the paper reports (B/2): main table FID-50k, ablations FID-10k; "srm-s1" is reported as
# ">= 42". Keyed by (arm, sampler) in the main table, by the arm or the sampler in the ablations.
# The paper's LTG model is our recipe arm "pf" in the main table and the sampling ablation (the
# recipe's LTG puts a quarter of the samples at one global time), and plain LTG ("ltg") in the
# time-sampler ablation.
PaperTable = dict[tuple[str, str] | str, float]
PAPER_TABLES: dict[str, PaperTable] = {
    "main": {
        ("baseline", "euler"): 33.0,
        ("pf", "euler-pf"): 27.9,
        ("pf", "dual-loop"): 26.0,
        ("pf", "look-ahead"): 24.2,
    },
    "timesamplers": {
        "global-uniform": 41.0,
        "srm-s1": 42.0,
        "srm-s4": 40.2,
        "srm-s10": 39.0,
        "truncated-gaussian": 34.7,
        "ltg": 31.4,
    },
    "sampling": {"random": 33.2, "euler-pf": 31.4, "dual-loop": 29.3, "look-ahead": 27.8},
}


@dataclass(frozen=True)
class Claim:
    part: str
    text: str
    better: tuple[str, str]  # (arm, sampler) claimed to have the lower FD
    worse: tuple[str, str]
    paper_better: float | None  # None: no paper value (controls, extras)
    paper_worse: float | None
    # "paper", "control" (separates one cause from another) or "extra" (a choice of ours)
    kind: str = "paper"
    note: str = ""  # what a control separates, what an extra tests

    @property
    def paper_change(self) -> float | None:
        if self.paper_better is None or self.paper_worse is None:
            return None
        return self.paper_better / self.paper_worse - 1


_M, _T, _S = PAPER_TABLES["main"], PAPER_TABLES["timesamplers"], PAPER_TABLES["sampling"]
_BASE = ("baseline", "euler")
CLAIMS = (
    Claim(
        "main",
        "PF + Euler-PF beats the global-time baseline",
        ("pf", "euler-pf"),
        _BASE,
        _M[("pf", "euler-pf")],
        _M[_BASE],
        "control",
        "the training alone (per-patch noise levels as augmentation), without any PF sampler",
    ),
    Claim(
        "main",
        "PF + dual-loop beats the global-time baseline",
        ("pf", "dual-loop"),
        _BASE,
        _M[("pf", "dual-loop")],
        _M[_BASE],
    ),
    Claim(
        "main",
        "PF + look-ahead beats the global-time baseline",
        ("pf", "look-ahead"),
        _BASE,
        _M[("pf", "look-ahead")],
        _M[_BASE],
    ),
    Claim(
        "sampling",
        "dual-loop beats parallel Euler at equal NFE",
        ("pf", "dual-loop"),
        ("pf", "euler-pf"),
        _S["dual-loop"],
        _S["euler-pf"],
    ),
    Claim(
        "sampling",
        "look-ahead beats parallel Euler at equal NFE",
        ("pf", "look-ahead"),
        ("pf", "euler-pf"),
        _S["look-ahead"],
        _S["euler-pf"],
    ),
    Claim(
        "sampling",
        "look-ahead beats dual-loop at equal NFE",
        ("pf", "look-ahead"),
        ("pf", "dual-loop"),
        _S["look-ahead"],
        _S["dual-loop"],
    ),
    Claim(
        "sampling",
        "the random-mask control is worse than parallel Euler",
        ("pf", "euler-pf"),
        ("pf", "random"),
        _S["euler-pf"],
        _S["random"],
        "control",
        "mixed-time passes with a random certain set against none: "
        "whether the difficulty ranking is needed",
    ),
    Claim(
        "sampling",
        "hardest-first (dual-loop, ranking inverted) is worse than dual-loop",
        ("pf", "dual-loop"),
        ("pf", "hardest-first"),
        None,
        None,
        "control",
        "the same mixed-time schedule with the ranking inverted: context from easy patches, "
        "not mixed times alone",
    ),
    Claim(
        "timesamplers",
        "LTG beats global uniform time",
        ("ltg", "euler-pf"),
        ("global-uniform", "euler-pf"),
        _T["ltg"],
        _T["global-uniform"],
    ),
    Claim(
        "timesamplers",
        "LTG beats the truncated Gaussian",
        ("ltg", "euler-pf"),
        ("truncated-gaussian", "euler-pf"),
        _T["ltg"],
        _T["truncated-gaussian"],
    ),
    Claim(
        "timesamplers",
        "max-controlled (truncated Gaussian) beats mean-controlled SRM s=4",
        ("truncated-gaussian", "euler-pf"),
        ("srm-s4", "euler-pf"),
        _T["truncated-gaussian"],
        _T["srm-s4"],
    ),
    Claim(
        "timesamplers",
        "a sharper SRM (s=10) beats SRM s=1",
        ("srm-s10", "euler-pf"),
        ("srm-s1", "euler-pf"),
        _T["srm-s10"],
        _T["srm-s1"],
    ),
    Claim(
        "timesamplers",
        "LTG with a global share of 0.25 (the recipe) beats plain LTG",
        ("pf", "euler-pf"),
        ("ltg", "euler-pf"),
        None,
        None,
        "extra",
        "the recipe's one change to the paper's time sampler",
    ),
)


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of VERDICTS
    mde: float  # minimal detectable effect at 80% power, as a share of the worse arm's FD

    @property
    def text(self) -> str:
        return self.kind if self.kind != VERDICTS[2] else f"{self.kind} (MDE {self.mde:.1%})"


def verdict(diff: float, se: float, df: int, base: float) -> Verdict:
    """The verdict on a mean FD difference ``diff`` (claimed better minus claimed worse; negative is
    the claimed sign) with standard error ``se`` on ``df`` degrees of freedom; ``base`` is the worse
    arm's FD."""
    needed = t_critical(df)
    mde = (needed + t_power(df)) * se / base if df >= 1 and base > 0 else math.inf
    if df >= 1 and abs(diff) > needed * se:
        return Verdict(VERDICTS[0] if diff < 0 else VERDICTS[1], mde)
    return Verdict(VERDICTS[2], mde)


@dataclass(frozen=True)
class SpaceTest:
    """One claim tested in one feature space."""

    space: str  # extractor key
    change: float  # mean FD difference over the worse arm's FD
    gap_in_se: float  # the difference over its standard error, positive in the claimed direction
    needed: float  # t_{0.975, df}
    pairs: int  # paired evaluations used (0: unpaired)
    units: int  # independent units of the test
    unit: str  # what a unit is: "training seeds", "sampling seeds" or "runs, unpaired"
    verdict: Verdict


@dataclass(frozen=True)
class ClaimCheck:
    claim: Claim
    tests: tuple[
        SpaceTest | None, ...
    ]  # per feature space in the order asked; None: no numbers yet

    @property
    def agree(self) -> bool | None:
        """Whether every space reaches the same verdict (None while a space has no numbers)."""
        if any(t is None for t in self.tests):
            return None
        return len({t.verdict.kind for t in self.tests if t is not None}) == 1


Value = Callable[[EvalRecord, str, bool], "float | None"]


def fd_value(e: EvalRecord, space: str, primary: bool) -> float | None:
    """The FD of an evaluation in feature space ``space`` (records from before several spaces were
    kept hold the ``primary`` space's in their metrics alone)."""
    if space in e.feature_spaces:
        return e.feature_spaces[space]["fd"]
    return e.metrics["fd"] if primary else None


def _fds(
    evals: Sequence[EvalRecord],
    arm: str,
    sampler: str,
    nfe: int,
    space: str,
    primary: bool,
    value: Value,
) -> dict[tuple[int, int], float]:
    out = {}
    for e in evals:
        if (e.arm, e.sampler, e.nfe_requested) == (arm, sampler, nfe):
            fd = value(e, space, primary)
            if fd is not None:
                out[(e.train_seed, e.sample_seed)] = fd
    return out


def _test(
    claim: Claim, evals: Sequence[EvalRecord], nfe: int, space: str, primary: bool, value: Value
) -> SpaceTest | None:
    fa, fb = (
        _fds(evals, *claim.better, nfe, space, primary, value),
        _fds(evals, *claim.worse, nfe, space, primary, value),
    )
    if not fa or not fb:
        return None
    pairs = sorted(fa.keys() & fb.keys())
    by_train: dict[int, list[float]] = {}
    for k in pairs:
        by_train.setdefault(k[0], []).append(fa[k] - fb[k])
    # several training seeds: the unit is a training seed (its mean over sampling seeds), since the
    # runs of one trained model share its training noise
    groups = list(by_train.values())
    d = [statistics.fmean(g) for g in groups] if len(groups) > 1 else groups[0] if groups else []
    if len(d) >= 2:
        diff, se = statistics.fmean(d), statistics.stdev(d) / math.sqrt(len(d))
        base, df, used, units = (
            statistics.fmean(fb[k] for k in pairs),
            len(d) - 1,
            len(pairs),
            len(d),
        )
        unit = "training seeds" if len(groups) > 1 else "sampling seeds"
    else:
        (ma, sa), (mb, sb) = _mean_std(list(fa.values())), _mean_std(list(fb.values()))
        diff, se, base = ma - mb, math.sqrt(sa**2 / len(fa) + sb**2 / len(fb)), mb
        df, used, units, unit = (
            min(len(fa), len(fb)) - 1,
            0,
            min(len(fa), len(fb)),
            "runs, unpaired",
        )
    gap = -diff / se if se else math.copysign(math.inf, -diff) if diff else 0.0
    return SpaceTest(
        space, diff / base, gap, t_critical(df), used, units, unit, verdict(diff, se, df, base)
    )


def check_claims(
    evals: Sequence[EvalRecord],
    nfe: int,
    spaces: tuple[str, ...],
    claims: tuple[Claim, ...] = CLAIMS,
    value: Value = fd_value,
) -> list[ClaimCheck]:
    """Every claim at NFE ``nfe`` in each feature space (extractor keys; the first is the primary
    space, which records from before several spaces were kept hold in their ``metrics`` alone).
    ``claims`` and ``value`` (what is compared, lower being better: FD by default) let another
    bench test its own claims by the same rules."""
    return [
        ClaimCheck(c, tuple(_test(c, evals, nfe, s, i == 0, value) for i, s in enumerate(spaces)))
        for c in claims
    ]
