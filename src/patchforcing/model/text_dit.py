"""The text-to-image Patch Forcing model (SPEC.md section 6).

Every token's time goes through sinusoidal features and a mapping network and modulates that token's
norms in every block (per-token adaLN, in the layouts of :mod:`patchforcing.model.conditioning`);
image tokens carry 2-D rotary positions; the prompt (ids of the built-in tokenizer or hidden states
of a frozen encoder) is embedded, refined by a small transformer and attended to by cross-attention
in every block. Text does not enter the adaLN rows, so they depend on time alone and the same
layouts apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from patchforcing.core.condition import Condition, TextCondition
from patchforcing.core.path import unpatchify
from patchforcing.core.protocol import ModelOutput
from patchforcing.model.base import PatchGenerator, init_linears
from patchforcing.model.conditioning import (
    Conditioning,
    GatheredConditioning,
    SegmentConditioning,
    TokenConditioning,
    time_segments,
)
from patchforcing.model.dit import FinalLayer
from patchforcing.model.embed import PatchEmbed
from patchforcing.model.pretrained import (
    TEXT_ENCODER_FILE,
    CheckpointError,
    ModelMeta,
    PretrainedMixin,
)
from patchforcing.model.refiner import TextRefiner
from patchforcing.model.rope import Rotary, rotary_table_2d
from patchforcing.model.text.encoders import TextEncoder, encoder_from_json
from patchforcing.model.text_blocks import MappingNetwork, TextDiTBlock
from patchforcing.model.text_config import TextModelConfig

__all__ = ["PatchForcingT2I"]


class PatchForcingT2I(PatchGenerator, PretrainedMixin):
    """Text-to-image Patch Forcing model: ``forward(x, t, y)`` with t (B,) or (B, N) and y a
    :class:`TextCondition`. ``text_encoder`` (optional) is the encoder whose prompts it reads; it is
    stored with the model folder and rebuilt by :meth:`text_encoder`."""

    model_type: ClassVar[str] = "patchforcing-t2i"
    rope_table: torch.Tensor  # (N, hs) rotary table of the patch grid, a buffer

    @classmethod
    def config_from_architecture(cls, values: dict[str, Any]) -> TextModelConfig:
        return TextModelConfig(**values)

    def layout(self) -> dict[str, Any]:
        text = {
            "input": "token ids" if self.config.text_vocab_size else "features",
            "file": TEXT_ENCODER_FILE,
        }
        return {**super().layout(), "text": text}

    def __init__(self, config: TextModelConfig, text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        self.text_encoder_spec: dict[str, Any] | None = None
        self._encoder_cache: tuple[dict[str, Any], TextEncoder] | None = (
            None  # (spec it was built from, encoder)
        )
        if text_encoder is not None:
            self.set_text_encoder(text_encoder)
        self.x_embedder = PatchEmbed(c.patch_size, c.in_channels, c.width)
        self.t_mapping = MappingNetwork(c.mapping_width, c.frequency_dim, c.mapping_layers)
        self.text_embedder: nn.Module = (
            nn.Embedding(c.text_vocab_size, c.refiner_width)
            if c.text_vocab_size  # id 0: the null text
            else nn.Sequential(
                nn.LayerNorm(c.text_feature_dim, eps=1e-6),
                nn.Linear(c.text_feature_dim, c.refiner_width),
            )
        )
        self.refiner = TextRefiner(c.refiner_width, c.refiner_depth, c.refiner_heads, c.mlp_ratio)
        self.register_buffer(
            "rope_table",
            rotary_table_2d(c.grid_size, c.grid_size, c.width // c.num_heads),
            persistent=False,
        )  # (N, hs)
        self.blocks = nn.ModuleList(
            TextDiTBlock(c.width, c.num_heads, c.mlp_ratio, c.refiner_width, c.mapping_width)
            for _ in range(c.depth)
        )
        self.final_layer = FinalLayer(c.width, c.patch_size, c.out_channels, c.mapping_width)
        self.reset_parameters()

    def set_text_encoder(self, encoder: TextEncoder) -> None:
        """Record the encoder whose prompts this model reads (checked against the config)."""
        self._check_encoder(encoder)
        self.text_encoder_spec = encoder.to_json()

    def _check_encoder(self, encoder: TextEncoder) -> None:
        c = self.config
        if (
            encoder.vocab_size != c.text_vocab_size
            or (encoder.feature_dim or 0) != c.text_feature_dim
        ):
            raise ValueError(
                f"the {encoder.kind} text encoder gives vocab_size {encoder.vocab_size} / "
                f"feature_dim {encoder.feature_dim}; this model reads text_vocab_size "
                f"{c.text_vocab_size} / text_feature_dim {c.text_feature_dim}"
            )
        if encoder.max_length > c.max_text_length:
            raise ValueError(
                f"the text encoder gives up to {encoder.max_length} tokens, above the model's "
                f"max_text_length {c.max_text_length}"
            )

    def text_encoder(self) -> TextEncoder:
        """The encoder recorded with this model, rebuilt once (a pretrained one is loaded from the
        first folder holding its fingerprint: the recorded path, beside or inside the model folder,
        the hub cache; :mod:`patchforcing.model.text.locate`) and kept until the recorded
        description changes, so generation may ask for it every batch."""
        if self.text_encoder_spec is None:
            raise ValueError(
                "this model has no text encoder recorded; build it with text_encoder=... or call "
                "set_text_encoder(encoder)"
            )
        cached = self._encoder_cache
        if cached is None or cached[0] is not self.text_encoder_spec:
            encoder = encoder_from_json(self.text_encoder_spec, model_folder=self.source)
            self._check_encoder(encoder)
            cached = self._encoder_cache = (self.text_encoder_spec, encoder)
        return cached[1]

    def relocate_text_encoder(self, folder: str | Path) -> None:
        """Read the recorded pretrained encoder from ``folder`` instead of searching for it (a
        model from another machine); its layer, length and dtype stay as recorded, and its
        fingerprint and feature size are checked."""
        spec = self.text_encoder_spec
        if spec is None or spec.get("kind") != "pretrained":
            kind = (
                "no text encoder"
                if spec is None
                else f"the {spec.get('kind')} text encoder, stored with it,"
            )
            raise ValueError(
                f"this model has {kind} rather than a pretrained one read from a folder: there is "
                "no folder to relocate"
            )
        encoder = encoder_from_json(spec, encoder_folder=folder)
        self._check_encoder(encoder)
        self.text_encoder_spec = encoder.to_json()
        self._encoder_cache = (self.text_encoder_spec, encoder)

    def reset_parameters(self) -> None:
        """xavier linears, N(0, 0.02) text embeddings and mapping network, zero adaLN and
        output layers."""
        init_linears(self, self.x_embedder)
        if isinstance(self.text_embedder, nn.Embedding):
            nn.init.normal_(self.text_embedder.weight, std=0.02)
        for layer in self.t_mapping.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=0.02)
        zeroed = [
            m.adaLN_modulation for m in self.modules() if isinstance(m, (TextDiTBlock, FinalLayer))
        ]
        for param in (p for m in [*zeroed, self.final_layer.linear] for p in m.parameters()):
            nn.init.zeros_(param)  # adaLN-Zero: every block starts as the identity

    def check_inputs(
        self, x: torch.Tensor, t: torch.Tensor, y: Condition
    ) -> tuple[torch.Tensor, TextCondition]:
        """Validate shapes and the text; returns t as (B, N) and y."""
        c = self.config
        t = c.check_image_and_time(x, t)
        B = x.shape[0]
        if not isinstance(y, TextCondition):
            raise TypeError(
                f"a text model is conditioned on a TextCondition (encode prompts with "
                f"model.text_encoder().encode(prompts)), got {type(y).__name__}"
            )
        if len(y) != B or y.length > c.max_text_length:
            raise ValueError(
                f"expected text for {B} images with at most {c.max_text_length} tokens, got "
                f"{len(y)} rows of {y.length}"
            )
        if c.text_vocab_size:
            if y.tokens.dim() != 2:
                raise ValueError(
                    "this model reads token ids of the built-in tokenizer, got features"
                )
            if bool(((y.tokens < 0) | (y.tokens >= c.text_vocab_size)).any()):
                raise ValueError(
                    f"token ids must lie in [0, {c.text_vocab_size}); "
                    "encode with the model's tokenizer"
                )
        elif y.tokens.dim() != 3 or y.tokens.shape[-1] != c.text_feature_dim:
            raise ValueError(
                f"this model reads text features of size {c.text_feature_dim}, got "
                f"{y.tokens.dtype} {tuple(y.tokens.shape)}"
            )
        return t, y

    def conditioning(self, t: torch.Tensor, cache: bool = True) -> Conditioning:
        """Rows of the mapping network for (B, N) times, in the cheapest layout for them; with
        gradients, under ``torch.compile`` or with ``cache=False`` every token gets its own row
        (the plain per-token computation, whose backward is the cheapest). Under
        ``torch.compile`` no branch reads tensor values (each would split the graph): a PF model
        takes per-token rows, a global model the rows of t[:, 0] (eager calls check that its times
        are uniform)."""
        B, N = t.shape
        compiling = torch.compiler.is_compiling()
        inference = not torch.is_grad_enabled() and not compiling
        uniform = (
            self.config.time_mode == "global"
            if compiling
            else cache and bool((t == t[:, :1]).all())
        )
        if uniform:
            return SegmentConditioning(rows=self.t_mapping(t[:, 0]), sizes=(N,))
        if self.config.time_mode == "global":
            raise ValueError(
                "a global-time model got different times for the patches of one sample"
            )
        segments = time_segments(t) if cache and inference else None
        if segments is not None:
            order, times, sizes = segments  # (B*N,), (B, R), R sizes
            return SegmentConditioning(
                rows=self.t_mapping(times.reshape(-1)), sizes=sizes, order=order
            )
        if not (cache and inference):  # training, compiling or cache off: one row per token
            return TokenConditioning(rows=self.t_mapping(t.reshape(-1)).view(B, N, -1))
        values, inverse = torch.unique(t.reshape(-1), return_inverse=True)  # (M,), (B*N,)
        return GatheredConditioning(
            rows=self.t_mapping(values), index=inverse.view(B, N), buffer=self._gather_buffer
        )

    def embed_text(self, y: TextCondition, dtype: torch.dtype) -> torch.Tensor:
        """Embedded and refined text tokens (B, L, D_text)."""
        tokens = y.tokens if self.config.text_vocab_size else y.tokens.to(dtype)
        return self.refiner(self.text_embedder(tokens), y.mask)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: Condition, cache_modulation: bool = True
    ) -> ModelOutput:
        """x (B, C, H, W), t (B,) or (B, N) in [0, 1], y the encoded prompts
        (the null text for CFG)."""
        t, text = self.check_inputs(x, t, y)
        c = self.config
        cond = self.conditioning(t, cache=cache_modulation)
        refined = self.embed_text(text, x.dtype)  # (B, L, D_text)
        table = self.rope_table.expand(x.shape[0], -1, -1)  # (B, N, hs)
        rope = Rotary.from_table(
            cond.to_layout(table), x.dtype
        )  # the tokens' order, whatever the layout
        h = cond.to_layout(self.x_embedder(x))  # (B, N, D)
        for block in self.blocks:
            h = block(h, cond, rope, refined, text.mask)
        tokens = cond.to_patches(self.final_layer(h, cond))  # (B, N, p*p*C_out)
        out = unpatchify(tokens, c.patch_size, c.image_size, c.image_size)  # (B, C_out, H, W)
        return ModelOutput.split(out, c.in_channels, c.difficulty_head)

    def fill_model_folder(self, folder: Path, meta: ModelMeta, name: str) -> None:
        """The model folder files, and ``text_encoder.json`` when an encoder is recorded."""
        super().fill_model_folder(folder, meta, name)
        if self.text_encoder_spec is not None:
            (folder / TEXT_ENCODER_FILE).write_text(
                json.dumps(self.text_encoder_spec, indent=2) + "\n"
            )

    @classmethod
    def from_pretrained(
        cls,
        name: str | Path,
        ema: bool = True,
        device: torch.device | str = "cpu",
        local_files_only: bool = False,
        torch_dtype: torch.dtype | str | None = None,
        *,
        download: bool | None = None,
    ) -> PatchForcingT2I:
        """As :meth:`PretrainedMixin.from_pretrained`, and the text encoder the folder
        records (``text_encoder.json``)."""
        model = super().from_pretrained(
            name, ema, device, local_files_only, torch_dtype, download=download
        )
        path = Path(model.source or ".") / TEXT_ENCODER_FILE
        if path.is_file():
            try:
                spec = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise CheckpointError(
                    f"cannot read the text encoder description {path}: {err}"
                ) from err
            if not isinstance(spec, dict):
                raise CheckpointError(f"{path}: expected a JSON object, got {type(spec).__name__}")
            model.text_encoder_spec = spec
        return model
