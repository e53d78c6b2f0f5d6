"""The REPA projector (SPEC.md section 7): used in training only, never by sampling.

The authors' REPA model carries it as ``projector``: three linear layers with SiLU between them,
width D -> 2048 -> 2048 -> z_dim (768 for the XL setting, the width of DINOv2-B's features),
applied to the hidden tokens after block ``encoder_depth`` (8 for XL). Here it is a module of its
own that the trainer attaches beside the model, so that model folders hold the generator alone; its
parameters keep the authors' names (``0``, ``2``, ``4``: the linear layers of the sequence), so
their ``projector.*`` tensors load into it unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PROJECTOR_DIM", "XL_ENCODER_DEPTH", "RepaProjector", "default_repa_depth"]

PROJECTOR_DIM = 2048
XL_ENCODER_DEPTH = 8  # of the 28 blocks of XL/2
XL_DEPTH = 28


def default_repa_depth(depth: int) -> int:
    """The block whose output is aligned: 8 of XL's 28 (the REPA recipe), scaled to ``depth``
    blocks, at least the first."""
    return max(1, round(XL_ENCODER_DEPTH * depth / XL_DEPTH))


class RepaProjector(nn.Sequential):
    """MLP width -> hidden -> hidden -> z_dim with SiLU: hidden tokens (B, N, D) -> (B, N, z_dim).

    Initialised as the authors' (DiT's initialisation of every linear layer): xavier-uniform
    weights, zero biases, drawn from ``generator`` when given."""

    def __init__(
        self,
        width: int,
        z_dim: int,
        hidden: int = PROJECTOR_DIM,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            nn.Linear(width, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, z_dim),
        )
        for layer in self:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> RepaProjector:
        """A projector of the shapes of ``state`` (keys ``0.weight`` ... ``4.bias``), loaded
        with it."""
        try:
            hidden, width = state["0.weight"].shape
            z_dim = state["4.weight"].shape[0]
        except (KeyError, ValueError) as err:
            raise ValueError(
                f"not a REPA projector's weights (keys {sorted(state)[:6]}): {err}"
            ) from None
        projector = cls(width, z_dim, hidden)
        projector.load_state_dict(state)
        return projector

    @property
    def z_dim(self) -> int:
        last = self[4]
        assert isinstance(last, nn.Linear)
        return last.out_features
