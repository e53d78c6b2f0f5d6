"""Lint, format and type checks as part of the suite, so that CI fails on a finding: ruff (check
and format) over src, tests, scripts and benchmarks, and mypy over the package and the
benchmarks, all with their settings from pyproject.toml.

They run from this interpreter's environment (``python -m ruff`` / ``python -m mypy``), which the
``test`` extra provides. mypy keeps its incremental cache in ``.mypy_cache/`` (ignored by git): the
first run in a fresh clone type-checks torch's stubs too (about half a minute), later runs
take seconds.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _check(module: str, *args: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(
            f"{module} is not installed here; it comes with the test extra: "
            "pip install -e '.[test]'"
        )
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, (
        f"`{module} {' '.join(args)}` exited with {proc.returncode}:\n{output}"
    )


def test_ruff_finds_nothing():
    _check("ruff", "check", "--no-cache", "src", "tests", "scripts", "benchmarks")


def test_the_code_is_formatted():
    """``ruff format`` (line length 100, the version the test extra pins) would change nothing."""
    _check("ruff", "format", "--check", "--no-cache", "src", "tests", "scripts", "benchmarks")


def test_mypy_finds_nothing():
    _check("mypy")  # files, cache folder and options from [tool.mypy]
