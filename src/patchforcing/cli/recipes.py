"""Deprecated: the training recipes are library code in :mod:`patchforcing.train.recipes`
(removed in 0.3)."""

from patchforcing._moved import moved_names

__all__: list[str] = []

__getattr__ = moved_names(__name__, {"RECIPES": "patchforcing.train.recipes:RECIPES"})
