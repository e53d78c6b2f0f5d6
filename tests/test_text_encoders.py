"""Text encoders: the built-in word tokenizer, a frozen pretrained encoder from a local folder, the
cache of encoded captions, and a model folder that records its encoder."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import pytest
import torch

from patchforcing.model import PatchForcingT2I, TextCondition, text_model_config_from_preset
from patchforcing.model.text import (
    PretrainedTextEncoder,
    TextEncoder,
    WordTokenizer,
    cache_digest,
    encode_cached,
    encoder_from_json,
)
from patchforcing.model.text.cache import cache_path

pytestmark = pytest.mark.usefixtures("single_thread")

CAPTIONS = ["A red heart!", "a blue circle", "Two GREEN squares, a red circle", "straße 42 ünïcode"]


def test_words_and_vocabulary_order():
    assert WordTokenizer.words("Red  heart!") == ["red", "heart"]
    assert WordTokenizer.words("Straße_42 Ünïcode-x") == ["straße", "42", "ünïcode", "x"]
    tok = WordTokenizer.build(CAPTIONS)
    assert tok.vocab[:3] == ("<null>", "<bos>", "<unk>")
    assert tok.vocab[3:6] == ("a", "circle", "red")  # by count (3, 2, 2), then alphabetically
    assert WordTokenizer.build(reversed(CAPTIONS)) == tok  # the caption order does not matter
    assert "heart" not in WordTokenizer.build(CAPTIONS, min_count=2).vocab
    assert isinstance(tok, TextEncoder) and tok.kind == "builtin" and tok.feature_dim is None


def test_encode_ids_mask_and_truncation():
    tok = WordTokenizer.build(CAPTIONS, max_length=4)
    y = tok.encode(["red heart", "", "purple red circle a blue"])
    assert y.tokens.dtype == torch.long and y.tokens.shape == (
        3,
        4,
    )  # the longest, truncated to max_length
    assert y.tokens[:, 0].eq(1).all()  # <bos>
    assert y.mask.tolist() == [[True, True, True, False], [True, False, False, False], [True] * 4]
    assert y.tokens[2, 1] == 2  # an unknown word
    assert y.tokens[~y.mask].eq(0).all()
    assert tok.encode([""]).tokens.tolist() == [[1]]  # the empty prompt is <bos>, not the null text


def test_tokenizer_json_round_trip_and_errors():
    tok = WordTokenizer.build(CAPTIONS, max_length=12)
    assert WordTokenizer.from_json(tok.to_json()) == tok
    assert encoder_from_json(tok.to_json()) == tok
    with pytest.raises(TypeError, match="prompt 1 must be a string"):
        tok.encode(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="one string"):
        tok.encode("a red heart")
    with pytest.raises(ValueError, match="no prompts"):
        tok.encode([])
    with pytest.raises(ValueError, match="starts with"):
        WordTokenizer(("a", "b", "c"))
    with pytest.raises(ValueError, match="max_length"):
        WordTokenizer.build(CAPTIONS, max_length=1)
    with pytest.raises(ValueError, match="unknown text encoder kind"):
        encoder_from_json({"kind": "other"})


def test_cache_round_trip_and_recompute_on_damage(tmp_path):
    tok = WordTokenizer.build(CAPTIONS)
    first = encode_cached(tok, CAPTIONS, tmp_path, batch_size=3)  # two batches of different lengths
    direct = tok.encode(CAPTIONS)
    assert torch.equal(first.tokens, direct.tokens) and torch.equal(first.mask, direct.mask)
    path = cache_path(tmp_path, cache_digest(tok, CAPTIONS))
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    again = encode_cached(tok, CAPTIONS, tmp_path)
    assert (
        torch.equal(again.tokens, first.tokens) and path.stat().st_mtime_ns == stamp
    )  # read, not rewritten
    assert cache_digest(tok, CAPTIONS[:2]) != cache_digest(tok, CAPTIONS)
    assert cache_digest(WordTokenizer.build(CAPTIONS, max_length=5), CAPTIONS) != cache_digest(
        tok, CAPTIONS
    )
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.warns(UserWarning, match="damaged"):
        fixed = encode_cached(tok, CAPTIONS, tmp_path)
    assert torch.equal(fixed.tokens, direct.tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(encode_cached(tok, CAPTIONS, tmp_path).tokens, direct.tokens)


def test_pretrained_encoder_from_a_local_folder(tiny_lm):
    enc = PretrainedTextEncoder(tiny_lm, max_length=6)
    assert isinstance(enc, TextEncoder) and enc.kind == "pretrained" and enc.feature_dim == 32
    y = enc.encode(["a red heart", "", "blue circle a red heart red heart"])
    assert y.tokens.dtype == torch.float32 and y.tokens.shape == (3, 6, 32)
    assert y.mask.sum(dim=1).tolist() == [3, 1, 6]  # the empty prompt keeps one token
    assert y.tokens[~y.mask].eq(0).all() and y.tokens[1, 0].abs().sum() > 0
    assert torch.allclose(
        enc.encode(["a red heart"]).tokens[0, :3], y.tokens[0, :3], rtol=0, atol=1e-6
    )  # no batch dependence beyond float rounding (attention kernels over other lengths)
    middle = PretrainedTextEncoder(tiny_lm, layer=1, max_length=6)
    assert not torch.allclose(middle.encode(["a red heart"]).tokens, y.tokens[:1, :3])
    rebuilt = encoder_from_json(middle.to_json())
    assert isinstance(rebuilt, PretrainedTextEncoder) and rebuilt.to_json() == middle.to_json()
    with pytest.raises(ValueError, match="layer"):
        PretrainedTextEncoder(tiny_lm, layer=5)
    with pytest.raises(FileNotFoundError, match="not found"):
        PretrainedTextEncoder(tiny_lm / "missing")
    cached = encode_cached(enc, ["a red heart", "blue circle"], tiny_lm.parent / "cache")
    assert torch.equal(cached.tokens, enc.encode(["a red heart", "blue circle"]).tokens)


def test_model_folder_records_the_pretrained_encoder(tiny_lm, tmp_path):
    enc = PretrainedTextEncoder(tiny_lm, max_length=6)
    config = text_model_config_from_preset(
        "T2I-T/2", image_size=8, in_channels=1, text_feature_dim=32, max_text_length=6
    )
    model = PatchForcingT2I(config, enc).eval()
    loaded = PatchForcingT2I.from_pretrained(model.save_pretrained(tmp_path / "t2i"))
    y = loaded.text_encoder().encode(["a red heart"])
    assert isinstance(y, TextCondition) and y.tokens.shape == (1, 3, 32)
    assert loaded(torch.zeros(1, 1, 8, 8), torch.full((1,), 0.5), y).v.shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="max_text_length"):
        PatchForcingT2I(config, PretrainedTextEncoder(tiny_lm, max_length=7))


def test_a_moved_encoder_folder_is_relocated(tiny_lm, tmp_path):
    """A model records its pretrained encoder's folder as an absolute path; where the folder is
    elsewhere (another machine), the error names the way out and the relocated encoder gives the
    same features."""
    folder = Path(shutil.copytree(tiny_lm, tmp_path / "lm"))
    enc = PretrainedTextEncoder(folder, max_length=6)
    expected = enc.encode(["a red heart"]).tokens
    config = text_model_config_from_preset(
        "T2I-T/2", image_size=8, in_channels=1, text_feature_dim=32, max_text_length=6
    )
    saved = PatchForcingT2I(config, enc).save_pretrained(tmp_path / "t2i")
    moved = folder.rename(tmp_path / "moved")
    loaded = PatchForcingT2I.from_pretrained(saved)
    with pytest.raises(FileNotFoundError, match=r"--text-encoder DIR .*relocate_text_encoder"):
        loaded.text_encoder()
    loaded.relocate_text_encoder(moved)
    assert torch.equal(loaded.text_encoder().encode(["a red heart"]).tokens, expected)
    assert loaded.text_encoder_spec is not None and loaded.text_encoder_spec["path"] == str(
        moved.resolve()
    )
    tokenizer = WordTokenizer.build(["a red heart"], max_length=6)
    builtin = PatchForcingT2I(
        text_model_config_from_preset(
            "T2I-T/2",
            image_size=8,
            in_channels=1,
            text_vocab_size=tokenizer.vocab_size,
            max_text_length=6,
        ),
        tokenizer,
    )
    with pytest.raises(ValueError, match="no folder to relocate"):
        builtin.relocate_text_encoder(moved)


def test_missing_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'patchforcing\[text\]'"):
        PretrainedTextEncoder(tmp_path)
