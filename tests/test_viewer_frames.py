"""What the page and the GIF export draw of a run: the whole scale of the panels, the difficulty
shown on the certain patches (that of the pass that chose them, so that on the last pass the
outlined patches are coloured as the easy ones they were chosen as), the command's shell words and
the GIF at the page's scale."""

from __future__ import annotations

import io
import json
import shlex

import numpy as np
import pytest
from PIL import Image

from patchforcing.viewer import Limits, Run, parse_run_request
from patchforcing.viewer.frames import MAX_SCALE, MIN_SCALE, panel_scale
from patchforcing.viewer.worker import execute
from viewer_helpers import run_body, shipped_catalog


def _run(samplers: list[str], checkpoint: str = "fmnist-pf", **values) -> Run:
    body = json.dumps(run_body(samplers, checkpoint, **values)).encode()
    request = parse_run_request(body, shipped_catalog(), Limits())
    run = Run("test", request, shipped_catalog()[checkpoint])
    execute(run)
    assert run.status == "done", run.message
    return run


def _frames(run: Run) -> list[dict]:
    return [e.data for e in run.events_from(0) if e.kind == "frame"]


@pytest.mark.parametrize(
    ("image_size", "scale"), [(28, 6), (32, 5), (16, 8), (8, MAX_SCALE), (64, MIN_SCALE)]
)
def test_panels_are_a_whole_multiple_of_the_image_within_4_to_8(image_size, scale):
    assert panel_scale(image_size) == scale and MIN_SCALE == 4 and MAX_SCALE == 8


@pytest.mark.parametrize("sampler", ["dual-loop", "look-ahead", "random", "hardest-first"])
def test_certain_patches_keep_the_difficulty_of_the_pass_that_chose_them(sampler):
    frames = _frames(_run([sampler], nfe=32, seed=3, label=7))
    steps: dict[int, list[dict]] = {}
    for frame in frames:
        if frame["certain"]:
            steps.setdefault(frame["outer"], []).append(frame)
    assert steps
    for group in steps.values():
        first, certain = group[0], group[0]["certain"]
        others = [i for i in range(49) if i not in certain]
        chosen = [first["difficulty"][i] for i in certain]
        if sampler in ("dual-loop", "look-ahead"):  # the easiest fraction p, by that pass's map
            assert max(chosen) <= min(first["difficulty"][i] for i in others)
        for frame in group:
            assert frame["certain"] == certain
            assert [frame["difficulty"][i] for i in certain] == chosen


@pytest.mark.parametrize("sampler", ["dual-loop", "look-ahead"])
def test_on_the_last_pass_the_outlined_patches_are_drawn_as_the_easy_ones(sampler):
    """Drawn as predicted, the certain patches of the last pass (already at t = 1 in the passes
    after the one that chose them) were the hardest of the map, on average."""
    last = _frames(_run([sampler], nfe=32, seed=3, label=7))[-1]
    certain = set(last["certain"])
    assert certain and last["t"] == [1.0] * 49
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    easy = mean([v for i, v in enumerate(last["difficulty"]) if i in certain])
    rest = mean([v for i, v in enumerate(last["difficulty"]) if i not in certain])
    assert easy < rest


def test_a_model_without_a_difficulty_head_draws_no_difficulty():
    frames = _frames(_run(["euler"], "fmnist-global", nfe=4))
    assert all(f["difficulty"] is None and f["certain"] == [] for f in frames)


def test_the_command_comes_with_its_quoted_shell_words():
    run = _run(["dual-loop"], "emoji-t2i", nfe=2, label=None, prompt="it's a flag")
    plan = run.summary()["lanes"][0]
    assert " ".join(plan["words"]) == plan["command"]
    words = shlex.split(plan["command"])
    at = words.index("--prompt")
    assert words[at : at + 4] == ["--prompt", "it's a flag", "--num", "1"]
    assert [shlex.split(word) for word in plan["words"]] == [
        [word] for word in shlex.split(plan["command"])
    ]  # one shell word each


@pytest.mark.parametrize(
    ("checkpoint", "extra"),
    [("fmnist-pf", {}), ("emoji-t2i", {"label": None, "prompt": "a flag"})],
)
def test_the_gif_is_drawn_at_the_pages_whole_scale(checkpoint, extra):
    pytest.importorskip("starlette", reason="the GIF is served by the web layer (view extra)")
    pytest.importorskip("httpx", reason="Starlette's test client needs httpx")
    from starlette.testclient import TestClient

    from patchforcing.viewer import Viewer
    from patchforcing.viewer.app import create_app

    app = create_app(Viewer(shipped_catalog()), allowed_hosts=["testserver"])
    with TestClient(app) as client:
        run = client.post("/api/runs", json=run_body(["dual-loop"], checkpoint, **extra)).json()
        with client.stream("GET", f"/api/runs/{run['id']}/events") as events:
            assert "event: end" in list(events.iter_lines())
        gif = Image.open(io.BytesIO(client.get(f"/api/runs/{run['id']}/lanes/0.gif").content))
    size, scale = run["image_size"], run["scale"]
    panel = size * scale
    assert scale == panel_scale(size) and MIN_SCALE <= scale <= MAX_SCALE
    assert gif.size == (3 * panel + 4 * 4, panel + 14 + 4)  # three panels, gaps and a header
    gif.seek(gif.n_frames - 1)
    image = np.array(gif.convert("RGB"))[14 : 14 + panel, 4 : 4 + panel]  # (panel, panel, 3)
    blocks = image.reshape(size, scale, size, scale, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()  # every pixel of the image a scale x scale block
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # a drawn image, not a flat one
