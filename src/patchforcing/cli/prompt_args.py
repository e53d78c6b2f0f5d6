"""``--prompt`` / ``--prompts`` / ``--text-encoder`` for the commands that generate with
text-to-image models."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from patchforcing.sampling.generation.prompts import PromptSet, read_prompts

__all__ = ["add_prompt_arguments", "prompts_from_args", "load_text_encoder", "note_unknown_words"]


def add_prompt_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--prompt",
        action="append",
        metavar="TEXT",
        help="text-to-image models: a prompt; repeat it for several, cycled over the images",
    )
    g.add_argument(
        "--prompts",
        metavar="FILE",
        help="text-to-image models: a prompt file, one prompt per line (.txt) "
        'or JSON lines {"prompt": ..., "category": ...} (.jsonl), cycled over the images',
    )
    p.add_argument(
        "--text-encoder",
        metavar="DIR",
        help="text-to-image models trained with a pretrained text encoder: its folder on this "
        "machine (checked against the encoder's recorded fingerprint); without it the encoder is "
        "looked for at its recorded path, beside the model folder and in the hub cache",
    )


def prompts_from_args(args: argparse.Namespace) -> PromptSet | None:
    """The prompts given on the command line or in a file (None when neither was given)."""
    if args.prompts:
        return read_prompts(args.prompts)
    if args.prompt:
        texts = tuple(t.strip() for t in args.prompt)
        if not all(texts):
            raise ValueError("--prompt needs a non-empty text")
        return PromptSet(texts, (None,) * len(texts))
    return None


def load_text_encoder(model: Any, args: argparse.Namespace) -> None:
    """A text-to-image model's encoder, loaded now (from ``--text-encoder`` where given), so that a
    missing folder stops the command before it writes anything."""
    from patchforcing.model import PatchForcingT2I

    if not isinstance(model, PatchForcingT2I):
        if args.text_encoder:
            raise ValueError(
                "--text-encoder applies to text-to-image models; "
                f"{args.checkpoint} is class-conditional"
            )
        return
    if args.text_encoder:
        model.relocate_text_encoder(args.text_encoder)
    model.text_encoder()


def note_unknown_words(model: Any, prompts: PromptSet | None, shown: int = 8) -> None:
    """Say once, on stderr, which words of ``prompts`` the model's built-in vocabulary lacks (it
    reads each as one unknown word, so the image ignores them); pretrained encoders know every
    word."""
    from patchforcing.model import PatchForcingT2I
    from patchforcing.model.text import WordTokenizer

    if prompts is None or not isinstance(model, PatchForcingT2I):
        return
    encoder = model.text_encoder()
    if not isinstance(encoder, WordTokenizer):
        return
    unknown = encoder.unknown_words(prompts.prompts)
    if unknown:
        listed = ", ".join(map(repr, unknown[:shown]))
        more = f" and {len(unknown) - shown} more" if len(unknown) > shown else ""
        print(
            f"note: the model's vocabulary lacks {len(unknown)} word(s) of the prompts, read as "
            f"unknown: {listed}{more}",
            file=sys.stderr,
        )
