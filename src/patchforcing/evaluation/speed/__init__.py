"""Speed on the current device: the forward cost of per-patch time, each sampler's overhead,
training throughput, and our training step against a plain per-token adaLN DiT
(``patchforcing bench speed``)."""
