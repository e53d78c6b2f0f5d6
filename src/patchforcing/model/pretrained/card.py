"""The ``README.md`` model card written into every model folder: what the model is, how it was
trained and what was measured on it, from its
:class:`~patchforcing.model.pretrained.meta.ModelMeta`."""

from __future__ import annotations

import json
from typing import Any

from patchforcing.model.pretrained.meta import ModelMeta

__all__ = ["CARD_IMAGE", "LICENSE", "card_header", "card_metadata", "model_card"]

CARD_IMAGE = "samples.png"  # a sample grid the card shows, when ``quality["sample_grid"]`` says so

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


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _evaluations(evaluations: list[dict[str, Any]]) -> list[str]:
    """``quality["evaluations"]`` as one table (a row per setting, a column per metric) and the
    command behind each row."""
    metrics = list(dict.fromkeys(k for e in evaluations for k in e.get("metrics", {})))
    rows = [
        "| settings | images | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for e in evaluations:
        values = [_cell(e.get("metrics", {}).get(m, "")) for m in metrics]
        rows.append(f"| {e.get('settings', '')} | {e.get('images', '')} | {' | '.join(values)} |")
    rows += ["", "Commands, in the order of the rows:", "", "```bash"]
    rows += [str(e.get("command", "")) for e in evaluations]
    return rows + ["```"]


def _quality(quality: dict[str, Any]) -> list[str]:
    """The measured-quality section: the evaluations table, then any other value as a
    key-value table."""
    if not quality:
        return ["Not measured yet."]
    others = {k: v for k, v in quality.items() if k not in ("evaluations", "sample_grid")}
    lines = _evaluations(quality["evaluations"]) if quality.get("evaluations") else []
    if others:
        lines += ["", *_table(others)] if lines else _table(others)
    return lines


def _recommended(meta: ModelMeta) -> list[str]:
    record = meta.recommended_sampling
    if record is None:
        return []
    chosen = f" {record.chosen_by}" if record.chosen_by else ""
    return [
        "",
        "## Recommended sampling",
        "",
        f"{record.describe()}.{chosen} `patchforcing sample` and `eval`, "
        "`recommended_config(model)` and the diffusers pipeline use these settings for every one "
        "the user leaves unset; `--cfg 1` samples unguided (the setting of the paper's FID "
        "tables).",
    ]


def _sample_grid(quality: dict[str, Any], name: str) -> list[str]:
    grid = quality.get("sample_grid")
    if not isinstance(grid, dict):
        return []
    lines = ["", "## Samples", "", f"![Samples of {name}]({CARD_IMAGE})"]
    if grid.get("caption"):
        lines += ["", str(grid["caption"])]
    if grid.get("command"):
        lines += ["", "```bash", str(grid["command"]), "```"]
    return lines


def _training(training: dict[str, Any]) -> list[str]:
    if not training:
        return ["Not recorded."]
    budget = (
        [f"{training['budget']}.", ""] if training.get("budget") else []
    )  # e.g. steps, batch, hardware and wall time, in words
    return budget + _table({k: v for k, v in training.items() if k != "budget"})


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
    if meta.model_type == "patchforcing-dit" and meta.recommended_sampling is not None:
        lines += [
            "from patchforcing import PatchForcingDiT, generate, recommended_config",
            "",
            f'model = PatchForcingDiT.from_pretrained("{name}")',
            "config = recommended_config(model, num_images=8)  # the recommended settings below",
            "images = generate(model, config)  # (8, C, H, W) in [-1, 1]",
            "```",
            "",
            f"or `patchforcing sample --checkpoint {name}`.",
        ]
    elif meta.model_type == "patchforcing-dit":
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
            "from patchforcing import PatchForcingT2I, generate, recommended_config",
            "",
            f'model = PatchForcingT2I.from_pretrained("{name}")',
            'config = recommended_config(model, prompts=("red heart", "a cat face"), num_images=2)',
            "images = generate(model, config)  # (2, C, H, W) in [-1, 1]",
            "```",
            "",
            f'or `patchforcing sample --checkpoint {name} --prompt "red heart"`.',
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
    lines += _recommended(meta)
    lines += _sample_grid(meta.quality, name)
    lines += ["", "## Measured quality", ""]
    lines += _quality(meta.quality)
    lines += ["", "## Training", ""]
    lines += _training(meta.training)
    return "\n".join(lines) + "\n"
