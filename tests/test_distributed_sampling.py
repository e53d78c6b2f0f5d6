"""Distributed generation: disjoint seed ranges, same images and metrics (prompt alignment too) as
one process, and the gathered result on every rank."""

from dataclasses import asdict

import pytest
import torch

from distributed_helpers import run_on_ranks
from patchforcing.evaluation import Evaluator, FeatureSpace, PromptScoring
from patchforcing.evaluation.metrics.alignment import AlignmentAccumulator
from patchforcing.model import (
    ModelConfig,
    PatchForcingDiT,
    PatchForcingT2I,
    text_model_config_from_preset,
)
from patchforcing.model.text import WordTokenizer
from patchforcing.sampling import DualLoop
from patchforcing.sampling.generation import (
    GenerationConfig,
    ImageRecord,
    generate_batches,
    merge_records,
    rank_seeds,
)
from patchforcing.utils.distributed import DistEnv, init_distributed, rank_range

CONFIG = GenerationConfig(sampler=DualLoop(), nfe=4, num_images=11, seed=5, batch_size=3)
# Metrics computed in other processes, or with another thread count, reduce the same features in
# another order (CPU kernels split sums by thread; FD takes a matrix square root), so they agree to
# this relative tolerance rather than bitwise: a two-rank FD of 132.37285 against 132.37284 is the
# same result.
METRIC_RTOL = 1e-5


def tiny_model() -> PatchForcingDiT:
    torch.manual_seed(0)
    model = PatchForcingDiT(
        ModelConfig(
            image_size=8, in_channels=1, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3
        )
    )
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model.eval()


class Projection:
    """A fixed random linear feature extractor (stands in for Inception / the classifier)."""

    key = "projection"
    num_features = 6

    def __call__(self, images):
        weight = torch.randn(images[0].numel(), 6, generator=torch.Generator().manual_seed(1))
        return images.flatten(1) @ weight


def reference():
    return torch.randn(40, 6, generator=torch.Generator().manual_seed(2)) * 3


def evaluator(env: DistEnv = DistEnv()) -> Evaluator:
    return Evaluator((FeatureSpace("projection", Projection(), reference()),), env=env)


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_rank_ranges_cover_every_seed_once_at_batch_boundaries(world):
    for total in (0, 1, 7, 11, 12, 40):
        parts = [rank_range(total, r, world, block=3, start=5) for r in range(world)]
        assert [s for p in parts for s in p] == list(range(5, 5 + total))
        assert all(p.start % 3 == 5 % 3 or len(p) == 0 for p in parts)


def _worker(rank, out):
    env = init_distributed(torch.device("cpu"))
    assert (env.rank, env.world_size) == (rank, 2)
    model = tiny_model()
    batches = list(generate_batches(model, CONFIG, "cpu", seeds=rank_seeds(CONFIG, env)))
    torch.save(
        {
            "images": torch.cat([b.images for b in batches]),
            "seeds": [s for b in batches for s in b.seeds],
        },
        out / f"rank{rank}.pt",
    )
    records = [
        ImageRecord(s, int(y), f"seed{s}.png", b.nfe)
        for b in batches
        for s, y in zip(b.seeds, b.labels)
    ]
    merged = merge_records(records, env, out / "manifest.jsonl")
    result = evaluator(env).score_model(model, CONFIG)
    assert (merged is None) == (rank != 0)
    torch.save(result, out / f"result{rank}.pt")  # every rank has the gathered result


def test_two_ranks_give_the_single_process_images_and_metrics(tmp_path):
    run_on_ranks(_worker, 2, tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: CPU kernels may split reductions by thread count
    model = tiny_model()
    single = list(generate_batches(model, CONFIG, "cpu"))
    torch.set_num_threads(threads)
    parts = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert parts[0]["seeds"] == list(range(5, 11)) and parts[1]["seeds"] == list(range(11, 16))
    assert torch.equal(
        torch.cat([p["images"] for p in parts]), torch.cat([b.images for b in single])
    )
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 11 and '"seed": 5' in lines[0]
    want = evaluator().score_model(model, CONFIG).metrics  # this process's thread count
    got, other = (torch.load(tmp_path / f"result{r}.pt", weights_only=False) for r in range(2))
    assert asdict(got.metrics) == pytest.approx(asdict(want), rel=METRIC_RTOL)
    assert got.num_images == 11 and got.seeds == (5, 15)
    assert other == got  # rank 1 returns what rank 0 gathered, bit for bit


PROMPTS = ("a red heart", "a blue circle", "heart")
TEXT_CONFIG = GenerationConfig(nfe=2, num_images=7, seed=3, batch_size=2, prompts=PROMPTS)


def _text_evaluation(env: DistEnv):
    torch.manual_seed(0)
    tokenizer = WordTokenizer.build(list(PROMPTS), max_length=8)
    model = PatchForcingT2I(
        text_model_config_from_preset(
            "T2I-T/2",
            image_size=8,
            in_channels=1,
            max_text_length=8,
            text_vocab_size=tokenizer.vocab_size,
        ),
        tokenizer,
    )
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return evaluator(env).score_model(
        model.eval(), TEXT_CONFIG, alignment=PromptScoring(AlignmentAccumulator(PromptVectors()))
    )


class PromptVectors:
    """A fixed random image-text space: images projected to 4-d, each prompt a fixed 4-d vector."""

    def embed_images(self, images):
        weight = torch.randn(images[0].numel(), 4, generator=torch.Generator().manual_seed(3))
        return torch.nn.functional.normalize(images.flatten(1) @ weight, dim=-1)

    def embed_prompts(self, prompts):
        table = torch.randn(len(PROMPTS), 4, generator=torch.Generator().manual_seed(4))
        return torch.nn.functional.normalize(table[[PROMPTS.index(p) for p in prompts]], dim=-1)


def _text_worker(rank, out):
    result = _text_evaluation(init_distributed(torch.device("cpu")))
    torch.save(result, out / f"text{rank}.pt")


def test_two_ranks_score_prompt_alignment_as_one_process(tmp_path):
    run_on_ranks(_text_worker, 2, tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    want = _text_evaluation(DistEnv())
    torch.set_num_threads(threads)
    got, other = (torch.load(tmp_path / f"text{r}.pt", weights_only=False) for r in range(2))
    assert other == got
    assert got.alignment is not None and want.alignment is not None
    assert (got.alignment.count, got.alignment.num_prompts, got.alignment.category_accuracy) == (
        7,
        3,
        None,
    )
    scores = ("clip_score", "retrieval_top1", "retrieval_top5")
    assert [getattr(got.alignment, k) for k in scores] == pytest.approx(
        [getattr(want.alignment, k) for k in scores], rel=METRIC_RTOL
    )
    assert asdict(got.metrics) == pytest.approx(asdict(want.metrics), rel=METRIC_RTOL)


def test_single_process_env_needs_no_process_group():
    env = init_distributed(torch.device("cpu"))
    assert env == DistEnv() and env.is_main and not env.distributed
    assert rank_seeds(CONFIG, env) == CONFIG.seeds


def _sample_command(rank, out):
    from patchforcing.cli.main import main

    command = [
        "sample",
        "--checkpoint",
        str(out / "ckpt"),
        "--num",
        "5",
        "--steps",
        "3",
        "--out",
        str(out / "ranks"),
        "--batch-size",
        "3",
        "--device",
        "cpu",
    ]
    assert main([*command, "--seed", "9"]) == 0
    assert (
        main([*command, "--overwrite"]) == 0
    )  # every rank checks before rank 0 clears the earlier output


def _tiny_checkpoint(folder):
    from safetensors.torch import save_file

    from patchforcing.data import DataConfig
    from patchforcing.train.config import TrainConfig, config_to_json

    model = tiny_model()
    folder.mkdir()
    config = TrainConfig(model=model.config, data=DataConfig(source="x.npz"))
    (folder / "config.json").write_text(config_to_json(config))
    save_file(model.state_dict(), str(folder / "ema.safetensors"))


def test_sample_command_under_torchrun_writes_the_same_pngs(tmp_path):
    import numpy as np

    from patchforcing.cli.main import main
    from patchforcing.utils.io.images import load_png

    _tiny_checkpoint(tmp_path / "ckpt")
    run_on_ranks(_sample_command, 2, tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "ckpt"),
                "--num",
                "5",
                "--steps",
                "3",
                "--out",
                str(tmp_path / "one"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    torch.set_num_threads(threads)
    one, ranks = (
        sorted((tmp_path / "one/images").glob("*.png")),
        sorted((tmp_path / "ranks/images").glob("*.png")),
    )
    assert [p.name for p in one] == [p.name for p in ranks] and len(one) == 5
    for a, b in zip(one, ranks):  # other processes and thread counts: equal up to one grey level
        assert np.abs(load_png(a).astype(int) - load_png(b).astype(int)).max() <= 1
    assert (tmp_path / "ranks/grid.png").is_file() and (tmp_path / "ranks/grid_rank1.png").is_file()
    manifest = (tmp_path / "ranks/samples.jsonl").read_text()
    assert (
        manifest == (tmp_path / "one/samples.jsonl").read_text() and len(manifest.splitlines()) == 5
    )
