"""Sample from a shipped model in Python and save the images.

python examples/sample.py            # 16 images with the dual-loop sampler, 32 NFE
python examples/sample.py --tiny     # 2 images, 4 NFE: a quick check
"""

import argparse

from patchforcing import (
    DualLoop,
    GenerationConfig,
    PatchForcingDiT,
    generate,
    save_grid,
    to_pil_images,
)

parser = argparse.ArgumentParser()
parser.add_argument("--tiny", action="store_true", help="a few images at a few NFE")
args = parser.parse_args()
num, nfe = (2, 4) if args.tiny else (16, 32)

# A shipped name needs no download; a model folder, a run folder or a hub id work the same.
model = PatchForcingDiT.from_pretrained("fmnist-pf")
config = GenerationConfig(
    sampler=DualLoop(p=0.4),  # the easiest 40% of patches run ahead as context for the rest
    nfe=nfe,  # a budget of network passes; the sampler picks its outer steps to spend it
    num_images=num,
    classes=tuple(range(num)),  # image i gets class i % 10 (T-shirt, trouser, ...)
    seed=0,  # image i uses seed 0 + i: any image can be regenerated alone
)
images = generate(model, config)  # (num, 1, 28, 28) in [-1, 1]

to_pil_images(images)[0].save("sample-0.png")  # one PIL image per generated image
save_grid(images, "samples.png", scale=4)  # all of them in one upscaled grid
names = model.meta.data.class_names
print(f"wrote samples.png: {', '.join(names[c % len(names)] for c in config.classes)}")
