"""The ``README.md`` model card written into every model folder: what the model is, how it was
trained and what was measured on it, from its
:class:`~patchforcing.model.pretrained.meta.ModelMeta`."""

from __future__ import annotations

import json
from typing import Any

from patchforcing.model.pretrained.meta import ModelMeta

__all__ = ["LICENSE", "card_header", "card_metadata", "model_card"]

_KINDS = {
    "patchforcing-dit": "an image generator",
    "patchforcing-t2i": "a text-to-image Patch Forcing model",
    "feature-classifier": "an image classifier",
    "patchforcing-clip": "an image-text model scoring prompt alignment",
}


_PIPELINE_TAGS = {  # the hub's task names
    "patchforcing-dit": "unconditional-image-generation",  # the hub has no class-conditional task
    "patchforcing-t2i": "text-to-image",
    "feature-classifier": "image-classification",
    "patchforcing-clip": "zero-shot-image-classification",
}
_HUB_DATASETS = {"fashion-mnist": "zalando-datasets/fashion_mnist"}  # built-in data on the hub
LICENSE = "mit"  # the package's licence, which the weights it writes are shared under by default


def _dataset(training: dict[str, Any]) -> str | None:
    """The hub id of the training data, when it is a built-in set that the hub holds."""
    data = training.get("data")
    source = data.get("source") if isinstance(data, dict) else data
    return _HUB_DATASETS.get(source) if isinstance(source, str) else None


def card_metadata(meta: ModelMeta) -> dict[str, Any]:
    """The hub's model-card metadata: library name, licence, task (pipeline tag), tags and, for a
    built-in data set the hub holds, the data set."""
    tags = ["patch-forcing", "flow-matching"]
    if meta.model_type in ("patchforcing-dit", "patchforcing-t2i"):
        tags.append("image-generation")
    values: dict[str, Any] = {
        "library_name": "patchforcing",
        "license": LICENSE,
        "pipeline_tag": _PIPELINE_TAGS.get(meta.model_type, "other"),
        "tags": tags,
    }
    dataset = _dataset(meta.training)
    if dataset is not None:
        values["datasets"] = [dataset]
    return values


def card_header(meta: ModelMeta) -> list[str]:
    """The YAML front matter of the card (values written as JSON, which YAML reads as is)."""
    return ["---", *(f"{k}: {json.dumps(v)}" for k, v in card_metadata(meta).items()), "---"]


def _table(values: dict) -> list[str]:
    rows = ["| | |", "|---|---|"]
    rows += [
        f"| {key} | {json.dumps(value) if isinstance(value, (dict, list)) else value} |"
        for key, value in sorted(values.items())
    ]
    return rows


def _what(meta: ModelMeta) -> str:
    a = meta.architecture
    if meta.model_type != "patchforcing-dit":
        return f"{_KINDS.get(meta.model_type, meta.model_type)} ({meta.model_type})"
    kind = (
        "a Patch Forcing DiT (a time per patch, with a difficulty head)"
        if a.get("time_mode") == "patch"
        else "a global-time (SiT-style) flow-matching DiT"
    )
    return (
        f"{kind}: depth {a.get('depth')}, width {a.get('width')}, {a.get('num_heads')} heads, "
        f"{a.get('patch_size')}x{a.get('patch_size')} patches, {a.get('num_classes')} classes"
    )


def _provenance(training: dict[str, Any]) -> list[str]:
    """Where a converted model's weights came from (``converted_from``, ``source``, ``note``)."""
    if "converted_from" not in training:
        return []
    lines = ["", f"Converted from `{training['converted_from']}`: {training.get('source')}."]
    note = training.get("note")
    return lines + (["", f"Note: {note}."] if note else [])


def model_card(meta: ModelMeta, name: str, parameters: int) -> str:
    """Markdown text of the model card."""
    d = meta.data
    classes = ", ".join(d.class_names) if d.class_names else "not recorded"
    lines = [
        *card_header(meta),
        "",
        f"# {name}",
        "",
        f"This is {_what(meta)}; {parameters:,} parameters.",
        *_provenance(meta.training),
        "",
        f"Inputs: {d.channels} x {d.image_size} x {d.image_size} {d.space}, values in "
        f"[{d.value_range[0]:g}, {d.value_range[1]:g}]. Classes: {classes}.",
        "",
        "## Use",
        "",
        "```python",
    ]
    if meta.model_type == "patchforcing-dit":
        lines += [
            "from patchforcing import GenerationConfig, PatchForcingDiT, generate",
            "",
            f'model = PatchForcingDiT.from_pretrained("{name}")',
            "images = generate(model, GenerationConfig(num_images=8))  # (8, C, H, W) in [-1, 1]",
            "```",
            "",
            f"or `patchforcing sample --checkpoint {name}`.",
        ]
    elif meta.model_type == "patchforcing-t2i":
        lines += [
            "from patchforcing.model import PatchForcingT2I",
            "",
            f'model = PatchForcingT2I.from_pretrained("{name}")',
            'y = model.text_encoder().encode(["a red heart"])  # the prompts, '
            "as the model reads them",
            "```",
        ]
    elif meta.model_type == "patchforcing-clip":
        lines += [
            "from patchforcing.evaluation.metrics.alignment_model import load_image_text_model",
            "",
            f'model = load_image_text_model("{name}")',
            'text = model.embed_prompts(["a red heart"])  # (1, D) unit vectors, as '
            "model.embed_images gives",
            "```",
        ]
    else:
        lines += [
            "from patchforcing.evaluation.metrics import FeatureClassifier",
            "",
            f'model = FeatureClassifier.from_pretrained("{name}")',
            "```",
        ]
    lines += ["", "## Training", ""]
    lines += _table(meta.training) if meta.training else ["Not recorded."]
    lines += ["", "## Measured quality", ""]
    lines += _table(meta.quality) if meta.quality else ["Not measured yet."]
    return "\n".join(lines) + "\n"
