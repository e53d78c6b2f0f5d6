"""The diffusers side of the time convention: the conversion, the scheduler against our Euler-PF
sampler and against diffusers' own flow-match scheduler, and the models as diffusers models."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers", reason="the diffusers integration needs the [diffusers] extra")

from diffusers import FlowMatchEulerDiscreteScheduler  # noqa: E402

from conftest import randomize  # noqa: E402
from patchforcing.core.path import patchify  # noqa: E402
from patchforcing.model import (  # noqa: E402
    PatchForcingT2I,
    TextCondition,
    text_model_config_from_preset,
)
from patchforcing.model.text import WordTokenizer  # noqa: E402
from patchforcing.pipelines import (  # noqa: E402
    PatchForcingDiTModel,
    PatchForcingEulerScheduler,
    PatchForcingT2IModel,
    t_from_timestep,
    timestep_from_t,
    wrap_model,
)
from patchforcing.sampling import EulerPF, uniform_schedule  # noqa: E402

PROMPTS = ["a red heart", "a blue circle"]


def test_sigma_runs_from_noise_to_data_as_one_minus_our_t() -> None:
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.equal(timestep_from_t(t), torch.tensor([1000.0, 750.0, 500.0, 0.0]))
    assert torch.equal(t_from_timestep(timestep_from_t(t)), t)
    scheduler = PatchForcingEulerScheduler()
    scheduler.set_timesteps(4)
    assert torch.equal(scheduler.schedule, uniform_schedule(4))  # our grid, float64
    assert scheduler.sigmas.tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]  # theirs: noise first
    assert scheduler.timesteps.tolist() == [1000.0, 750.0, 500.0, 250.0]
    assert len(scheduler) == 4


def test_model_output_is_diffusers_velocity(tiny_model) -> None:
    """sigma = 1 - t, and the velocity changes sign (noise minus data); exact at these times."""
    wrapper = wrap_model(tiny_model)
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2])
    t = torch.tensor([0.0, 0.25, 0.5])
    with torch.no_grad():
        ours = tiny_model(x, t, y)
        theirs = wrapper(x, timestep_from_t(t), y)
        per_patch = wrapper(x, timestep_from_t(t)[:, None].expand(-1, 16), y)
        scalar = wrapper(x[:1], 750.0, y[:1])
    assert torch.equal(theirs.sample, -ours.v)
    assert torch.equal(theirs.logvar, ours.logvar)
    assert torch.equal(per_patch.sample, theirs.sample)
    with torch.no_grad():
        assert torch.equal(scalar.sample, -tiny_model(x[:1], torch.tensor([0.25]), y[:1]).v)


def test_a_diffusers_loop_reproduces_euler_pf(tiny_model) -> None:
    """The scheduler in a hand-written loop against the sampler: the same steps, to float rounding
    (the scheduler steps in float32 sigma, the sampler in float64 t)."""
    wrapper = wrap_model(tiny_model)
    noise = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([2, 0, 1])
    expected = EulerPF()(tiny_model, noise, y, uniform_schedule(6)).x
    for per_token in (False, True):
        scheduler = PatchForcingEulerScheduler()
        scheduler.set_timesteps(6)
        x = noise
        with torch.no_grad():
            for timestep in scheduler.timesteps:
                tokens = timestep.expand(3, 16) if per_token else None
                v = wrapper(x, timestep, y).sample
                x = scheduler.step(v, timestep, x, per_token_timesteps=tokens).prev_sample
        torch.testing.assert_close(x, expected, rtol=0, atol=1e-5)


def test_step_agrees_with_diffusers_flow_match_scheduler() -> None:
    """Same sigmas, same step as diffusers' FlowMatchEulerDiscreteScheduler, globally and with
    per-token timesteps (theirs on a token sequence, ours on the image). Diffusers' per-token
    branch steps by sigma - sigma_next, so it takes the velocity with the opposite sign (data
    minus noise); ours keeps noise minus data in both."""
    ours = PatchForcingEulerScheduler()
    ours.set_timesteps(5)
    theirs = FlowMatchEulerDiscreteScheduler(shift=1.0)
    theirs.set_timesteps(sigmas=ours.sigmas[:-1].tolist())
    torch.testing.assert_close(theirs.sigmas, ours.sigmas)
    gen = torch.Generator().manual_seed(2)
    x, v = torch.randn(2, 3, 8, 8, generator=gen), torch.randn(2, 3, 8, 8, generator=gen)
    k = 2
    theirs._step_index = k
    expected = theirs.step(v, theirs.timesteps[k], x).prev_sample
    torch.testing.assert_close(ours.step(v, ours.timesteps[k], x).prev_sample, expected)
    levels = ours.timesteps[torch.randint(0, 5, (2, 16), generator=gen)]  # (B, N) one per patch
    theirs._step_index = k
    tokens = theirs.step(
        patchify(-v, 2), theirs.timesteps[k], patchify(x, 2), per_token_timesteps=levels
    ).prev_sample  # (B, N, p*p*C)
    stepped = ours.step(v, ours.timesteps[k], x, per_token_timesteps=levels).prev_sample
    torch.testing.assert_close(patchify(stepped, 2), tokens)


def test_step_rejects_mismatched_shapes() -> None:
    scheduler = PatchForcingEulerScheduler()
    scheduler.set_timesteps(2)
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="differ"):
        scheduler.step(torch.zeros(2, 1, 4, 4), 1000.0, x)
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        scheduler.step(x, 1000.0, x, per_token_timesteps=torch.zeros(16))


def test_scheduler_round_trips_through_diffusers(tmp_path) -> None:
    PatchForcingEulerScheduler().save_pretrained(tmp_path)
    loaded = PatchForcingEulerScheduler.from_pretrained(tmp_path)
    loaded.set_timesteps(3)
    assert loaded.sigmas.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])


def test_class_model_round_trips_through_diffusers(tiny_model, tmp_path) -> None:
    wrap_model(tiny_model).save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").is_file()
    loaded = PatchForcingDiTModel.from_pretrained(tmp_path).eval()
    assert loaded.model.config == tiny_model.config
    assert loaded.data.image_size == 8 and loaded.data.value_range == (-1.0, 1.0)
    x, t, y = torch.randn(2, 1, 8, 8), torch.rand(2, 16), torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(loaded.model(x, t, y).v, tiny_model(x, t, y).v)


def text_model() -> PatchForcingT2I:
    tokenizer = WordTokenizer.build(PROMPTS, max_length=8)
    config = text_model_config_from_preset(
        "T2I-T/2",
        image_size=8,
        in_channels=1,
        text_vocab_size=tokenizer.vocab_size,
        max_text_length=8,
    )
    return randomize(PatchForcingT2I(config, tokenizer)).eval()


def test_text_model_round_trips_through_diffusers(tmp_path) -> None:
    model = text_model()
    wrap_model(model).save_pretrained(tmp_path)
    loaded = PatchForcingT2IModel.from_pretrained(tmp_path).eval()
    assert loaded.model.text_encoder_spec == model.text_encoder_spec
    text = loaded.model.text_encoder().encode(PROMPTS)
    assert isinstance(text, TextCondition)
    x, t = torch.randn(2, 1, 8, 8), torch.rand(2, 16)
    with torch.no_grad():
        assert torch.equal(loaded.model(x, t, text).v, model(x, t, text).v)
