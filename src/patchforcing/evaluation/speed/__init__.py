"""Speed on the current device: the forward cost of per-patch time, each sampler's overhead, and
training throughput (``patchforcing bench speed``)."""
