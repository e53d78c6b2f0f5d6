"""Frozen image encoders whose patch features REPA aligns the model's hidden tokens to.

Every encoder maps images in the model range [-1, 1], (B, C, H, W) with C = 1 or 3, to a feature map
(B, Z, h, w) of the clean image, in float32 and without gradients. It resizes the images to its
``resolution`` (bilinear with antialiasing, the whole image: no crop, so that feature (i, j) covers
the same region as token (i, j)), repeats a grey channel three times and normalises as its weights
expect. Two kinds:

- ``efficientnet-lite0`` (built in, the ``[repa]`` extra): the ImageNet-trained EfficientNet-Lite0
  of :mod:`patchforcing.model.vision.efficientnet`, features after its fifth stage (112 channels at
  stride 16; input in [-1, 1] as its weights were trained);
- a local Hugging Face vision model folder (the ``[text]`` extra's ``transformers``, ``AutoModel``,
  read with ``local_files_only``: e.g. DINOv2 as the REPA paper uses): the patch tokens of its last
  hidden state (the class and register tokens before them dropped) as a (B, Z, h, w) map, or the
  map itself for a convolutional model; normalised with the mean and std of the folder's
  ``preprocessor_config.json`` (ImageNet's when it has none).

``resolution`` None picks the input size whose feature grid is the model's token grid (REPA's
pairing: DINOv2-B at 224 px, 16 x 16 patch tokens, for SiT's 16 x 16 tokens): ``grid x stride``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from patchforcing.model.vision.efficientnet import load_lite0
from patchforcing.utils.extras import MissingExtraError

__all__ = [
    "BUILTIN_ENCODER",
    "ImageEncoder",
    "BuiltinEncoder",
    "PretrainedImageEncoder",
    "build_image_encoder",
    "encoder_stride",
]

BUILTIN_ENCODER = "efficientnet-lite0"
LITE0_BLOCKS = 11  # blocks through the fifth stage: 112 channels at stride 16
LITE0_STRIDE = 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageEncoder(Protocol):
    """Images (B, C, H, W) in [-1, 1] -> features (B, ``feature_dim``, h, w)."""

    feature_dim: int
    resolution: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def to_json(self) -> dict[str, Any]: ...


def _prepare(images: torch.Tensor, resolution: int, device: torch.device) -> torch.Tensor:
    """Three channels at ``resolution`` x ``resolution``, float32 on ``device``, still in
    [-1, 1]."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"an image encoder takes (B, 1 or 3, H, W) images, got {tuple(images.shape)}"
        )
    x = images.to(device, torch.float32)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[-2:]) != (resolution, resolution):
        x = F.interpolate(
            x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True
        )
    return x  # (B, 3, r, r)


class BuiltinEncoder:
    """EfficientNet-Lite0's stage-5 features (112 channels, stride 16)."""

    kind = BUILTIN_ENCODER
    stride = LITE0_STRIDE

    def __init__(self, resolution: int, device: torch.device | str = "cpu") -> None:
        self.network = load_lite0().to(device)
        self.device, self.resolution = torch.device(device), resolution
        self.feature_dim = self.network.widths[LITE0_BLOCKS - 1]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = _prepare(images, self.resolution, self.device)
        with torch.autocast(self.device.type, enabled=False):
            return self.network.features(x, LITE0_BLOCKS)  # (B, 112, r/16, r/16)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "resolution": self.resolution, "feature_dim": self.feature_dim}


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as err:
        raise MissingExtraError(
            "a Hugging Face image encoder needs transformers: pip install 'patchforcing[text]'"
        ) from err
    return transformers


def _check_folder(path: str | Path) -> Path:
    folder = Path(path).expanduser().resolve()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"image encoder {path!r} is neither {BUILTIN_ENCODER!r} nor a local Hugging Face "
            "model folder with config.json"
        )
    return folder


def _normalisation(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The (3, 1, 1) mean and std of the folder's image processor (ImageNet's without one)."""
    path = folder / "preprocessor_config.json"
    values = json.loads(path.read_text()) if path.is_file() else {}
    mean = values.get("image_mean", IMAGENET_MEAN)
    std = values.get("image_std", IMAGENET_STD)
    return torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)


class PretrainedImageEncoder:
    """The patch tokens of a local Hugging Face vision model as a (B, Z, h, w) map."""

    kind = "pretrained"

    def __init__(
        self, path: str | Path, resolution: int, device: torch.device | str = "cpu"
    ) -> None:
        transformers = _transformers()
        folder = _check_folder(path)
        try:
            model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"cannot load an image encoder from {folder}: {err}") from err
        self.model = model.to(device).eval().requires_grad_(False)
        self.path, self.resolution, self.device = folder, resolution, torch.device(device)
        self.stride = encoder_stride(folder)
        if resolution % self.stride:
            raise ValueError(
                f"encoder resolution {resolution} is not a multiple of {folder.name}'s stride "
                f"{self.stride}"
            )
        mean, std = _normalisation(folder)
        self.mean, self.std = mean.to(self.device), std.to(self.device)
        self.interpolate = "interpolate_pos_encoding" in inspect.signature(model.forward).parameters
        self.feature_dim = int(self(torch.zeros(1, 3, resolution, resolution)).shape[1])

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = (_prepare(images, self.resolution, self.device) + 1) / 2  # [0, 1]
        x = (x - self.mean) / self.std
        extra = {"interpolate_pos_encoding": True} if self.interpolate else {}
        with torch.autocast(self.device.type, enabled=False):
            hidden = self.model(pixel_values=x, **extra).last_hidden_state.float()
        if hidden.dim() == 4:  # a convolutional model's (B, Z, h, w) map
            return hidden
        side = self.resolution // self.stride
        tokens = hidden[:, hidden.shape[1] - side * side :]  # the patch tokens, (B, h*w, Z)
        return tokens.transpose(1, 2).reshape(hidden.shape[0], -1, side, side)  # (B, Z, h, w)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "resolution": self.resolution,
            "feature_dim": self.feature_dim,
        }


def encoder_stride(name: str | Path) -> int:
    """Input pixels per feature along a side: 16 for the built-in encoder, a ViT's ``patch_size``
    (its config's), else 32 (a convolutional network's last stage)."""
    if str(name) == BUILTIN_ENCODER:
        return LITE0_STRIDE
    config = json.loads((_check_folder(name) / "config.json").read_text())
    patch = config.get("patch_size")
    return int(patch[0] if isinstance(patch, list) else patch) if patch else 32


def build_image_encoder(
    name: str | Path, resolution: int, device: torch.device | str = "cpu"
) -> ImageEncoder:
    """The built-in encoder (``efficientnet-lite0``) or the Hugging Face model in the folder
    ``name``, taking images at ``resolution`` pixels."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"encoder resolution must be a whole number >= 1, got {resolution!r}")
    if str(name) == BUILTIN_ENCODER:
        return BuiltinEncoder(resolution, device)
    return PretrainedImageEncoder(name, resolution, device)
