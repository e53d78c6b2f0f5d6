"""The authors' checkpoint format: key/shape table, conversion, direct loading, clear errors."""

import pytest
import torch

from patchforcing.cli.main import main
from patchforcing.model import PatchForcingDiT, model_config_from_preset
from patchforcing.model.convert import convert_authors_checkpoint, load_authors_model, mapped_shapes
from patchforcing.model.convert.authors import (
    authors_model_config,
    map_authors_state,
    read_authors_file,
)
from patchforcing.train import CheckpointError


def authors_table(depth, width, channels=4, patch=2, classes=1000, tokens=256, freq=256):
    """The authors' tensors, written from SPEC.md section 2 (DiT layout, 4 + 1 output channels)."""
    D = width
    table = {
        "x_embedder.proj.weight": (D, channels, patch, patch),
        "x_embedder.proj.bias": (D,),
        "t_embedder.mlp.0.weight": (D, freq),
        "t_embedder.mlp.0.bias": (D,),
        "t_embedder.mlp.2.weight": (D, D),
        "t_embedder.mlp.2.bias": (D,),
        "y_embedder.embedding_table.weight": (classes + 1, D),
        "pos_embed": (1, tokens, D),
        "final_layer.linear.weight": (patch * patch * (channels + 1), D),
        "final_layer.linear.bias": (patch * patch * (channels + 1),),
        "final_layer.adaLN_modulation.1.weight": (2 * D, D),
        "final_layer.adaLN_modulation.1.bias": (2 * D,),
    }
    for i in range(depth):
        for name, shape in {
            "attn.qkv": (3 * D, D),
            "attn.proj": (D, D),
            "mlp.fc1": (4 * D, D),
            "mlp.fc2": (D, 4 * D),
            "adaLN_modulation.1": (6 * D, D),
        }.items():
            table[f"blocks.{i}.{name}.weight"] = shape
            table[f"blocks.{i}.{name}.bias"] = (shape[0],)
    return table


def imagenet_config(preset, **kw):
    return model_config_from_preset(preset, image_size=32, in_channels=4, num_classes=1000, **kw)


@pytest.mark.parametrize(
    "preset,depth,width,millions", [("B/2", 12, 768, 130), ("XL/2", 28, 1152, 675)]
)
def test_full_size_key_and_shape_table(preset, depth, width, millions):
    mapped = mapped_shapes(imagenet_config(preset))
    assert mapped == authors_table(depth, width)
    params = sum(torch.Size(s).numel() for k, s in mapped.items() if k != "pos_embed")
    assert abs(params / 1e6 - millions) / millions < 0.03


def synthetic(path, depth=2, width=64, heads=4, wrap="ema", config=True, seed=0, **changes):
    gen = torch.Generator().manual_seed(seed)
    table = {**authors_table(depth, width), **changes}
    state = {k: torch.randn(s, generator=gen) * 0.05 for k, s in table.items() if s is not None}
    cfg = {
        "model": {
            "depth": depth,
            "hidden_size": width,
            "num_heads": heads,
            "patch_size": 2,
            "in_channels": 4,
            "num_classes": 1000,
            "input_size": 32,
        }
    }
    weights = {f"module.{k}": v for k, v in state.items()}
    stored = {"config": cfg} if config else {}
    torch.save(weights if wrap is None else {wrap: weights, **stored}, path)  # None: a bare dict
    return state


def test_conversion_equals_model_with_mapped_weights(tmp_path):
    state = synthetic(tmp_path / "pf.pt")
    reference = PatchForcingDiT(imagenet_config("B/2", depth=2, width=64, num_heads=4)).eval()
    reference.load_state_dict(state)
    folder = convert_authors_checkpoint(tmp_path / "pf.pt", tmp_path / "converted")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    converted, direct = (
        PatchForcingDiT.from_pretrained(folder),
        load_authors_model(tmp_path / "pf.pt"),
    )
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(2, 4, 32, 32, generator=gen), torch.rand(2, 256, generator=gen)
    y = torch.tensor([3, 1000])  # a class and the null label
    with torch.no_grad():
        want = reference(x, t, y)
        for model in (converted, direct):
            got = model(x, t, y)
            assert torch.equal(got.v, want.v) and torch.equal(got.logvar, want.logvar)
    assert converted.config == reference.config


def test_output_channel_layout_is_four_latents_then_logvar(tmp_path):
    """Output row (p1, p2, c) of final_layer.linear lands at pixel (p1, p2) of channel c; c = 4
    is logvar."""
    bias = torch.arange(20.0)  # 2 * 2 * 5 rows
    synthetic(
        tmp_path / "pf.pt", **{"final_layer.linear.weight": None, "final_layer.linear.bias": None}
    )
    raw = torch.load(tmp_path / "pf.pt")
    raw["ema"]["module.final_layer.linear.weight"] = torch.zeros(20, 64)
    raw["ema"]["module.final_layer.linear.bias"] = bias
    torch.save(raw, tmp_path / "pf.pt")
    with torch.no_grad():
        out = load_authors_model(tmp_path / "pf.pt")(
            torch.zeros(1, 4, 32, 32), torch.zeros(1), torch.zeros(1).long()
        )
    for p1 in range(2):
        for p2 in range(2):
            for c in range(5):
                value = out.v[0, c, p1, p2] if c < 4 else out.logvar[0, 0, p1, p2]
                assert float(value) == float(bias[(p1 * 2 + p2) * 5 + c])


def test_wrong_shape_missing_key_and_foreign_files_are_clear_errors(tmp_path):
    synthetic(tmp_path / "bad.pt", **{"blocks.1.mlp.fc1.weight": (128, 64)})
    with pytest.raises(
        CheckpointError, match=r"blocks\.1\.mlp\.fc1\.weight.*\(128, 64\).*expected \(256, 64\)"
    ):
        convert_authors_checkpoint(tmp_path / "bad.pt", tmp_path / "out")
    synthetic(tmp_path / "missing.pt", **{"blocks.0.attn.proj.bias": None})
    with pytest.raises(CheckpointError, match=r"missing tensor 'blocks\.0\.attn\.proj\.bias'"):
        load_authors_model(tmp_path / "missing.pt")
    synthetic(
        tmp_path / "odd.pt",
        **{"final_layer.linear.weight": (24, 64), "final_layer.linear.bias": (24,)},
    )
    with pytest.raises(CheckpointError, match="log-variance"):
        load_authors_model(tmp_path / "odd.pt")
    synthetic(tmp_path / "noheads.pt", config=False, wrap="state_dict")
    with pytest.raises(CheckpointError, match="--num-heads"):
        load_authors_model(tmp_path / "noheads.pt")
    assert load_authors_model(tmp_path / "noheads.pt", num_heads=4).config.num_heads == 4
    assert not (tmp_path / "out").exists()


def _baseline_reference(state, config, rows):
    """Our global-time model holding ``state`` with the output layer cut to the given rows."""
    kept = {
        **state,
        "final_layer.linear.weight": state["final_layer.linear.weight"][rows],
        "final_layer.linear.bias": state["final_layer.linear.bias"][rows],
    }
    reference = PatchForcingDiT(config).eval()
    reference.load_state_dict(kept)
    return reference


@pytest.mark.parametrize(
    "per_pixel", [4, 8]
)  # a velocity-only DiT/SiT, and one with learn_sigma (2C)
def test_plain_dit_sit_baselines_convert_to_global_time_models(tmp_path, per_pixel):
    rows = 2 * 2 * per_pixel
    head = {"final_layer.linear.weight": (rows, 64), "final_layer.linear.bias": (rows,)}
    state = synthetic(tmp_path / "sit.pt", **head)
    weights, stored = read_authors_file(tmp_path / "sit.pt")
    config = authors_model_config(weights, stored)
    assert (config.time_mode, config.difficulty_head, config.in_channels) == ("global", False, 4)
    model = PatchForcingDiT(config).eval()
    model.load_state_dict(map_authors_state(weights, config))
    # their forward unpatchifies rows (p1, p2, c) over all channels and, with learn_sigma, keeps
    # c < 4
    velocity_rows = [
        (p1 * 2 + p2) * per_pixel + c for p1 in range(2) for p2 in range(2) for c in range(4)
    ]
    reference = _baseline_reference(state, config, velocity_rows)
    gen = torch.Generator().manual_seed(2)
    x, t, y = (
        torch.randn(2, 4, 32, 32, generator=gen),
        torch.rand(2, generator=gen),
        torch.tensor([5, 1000]),
    )
    with torch.no_grad():
        got, want = model(x, t, y), reference(x, t, y)
    assert torch.equal(got.v, want.v) and got.logvar is None


def test_one_channel_learn_sigma_is_told_apart_by_the_stored_config():
    """With C = 1, 2 channels per pixel are Patch Forcing (1 + logvar) unless the config
    says learn_sigma."""
    state = {k: torch.zeros(s) for k, s in authors_table(1, 64, channels=1).items()}
    assert authors_model_config(state, {}, num_heads=4).difficulty_head
    sit = authors_model_config(state, {"learn_sigma": True}, num_heads=4)
    assert (sit.time_mode, sit.difficulty_head) == ("global", False)
    assert map_authors_state(state, sit)["final_layer.linear.weight"].shape == (4, 64)


def test_other_output_widths_are_clear_errors(tmp_path):
    synthetic(
        tmp_path / "odd.pt",
        **{"final_layer.linear.weight": (12, 64), "final_layer.linear.bias": (12,)},
    )
    weights, stored = read_authors_file(tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"12 outputs, 3 per pixel.*expected 5 .*4 .*or 8"):
        authors_model_config(weights, stored)


UNKNOWN_EMA = "(EMA or not: the file does not say)"


@pytest.mark.parametrize(
    "per_pixel,wrap,source,weights",
    [
        (5, "ema", "the authors' Patch Forcing release", "ema"),
        (4, "ema", "a plain DiT/SiT checkpoint (velocity output, no difficulty head)", "ema"),
        (
            8,
            "model",
            "a plain DiT/SiT checkpoint with learn_sigma (the sigma channels dropped)",
            f"the file's 'model' entry {UNKNOWN_EMA}",
        ),
        (
            4,
            None,
            "a plain DiT/SiT checkpoint (velocity output, no difficulty head)",
            f"a bare state dict {UNKNOWN_EMA}",
        ),
    ],
)
def test_converted_folders_record_what_the_file_was(tmp_path, per_pixel, wrap, source, weights):
    rows = 2 * 2 * per_pixel
    synthetic(
        tmp_path / "file.pt",
        wrap=wrap,
        **{"final_layer.linear.weight": (rows, 64), "final_layer.linear.bias": (rows,)},
    )
    folder = convert_authors_checkpoint(tmp_path / "file.pt", tmp_path / "out", num_heads=4)
    training = PatchForcingDiT.from_pretrained(folder).meta.training
    assert (training["source"], training["weights"]) == (source, weights)
    assert training["output"].startswith(f"{per_pixel} per pixel: 4 velocity")
    card = (folder / "README.md").read_text()
    assert f"Converted from `file.pt`: {source}." in card
    if per_pixel == 5:  # the authors' recipe, claimed for their release only
        assert training["data"] == "ImageNet 256 SD-VAE latents" and "note" not in training
    else:
        assert "data" not in training and "precision" not in training
        assert "DDPM checkpoints convert but are not flow models" in training["note"]
        assert "the authors'" not in card and "Note: converted as a global-time model" in card


def test_convert_command_says_what_the_file_was(tmp_path, capsys):
    head = {"final_layer.linear.weight": (32, 64), "final_layer.linear.bias": (32,)}
    synthetic(tmp_path / "sit.pt", **head)
    assert main(["convert", str(tmp_path / "sit.pt"), str(tmp_path / "out")]) == 0
    assert "(a plain DiT/SiT checkpoint with learn_sigma (the sigma channels dropped))" in (
        capsys.readouterr().out
    )
