"""The training decisions of the library: a run's choices (TrainSetup) resolve into its TrainConfig
the same way for every caller, and the named recipes are TrainConfig factories."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from patchforcing.data import DataConfig, ImageArrays
from patchforcing.model import ModelConfig, TextModelConfig
from patchforcing.model.text import WordTokenizer
from patchforcing.train.config import TextConfig, TimeDistConfig
from patchforcing.train.recipes import RECIPES, recipe, recipe_setup
from patchforcing.train.setup import TEXT_LTG_LOC, TrainSetup, train_config_for

CAPTIONS = (("a red square",), ("a blue square", "blue"), ("a red dot",), ("green",))


def images(
    count: int = 4,
    channels: int = 1,
    size: int = 8,
    classes: tuple[str, ...] = ("a", "b", "c"),
    captions=(),
) -> ImageArrays:
    labels = np.arange(count) % len(classes)
    return ImageArrays.from_numpy(
        np.zeros((count, channels, size, size), np.uint8), labels, classes, captions=captions
    )


TINY = TrainSetup(preset="T/4", depth=1, width=32, num_heads=2, patch_size=2)
TINY_TEXT = replace(TINY, preset="T2I-T/2", text=TextConfig())


@pytest.mark.parametrize(
    "baseline,name,mode,head", [(False, "ltg", "patch", True), (True, "uniform", "global", False)]
)
def test_kind_sets_time_mode_head_and_default_time_distribution(baseline, name, mode, head):
    config = train_config_for(replace(TINY, baseline=baseline), images())
    assert isinstance(config.model, ModelConfig)
    assert (config.model.time_mode, config.model.difficulty_head, config.time_dist) == (
        mode,
        head,
        TimeDistConfig(name, {}),
    )
    chosen = train_config_for(
        replace(TINY, baseline=baseline, time_dist="logit_normal", time_dist_params={"loc": 0.2}),
        images(),
    )
    assert chosen.time_dist == TimeDistConfig("logit_normal", {"loc": 0.2})


def test_model_is_sized_from_the_data_and_the_setup():
    model = train_config_for(
        TINY, images(channels=3, size=12, classes=("a", "b", "c", "d", "e"))
    ).model
    assert (model.image_size, model.in_channels, model.num_classes) == (12, 3, 5)
    assert (model.depth, model.width, model.num_heads, model.patch_size) == (1, 32, 2, 2)
    assert train_config_for(replace(TINY, unconditional=True), images()).model.num_classes == 0
    assert (
        train_config_for(
            replace(TINY, preset=None, depth=None, width=None, num_heads=None, patch_size=None),
            images(),
        ).model.depth
        == 6
    )  # S/4


def test_text_model_is_sized_from_its_encoder_and_ltg_centred_at_half():
    data = images(captions=CAPTIONS)
    config = train_config_for(TINY_TEXT, data)
    encoder = WordTokenizer.build([t for c in CAPTIONS for t in c], 1, TextConfig().max_length)
    assert isinstance(config.model, TextModelConfig) and config.text == TextConfig()
    assert (config.model.text_vocab_size, config.model.max_text_length) == (
        encoder.vocab_size,
        encoder.max_length,
    )
    assert config.time_dist == TimeDistConfig("ltg", {"loc": TEXT_LTG_LOC})
    given = train_config_for(replace(TINY_TEXT, time_dist_params={"loc": 0.9, "std": 0.4}), data)
    assert given.time_dist.params == {"loc": 0.9, "std": 0.4}
    srm = train_config_for(replace(TINY_TEXT, time_dist="srm"), data)
    assert srm.time_dist == TimeDistConfig("srm", {})  # loc is LTG's parameter only


@pytest.mark.parametrize(
    "setup,message",
    [
        (replace(TINY, preset="T2I-T/2"), "is a text-to-image model: add --text"),
        (replace(TINY_TEXT, preset="T/4"), "--text needs a text-to-image preset"),
        (replace(TINY_TEXT, unconditional=True), "exclude each other"),
        (replace(TINY, baseline=True, time_dist="ltg"), "needs a global time distribution"),
        (replace(TINY, time_dist_params={"sd": 0.1}), r"has no parameter\(s\) \['sd'\]"),
    ],
)
def test_contradictory_choices_are_refused(setup, message):
    with pytest.raises(ValueError, match=message):
        train_config_for(setup, images(captions=CAPTIONS))


def test_setup_loads_its_data_when_not_given(tiny_npz):
    setup = replace(TINY, data=DataConfig(source=str(tiny_npz)))
    assert train_config_for(setup) == train_config_for(
        setup, images(count=2)
    )  # 8x8 grey, 3 classes


def test_every_recipe_resolves_and_pairs_with_its_baseline():
    data = {
        "fmnist": images(size=28, classes=tuple("abcdefghij")),
        "emoji": images(channels=3, size=32, captions=CAPTIONS),
    }
    configs = {name: recipe(name, seed=3, data=data[name.partition("-")[0]]) for name in RECIPES}
    for pf, base in (("fmnist-pf", "fmnist-global"), ("emoji-t2i", "emoji-t2i-global")):
        a, b = configs[pf], configs[base]
        assert (a.model.time_mode, b.model.time_mode) == (
            "patch",
            "global",
        ) and a.seed == b.seed == 3
        assert a.time_dist.params["global_share"] == 0.25 and b.time_dist == TimeDistConfig(
            "uniform", {}
        )
        assert (
            replace(b, model=a.model, time_dist=a.time_dist, out_dir=a.out_dir) == a
        )  # the same run but for the time
        assert (a.out_dir, b.out_dir) == (
            f"runs/{pf}",
            f"runs/{base}",
        )  # each recipe in a folder of its own
    assert configs["emoji-t2i"].time_dist.params["loc"] == TEXT_LTG_LOC
    assert configs["fmnist-pf"].data == DataConfig(source="fashion-mnist")
    assert recipe_setup("emoji-t2i").data == DataConfig(source="emoji")
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        recipe_setup("nope")


def test_recipe_setups_are_fresh_copies():
    recipe_setup("fmnist-pf").time_dist_params["global_share"] = 0.9
    assert recipe_setup("fmnist-pf").time_dist_params == {"global_share": 0.25}


def test_the_gpu_recipes_are_larger_and_fit_a_small_folder():
    """Each -gpu recipe is its CPU recipe's kind with a backbone of at most about 10M parameters,
    so that its model folder stays under 20 MB with 2-byte (bf16) weights."""
    data = {
        "fmnist": images(size=28, classes=tuple("abcdefghij")),
        "emoji": images(channels=3, size=32, captions=CAPTIONS),
    }
    for name in ("fmnist-pf-gpu", "fmnist-global-gpu", "emoji-t2i-gpu", "emoji-t2i-global-gpu"):
        config = recipe(name, data=data[name.partition("-")[0]])
        small = recipe(name.removesuffix("-gpu"), data=data[name.partition("-")[0]])
        assert config.model.time_mode == small.model.time_mode and config.text == small.text
        assert config.precision == "bf16" and config.model.patch_size == 2
        assert 4 * small.model.parameter_count < config.model.parameter_count <= 10_000_000
        assert 2 * config.model.parameter_count < 20e6
