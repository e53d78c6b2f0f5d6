"""``patchforcing eval``: generate images with a sampler at a stated NFE (or read a folder) and
score them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from patchforcing.cli.common import HelpFormatter, int_list, nonneg_int, positive_int
from patchforcing.cli.prompt_args import (
    add_prompt_arguments,
    load_text_encoder,
    note_unknown_words,
    prompts_from_args,
)
from patchforcing.cli.sample_cmd import add_checkpoint_argument
from patchforcing.cli.sampler_args import (
    add_guidance_arguments,
    add_sampler_arguments,
    fill_from_model,
    guidance_from_args,
    sampler_from_args,
)
from patchforcing.evaluation.evaluator import DEFAULT_CLASSIFIER

DEFAULT_NFE = 32  # eval's budget where neither --nfe nor the model's recommendation gives one

if TYPE_CHECKING:
    import torch

    from patchforcing.data import ImageArrays
    from patchforcing.evaluation import EvalOptions
    from patchforcing.evaluation.metrics import FeatureExtractor, QualityMetrics

__all__ = [
    "add_eval_parser",
    "add_metric_arguments",
    "eval_options",
    "metric_setup",
    "metrics_table",
    "DEFAULT_CLASSIFIER",
]


def add_metric_arguments(p: argparse.ArgumentParser) -> None:
    """Feature space and reference set, shared with ``bench quality``."""
    p.add_argument(
        "--features",
        choices=("classifier", "inception"),
        default="classifier",
        help=(
            "feature space: a trained classifier (default, offline) or "
            "Inception-v3 (needs its weights)"
        ),
    )
    p.add_argument(
        "--classifier",
        action="append",
        help="classifier folder from `patchforcing classifier train` or a shipped name "
        "(fmnist-classifier, fmnist-resnet-aug, emoji-classifier); repeat it to score in several "
        f"feature spaces at once, the first one being the primary (default: {DEFAULT_CLASSIFIER})",
    )
    p.add_argument(
        "--inception-weights",
        help="path of pt_inception-2015-12-05-6726825d.pth for --features inception",
    )
    p.add_argument(
        "--reference",
        default="fashion-mnist",
        help=(
            "real images: 'fashion-mnist' or 'emoji' (its test split), "
            "an image folder or an .npz file"
        ),
    )
    p.add_argument(
        "--data-dir", help="where a built-in data set is installed (default: its usual place)"
    )
    p.add_argument(
        "--cache-dir",
        help="where reference features are cached (default ~/.cache/patchforcing/reference)",
    )


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="FD / KID / precision-recall / density-coverage of generated images",
        formatter_class=HelpFormatter,
        description="Generate --num images (image i uses seed --seed + i) with --sampler at an NFE "
        "budget, stream them through the feature extractor and score them against the reference "
        "set. Takes the same sampler and guidance options as `sample` and scores exactly the "
        "images `sample` writes for them (rounded to 8-bit pixels). With --folder, score a folder "
        "of images instead (the files its samples.jsonl lists, when it has one). Under torchrun "
        "the ranks split the seeds.",
    )
    add_checkpoint_argument(p)
    p.add_argument("--folder", help="score the images in this folder instead of generating")
    p.add_argument(
        "--image-size",
        type=positive_int,
        help="size reference / scored folder images are resized to",
    )
    add_sampler_arguments(p, with_matrix=False)
    p.add_argument(
        "--nfe",
        type=positive_int,
        help=f"NFE budget per image (default: the model's recommended NFE, else {DEFAULT_NFE})",
    )
    p.add_argument("--num", type=positive_int, default=1000, help="number of generated images")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the first image")
    add_prompt_arguments(p)
    p.add_argument(
        "--reference-prompts",
        action="store_true",
        help="text-to-image models: the prompts are the first captions of the reference images, "
        "with their classes as categories (the images to compare with are then the ones "
        "these prompts describe)",
    )
    p.add_argument(
        "--image-text",
        default="emoji-clip",
        help="text-to-image models: the image-text model of the alignment scores "
        "(`patchforcing clip train`)",
    )
    p.add_argument(
        "--classes",
        type=int_list,
        help="class labels, cycled over the images (default: from each seed)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        help=(
            "images per batch (the same as sample's default, so both make bitwise the same images)"
        ),
    )
    add_guidance_arguments(p)
    add_metric_arguments(p)
    p.add_argument(
        "--out",
        default="eval.json",
        help="JSON result file (an earlier eval result is replaced, any other file is refused)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument(
        "--threads", type=positive_int, help="CPU threads for torch (default: torch's choice)"
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no stage lines or progress bar on stderr"
    )
    p.set_defaults(func=run_eval)


def metrics_table(rows: list[tuple[str, QualityMetrics]]) -> str:
    """A plain-text table of named QualityMetrics."""
    width = max([24] + [len(name) for name, _ in rows])
    head = (
        f"{'':{width}s} {'FD':>9s} {'KID':>9s} {'prec':>6s} {'recall':>6s} {'dens':>6s} "
        f"{'cover':>6s}"
    )
    lines = [head] + [
        f"{name:{width}s} {m.fd:9.3f} {m.kid:9.5f} {m.precision:6.3f} {m.recall:6.3f} "
        f"{m.density:6.3f} {m.coverage:6.3f}"
        for name, m in rows
    ]
    return "\n".join(lines)


def eval_options(args: argparse.Namespace) -> EvalOptions:
    """The evaluation setup the shared metric arguments ask for (EvalOptions' defaults where
    not given)."""
    from patchforcing.evaluation import EvalOptions

    return EvalOptions(
        reference=args.reference,
        image_size=args.image_size,
        data_dir=args.data_dir,
        features=args.features,
        classifiers=tuple(args.classifier or EvalOptions.classifiers),
        inception_weights=args.inception_weights,
        cache_dir=args.cache_dir,
        image_text=getattr(args, "image_text", None) or EvalOptions.image_text,
    )  # `eval` only


def run_eval(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    import torch

    from patchforcing.evaluation import Evaluator
    from patchforcing.model import load_model
    from patchforcing.sampling.generation import GenerationConfig
    from patchforcing.sampling.generation.progress import stage
    from patchforcing.utils.device import resolve_device
    from patchforcing.utils.distributed import init_distributed
    from patchforcing.utils.io.destination import check_result_file
    from patchforcing.utils.io.json_file import write_json

    check_result_file(args.out, "eval")  # before any work: never replace a file eval did not write
    if args.threads:
        torch.set_num_threads(args.threads)
    env = init_distributed(resolve_device(args.device))
    show, options = env.is_main and not args.no_progress, eval_options(args)
    stage(
        f"eval: the reference ({args.reference}) and its features in "
        f"{', '.join(options.feature_names)} (computed once, then read from the cache)",
        show,
    )
    evaluator = Evaluator.build(options, env)
    if args.folder:
        stage(f"eval: scoring the images of {args.folder}", show)
        result = evaluator.score_folder(args.folder)
        name = Path(args.folder).name
    else:
        model = load_model(args.checkpoint, ema=not args.raw_weights, device=env.device)
        load_text_encoder(model, args)
        sampler = sampler_from_args(args.sampler, args) if args.sampler else None
        prompts = (
            evaluator.reference_prompts() if args.reference_prompts else prompts_from_args(args)
        )
        note_unknown_words(model, prompts)
        config = GenerationConfig(
            sampler=sampler,
            nfe=DEFAULT_NFE if args.nfe is None else args.nfe,
            guidance=guidance_from_args(args),
            num_images=args.num,
            seed=args.seed,
            batch_size=args.batch_size,
            classes=tuple(args.classes) if args.classes else None,
            prompts=prompts.prompts if prompts else None,
            progress=show,
        )
        config = fill_from_model(
            args, model, config, sampler=args.sampler is not None, cost=args.nfe is not None
        ).config
        config.check_budget(model.config.time_mode)
        stage(f"eval: generating {args.num} images and embedding them batch by batch", show)
        scoring = evaluator.prompt_scoring(prompts.categories) if prompts else None
        result = evaluator.score_model(
            model, config, alignment=scoring, source=str(args.checkpoint)
        )
        name = f"{config.resolved_sampler(model.config.time_mode).name} @ NFE {result.nfe}"
    if not env.is_main:  # every rank has the result; one prints and writes it
        return 0
    names = evaluator.names
    print(metrics_table([(f"{name} [{names[s.features]}]", s.metrics) for s in result.scores]))
    spaces = ", ".join(f"{names[s.features]} = {s.features}" for s in result.scores)
    print(
        f"{result.num_images} images vs {evaluator.spaces[0].reference.shape[0]} reference "
        f"({args.reference}); FD etc. in the feature space of each row's network (only "
        f"Inception-v3 features give FID): {spaces}; {result.seconds:.1f} s"
    )
    if result.background is not None and result.reference_background is not None:
        print(
            f"background: mean distance {result.background:.2f} of 255 from the reference's "
            "background colour on its background pixels (reference images: "
            f"{result.reference_background:.2f})"
        )
    if result.alignment is not None:
        a = result.alignment
        category = (
            "" if a.category_accuracy is None else f", category accuracy {a.category_accuracy:.3f}"
        )
        print(
            f"prompt alignment ({args.image_text}): score {a.clip_score:.2f}, retrieval top-1 "
            f"{a.retrieval_top1:.3f} / top-5 {a.retrieval_top5:.3f} among {a.num_prompts} "
            f"prompts{category}"
        )
    record = {
        "command": "eval",
        "reference": args.reference,
        "feature_names": names,
        **result.to_dict(),
        **({} if args.folder else {"guidance": dataclasses.asdict(config.guidance)}),
    }
    print(f"wrote {write_json(record, args.out)}")
    return 0


def metric_setup(
    args: argparse.Namespace, device: torch.device | str
) -> tuple[list[FeatureExtractor], list[torch.Tensor], ImageArrays]:
    """Deprecated (removed in 0.3): ``Evaluator.build(eval_options(args))`` owns the
    evaluation setup."""
    import warnings

    import torch

    from patchforcing.evaluation import Evaluator
    from patchforcing.utils.distributed import DistEnv

    warnings.warn(
        "patchforcing.cli.eval_cmd.metric_setup is deprecated; use "
        "patchforcing.evaluation.Evaluator",
        DeprecationWarning,
        stacklevel=2,
    )
    evaluator = Evaluator.build(eval_options(args), DistEnv(device=torch.device(device)))
    assert evaluator.reference is not None  # built from options: it holds the reference images
    return (
        [s.extractor for s in evaluator.spaces],
        [s.reference for s in evaluator.spaces],
        evaluator.reference,
    )
