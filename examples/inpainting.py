"""Inpainting: keep the left half of an image exactly and generate the right half.

Known patches start at t = 1 and stay there, so the model sees them as clean context while the
others are generated (the schedule-matrix sampler with known content).

    python examples/inpainting.py          # 4 images, 25 steps
    python examples/inpainting.py --tiny   # 2 images, 4 steps
"""

import argparse

import torch

from patchforcing import (
    GenerationConfig,
    KnownContent,
    PatchForcingDiT,
    ScheduleMatrix,
    generate,
    noise_for_seeds,
    save_grid,
    uniform_schedule,
)

parser = argparse.ArgumentParser()
parser.add_argument("--tiny", action="store_true", help="a few images at a few steps")
args = parser.parse_args()
num, steps = (2, 4) if args.tiny else (4, 25)

model = PatchForcingDiT.from_pretrained("fmnist-pf")
labels = torch.arange(num)
originals = generate(
    model, GenerationConfig(num_images=num, steps=steps, classes=tuple(range(num)))
)

mask = torch.zeros(num, 1, 28, 28, dtype=torch.bool)  # (B, 1, H, W), True = known pixel
mask[..., :14] = True  # the left half is kept
sampler = ScheduleMatrix(known=KnownContent(image=originals, mask=mask))
noise = noise_for_seeds(range(100, 100 + num), (1, 28, 28))  # other noise than the originals'
result = sampler(model, noise, labels, uniform_schedule(steps))
assert torch.equal(result.x[mask.expand_as(result.x)], originals[mask.expand_as(originals)])

save_grid(torch.cat([originals, result.x]), "inpainting.png", nrow=num, scale=4)
print(f"wrote inpainting.png (top: originals, bottom: right halves regenerated); NFE {result.nfe}")
