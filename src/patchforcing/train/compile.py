"""Whether a run compiles its model, and the fall back to eager when compilation fails.

``train`` compiles by default where it is a clear win: on a CUDA GPU (compiled bf16 B/2 trained
1.7x faster than eager on an H200, docs/speed.md) for a class-conditional model (text models see
captions of varying length, a new graph per length) with at least :data:`AUTO_COMPILE_STEPS` steps
left, where Triton is installed. On the CPU it stays opt-in: at the shipped recipes' size (T/4,
28x28, bf16) a compiled step is only 1.05x the eager one after minutes of compilation (S/2 gains
1.39x; docs/speed.md has the table). ``--compile`` compiles whatever the device or the run's length,
``--no-compile`` never does. A compilation that fails on the first step leaves one line on stderr
and the run continues eager from that same step (nothing was applied yet): the steps and their
randomness are the same either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

__all__ = [
    "AUTO_COMPILE_STEPS",
    "CompileChoice",
    "choose_compile",
    "compile_unavailable",
    "eager_on_compile_error",
]

AUTO_COMPILE_STEPS = 2000

T = TypeVar("T")
M = TypeVar("M")  # a module, or a protocol type of one


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot build code for ``device`` here, or None when it can."""
    if device.type == "cpu":
        found = any(shutil.which(name) for name in ("c++", "g++", "clang++"))
        return None if found else "no C++ compiler (c++, g++ or clang++) on PATH"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "Triton is not installed"
    return f"torch.compile is not used on {device.type} devices here"


@dataclass(frozen=True)
class CompileChoice:
    """The resolved setting and, where the user should hear of it, one line saying why."""

    compile: bool
    note: str | None = None


def choose_compile(
    requested: bool | None, steps_left: int, device: torch.device, text_model: bool
) -> CompileChoice:
    """Whether to compile: ``requested`` True (``--compile``), False (``--no-compile``) or None
    (auto, see the module docstring)."""
    if requested is False:
        return CompileChoice(False)
    reason = compile_unavailable(device)
    if requested:
        note = None if reason is None else f"--compile: {reason}; it may fail and train eager"
        return CompileChoice(True, note)
    auto = device.type == "cuda" and not text_model and steps_left >= AUTO_COMPILE_STEPS
    if not auto or reason is not None:
        return CompileChoice(False)
    return CompileChoice(
        True, f"compiling the model ({steps_left:,} steps to run; --no-compile trains eager)"
    )


def _compile_errors() -> tuple[type[BaseException], ...]:
    """The exceptions by which dynamo and inductor report a failed compilation."""
    errors: list[type[BaseException]] = [torch._dynamo.exc.TorchDynamoException]
    inductor = getattr(torch._inductor.exc, "InductorError", None)
    if isinstance(inductor, type):
        errors.append(inductor)
    return tuple(errors)


def eager_on_compile_error(
    first_step: Callable[[M], T],
    net: M,
    warn: Callable[[str], None],
) -> tuple[T, M]:
    """Run ``first_step(net)`` (forward and backward, before anything is applied); if ``net`` is a
    compiled module whose compilation fails, say so in one line and run it again on the module
    it compiled. Returns the step's result and the module to keep training."""
    original = getattr(net, "_orig_mod", None)  # what torch.compile wrapped
    if original is None:
        return first_step(net), net
    try:
        return first_step(net), net
    except _compile_errors() as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warn(f"torch.compile failed ({type(err).__name__}: {detail[:200]}); training eager")
        return first_step(original), original
