"""Old (0.1) module paths and names still work for one release: they give the object at its new
place and warn with a DeprecationWarning that names it."""

from __future__ import annotations

import importlib
import sys

import pytest

import patchforcing
from patchforcing._moved import MOVED, moved_names, new_name


def _import_old(name: str):
    sys.modules.pop(name, None)  # only the alias entry: the module itself stays under its new name
    return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_imports_the_module_at_its_new_path_with_a_warning(old: str) -> None:
    new = importlib.import_module(MOVED[old])
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        assert _import_old(old) is new
    assert (
        new.__spec__.name == MOVED[old] and new.__name__ == MOVED[old]
    )  # its own spec, not the alias's


def test_a_module_under_an_old_package_path_is_not_loaded_twice() -> None:
    from patchforcing.model.text import tokenizer

    with pytest.warns(DeprecationWarning, match="patchforcing.text.tokenizer moved to"):
        old = _import_old("patchforcing.text.tokenizer")
    assert old is tokenizer and old.WordTokenizer is tokenizer.WordTokenizer


def test_paths_that_did_not_move_are_left_to_the_normal_import() -> None:
    assert new_name("patchforcing.model.dit") is None and new_name("patchforcing.lossy") is None
    assert new_name("patchforcing.metrics.features") == "patchforcing.evaluation.metrics.features"


def test_an_old_name_gives_the_new_object_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="TIME_SAMPLERS is renamed TIME_DISTRIBUTIONS"):
        assert patchforcing.TIME_SAMPLERS is patchforcing.TIME_DISTRIBUTIONS
    getattr_ = moved_names("some.module", {"OLD": "patchforcing.core.path:patchify"})
    with pytest.warns(DeprecationWarning, match="some.module.OLD is renamed patchify"):
        assert getattr_("OLD") is patchforcing.patchify
    with pytest.raises(AttributeError, match="has no attribute 'other'"):
        getattr_("other")
