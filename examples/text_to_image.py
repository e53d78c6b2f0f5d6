"""Text to image with the shipped emoji model: a list of prompts, image i gets prompt i (cycled).

python examples/text_to_image.py          # 3 images per prompt
python examples/text_to_image.py --tiny   # 1 image per prompt at 4 NFE
"""

import argparse

from patchforcing import GenerationConfig, Guidance, generate, load_model, save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--tiny", action="store_true", help="one image per prompt at a few NFE")
args = parser.parse_args()
per_prompt, nfe = (1, 4) if args.tiny else (3, 32)

prompts = ("a red heart", "a yellow face with tears of joy", "a green tree")
model = load_model("emoji-t2i")  # load_model picks the class: here a PatchForcingT2I
config = GenerationConfig(
    prompts=prompts,
    num_images=per_prompt * len(prompts),  # prompts cycle: image i gets prompts[i % 3]
    nfe=nfe,
    guidance=Guidance(scale=2.0),  # classifier-free guidance sharpens prompt adherence
)
images = generate(model, config)  # (n, 3, 32, 32) in [-1, 1]
save_grid(images, "prompts.png", nrow=len(prompts), scale=4)  # one column per prompt
print("wrote prompts.png")
