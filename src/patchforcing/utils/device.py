"""Choosing the torch device and the training precision from command-line names."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

__all__ = ["resolve_device", "bf16_is_fast", "resolve_precision", "PRECISION_CHOICES"]

PRECISION_CHOICES = ("auto", "fp32", "bf16")
_BF16_CPU_FLAGS = (
    "avx512_bf16",
    "amx_bf16",
)  # x86 instructions that make bf16 matmuls faster than fp32


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"unknown device {name!r}: use auto, cpu, cuda or cuda:N ({err})"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available")
    return device


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def bf16_is_fast(device: torch.device, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether bf16 autocast speeds training up here: a GPU with bf16 support, or an x86 CPU with
    AVX512-BF16 or AMX-BF16 (elsewhere bf16 on the CPU is emulated and slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu" or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return bool(_cpu_flags(cpuinfo) & set(_BF16_CPU_FLAGS))


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where :func:`bf16_is_fast`, else ``fp32``; other names pass through."""
    if name not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {name!r}")
    if name != "auto":
        return name
    return "bf16" if bf16_is_fast(device) else "fp32"
