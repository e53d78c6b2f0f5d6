"""Experiments of the repository, run from the root folder of a checkout (not installed with
the package):

- ``python -m benchmarks.quality``: the paper's claims at small scale, with the
  report docs/results.md;
- ``python -m benchmarks.metric_sensitivity``: how each feature space's FD responds to defects;
- ``python -m benchmarks.noise_study``: where the background noise of samples comes
  from (docs/noise.md);
- ``python -m benchmarks.validate_checkpoints``: held-out losses of checkpoints.

Their results files record paths relative to their output folder (:mod:`benchmarks.paths`)."""
