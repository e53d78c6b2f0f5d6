"""Train a small Patch Forcing model on your own folder of images, then sample from it.

The folder holds PNG or JPEG images, one sub-folder per class (``my-images/cats/*.png``, ...);
images are resized and center-cropped to ``--image-size``. Without ``--data`` a toy folder of
coloured squares is made first, so the script runs anywhere.

    python examples/train_own_folder.py --data my-images --steps 2000
    python examples/train_own_folder.py --tiny    # the toy folder, 20 steps
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from patchforcing import GenerationConfig, generate, load_model, save_grid
from patchforcing.data import DataConfig
from patchforcing.train import TrainSetup, train, train_config_for

parser = argparse.ArgumentParser()
parser.add_argument("--data", help="an image folder with one sub-folder per class")
parser.add_argument("--image-size", type=int, default=16)
parser.add_argument("--steps", type=int, default=1000)
parser.add_argument("--out", default="runs/own-folder", help="the run folder (resumes if present)")
parser.add_argument("--tiny", action="store_true", help="the toy folder and 20 steps")
args = parser.parse_args()
steps, num, sample_steps = (20, 2, 4) if args.tiny else (args.steps, 8, 25)

data = args.data
if data is None:  # a toy data set: a red or a blue square somewhere on white, two classes
    data = "toy-images"
    rng = np.random.default_rng(0)
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        Path(data, name).mkdir(parents=True, exist_ok=True)
        for i in range(32):
            pixels = np.full((16, 16, 3), 255, dtype=np.uint8)
            top, left = rng.integers(0, 9, size=2)
            pixels[top : top + 8, left : left + 8] = colour
            Image.fromarray(pixels).save(Path(data, name, f"{i:02d}.png"))

setup = TrainSetup(
    data=DataConfig(source=data, image_size=args.image_size),
    preset="T/4",  # the tiniest backbone; "S/4", "S/2", "B/2" are larger
    patch_size=4,
    steps=steps,
    batch_size=16,
    out_dir=args.out,
)
result = train(train_config_for(setup), progress=not args.tiny)  # run the same line to resume
print(f"trained {result.steps_done} steps in {result.run_dir}")

model = load_model(result.run_dir)  # the newest checkpoint, EMA weights
images = generate(model, GenerationConfig(num_images=num, steps=sample_steps, classes=(0, 1)))
save_grid(images, "own-folder.png", scale=4)
print("wrote own-folder.png")
