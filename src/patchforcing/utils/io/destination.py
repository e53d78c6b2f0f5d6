"""Where a command may write: never over files it did not write.

Each command that writes a folder (model folders, ``sample``, ``encode``) describes its output as an
:class:`OutputKind`: the names it writes and a marker file that only it writes. A destination is
accepted when it is missing, empty, or an earlier output of the same kind (replaced only with
``overwrite``, or resumed by a command that can: ``sample``); a folder holding anything else, or
lying inside the command's source, is refused with one line saying why. Result files
(``eval --out``) are accepted when missing or written by the same command.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from patchforcing.utils.io.atomic import (
    TEMPORARY,
    clean_temporaries,
    remove_directory,
    writer_lock,
)

__all__ = ["OutputKind", "check_output_folder", "clear_output_folder", "check_result_file", "names"]


@dataclass(frozen=True)
class OutputKind:
    """What a command writes into its output folder."""

    name: str  # as a sentence needs it: "a model folder"
    markers: tuple[
        str, ...
    ]  # files only this command writes; one of them marks a folder as its output
    owns: Callable[[str], bool]  # whether an entry of that name is something this command writes

    def foreign(self, folder: Path) -> list[str]:
        """Entries of ``folder`` this kind of output does not write (hidden temporaries of
        interrupted writes are its own)."""
        return sorted(
            p.name
            for p in folder.iterdir()
            if not (self.owns(p.name) or TEMPORARY.fullmatch(p.name))
        )


def _inside(destination: Path, source: Path) -> bool:
    dest, src = destination.resolve(), source.resolve()
    return dest == src or src in dest.parents


def check_output_folder(
    destination: Path,
    kind: OutputKind,
    overwrite: bool,
    source: Path | None = None,
    resumable: bool = False,
) -> bool:
    """Refuse a destination where files the command did not write would be lost
    (see the module doc); True when it holds an earlier output of ``kind`` that ``overwrite`` allows
    to replace. With ``resumable`` an earlier output is accepted without ``overwrite`` too (False:
    the caller resumes it or refuses). An earlier replace of it that was interrupted is finished
    first (see :func:`~patchforcing.utils.io.atomic.clean_temporaries`)."""
    target = Path(os.path.abspath(destination))
    with writer_lock(target) as alone:
        if alone:  # another process writing it now (a rank beside this one): its temporaries kept
            clean_temporaries(target.parent, target.name)
    if source is not None and _inside(destination, source):
        raise ValueError(
            f"the destination {destination} is inside the source {source}; choose another folder"
        )
    if destination.exists() and not destination.is_dir():
        raise ValueError(f"the destination {destination} is a file; give a folder")
    if not destination.is_dir() or not any(destination.iterdir()):
        return False
    foreign = kind.foreign(destination)
    if foreign or not any((destination / m).is_file() for m in kind.markers):
        listed = ", ".join(foreign[:3]) or f"no {' or '.join(kind.markers)}"
        raise ValueError(
            f"the destination {destination} is not empty and is not {kind.name} ({listed}); "
            "choose a new or empty folder"
        )
    if not overwrite and resumable:
        return False
    if not overwrite:
        raise ValueError(
            f"the destination {destination} already holds {kind.name}; pass overwrite "
            "(--overwrite) to replace it"
        )
    return True


def clear_output_folder(destination: Path, kind: OutputKind, keep: tuple[str, ...] = ()) -> None:
    """Remove an earlier output of ``kind`` (checked with :func:`check_output_folder`), its markers
    last, so that an interrupted clear is still recognised (and finished) by the next run; the
    entries named in ``keep`` stay (a folder that still holds a user's files)."""
    entries = sorted(destination.iterdir(), key=lambda p: p.name in kind.markers)
    for entry in (e for e in entries if e.name not in keep):
        if not (kind.owns(entry.name) or TEMPORARY.fullmatch(entry.name)):
            raise ValueError(f"{entry} is not part of {kind.name}; refusing to remove it")
        if entry.is_dir() and not entry.is_symlink():
            remove_directory(entry)
        else:
            entry.unlink()


def check_result_file(path: str | Path, command: str) -> None:
    """Refuse to replace a file that is not a JSON result of ``command`` (``{"command": ...}``), and
    a folder, existing or named as one by a trailing separator (``eval/``)."""
    named_folder = str(path).endswith(("/", os.sep))
    path = Path(path)
    if named_folder or path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name such as {path / 'eval.json'}")
    if not path.exists():
        return
    try:
        written_by = json.loads(path.read_text()).get("command")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        written_by = None
    if written_by != command:
        raise ValueError(
            f"--out {path} exists and is not a result of `patchforcing {command}`; refusing to "
            "replace it (choose another file name)"
        )


def names(*fixed: str, patterns: tuple[str, ...] = ()) -> Callable[[str], bool]:
    """An ``owns`` test: the ``fixed`` names plus names matching any of the regular ``patterns``."""
    compiled = [re.compile(p) for p in patterns]
    return lambda name: name in fixed or any(c.fullmatch(name) for c in compiled)
