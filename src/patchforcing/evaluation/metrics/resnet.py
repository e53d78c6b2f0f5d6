"""The body of the second feature classifier (``arch="resnet"``): a small residual network.

A 3x3 stem, then one stage per width of two basic residual blocks (3x3 conv, BatchNorm, ReLU,
3x3 conv, BatchNorm, plus the identity or a strided 1x1 projection); every stage after the first
halves the resolution with a stride-2 first block. Global average pooling ends it. It differs from
the plain CNN of :mod:`patchforcing.evaluation.metrics.classifier` in architecture (residual,
strided downsampling instead of max-pooling, twice the depth) as well as in training (augmented), so
the two feature spaces are independent witnesses.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "resnet_body"]


class BasicBlock(nn.Module):
    """relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); the shortcut projects when shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))  # (B, c_out, H / stride, W / stride)
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


def resnet_body(in_channels: int, widths: tuple[int, ...], blocks: int = 2) -> nn.Sequential:
    """(B, C, H, W) -> (B, widths[-1]): stem, ``blocks`` blocks per width, global average pool."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    c_in = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks):
            layers.append(BasicBlock(c_in, width, stride=2 if stage > 0 and block == 0 else 1))
            c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
