"""Compare the samplers at equal compute: the same noise, the same classes and the same NFE
budget for each, one row per sampler in a grid.

    python examples/compare_samplers.py          # 8 images per sampler at 24 NFE
    python examples/compare_samplers.py --tiny   # 2 images at 8 NFE
"""

import argparse

import torch

from patchforcing import (
    DualLoop,
    Euler,
    EulerPF,
    GenerationConfig,
    LookAhead,
    PatchForcingDiT,
    generate_batches,
    save_grid,
)

parser = argparse.ArgumentParser()
parser.add_argument("--tiny", action="store_true", help="a few images at a few NFE")
args = parser.parse_args()
num, nfe = (2, 8) if args.tiny else (8, 24)

model = PatchForcingDiT.from_pretrained("fmnist-pf")
rows = []
for sampler in (Euler(), EulerPF(), DualLoop(p=0.4), LookAhead(p=0.4)):
    # Same seeds, hence the same noise and classes: only the sampler differs between rows.
    config = GenerationConfig(sampler=sampler, nfe=nfe, num_images=num, seed=0)
    (batch,) = generate_batches(model, config)  # num images fit one batch
    rows.append(batch.images)  # (num, 1, 28, 28) in [-1, 1]
    print(f"{type(sampler).__name__:10s} {batch.steps:3d} outer steps, NFE spent {batch.nfe}")
save_grid(torch.cat(rows), "compare.png", nrow=num, scale=4)  # one row per sampler
print("wrote compare.png")
