"""Data-parallel training on 2 CPU processes (gloo): same steps as one process, resumable on any
world size."""

import json

import torch
from safetensors.torch import load_file

from distributed_helpers import run_on_ranks
from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.core.time_dist import build_time_distribution
from patchforcing.data import DataConfig, load_dataset
from patchforcing.data.order import batch_indices
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train import TrainConfig, train
from patchforcing.train.config import OptimConfig
from patchforcing.train.data_parallel import Parallel, batch_report, wrap_model
from patchforcing.train.helpers import step_generator
from patchforcing.utils.distributed import gather_objects, init_distributed, rank_slice

MODEL = ModelConfig(
    image_size=8, in_channels=1, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3
)


def tiny_run(tmp_path, npz, name, **kw) -> TrainConfig:
    base = dict(
        model=MODEL,
        data=DataConfig(source=str(npz)),
        out_dir=str(tmp_path / name),
        steps=6,
        batch_size=8,
        checkpoint_every=2,
        sample_every=100,
        log_every=1,
        optim=OptimConfig(lr=1e-3, warmup_steps=2),
    )
    return TrainConfig(**{**base, **kw})


def _manual_steps(rank, npz, out):
    """Three DDP steps from different initial weights per rank: DDP must broadcast rank 0's and keep
    every rank's parameters identical."""
    env = init_distributed(torch.device("cpu"))
    torch.manual_seed(rank)
    model = PatchForcingDiT(MODEL)
    net = wrap_model(model, env, Parallel())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    data, time_dist = load_dataset(DataConfig(source=str(npz))), build_time_distribution("ltg", {})
    rows = rank_slice(8, rank, 2)
    for step in range(3):
        x1, y = data.batch(batch_indices(step, 8, len(data), 0)[rows])
        loss = patch_forcing_loss(
            net, x1, y, time_dist, step_generator(0, step), LossConfig(), rows, 8
        ).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    states = gather_objects({k: v.detach().clone() for k, v in model.state_dict().items()}, env)
    if rank == 0:
        torch.save(states, out / "states.pt")
        assert "effective batch size 8 = 4 per process x 2 (DDP" in batch_report(8, env, Parallel())


def _train(rank, config, out):
    result = train(config, device="cpu", progress=False)
    torch.save(result.losses, out / f"losses_{rank}.pt")


def _manual_then_train(rank, config, out):
    _manual_steps(rank, config.data.source, out)
    _train(rank, config, out)


def _single(config, **kw):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        return train(config, device="cpu", progress=False, **kw)
    finally:
        torch.set_num_threads(threads)


def test_two_ranks_equal_one_process_on_the_global_batch(tmp_path, tiny_npz):
    ddp = tiny_run(tmp_path, tiny_npz, "ddp")
    run_on_ranks(_manual_then_train, 2, ddp, tmp_path)
    states = torch.load(tmp_path / "states.pt")
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    single = _single(tiny_run(tmp_path, tiny_npz, "single"))
    for rank in range(2):
        losses = torch.load(tmp_path / f"losses_{rank}.pt")
        assert torch.allclose(
            torch.tensor(losses), torch.tensor(single.losses), rtol=1e-4, atol=1e-6
        )
    a = load_file(str(tmp_path / "ddp/checkpoints/step_00000006/ema.safetensors"))
    b = load_file(str(tmp_path / "single/checkpoints/step_00000006/ema.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    log = [json.loads(line) for line in (tmp_path / "ddp/metrics.jsonl").read_text().splitlines()]
    assert log[0] == {
        "step": 0,
        "run_id": (tmp_path / "ddp" / "run_id").read_text().strip(),  # once, by rank 0
        "effective_batch_size": 8,
        "world_size": 2,
    }
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_resume_on_a_different_world_size(tmp_path, tiny_npz):
    config = tiny_run(tmp_path, tiny_npz, "resumed")
    first = _single(config, stop_after=3)  # 1 process for 3 steps
    run_on_ranks(_train, 2, config, tmp_path)  # then 2 processes to the end
    straight = _single(tiny_run(tmp_path, tiny_npz, "straight"))
    resumed = first.losses + torch.load(tmp_path / "losses_0.pt")
    log = [
        json.loads(line) for line in (tmp_path / "resumed/metrics.jsonl").read_text().splitlines()
    ]
    assert [r["world_size"] for r in log if "world_size" in r] == [1, 2]
    assert torch.allclose(
        torch.tensor(resumed), torch.tensor(straight.losses), rtol=1e-4, atol=1e-6
    )


def _train_fsdp(rank, config, out):
    result = train(config, device="cpu", progress=False, parallel=Parallel("fsdp"))
    torch.save(result.losses, out / f"fsdp_{rank}.pt")


def test_fsdp_matches_one_process_and_its_checkpoint_resumes_without_it(tmp_path, tiny_npz):
    config = tiny_run(tmp_path, tiny_npz, "fsdp", steps=4)
    run_on_ranks(_train_fsdp, 2, config, tmp_path)
    single = _single(tiny_run(tmp_path, tiny_npz, "single", steps=6))
    losses = torch.load(tmp_path / "fsdp_0.pt")
    assert torch.allclose(
        torch.tensor(losses), torch.tensor(single.losses[:4]), rtol=1e-4, atol=1e-6
    )
    resumed = _single(
        tiny_run(tmp_path, tiny_npz, "fsdp", steps=6)
    )  # same run, longer: FSDP -> one process
    assert resumed.resumed_from == 4
    assert torch.allclose(
        torch.tensor(resumed.losses), torch.tensor(single.losses[4:]), rtol=1e-4, atol=1e-6
    )
