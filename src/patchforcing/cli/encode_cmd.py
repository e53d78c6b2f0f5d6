"""``patchforcing encode``: pre-encode an image dataset into SD-VAE latent shards, once."""

from __future__ import annotations

import argparse

from patchforcing.cli.common import HelpFormatter, positive_int

__all__ = ["add_encode_parser", "run_encode"]


def add_encode_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode",
        help="encode images into latent shards with an SD-VAE (needs diffusers)",
        formatter_class=HelpFormatter,
        description="Encode every image (resized and center-cropped to --image-size) with a "
        "diffusers AutoencoderKL (posterior mode x 0.18215) into sharded .safetensors files plus "
        "latents.json. Train on the folder with `patchforcing train --data OUT`.",
    )
    p.add_argument(
        "--data",
        required=True,
        help="an image folder (class sub-folders), or an .npz file of RGB images",
    )
    p.add_argument(
        "--vae", required=True, help="local diffusers AutoencoderKL folder (or single weights file)"
    )
    p.add_argument(
        "--out",
        required=True,
        help="folder to write the shards into (new or empty; written beside it "
        "and renamed into place when complete)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier `encode` output in --out (never any other files)",
    )
    p.add_argument(
        "--image-size",
        type=positive_int,
        default=256,
        help="pixels the images are resized and cropped to",
    )
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per VAE forward")
    p.add_argument("--shard-size", type=positive_int, default=10_000, help="latents per shard file")
    p.add_argument(
        "--dtype", choices=("float16", "float32"), default="float16", help="storage precision"
    )
    p.add_argument(
        "--repa-encoder",
        metavar="ENC",
        help="also store this image encoder's features of the images beside the latents, for "
        "`train --repa-encoder ENC` on them: 'efficientnet-lite0' (built in; the repa extra) or "
        "a local Hugging Face vision model folder",
    )
    p.add_argument(
        "--repa-resolution",
        type=positive_int,
        metavar="PX",
        help="the encoder's input size (default: the one that gives a feature per token of a "
        "patch-2 model on the latents, e.g. 256 px for the built-in encoder on 256 px images and "
        "the SD-VAE, 224 px for a ViT of patch 14)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument(
        "--no-progress", action="store_true", help="no stage lines or progress bar on stderr"
    )
    p.set_defaults(func=run_encode)


def run_encode(args: argparse.Namespace) -> int:
    import torch

    from patchforcing.data.latent import VaeCodec, load_vae
    from patchforcing.data.latent.encode import EncodeConfig, check_encode_out, encode_dataset
    from patchforcing.sampling.generation.progress import stage
    from patchforcing.utils.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    config = EncodeConfig(
        source=args.data,
        out=args.out,
        image_size=args.image_size,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        dtype=args.dtype,
        overwrite=args.overwrite,
    )
    check_encode_out(config)  # before the VAE is loaded
    show, device = not args.no_progress, resolve_device(args.device)
    stage(f"encode: loading the VAE {args.vae}", show)
    codec = VaeCodec(load_vae(args.vae, device), batch_size=args.batch_size)
    repa = None
    if args.repa_encoder is not None:
        from patchforcing.model.vision import build_image_encoder, encoder_stride

        stage(f"encode: loading the REPA encoder {args.repa_encoder}", show)
        grid = args.image_size // (2 * codec.downsample)  # a patch-2 model's tokens
        resolution = args.repa_resolution or grid * encoder_stride(args.repa_encoder)
        repa = build_image_encoder(args.repa_encoder, resolution, device)
    stage(
        f"encode: reading the images of {args.data} at {args.image_size}x{args.image_size} and "
        f"encoding them {args.batch_size} at a time into {args.out}",
        show,
    )
    result = encode_dataset(config, codec, progress=show, repa_encoder=repa)
    stored = f" and {repa.feature_dim}-d REPA features at {repa.resolution} px" if repa else ""
    print(
        f"encoded {result.count} images into {tuple(result.latent_shape)} latents{stored}; "
        f"manifest {result.manifest}"
    )
    return 0
