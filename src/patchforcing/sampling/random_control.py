"""Random-mask control: dual-loop's schedule with a random certain set of the same size.

At every outer step each patch draws a score s_i ~ U(0, 1) and the certain set is chosen from s by
the same quantile rule dual-loop applies to the difficulty (by default the authors' pixel-level
quantile: each score counted patch_size**2 times), so for distinct scores both samplers move the
same number of patches ahead and differ only in which ones. The paper reports this control is
worse than parallel Euler: a check that the difficulty signal matters.

The scores come from one ``torch.Generator`` for the whole batch, or from a sequence of B
generators, one per image: image b's scores then come from ``generators[b]`` alone, so an image
is the same whether it is generated alone or in any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import Generators
from patchforcing.sampling.dual_loop import DualLoop, MaskRule
from patchforcing.sampling.guidance import Prediction

__all__ = ["RandomControl", "check_generators", "uniform_scores", "Generators"]


def check_generators(generator: Generators | None, batch: int) -> Generators:
    """Raise ``ValueError`` unless ``generator`` is one torch.Generator or exactly ``batch``
    of them."""
    if isinstance(generator, torch.Generator):
        return generator
    if not isinstance(generator, Sequence) or not all(
        isinstance(g, torch.Generator) for g in generator
    ):
        raise ValueError(
            "the random-mask control needs a torch.Generator, or a sequence of one per image, "
            f"for its masks (pass generator=...), got {type(generator).__name__}"
        )
    if len(generator) != batch:
        raise ValueError(
            f"the random-mask control got {len(generator)} generators for a batch of {batch} "
            "images; pass one per image or a single torch.Generator"
        )
    return generator


def uniform_scores(
    generator: Generators, batch: int, num_patches: int, device: torch.device
) -> torch.Tensor:
    """Scores (B, N) ~ U(0, 1): from the one generator, or row b from the b-th generator alone."""
    if isinstance(generator, torch.Generator):
        return torch.rand((batch, num_patches), generator=generator, device=device)
    return torch.stack([torch.rand(num_patches, generator=g, device=device) for g in generator])


@dataclass(frozen=True, kw_only=True)
class RandomControl(DualLoop):
    """Dual-loop with a random mask; the ``generator`` it is called with (on the noise's device:
    one, or one per image) makes it reproducible."""

    name: ClassVar[str] = "random"
    difficulty: ClassVar[bool] = False

    def mask_rule(
        self, model: PatchModel, noise: torch.Tensor, generator: Generators | None
    ) -> MaskRule:
        B, c = noise.shape[0], model.config
        generators = check_generators(generator, B)

        def rule(pred: Prediction) -> torch.Tensor:
            scores = uniform_scores(generators, B, c.num_patches, pred.v.device)  # (B, N)
            return self.certain(scores, c.patch_size)

        return rule
