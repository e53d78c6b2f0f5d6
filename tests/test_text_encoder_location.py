"""A text model folder finds its pretrained encoder on another machine: by fingerprint at the
recorded path, beside or inside the model folder, in the hub cache or at a folder the user names;
other encoders are refused in one line, and folders recording only a path still load."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import pytest
import torch

from patchforcing.model import PatchForcingT2I, text_model_config_from_preset
from patchforcing.model.text import PretrainedTextEncoder, cache_digest
from patchforcing.model.text.fingerprint import fingerprint_folder
from patchforcing.model.text.locate import EncoderRecord

pytestmark = pytest.mark.usefixtures("single_thread")

PROMPT = ["a red heart"]
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _variant(tiny_lm: Path, dest: Path, seed=None, dtype=None, layers=None) -> Path:
    """A copy of the tiny encoder, its weights re-drawn (seed), cast (dtype) or resized (layers)."""
    transformers = pytest.importorskip("transformers")
    shutil.copytree(tiny_lm, dest)
    if seed is None and dtype is None and layers is None:
        return dest
    config = transformers.AutoConfig.from_pretrained(str(tiny_lm))
    if layers is not None:
        config.num_hidden_layers = layers
    if seed is None and layers is None:
        model = transformers.AutoModel.from_pretrained(str(tiny_lm))
    else:
        torch.manual_seed(seed or 0)
        model = transformers.BertModel(config)
    model.to(dtype or torch.float32).save_pretrained(str(dest))
    return dest


def _save_model(encoder_folder: Path, model_folder: Path) -> torch.Tensor:
    """A tiny text model reading the encoder in ``encoder_folder``, saved to ``model_folder``; the
    encoder's features of PROMPT."""
    encoder = PretrainedTextEncoder(encoder_folder, max_length=6)
    config = text_model_config_from_preset(
        "T2I-T/2", image_size=8, in_channels=1, text_feature_dim=32, max_text_length=6
    )
    PatchForcingT2I(config, encoder).save_pretrained(model_folder)
    return encoder.encode(PROMPT).tokens


def _features(model_folder: Path) -> torch.Tensor:
    return PatchForcingT2I.from_pretrained(model_folder).text_encoder().encode(PROMPT).tokens


def test_fingerprints_tell_copies_casts_and_other_models_apart(tiny_lm, tmp_path):
    recorded = fingerprint_folder(tiny_lm)
    assert recorded.model_type == "bert" and recorded.dtypes == ("F32",)
    assert recorded.compare(fingerprint_folder(_variant(tiny_lm, tmp_path / "copy"))).same
    cast = recorded.compare(
        fingerprint_folder(_variant(tiny_lm, tmp_path / "half", dtype=torch.bfloat16))
    )
    assert not cast.same and cast.dtype_only and "BF16" in cast.detail
    seed = recorded.compare(fingerprint_folder(_variant(tiny_lm, tmp_path / "seed", seed=1)))
    assert not seed.dtype_only and "other weights of the same tensors" in seed.detail
    small = recorded.compare(fingerprint_folder(_variant(tiny_lm, tmp_path / "one", layers=1)))
    assert not small.dtype_only and "other tensors" in small.detail
    config = json.loads((tmp_path / "copy" / "config.json").read_text())
    (tmp_path / "copy" / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    assert "a roberta model" in recorded.compare(fingerprint_folder(tmp_path / "copy")).detail


def test_large_weight_files_are_read_at_spread_blocks(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    weights = tmp_path / "pytorch_model.bin"
    data = bytearray(3 * 2**20)  # larger than the 16 blocks of 64 KiB: sampled
    weights.write_bytes(bytes(data))
    first = fingerprint_folder(tmp_path)
    assert first.tensors is None and first.size == len(data)  # no tensor table for .bin files
    for offset in (0, len(data) - 1):  # the first and last blocks are always read
        changed = data.copy()
        changed[offset] = 1
        weights.write_bytes(bytes(changed))
        assert fingerprint_folder(tmp_path).weights != first.weights


def test_a_model_folder_finds_its_encoder_beside_or_inside_it(tiny_lm, tmp_path):
    encoder = _variant(tiny_lm, tmp_path / "a" / "tiny-bert")
    expected = _save_model(encoder, tmp_path / "a" / "t2i")
    record = json.loads((tmp_path / "a" / "t2i" / "text_encoder.json").read_text())
    assert record["name"] == "tiny-bert" and record["fingerprint"]["model_type"] == "bert"
    (tmp_path / "a").rename(tmp_path / "b")  # another machine: both folders side by side
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(_features(tmp_path / "b" / "t2i"), expected)
    (tmp_path / "b" / "tiny-bert").rename(tmp_path / "b" / "t2i" / "tiny-bert")
    assert torch.equal(_features(tmp_path / "b" / "t2i"), expected)


def test_the_hub_cache_is_searched_by_the_recorded_hub_id(tiny_lm, tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    repo = tmp_path / "hub-a" / "models--someone--tiny-bert"
    _variant(tiny_lm, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    expected = _save_model(repo / "snapshots" / REVISION, tmp_path / "t2i")
    record = json.loads((tmp_path / "t2i" / "text_encoder.json").read_text())
    assert (record["name"], record["hub_id"], record["revision"]) == (
        "tiny-bert",
        "someone/tiny-bert",
        REVISION,
    )
    (tmp_path / "hub-a").rename(tmp_path / "hub-b")  # this machine's hub cache
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-b"))
    assert torch.equal(_features(tmp_path / "t2i"), expected)
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="hub cache: no snapshot of someone/tiny-bert"):
        _features(tmp_path / "t2i")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if the extra were missing
    with pytest.raises(FileNotFoundError, match=r"pip install 'patchforcing\[hub\]'"):
        _features(tmp_path / "t2i")


def test_a_hub_id_is_read_from_the_cache_layout_or_the_config(tiny_lm, tmp_path):
    snapshot = _variant(tiny_lm, tmp_path / "models--org--enc" / "snapshots" / REVISION)
    assert EncoderRecord.of_folder(snapshot).hub_id == "org/enc"
    local = _variant(tiny_lm, tmp_path / "my-encoder")
    assert EncoderRecord.of_folder(local).hub_id is None
    config = json.loads((local / "config.json").read_text())
    (local / "config.json").write_text(json.dumps({**config, "_name_or_path": "org/enc"}))
    record = EncoderRecord.of_folder(local)
    assert (record.name, record.hub_id, record.revision) == ("my-encoder", "org/enc", None)


def test_nothing_found_is_one_line_naming_the_encoder_the_places_and_the_way_out(tiny_lm, tmp_path):
    encoder = _variant(tiny_lm, tmp_path / "a" / "tiny-bert")
    _save_model(encoder, tmp_path / "a" / "t2i")
    shutil.rmtree(encoder)
    weights = fingerprint_folder(tiny_lm).weights
    with pytest.raises(FileNotFoundError) as err:
        _features(tmp_path / "a" / "t2i")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"text encoder 'tiny-bert' (bert, weights sha256 {weights[:12]}")
    for place in (encoder, tmp_path / "a" / "t2i" / "tiny-bert"):
        assert f"{place.resolve()} (" in message
    assert "hub cache: not searched (no hub id recorded)" in message
    assert "--text-encoder DIR" in message and "relocate_text_encoder(DIR)" in message


def test_other_encoders_are_refused_and_casts_are_used_with_a_warning(tiny_lm, tmp_path):
    encoder = _variant(tiny_lm, tmp_path / "a" / "tiny-bert")
    expected = _save_model(encoder, tmp_path / "a" / "t2i")
    shutil.rmtree(encoder)
    _variant(tiny_lm, encoder, seed=1)  # the recorded path now holds another training
    with pytest.raises(FileNotFoundError, match=r"tiny-bert \(recorded path\): other weights"):
        _features(tmp_path / "a" / "t2i")
    model = PatchForcingT2I.from_pretrained(tmp_path / "a" / "t2i")
    with pytest.raises(
        ValueError, match=r"trained with \(found: other tensors \(another model or size\)\)$"
    ):
        model.relocate_text_encoder(_variant(tiny_lm, tmp_path / "small", layers=1))
    half = _variant(tiny_lm, tmp_path / "half", dtype=torch.bfloat16)
    with pytest.warns(UserWarning, match="stored as BF16, recorded as F32"):
        model.relocate_text_encoder(half)
    got = model.text_encoder().encode(PROMPT).tokens  # computed in the recorded float32
    assert got.dtype == torch.float32 and torch.allclose(got, expected, atol=0.1)
    shutil.rmtree(encoder)
    shutil.copytree(half, encoder)  # a cast at the recorded path, the exact copy beside the model
    _variant(tiny_lm, tmp_path / "a" / "t2i" / "tiny-bert")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(_features(tmp_path / "a" / "t2i"), expected)
    shutil.rmtree(tmp_path / "a" / "t2i" / "tiny-bert")  # only the cast is left
    with pytest.warns(UserWarning, match="stored as BF16"):
        assert torch.allclose(_features(tmp_path / "a" / "t2i"), expected, atol=0.1)


def test_model_folders_recording_only_the_path_still_load(tiny_lm, tmp_path):
    encoder = _variant(tiny_lm, tmp_path / "a" / "tiny-bert")
    expected = _save_model(encoder, tmp_path / "a" / "t2i")
    spec = tmp_path / "a" / "t2i" / "text_encoder.json"
    old = {
        k: v
        for k, v in json.loads(spec.read_text()).items()
        if k not in ("name", "hub_id", "revision", "fingerprint")
    }
    spec.write_text(json.dumps(old))  # as release 0.2 wrote it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(_features(tmp_path / "a" / "t2i"), expected)
    (tmp_path / "a").rename(tmp_path / "b")
    with pytest.warns(UserWarning, match="records no fingerprint"):
        assert torch.equal(_features(tmp_path / "b" / "t2i"), expected)
    model = PatchForcingT2I.from_pretrained(tmp_path / "b" / "t2i")
    model.relocate_text_encoder(tmp_path / "b" / "tiny-bert")
    model.save_pretrained(tmp_path / "b" / "t2i")
    assert (
        json.loads((tmp_path / "b" / "t2i" / "text_encoder.json").read_text())["fingerprint"]
        == fingerprint_folder(tiny_lm).to_json()
    )


def test_the_caption_cache_digest_does_not_depend_on_where_the_encoder_lies(tiny_lm, tmp_path):
    here = PretrainedTextEncoder(_variant(tiny_lm, tmp_path / "here"), max_length=6)
    there = PretrainedTextEncoder(_variant(tiny_lm, tmp_path / "there"), max_length=6)
    other = PretrainedTextEncoder(_variant(tiny_lm, tmp_path / "other", seed=1), max_length=6)
    assert here.to_json()["path"] != there.to_json()["path"]
    assert cache_digest(here, PROMPT) == cache_digest(there, PROMPT)
    assert cache_digest(here, PROMPT) != cache_digest(other, PROMPT)
