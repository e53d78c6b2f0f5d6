"""Prompt files for text-to-image models: one prompt per line (``.txt``), or JSON lines with a
``prompt`` and an optional ``category`` (``.jsonl``), which ``eval --prompts`` scores category
accuracy against."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from patchforcing.sampling.generation.config import MAX_PROMPT_CHARS
from patchforcing.utils.limits import check_limit

__all__ = ["PromptSet", "read_prompts", "prompt_slug", "MAX_PROMPT_FILE_BYTES"]

MAX_PROMPT_FILE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class PromptSet:
    prompts: tuple[str, ...]
    categories: tuple[str | None, ...]  # one per prompt; None where the file gives none

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("no prompts given")
        if len(self.categories) != len(self.prompts):
            raise ValueError(f"{len(self.prompts)} prompts but {len(self.categories)} categories")


def _prompt(text: object, where: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: a prompt must be a non-empty string, got {text!r}")
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(
            f"{where}: the prompt has {len(text)} characters; "
            f"at most {MAX_PROMPT_CHARS} are accepted"
        )
    return text.strip()


def read_prompts(path: str | Path) -> PromptSet:
    """The prompts of a ``.txt`` (blank lines skipped) or ``.jsonl`` file, in file order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"prompt file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"prompt file {path} is a folder; give a .txt or .jsonl file")
    with path.open("rb") as stream:  # read bounded: a pipe or a device has no size to check first
        data = stream.read(MAX_PROMPT_FILE_BYTES + 1)
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise ValueError(f"prompt file {path} is larger than {MAX_PROMPT_FILE_BYTES // 2**20} MiB")
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"prompt file {path} is not UTF-8 text: {err}") from err
    prompts: list[str] = []
    categories: list[str | None] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        if path.suffix == ".jsonl":
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where} is not JSON: {err}") from err
            if not isinstance(record, dict) or "prompt" not in record:
                raise ValueError(
                    f'{where}: expected an object with a "prompt" (and optionally a "category")'
                )
            category = record.get("category")
            if category is not None and not isinstance(category, str):
                raise ValueError(f"{where}: the category must be a string, got {category!r}")
            prompts.append(_prompt(record["prompt"], where))
            categories.append(category)
        else:
            prompts.append(_prompt(line, where))
            categories.append(None)
    check_limit("the number of prompts", len(prompts), "images")
    if not prompts:
        raise ValueError(f"prompt file {path} holds no prompts")
    return PromptSet(tuple(prompts), tuple(categories))


def prompt_slug(prompt: str, limit: int = 40) -> str:
    """A file-name part for a prompt: lower-case letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:limit].strip("-")
    return slug or "prompt"
