"""Probes of ``fault_tests.py`` for what a long command shows while it runs, as a user at a terminal
sees it: ``sample`` moves its bar with every network pass (and changes no image for it); ``eval``,
``analyze`` and ``bench speed`` say which stage runs, with its counts; ``--no-progress`` silences
all of them.

Commands run in this process (``fault_probes.cli``), their bars redrawn at every update instead of
at most ten times a second (``mininterval=0``, as ``TQDM_MININTERVAL=0`` would set it for a new
process).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np

from fault_probes import cli, snapshot
from fault_scenarios import Row
from patchforcing.sampling.generation import progress

__all__ = ["feedback_rows"]

_SAMPLE = ["sample", "--num", "3", "--batch-size", "2", "--steps", "3", "--threads", "1"]


def _sample_row(run: Path, work: Path) -> Row:
    """Each of the 6 passes (2 batches x 3 steps) shows on the bar, and the images are bitwise
    those made without it."""
    shown, quiet = work / "shown", work / "quiet"
    code, err = cli([*_SAMPLE, "--checkpoint", str(run), "--out", str(shown)])
    counts = sorted({int(n) for n in re.findall(r"\| (\d+)/6 \[", err)})
    silent = cli([*_SAMPLE, "--checkpoint", str(run), "--out", str(quiet), "--no-progress"])
    images = snapshot(shown / "images"), snapshot(quiet / "images")
    ok = code == 0 and counts == list(range(7)) and "3/3 images" in err and "pass/s" in err
    ok = ok and silent == (0, "") and images[0] == images[1] and len(images[0]) == 3
    return Row(
        "sample: the bar moves with every pass",
        6,
        "-",
        "-",
        "-",
        ok,
        f"exit {code}, counts shown {counts}, --no-progress {silent}, same images "
        f"{images[0] == images[1]}\n{err[-1500:]}",
    )


def _stage_row(run: Path, npz: Path, work: Path) -> Row:
    """One line per stage, each with its counts, for eval (on a folder), analyze and bench speed;
    none of them with --no-progress."""
    rng = np.random.default_rng(0)
    reference = work / "ref.npz"
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    np.savez(reference, images=images, labels=np.arange(20) % 10)
    shipped = work / "shipped"
    made = cli(["sample", "--num", "6", "--steps", "1", "--out", str(shipped), "--no-progress"])
    assert made[0] == 0, made
    speed = ["bench", "speed", "--preset", "T/4", "--image-size", "8", "--batch", "1", "--steps"]
    commands: dict[str, tuple[Callable[[str], list[str]], list[str]]] = {
        "eval": (
            lambda out: (
                ["eval", "--folder", str(shipped), "--reference", str(reference)]
                + ["--out", str(work / f"{out}.json")]
            ),
            [
                f"eval: the reference ({reference}) and its features in fmnist-classifier",
                f"eval: scoring the images of {shipped}",
            ],
        ),
        "bench speed": (
            lambda out: [
                *speed,
                "1",
                "--repeats",
                "2",
                "--forwards",
                "1",
                "--samplers",
                "euler-pf",
            ],
            [
                "bench speed: 3 measurements (the forward ratio, 1 with two times per image, 1 ",
                "round 2/2",
            ],
        ),
    }
    if importlib.util.find_spec("matplotlib") is not None:  # the plots extra
        commands["analyze"] = (
            lambda out: (
                ["analyze", "--checkpoint", str(run), "--data", str(npz), "--num", "8"]
                + ["--out", str(work / out)]
            ),
            [
                "analyze 1/3: segments, validation loss on 8 t-segments (8 images, 8 passes",
                "analyze 2/3: correlation,",
                "analyze 3/3: context,",
            ],
        )
    said: dict[str, bool | str] = {}
    quiet: dict[str, bool] = {}
    for name, (args, lines) in commands.items():
        code, err = cli(args(name.replace(" ", "-")))
        said[name] = (
            code == 0 and all(line in err for line in lines)
        ) or f"exit {code}: {err[-600:]}"
        quiet[name] = cli([*args(f"{name}-quiet".replace(" ", "-")), "--no-progress"]) == (0, "")
    ok = all(v is True for v in said.values()) and all(quiet.values())
    return Row(
        "eval, analyze, bench speed: a line per stage",
        len(commands),
        "-",
        "-",
        "-",
        ok,
        f"stages {said}; silent with --no-progress {quiet}",
    )


class _EveryUpdate(progress.tqdm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "mininterval": 0})


def feedback_rows(run: Path, npz: Path, work: Path) -> list[Row]:
    """``run``: a trained tiny run (8 x 8 images, 3 classes) on ``npz``."""
    work = work / "feedback"
    work.mkdir()
    with mock.patch.object(progress, "tqdm", _EveryUpdate):
        return [_sample_row(run, work), _stage_row(run, npz, work)]
