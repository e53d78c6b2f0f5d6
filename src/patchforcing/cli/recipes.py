"""Named training recipes: a recipe is a list of ``train`` flags, placed right after ``train`` so that
any flag given on the command line comes later and wins (``--ts-param`` adds to the recipe's)."""

from __future__ import annotations

__all__ = ["RECIPES", "expand_recipe"]

_FMNIST = ["--data", "fashion-mnist", "--preset", "T/4", "--steps", "4000", "--batch-size", "128", "--lr", "8e-4",
           "--warmup", "100", "--lr-schedule", "cosine", "--ema-decay", "0.999", "--ema-warmup", "--seed", "0",
           "--checkpoint-every", "500", "--sample-every", "500"]

_EMOJI = ["--data", "emoji", "--text", "--preset", "T2I-T/4", "--steps", "3000", "--batch-size", "64", "--lr", "8e-4",
          "--warmup", "100", "--lr-schedule", "cosine", "--ema-decay", "0.999", "--ema-warmup", "--seed", "0",
          "--checkpoint-every", "250", "--sample-every", "500"]

RECIPES: dict[str, tuple[list[str], str]] = {
    "fmnist-pf": ([*_FMNIST, "--ts-param", "global_share=0.25"],
                  "Patch Forcing on Fashion-MNIST: T/4, 4000 steps of 128, cosine lr 8e-4, EMA 0.999 with warm-up, "
                  "LTG with a quarter of the samples at one global time t ~ U(0, 1)"),
    "fmnist-global": ([*_FMNIST, "--baseline"],
                      "the global-time baseline with the same backbone, steps, batch, schedule and seed"),
    "emoji-t2i": ([*_EMOJI, "--ts-param", "global_share=0.25"],
                  "text-to-image Patch Forcing on the emoji set (32x32 RGB, captions): T2I-T/4 with the built-in word "
                  "tokenizer, 3000 steps of 64, cosine lr 8e-4, EMA 0.999 with warm-up, LTG loc 0.5 with a quarter "
                  "of the samples at one global time"),
    "emoji-t2i-global": ([*_EMOJI, "--baseline"],
                         "the global-time text-to-image baseline with the same backbone, steps, batch, schedule and "
                         "seed"),
}


def expand_recipe(argv: list[str]) -> list[str]:
    """``train ... --recipe NAME ...`` -> the recipe's flags inserted after ``train`` (unknown names
    are left for argparse to reject with its usual message)."""
    if not argv or argv[0] != "train":
        return argv
    names = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--recipe"]
    names += [arg.partition("=")[2] for arg in argv if arg.startswith("--recipe=")]
    if len(names) != 1 or names[0] not in RECIPES:
        return argv
    return ["train", *RECIPES[names[0]][0], *argv[1:]]
