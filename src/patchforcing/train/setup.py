"""From the choices of a run to its :class:`TrainConfig`: the training decisions every front
end shares.

Patch Forcing or the global-time baseline, a class-conditional or a text-to-image model: these
choices fix the model's time mode and difficulty head, the default time distribution (LTG, or
uniform for the baseline; LTG of a text model centred at loc 0.5) and the model's input sizes,
which come from the data (image size, channels, classes) and, for a text model, from its caption
encoder (vocabulary or feature width, length). The command line, the recipes and the benchmarks
all resolve a :class:`TrainSetup` with :func:`train_config_for`, so the same choices give the same
configuration wherever they are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from patchforcing.core.loss import LossConfig
from patchforcing.data import ArrayData, DataConfig, load_dataset
from patchforcing.data.latent.repa_features import read_feature_spec
from patchforcing.data.latents import is_latent_folder
from patchforcing.model import (
    TEXT_PRESETS,
    AnyModelConfig,
    model_config_from_preset,
    text_model_config_from_preset,
)
from patchforcing.train.config import OptimConfig, TextConfig, TimeDistConfig, TrainConfig
from patchforcing.train.repa_config import RepaConfig, resolve_repa
from patchforcing.train.text import build_text_encoder

__all__ = ["TEXT_LTG_LOC", "TrainSetup", "default_time_dist", "repa_for", "train_config_for"]

TEXT_LTG_LOC = 0.5  # the authors' LTG location for text-to-image (SPEC.md section 3)


@dataclass(frozen=True)
class TrainSetup:
    """The choices that make a run, before its data is loaded.

    ``text`` makes it a text-to-image run (how captions are encoded); ``baseline`` the global-time
    baseline (one time per image, no difficulty head). ``preset`` names the backbone (None: "S/4",
    or "T2I-S/4" for a text model) and ``depth``, ``width``, ``num_heads``, ``patch_size`` change
    it. ``time_dist`` None is the kind's default (:func:`default_time_dist`); for LTG of a text
    model ``time_dist_params`` gets ``loc`` 0.5 unless it sets one. ``repa`` adds representation
    alignment, its defaults resolved for the model (:func:`resolve_repa`; on latents, the
    resolution of the features stored beside them). The other fields are those of
    :class:`TrainConfig`.
    """

    data: DataConfig = field(default_factory=DataConfig)
    baseline: bool = False
    text: TextConfig | None = None
    unconditional: bool = False
    preset: str | None = None
    depth: int | None = None
    width: int | None = None
    num_heads: int | None = None
    patch_size: int | None = None
    time_dist: str | None = None
    time_dist_params: dict[str, float] = field(default_factory=dict)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    out_dir: str = TrainConfig.out_dir
    steps: int = TrainConfig.steps
    batch_size: int = TrainConfig.batch_size
    seed: int = TrainConfig.seed
    precision: str = TrainConfig.precision
    log_every: int = TrainConfig.log_every
    sample_every: int = TrainConfig.sample_every
    checkpoint_every: int = TrainConfig.checkpoint_every
    keep_checkpoints: int = TrainConfig.keep_checkpoints
    on_nonfinite: str = TrainConfig.on_nonfinite
    repa: RepaConfig | None = None


def default_time_dist(baseline: bool) -> str:
    """Uniform time for the global-time baseline (SiT), LTG for Patch Forcing
    (the paper's choice)."""
    return "uniform" if baseline else "ltg"


def _time_dist(setup: TrainSetup) -> TimeDistConfig:
    name = setup.time_dist or default_time_dist(setup.baseline)
    params = dict(setup.time_dist_params)
    if setup.text is not None and name == "ltg":
        params.setdefault("loc", TEXT_LTG_LOC)
    return TimeDistConfig(name, params)


def _model(setup: TrainSetup, data: ArrayData) -> AnyModelConfig:
    """The model config: the preset, changed by the setup, sized for the data
    (and a text model's encoder)."""
    changes = {
        k: v
        for k, v in (
            ("depth", setup.depth),
            ("width", setup.width),
            ("num_heads", setup.num_heads),
            ("patch_size", setup.patch_size),
        )
        if v is not None
    }
    time = {
        "time_mode": "global" if setup.baseline else "patch",
        "difficulty_head": not setup.baseline,
    }
    if setup.text is None:
        if setup.preset in TEXT_PRESETS:
            raise ValueError(f"--preset {setup.preset} is a text-to-image model: add --text")
        return model_config_from_preset(
            setup.preset or "S/4",
            image_size=data.image_size,
            in_channels=data.channels,
            num_classes=0 if setup.unconditional else data.num_classes,
            **time,
            **changes,
        )
    if setup.preset is not None and setup.preset not in TEXT_PRESETS:
        raise ValueError(
            f"--text needs a text-to-image preset ({', '.join(sorted(TEXT_PRESETS))}), "
            f"not {setup.preset}"
        )
    if setup.unconditional:
        raise ValueError(
            "--text and --unconditional exclude each other (a text model drops captions with "
            "--label-dropout)"
        )
    encoder = build_text_encoder(setup.text, data)
    return text_model_config_from_preset(
        setup.preset or "T2I-S/4",
        image_size=data.image_size,
        in_channels=data.channels,
        text_vocab_size=encoder.vocab_size,
        text_feature_dim=encoder.feature_dim or 0,
        max_text_length=encoder.max_length,
        **time,
        **changes,
    )


def repa_for(repa: RepaConfig | None, model: AnyModelConfig, data: DataConfig) -> RepaConfig | None:
    """``repa`` resolved for the model: the aligned block, the encoder's resolution (for latents,
    that of their stored features unless given) and the encoder folder's absolute path."""
    if repa is None:
        return None
    stored = read_feature_spec(data.source) if is_latent_folder(data.source) else None
    if stored is not None and repa.resolution is None:
        repa = replace(repa, resolution=int(stored["encoder"]["resolution"]))
    return resolve_repa(repa, model.depth, model.grid_size)


def train_config_for(setup: TrainSetup, data: ArrayData | None = None) -> TrainConfig:
    """The run's :class:`TrainConfig`; ``data`` is the loaded ``setup.data``
    (loaded here if None)."""
    arrays = data if data is not None else load_dataset(setup.data)
    model = _model(setup, arrays)
    return TrainConfig(
        model=model,
        text=setup.text,
        data=setup.data,
        time_dist=_time_dist(setup),
        loss=setup.loss,
        optim=setup.optim,
        out_dir=setup.out_dir,
        steps=setup.steps,
        batch_size=setup.batch_size,
        seed=setup.seed,
        precision=setup.precision,
        log_every=setup.log_every,
        sample_every=setup.sample_every,
        checkpoint_every=setup.checkpoint_every,
        keep_checkpoints=setup.keep_checkpoints,
        on_nonfinite=setup.on_nonfinite,
        repa=repa_for(setup.repa, model, setup.data),
    )
