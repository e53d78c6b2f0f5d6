"""Experiments of the repository, run from a checkout (not installed with the package):
``python -m benchmarks.quality`` (the paper's claims at small scale) and
``python -m benchmarks.metric_sensitivity`` (how each feature space's FD responds to defects)."""
