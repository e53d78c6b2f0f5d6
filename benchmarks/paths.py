"""Paths as the benchmarks' results files and reports record them: never a machine's absolute path.

A results file travels (it is kept in the repository and folded into by runs on other machines), so
what it names must mean the same everywhere: a path is recorded relative to a root folder where it
lies under it (an arm's folder relative to the bench's output folder; a path in a command relative
to the folder the output folder lies in), kept as given where it is relative already, and shortened
to its last two components otherwise (``/data/runs/fmnist-pf`` -> ``runs/fmnist-pf``).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath

__all__ = ["portable_path", "portable_command", "record_root"]

KEPT_COMPONENTS = 2

# an absolute path in a command: at the start, after a space, '=', '(' or a backtick, up to a space,
# comma, closing parenthesis or backtick; or a single-quoted one (as shlex.join quotes a path
# with spaces)
_ABSOLUTE = re.compile(r"'(/[^']*)'|(?:(?<=^)|(?<=[\s=(`]))(/[^\s,)`']*)")


def portable_path(path: str | PurePath, root: str | PurePath) -> str:
    """``path`` relative to ``root`` where it lies under it, as given where it is relative, else its
    last two components; ``root`` itself is recorded by its name."""
    path = PurePath(path)
    if not path.is_absolute():
        return path.as_posix()
    root = PurePath(Path(root).absolute()) if not PurePath(root).is_absolute() else PurePath(root)
    if path == root:
        return path.name
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return PurePath(*path.parts[-KEPT_COMPONENTS:]).as_posix()


def record_root(out_dir: str | Path) -> Path:
    """The folder the output folder ``out_dir`` lies in: what a results file's paths are relative
    to, but its arms' folders (relative to ``out_dir`` itself)."""
    return Path(out_dir).absolute().parent


def portable_command(command: str, root: str | PurePath) -> str:
    """``command`` with every absolute path in it recorded by :func:`portable_path`
    against ``root``."""

    def shorten(match: re.Match[str]) -> str:
        quoted, bare = match.groups()
        if quoted is not None:
            short = portable_path(quoted, root)
            return f"'{short}'" if re.search(r"\s", short) else short
        return portable_path(bare, root)

    return _ABSOLUTE.sub(shorten, command)
