"""The error of a missing optional dependency (an extra of the package)."""

from __future__ import annotations

__all__ = ["MissingExtraError"]


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is not installed (a ValueError too, so the CLI prints one line)."""
