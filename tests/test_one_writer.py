"""One writer per destination folder: a second ``export --overwrite`` (any atomic folder write) into
a folder another process is writing is refused with one line, and leaves that process's temporary
alone (it used to take it for a leftover, delete it and make the first writer fail with ENOENT)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchforcing.model.pretrained.mixin import MODEL_FOLDER
from patchforcing.utils.io.atomic import atomic_directory, one_writer
from patchforcing.utils.io.destination import check_output_folder


def test_a_second_writer_of_a_folder_is_refused_and_leaves_the_first_ones_files(
    tiny_model, tmp_path
):
    dest = tiny_model.export_folder(tmp_path / "model")
    busy = tmp_path / ".model.pf-abcdefgh.tmp"  # the first writer's folder being filled
    busy.mkdir()
    # flock is per open file: a second lock of the same file in this process is another writer
    with one_writer(Path(os.path.abspath(dest))):
        with pytest.raises(ValueError, match=f"another process is writing {dest} now"):
            tiny_model.export_folder(dest, overwrite=True)
        with pytest.raises(ValueError, match="another process is writing"):
            atomic_directory(dest, lambda tmp: None, replace=True)
        assert busy.is_dir() and (dest / "model.safetensors").is_file()
        # a check of the destination (every torchrun rank makes one at once) is not a write:
        # it goes ahead and leaves the writer's temporary alone
        assert check_output_folder(dest, MODEL_FOLDER, overwrite=True) and busy.is_dir()
    tiny_model.export_folder(dest, overwrite=True)  # the first one done: the write goes ahead
    assert not busy.exists() and (dest / "config.json").is_file()
