"""What a page may ask for: one typed, validated request per run, and the limits it is
checked against.

The body is a small JSON object. Every field is checked (type, range) before anything runs, and a
bad one is answered with one clear message: an unknown checkpoint or sampler, a sampler the model
cannot run, an option outside its range (each sampler option's own ``check``), an NFE, seed or class
out of range, a prompt for a class model or a missing one for a text-to-image model. Sampler options
are those of the registry (:mod:`patchforcing.sampling.options`); each applies to the chosen
samplers that take it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from patchforcing.model.pretrained import recommended_sampling
from patchforcing.sampling import SAMPLERS, Guidance, Sampler
from patchforcing.sampling.options import OptionInfo, sampler_options
from patchforcing.sampling.registry import registry_options
from patchforcing.viewer.catalog import Checkpoint

__all__ = [
    "Limits",
    "RequestError",
    "RunRequest",
    "parse_run_request",
    "parse_last_event_id",
    "describe_options",
]

_CLIENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIELDS = (
    "client",
    "checkpoint",
    "samplers",
    "options",
    "nfe",
    "seed",
    "label",
    "prompt",
    "cfg",
    "cfg_interval",
)


@dataclass(frozen=True)
class Limits:
    """Bounds on what one viewer accepts and keeps."""

    max_nfe: int = 200  # per sampler, as spent (a large n_inner cannot exceed it either)
    max_seed: int = 2**31 - 1
    max_cfg: float = 20.0
    max_samplers: int = 4  # side by side in one run
    max_body: int = 4096  # bytes of a request body
    max_prompt: int = 200  # characters of a prompt
    max_runs: int = 16  # runs kept in memory (least recently used dropped first)
    max_queue: int = 4  # runs waiting per model


class RequestError(ValueError):
    """A request the viewer refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RunRequest:
    """One run: the same noise, class or prompt, NFE budget and guidance for one to
    four samplers."""

    client: str  # the page that asked (its newer runs cancel this one)
    checkpoint: str
    samplers: tuple[Sampler, ...]
    nfe: int  # budget
    seed: int
    label: int | None  # None for an unconditional or text-to-image model
    guidance: Guidance
    prompt: str | None = None  # a text-to-image model's prompt


def describe_options() -> list[dict[str, Any]]:
    """The sampler options as the page shows them (JSON)."""
    return [
        {
            "name": info.name,
            "flag": info.flag,
            "help": info.help,
            "default": info.default,
            "type": type(info.default).__name__,
            "samplers": owners,
        }
        for info, owners in registry_options().values()
    ]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(values: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RequestError(f"{key} must be an integer in [{lo}, {hi}], got {_shown(value)}")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"{what} must be a number, got {_shown(value)}")
    return float(value)


def _option_value(info: OptionInfo, value: Any) -> Any:
    """A page's value for one option, typed like its default and range-checked by its ``check``."""
    if isinstance(info.default, bool):
        if not isinstance(value, bool):
            raise RequestError(f"option {info.name} must be true or false, got {_shown(value)}")
    elif isinstance(info.default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"option {info.name} must be an integer, got {_shown(value)}")
    else:
        value = _number(value, f"option {info.name}")
    if info.check is not None:
        try:
            info.check(value)
        except ValueError as err:
            raise RequestError(f"option {info.name}: {err}") from None
    return value


def _samplers(
    values: dict[str, Any], checkpoint: Checkpoint, limits: Limits
) -> tuple[Sampler, ...]:
    names = values.get("samplers", [])
    if not isinstance(names, list) or not 1 <= len(names) <= limits.max_samplers:
        raise RequestError(
            f"samplers must be a list of 1 to {limits.max_samplers} names, got {_shown(names)}"
        )
    options = values.get("options", {})
    if not isinstance(options, dict):
        raise RequestError(f"options must be an object, got {_shown(options)}")
    known = registry_options()
    unknown = sorted(str(k) for k in options if k not in known)
    if unknown:
        raise RequestError(
            f"unknown sampler option(s) {', '.join(map(_shown, unknown))}; the options are "
            f"{', '.join(known)}"
        )
    given = {key: _option_value(known[key][0], value) for key, value in options.items()}
    samplers = []
    for name in names:
        if not isinstance(name, str) or name not in SAMPLERS:
            raise RequestError(f"unknown sampler {_shown(name)}; choose from {', '.join(SAMPLERS)}")
        if name not in checkpoint.samplers:
            raise RequestError(
                f"sampler {name!r} does not run on {checkpoint.name} (it runs "
                f"{', '.join(checkpoint.samplers)})"
            )
        cls = SAMPLERS[name]
        accepted = {info.name for info in sampler_options(cls)}
        try:
            samplers.append(cls(**{k: v for k, v in given.items() if k in accepted}))
        except (TypeError, ValueError) as err:
            raise RequestError(f"{name}: {err}") from None
    return tuple(samplers)


def _guidance(values: dict[str, Any], limits: Limits, default: Guidance) -> Guidance:
    """The request's guidance; a field it leaves out takes ``default`` (the model's
    recommendation, or none)."""
    scale = _number(values.get("cfg", default.scale), "cfg")
    if not 0 <= scale <= limits.max_cfg:
        raise RequestError(f"cfg must lie in [0, {limits.max_cfg}], got {scale}")
    interval = values.get("cfg_interval", list(default.interval))
    if not isinstance(interval, list) or len(interval) != 2:
        raise RequestError(f"cfg_interval must be a list [t_lo, t_hi], got {_shown(interval)}")
    lo, hi = (_number(v, "cfg_interval") for v in interval)
    try:
        return Guidance(scale=scale, interval=(lo, hi))
    except ValueError as err:
        raise RequestError(str(err)) from None


def parse_run_request(body: bytes, catalog: dict[str, Checkpoint], limits: Limits) -> RunRequest:
    """Check a run request's body against the catalog and the limits; raise
    :class:`RequestError`."""
    if len(body) > limits.max_body:
        raise RequestError(f"the request body is larger than {limits.max_body} bytes", status=413)
    try:
        values = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RequestError("the request body is not JSON") from None
    except RecursionError:  # a small body can nest deeper than the parser's stack
        raise RequestError("the request body is nested too deeply") from None
    if not isinstance(values, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(str(k) for k in values if k not in _FIELDS)
    if unknown:
        raise RequestError(
            f"unknown field(s) {', '.join(map(_shown, unknown))}; the fields are "
            f"{', '.join(_FIELDS)}"
        )
    client = values.get("client")
    if not isinstance(client, str) or not _CLIENT.fullmatch(client):
        raise RequestError("client must be an id of 1 to 64 letters, digits, '-' or '_'")
    name = values.get("checkpoint")
    if not isinstance(name, str) or name not in catalog:
        raise RequestError(
            f"unknown checkpoint {_shown(name)}; this viewer offers {', '.join(catalog)}"
        )
    checkpoint = catalog[name]
    samplers = _samplers(values, checkpoint, limits)
    recommended = recommended_sampling(checkpoint.model)
    nfe = _integer(values, "nfe", recommended.nfe if recommended else 32, 1, limits.max_nfe)
    for sampler in samplers:
        spent = sampler.budget(nfe, checkpoint.model.config.num_patches).nfe
        if spent > limits.max_nfe:
            raise RequestError(
                f"{sampler.name} would spend NFE {spent} for this budget; the limit is "
                f"{limits.max_nfe}"
            )
    prompt = _prompt(values, checkpoint, limits)
    num_classes = checkpoint.model.config.num_classes
    label = _integer(values, "label", 0, 0, num_classes - 1) if num_classes else None
    default = (
        Guidance(scale=recommended.guidance_scale, interval=recommended.guidance_interval)
        if recommended is not None
        else Guidance()
    )
    guidance = _guidance(values, limits, default)
    if guidance.active and label is None and prompt is None:
        raise RequestError(
            f"{name} is unconditional: classifier-free guidance needs a class or text model (use "
            "cfg 1)"
        )
    return RunRequest(
        client=client,
        checkpoint=name,
        samplers=samplers,
        nfe=nfe,
        seed=_integer(values, "seed", 0, 0, limits.max_seed),
        label=label,
        guidance=guidance,
        prompt=prompt,
    )


def _prompt(values: dict[str, Any], checkpoint: Checkpoint, limits: Limits) -> str | None:
    """A text-to-image model's prompt (required, stripped); class models take a label instead."""
    if not checkpoint.takes_prompts:
        if values.get("prompt") is not None:
            raise RequestError(
                f"{checkpoint.name} is a class model: it takes a class label, not a prompt"
            )
        return None
    if values.get("label") is not None:
        raise RequestError(
            f"{checkpoint.name} is a text-to-image model: it takes a prompt, not a class label"
        )
    prompt = values.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > limits.max_prompt:
        raise RequestError(
            f"{checkpoint.name} is a text-to-image model: prompt must be a text of 1 to "
            f"{limits.max_prompt} characters, got {_shown(prompt)}"
        )
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape (\ud800) is not text
        raise RequestError(
            f"prompt must be text; it holds a lone surrogate, got {_shown(prompt)}"
        ) from None
    return prompt.strip()


def parse_last_event_id(header: str) -> int:
    """The first event to send to a stream resumed after ``Last-Event-ID: header`` (0 without one);
    anything but an event number is refused."""
    if not header:
        return 0
    if not (header.isascii() and header.isdigit()) or len(header) > 9:
        raise RequestError(f"Last-Event-ID must be an event number, got {_shown(header)}")
    return int(header) + 1
