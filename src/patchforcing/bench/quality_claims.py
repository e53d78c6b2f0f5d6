"""The paper's claims (SPEC.md section 5) checked against ``bench quality`` summaries.

A claim "A has lower FD than B" is *reproduced* when our mean difference has the paper's sign and
exceeds t_{0.975, df} standard errors (a two-sided 95% Student t test: 4.30 SE with 3 units, 2.31 with
9); *same direction* when the sign agrees but the gap is within that noise; *not reproduced* otherwise.

The difference is paired: evaluations with the same (training seed, sampling seed) draw the same
noise and class labels for every image (image i of sampling seed s uses image seed s * stride + i), so
d_j = FD_A(j) - FD_B(j) removes the noise they share, and the standard error is sd(d) / sqrt(n) with
df = n - 1. With several training seeds the unit is a training seed instead (d averaged over its
sampling seeds; n = training seeds), so training noise is in the test. With fewer than two units it
falls back to the unpaired sqrt(s_A^2 / n_A + s_B^2 / n_B) with the conservative df = min(n_A, n_B) - 1.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

__all__ = ["Claim", "CLAIMS", "check_claims", "PAPER_TABLES", "t_critical"]

# Two-sided 95% quantiles t_{0.975, df} of Student's t for df = 1..30 (beyond: the df = 30 value, a
# slightly conservative stand-in for the normal 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_critical(df: int) -> float:
    """t_{0.975, df}: how many standard errors a difference must exceed; infinite without a spread."""
    return math.inf if df < 1 else _T975[min(df, len(_T975)) - 1]

# FID values the paper reports (B/2): main table FID-50k, ablations FID-10k; "srm-s1" is reported as ">= 42".
# Keyed by (arm, sampler) in the main table, by the arm or the sampler in the ablations.
PaperTable = dict[tuple[str, str] | str, float]
PAPER_TABLES: dict[str, PaperTable] = {
    "main": {("baseline", "euler"): 33.0, ("ltg", "euler-pf"): 27.9, ("ltg", "dual-loop"): 26.0,
             ("ltg", "look-ahead"): 24.2},
    "timesamplers": {"global-uniform": 41.0, "srm-s1": 42.0, "srm-s4": 40.2, "srm-s10": 39.0,
                     "truncated-gaussian": 34.7, "ltg": 31.4},
    "sampling": {"random": 33.2, "euler-pf": 31.4, "dual-loop": 29.3, "look-ahead": 27.8},
}


@dataclass(frozen=True)
class Claim:
    part: str
    text: str
    better: tuple[str, str]  # (arm, sampler) claimed to have the lower FD
    worse: tuple[str, str]
    paper_better: float
    paper_worse: float


_M, _T, _S = PAPER_TABLES["main"], PAPER_TABLES["timesamplers"], PAPER_TABLES["sampling"]
CLAIMS = (
    Claim("main", "PF + Euler beats the global-time baseline", ("ltg", "euler-pf"), ("baseline", "euler"),
          _M[("ltg", "euler-pf")], _M[("baseline", "euler")]),
    Claim("main", "PF + dual-loop beats the global-time baseline", ("ltg", "dual-loop"), ("baseline", "euler"),
          _M[("ltg", "dual-loop")], _M[("baseline", "euler")]),
    Claim("main", "PF + look-ahead beats the global-time baseline", ("ltg", "look-ahead"), ("baseline", "euler"),
          _M[("ltg", "look-ahead")], _M[("baseline", "euler")]),
    Claim("sampling", "dual-loop beats parallel Euler at equal NFE", ("ltg", "dual-loop"), ("ltg", "euler-pf"),
          _S["dual-loop"], _S["euler-pf"]),
    Claim("sampling", "look-ahead beats parallel Euler at equal NFE", ("ltg", "look-ahead"), ("ltg", "euler-pf"),
          _S["look-ahead"], _S["euler-pf"]),
    Claim("sampling", "look-ahead beats dual-loop at equal NFE", ("ltg", "look-ahead"), ("ltg", "dual-loop"),
          _S["look-ahead"], _S["dual-loop"]),
    Claim("sampling", "the random-mask control is worse than parallel Euler", ("ltg", "euler-pf"), ("ltg", "random"),
          _S["euler-pf"], _S["random"]),
    Claim("timesamplers", "LTG beats global uniform time", ("ltg", "euler-pf"), ("global-uniform", "euler-pf"),
          _T["ltg"], _T["global-uniform"]),
    Claim("timesamplers", "LTG beats the truncated Gaussian", ("ltg", "euler-pf"), ("truncated-gaussian", "euler-pf"),
          _T["ltg"], _T["truncated-gaussian"]),
    Claim("timesamplers", "max-controlled (truncated Gaussian) beats mean-controlled SRM s=4",
          ("truncated-gaussian", "euler-pf"), ("srm-s4", "euler-pf"), _T["truncated-gaussian"], _T["srm-s4"]),
    Claim("timesamplers", "a sharper SRM (s=10) beats SRM s=1", ("srm-s10", "euler-pf"), ("srm-s1", "euler-pf"),
          _T["srm-s10"], _T["srm-s1"]),
)


def _fds(evals: list[dict], arm: str, sampler: str, nfe: int) -> dict[tuple[int, int], float]:
    return {(e["train_seed"], e["sample_seed"]): e["metrics"]["fd"] for e in evals
            if e["arm"] == arm and e["sampler"] == sampler and e["nfe_requested"] == nfe}


def _difference(a: dict, b: dict, evals: list[dict], claim: Claim,
                nfe: int) -> tuple[float, float, float, int, int]:
    """(mean FD difference A - B, its standard error, B's mean FD over the same runs, pairs used, df)."""
    fa, fb = _fds(evals, *claim.better, nfe), _fds(evals, *claim.worse, nfe)
    pairs = sorted(fa.keys() & fb.keys())
    by_train: dict[int, list[float]] = {}
    for k in pairs:
        by_train.setdefault(k[0], []).append(fa[k] - fb[k])
    # several training seeds: the unit is a training seed (its mean over sampling seeds), since the
    # runs of one trained model share its training noise
    groups = list(by_train.values())
    d = [statistics.fmean(g) for g in groups] if len(groups) > 1 else groups[0] if groups else []
    if len(d) >= 2:
        base = statistics.fmean(fb[k] for k in pairs)
        return statistics.fmean(d), statistics.stdev(d) / math.sqrt(len(d)), base, len(pairs), len(d) - 1
    se = math.sqrt(a["std"]["fd"] ** 2 / a["runs"] + b["std"]["fd"] ** 2 / b["runs"])
    return a["mean"]["fd"] - b["mean"]["fd"], se, b["mean"]["fd"], 0, min(a["runs"], b["runs"]) - 1


def check_claims(summaries: dict[str, list[dict]], evals: list[dict], nfe: int) -> list[dict]:
    """One row per claim whose part was run: our relative FD change, the paper's, and the verdict."""
    rows = []
    for claim in CLAIMS:
        found = {(s["arm"], s["sampler"]): s for s in summaries.get(claim.part, []) if s["nfe_requested"] == nfe}
        a, b = found.get(claim.better), found.get(claim.worse)
        if a is None or b is None:
            continue
        diff, se, base, pairs, df = _difference(a, b, evals, claim, nfe)
        needed = t_critical(df)
        verdict = ("reproduced" if diff < 0 and -diff > needed * se else "same direction" if diff < 0
                   else "not reproduced")
        rows.append({"part": claim.part, "claim": claim.text, "ours": diff / base,
                     "paper": claim.paper_better / claim.paper_worse - 1, "gap_in_se": -diff / se if se else math.inf,
                     "needed_se": needed, "pairs": pairs, "verdict": verdict})
    return rows
