"""Random-mask control: dual-loop's schedule with a random certain set of the same size.

At every outer step each patch draws a score s_i ~ U(0, 1) from ``generator`` and the certain set
is chosen from s by the same quantile rule dual-loop applies to the difficulty, so both samplers
move the same number of patches ahead and differ only in which ones. The paper reports this
control is worse than parallel Euler: a check that the difficulty signal matters.
"""

from __future__ import annotations

import torch
from torch import nn

from patchforcing.sampling.certainty import certain_mask, check_fraction
from patchforcing.sampling.dual_loop import masked_dual_loop
from patchforcing.sampling.guidance import Guidance, Prediction
from patchforcing.sampling.result import SampleResult
from patchforcing.sampling.scope import sampling_scope

__all__ = ["random_control"]


@sampling_scope
def random_control(model: nn.Module, noise: torch.Tensor, y: torch.Tensor, schedule: torch.Tensor,
                   generator: torch.Generator, p: float = 0.4, n_inner: int = 4, strict_quantile: bool = True,
                   guidance: Guidance = Guidance(), trace: bool = False) -> SampleResult:
    """Dual-loop with a random mask; ``generator`` (on the noise's device) makes it reproducible."""
    check_fraction(p)
    if not isinstance(generator, torch.Generator):
        raise ValueError("random_control needs a torch.Generator for its masks")
    shape = (noise.shape[0], model.config.num_patches)

    def rule(pred: Prediction) -> torch.Tensor:
        scores = torch.rand(shape, generator=generator, device=pred.v.device)  # (B, N)
        return certain_mask(scores, p, strict_quantile)

    return masked_dual_loop(model, noise, y, schedule, n_inner, rule, guidance, trace)
