"""Small utilities every layer may use: file output (atomic writes, locks, PNGs), size limits,
devices and precision, process settings, torchrun processes and the cache folder."""
