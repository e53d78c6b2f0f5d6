"""``torch.compile`` of both models: compiled training steps run and match the eager model."""

from __future__ import annotations

import pytest
import torch

from conftest import randomize
from patchforcing.core.protocol import ModelOutput
from patchforcing.model import (
    PatchForcingDiT,
    PatchForcingT2I,
    model_config_from_preset,
    text_model_config_from_preset,
)
from patchforcing.model.text import WordTokenizer

pytestmark = pytest.mark.usefixtures("single_thread")


def _compiled_steps_match_eager(model: torch.nn.Module, *inputs) -> None:
    """A fresh compile of ``model`` takes two training steps on ``inputs``; its last outputs
    equal eager's."""
    torch._dynamo.reset()
    compiled = torch.compile(model)
    for _ in range(2):
        out = compiled(*inputs)
        assert out.logvar is not None
        (out.v.pow(2).mean() + out.logvar.mean()).backward()
    eager = model(*inputs)
    assert eager.logvar is not None
    torch.testing.assert_close(out.v, eager.v, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.logvar, eager.logvar, rtol=1e-4, atol=1e-5)


def test_compiled_steps_run_and_match_eager() -> None:
    """Compiled graphs returned the velocity and log-variance slices of one output as views, which
    torch 2.13 replayed with corrupt sizes on most fresh compiles ("shape [...] is invalid"): three
    fresh compiles all run and agree with the eager model."""
    config = model_config_from_preset(
        "T/4", depth=1, width=32, num_heads=2, image_size=28, in_channels=1, num_classes=10
    )
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        x, t = torch.randn(8, 1, 28, 28, generator=gen), torch.rand(8, 49, generator=gen)
        _compiled_steps_match_eager(
            randomize(PatchForcingDiT(config), seed),
            x,
            t,
            torch.randint(0, 10, (8,), generator=gen),
        )


@pytest.mark.parametrize("time_mode", ["patch", "global"])
def test_class_models_compile_to_one_graph(time_mode: str) -> None:
    """The forward takes no branch on tensor values while compiling (each one split the graph and
    printed a warning traceback), and the single graph still equals the eager model."""
    config = model_config_from_preset(
        "T/4",
        depth=1,
        width=32,
        num_heads=2,
        image_size=28,
        in_channels=1,
        num_classes=10,
        time_mode=time_mode,
        difficulty_head=True,
    )
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 1, 28, 28, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    t = (
        torch.rand(8, 49, generator=gen)
        if time_mode == "patch"
        else torch.rand(8, 1, generator=gen).expand(8, 49)
    )
    model = randomize(PatchForcingDiT(config))
    torch._dynamo.reset()
    assert torch._dynamo.explain(model)(x, t, y).graph_break_count == 0
    _compiled_steps_match_eager(model, x, t, y)


def test_compiled_text_model_matches_eager() -> None:
    tokenizer = WordTokenizer.build(["a red heart", "a blue circle"], max_length=8)
    config = text_model_config_from_preset(
        "T2I-T/2",
        image_size=8,
        in_channels=1,
        text_vocab_size=tokenizer.vocab_size,
        max_text_length=8,
    )
    gen = torch.Generator().manual_seed(0)
    x, t = torch.randn(4, 1, 8, 8, generator=gen), torch.rand(4, 16, generator=gen)
    text = tokenizer.encode(["a red heart", "blue", "a blue circle", "heart"])
    _compiled_steps_match_eager(randomize(PatchForcingT2I(config, tokenizer)), x, t, text)


def test_split_copies_only_while_compiling(monkeypatch) -> None:
    out = torch.randn(2, 3, 4, 4)
    eager = ModelOutput.split(out, 2, difficulty_head=True)
    assert (
        eager.v._base is out and eager.logvar is not None and eager.logvar._base is out
    )  # no copy in eager mode
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    traced = ModelOutput.split(out, 2, difficulty_head=True)
    assert traced.v._base is None and traced.logvar is not None and traced.logvar._base is None
    assert torch.equal(traced.v, out[:, :2]) and torch.equal(traced.logvar, out[:, 2:])
    assert ModelOutput.split(out, 3, difficulty_head=False).logvar is None
