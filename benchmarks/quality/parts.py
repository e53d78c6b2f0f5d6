"""Where each part of the bench stands: the summaries of what it has recorded and what it
still lacks.

Both the results file (its per-part summaries) and the report (its tables and pending list) are
computed from these, so that they always agree."""

from __future__ import annotations

from benchmarks.quality.claims import Summary, summarize
from benchmarks.quality.plan import PARTS, EvalSpec, QualityBenchConfig, plan_part
from benchmarks.quality.run import EvalRecord

__all__ = ["part_summaries", "pending_specs"]


def part_summaries(config: QualityBenchConfig, evals: list[EvalRecord]) -> dict[str, list[Summary]]:
    """Summaries of the recorded evaluations each part plans (parts without any left out)."""
    out = {}
    for part in PARTS:
        wanted = {s.key for s in plan_part(config, part)}
        found = [e for e in evals if e.key in wanted]
        if found:
            out[part] = summarize(found)
    return out


def pending_specs(config: QualityBenchConfig, evals: list[EvalRecord]) -> dict[str, list[EvalSpec]]:
    """The evaluations each part plans that the records lack (parts with none missing left out)."""
    have = {e.key for e in evals}
    out = {part: [s for s in plan_part(config, part) if s.key not in have] for part in PARTS}
    return {part: specs for part, specs in out.items() if specs}
