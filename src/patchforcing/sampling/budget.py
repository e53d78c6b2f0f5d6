"""Compute accounting: choose outer steps so a sampler spends a given NFE budget.

Every sampler's NFE is a non-decreasing function of its outer steps S on the uniform schedule
(Euler S, dual-loop S n_inner, look-ahead 2 S minus its plain early steps). :func:`steps_for_nfe`
returns the S whose NFE is closest to the budget (the smaller one on a tie) and the NFE it spends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Budget", "steps_for_nfe"]


@dataclass(frozen=True)
class Budget:
    """Outer steps chosen for a requested NFE budget, and the NFE they actually spend."""

    steps: int
    nfe: int
    requested: int

    @property
    def exact(self) -> bool:
        return self.nfe == self.requested


def steps_for_nfe(nfe_of_steps: Callable[[int], int], budget: int) -> Budget:
    """The outer step count S >= 1 whose NFE is closest to ``budget`` (ties: the cheaper one)."""
    if budget < 1:
        raise ValueError(f"the NFE budget must be >= 1, got {budget}")
    best = Budget(steps=1, nfe=nfe_of_steps(1), requested=budget)
    steps = 1
    while True:
        steps += 1
        spent = nfe_of_steps(steps)
        if abs(spent - budget) < abs(best.nfe - budget):
            best = Budget(steps=steps, nfe=spent, requested=budget)
        if spent > budget:
            return best
