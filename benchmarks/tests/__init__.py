"""Tests of the experiments (run with the package's suite: pyproject.toml lists both folders)."""
