"""The diffusers pipeline (needs ``pip install 'patchforcing[diffusers]'``): write a shipped model
as a diffusers pipeline folder once, load it the diffusers way and call it.

    python examples/diffusers_pipeline.py          # 4 images, 24 steps of Euler-PF
    python examples/diffusers_pipeline.py --tiny   # 2 images, 4 steps
"""

import argparse
from pathlib import Path

import torch

from patchforcing.pipelines import PatchForcingPipeline, export_diffusers

parser = argparse.ArgumentParser()
parser.add_argument("--tiny", action="store_true", help="a few images at a few steps")
args = parser.parse_args()
num, steps = (2, 4) if args.tiny else (4, 24)

folder = Path("fmnist-pf-diffusers")
if not folder.exists():  # the same as `patchforcing export fmnist-pf DIR --format diffusers`
    export_diffusers("fmnist-pf", folder)
pipe = PatchForcingPipeline.from_pretrained(folder)

out = pipe(
    class_labels=list(range(num)),
    num_inference_steps=steps,
    sampler="euler-pf",  # or "dual-loop" / "look-ahead", with their options
    generator=[torch.Generator().manual_seed(seed) for seed in range(num)],  # one per image
    output_type="pil",
)
for i, image in enumerate(out.images):
    image.save(f"diffusers-{i}.png")
print(f"wrote {len(out.images)} images; NFE spent {out.nfe}")
