"""End to end in a real headless browser (Debian's chromium and chromium-driver, through Selenium)
against ``patchforcing view`` on a free loopback port: every sampler of the shipped models plays to
its last pass with the NFE the sampler spent, the image and both maps are drawn (crisp, at a whole
scale, with colour bars and the class or prompt), four samplers step together, the reproducing
commands wrap between words and copy whole, a model switch clears the run, bad input gets a
message, a run can be cancelled, and the current frame exports as PNG.

A screenshot of the comparison is written to ``$PATCHFORCING_SCREENSHOT`` when it is set
(``PATCHFORCING_SCREENSHOT=docs/viewer.png`` regenerates the one in the docs), else to a temporary
folder. Skipped, with the reason, where no browser is installed (``bash scripts/setup.sh --test``
installs one where apt-get can).
"""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from patchforcing.sampling import SAMPLERS
from patchforcing.sampling.options import sampler_options
from viewer_helpers import (
    ViewerProcess,
    fill,
    headless_chromium,
    hostile_model,
    lanes_with_status,
    missing_browser,
    parse_events,
    start_run,
    step_to,
    wait_for,
)

NFE = 32
RED, YELLOW, GREY = (
    (227, 18, 43),
    (253, 231, 37),
    (136, 136, 136),
)  # certain outline; viridis at t = 1; no map
VIRIDIS_0 = (68, 1, 84)
RUNS = [("fmnist-pf", name) for name in SAMPLERS] + [("fmnist-global", "euler")]
COMPARED = ["euler-pf", "dual-loop", "look-ahead", "random"]

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")

# Colours of a canvas: how many distinct ones, and how many pixels have each of the given ones.
_CANVAS_COLOURS = """
const canvas = arguments[0], wanted = arguments[1];
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
const distinct = new Set(), counts = wanted.map(() => 0);
let opaque = 0;
for (let i = 0; i < data.length; i += 4) {
  distinct.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  if (data[i + 3] === 255) opaque++;
  wanted.forEach((c, j) => {
    if (data[i] === c[0] && data[i + 1] === c[1] && data[i + 2] === c[2]) counts[j]++;
  });
}
return {distinct: distinct.size, opaque: opaque / (data.length / 4), counts, area: data.length / 4};
"""

# Pixels of a canvas that differ from the top-left pixel of their k x k block (0: drawn at k x).
_OFF_BLOCK = """
const canvas = arguments[0], k = arguments[1], w = canvas.width;
const data = canvas.getContext("2d").getImageData(0, 0, w, canvas.height).data;
let off = 0;
for (let y = 0; y < canvas.height; y++) for (let x = 0; x < w; x++) {
  const i = 4 * (y * w + x), j = 4 * ((y - y % k) * w + x - x % k);
  if (data[i] !== data[j] || data[i + 1] !== data[j + 1] || data[i + 2] !== data[j + 2]) off++;
}
return off;
"""

# Per patch of a map: outlined in the given colour, and the green of its centre (viridis' green
# grows with the value).
_CELLS = """
const canvas = arguments[0], grid = arguments[1], outline = arguments[2], w = canvas.width;
const cell = w / grid, data = canvas.getContext("2d").getImageData(0, 0, w, w).data;
const at = (x, y) => Array.from(data.slice(4 * (y * w + x), 4 * (y * w + x) + 3));
return Array.from({length: grid * grid}, (_, i) => {
  const x = (i % grid) * cell, y = Math.floor(i / grid) * cell;
  const corner = at(x + 1, y + 1), centre = at(x + cell / 2, y + cell / 2);
  return {outlined: corner.every((c, j) => c === outline[j]), green: centre[1]};
});
"""

# The colours at the two ends of a colour bar.
_BAR_ENDS = """
const canvas = arguments[0], ctx = canvas.getContext("2d"), y = canvas.height >> 1;
return [0, canvas.width - 1].map((x) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3)));
"""

# The words of a command element: how many are split over lines, and how many lines they take.
_WORD_LINES = """
const words = Array.from(arguments[0].querySelectorAll(".word"));
return {
  split: words.filter((w) => w.getClientRects().length !== 1).length,
  lines: new Set(words.map((w) => Math.round(w.getBoundingClientRect().top))).size,
};
"""


@pytest.fixture(scope="module")
def server():
    process = ViewerProcess()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium"), 1240, 1420)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(server, browser):
    browser.get(server.url)
    wait_for(browser, lambda d: d.find_elements("css selector", ".sampler-choice"), "the form")
    return browser


def _colours(driver, lane, panel: str, *wanted: tuple[int, int, int]) -> dict:
    canvas = lane.find_element("css selector", f".panel-{panel}")
    return driver.execute_script(_CANVAS_COLOURS, canvas, [list(c) for c in wanted])


def _api(server, path: str) -> str:
    with urllib.request.urlopen(server.url + path, timeout=60) as answer:
        return answer.read().decode()


def _shown_run(driver, server) -> tuple[str, dict]:
    """The id and the summary of the run on the page."""
    run_id = driver.find_element("id", "lanes").get_attribute("data-run")
    return run_id, json.loads(_api(server, f"api/runs/{run_id}"))


@pytest.mark.parametrize(("checkpoint", "sampler"), RUNS)
def test_every_sampler_plays_to_its_last_pass(page, checkpoint, sampler):
    previous = start_run(page, checkpoint, [sampler])
    (lane,) = wait_for(
        page, lambda d: lanes_with_status(d, previous, 1, "done"), f"{sampler} to finish"
    )
    nfe = SAMPLERS[sampler]().budget(NFE).nfe
    assert lane.get_attribute("data-nfe") == str(nfe)
    wait_for(
        page,
        lambda d: lane.find_element("css selector", ".lane-nfe").text == f"NFE {nfe} / {nfe}",
        "the last pass to be shown",
    )
    assert page.find_element("id", "step").get_attribute("max") == str(nfe - 1)
    assert (
        f"done: NFE {nfe} as the sampler counts it"
        in lane.find_element("css selector", ".lane-result").text
    )
    image = _colours(page, lane, "image")
    assert image["opaque"] == 1 and image["distinct"] > 10  # a drawn garment, not a blank canvas
    time_map = _colours(page, lane, "time", YELLOW, RED)
    assert (
        sum(time_map["counts"]) == time_map["area"]
    )  # every patch at t = 1 after the last pass (some outlined)
    difficulty = _colours(page, lane, "difficulty", GREY)
    assert difficulty["opaque"] == 1
    if checkpoint == "fmnist-pf":
        assert difficulty["distinct"] > 5
    else:
        assert difficulty["counts"][0] > 0.8 * difficulty["area"]  # "no difficulty head"
    step_to(page, nfe // 2)
    middle = _colours(page, lane, "time", RED)
    takes_p = any(info.name == "p" for info in sampler_options(SAMPLERS[sampler]))
    assert (
        middle["counts"][0] > 0
    ) == takes_p  # the certain patches of samplers with a certain fraction p


def test_four_samplers_step_together_and_export(page, tmp_path):
    previous = start_run(page, "fmnist-pf", COMPARED, label=7, seed=3)
    lanes = wait_for(
        page, lambda d: lanes_with_status(d, previous, 4, "done"), "the comparison to finish"
    )
    spent = [SAMPLERS[name]().budget(NFE).nfe for name in COMPARED]
    assert [lane.get_attribute("data-nfe") for lane in lanes] == [str(n) for n in spent]
    step_to(page, 12)
    assert [lane.find_element("css selector", ".lane-nfe").text for lane in lanes] == [
        f"NFE 13 / {n}" for n in spent
    ]
    page.find_element("id", "play").click()
    wait_for(
        page,
        lambda d: int(d.find_element("id", "step").get_attribute("value")) > 3,
        "the player to advance",
    )
    page.find_element("id", "play").click()
    assert page.find_element("id", "play").text == "Play"
    step_to(
        page, 3 * NFE // 4
    )  # late enough to see the garment, early enough to see the certain patches
    png = page.execute_script("return window.patchforcingViewer.framePNG();")
    assert png.startswith("data:image/png;base64,")
    panel = int(lanes[0].find_element("css selector", ".panel-image").get_attribute("width"))
    assert Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).size == (
        3 * panel + 24,
        4 * (panel + 24) + 6,
    )
    target = Path(os.environ.get("PATCHFORCING_SCREENSHOT") or tmp_path / "viewer.png")
    shot = Image.open(io.BytesIO(page.get_screenshot_as_png())).convert("RGB")
    shot.quantize(colors=256).save(target, optimize=True)  # flat colours: small, and still sharp
    print(f"screenshot: {target}")
    assert target.stat().st_size > 10_000


def test_panels_are_crisp_at_a_whole_scale_with_colour_bars_and_labels(page, server):
    previous = start_run(page, "fmnist-pf", ["dual-loop"], label=3, seed=1)
    (lane,) = wait_for(
        page, lambda d: lanes_with_status(d, previous, 1, "done"), "dual-loop to finish"
    )
    run_id, summary = _shown_run(page, server)
    size, scale = summary["image_size"], summary["scale"]
    assert size == 28 and 4 <= scale <= 8
    for panel in ("image", "time", "difficulty"):
        canvas = lane.find_element("css selector", f".panel-{panel}")
        assert canvas.get_attribute("width") == canvas.get_attribute("height") == str(size * scale)
        assert canvas.size["width"] == size * scale + 2  # on screen at its own size, plus a border
        assert canvas.value_of_css_property("image-rendering") == "pixelated"
    image = lane.find_element("css selector", ".panel-image")
    assert page.execute_script(_OFF_BLOCK, image, scale) == 0  # every pixel a scale x scale block
    names = json.loads(_api(server, "api/models"))["checkpoints"][0]["class_names"]
    assert lane.find_element("css selector", ".lane-subject").text == f"class 3: {names[3]}"

    events = parse_events(_api(server, f"api/runs/{run_id}/events").splitlines())
    frames = [e.data for e in events if e.kind == "frame"]
    drawn = [v for frame in frames for v in frame["difficulty"]]
    bars = {
        bar.get_attribute("data-map"): bar
        for bar in lane.find_elements("css selector", ".colour-bar")
    }
    ends = {
        name: [bar.find_element("css selector", f".bar-{end}").text for end in ("lo", "hi")]
        for name, bar in bars.items()
    }
    assert ends["time"] == ["0 noise", "clean 1"]
    (lo, easy), (hard, hi) = (text.split() for text in ends["difficulty"])
    assert (easy, hard) == ("easy", "hard")
    assert abs(float(lo) - min(drawn)) <= 0.0051 and abs(float(hi) - max(drawn)) <= 0.0051
    for bar in bars.values():
        colours = page.execute_script(_BAR_ENDS, bar.find_element("css selector", "canvas"))
        assert colours == [list(VIRIDIS_0), list(YELLOW)]

    cells = page.execute_script(
        _CELLS, lane.find_element("css selector", ".panel-difficulty"), 7, list(RED)
    )  # the last pass
    outlined = [c["green"] for c in cells if c["outlined"]]
    others = [c["green"] for c in cells if not c["outlined"]]
    assert len(outlined) == len(frames[-1]["certain"]) > 0
    assert sum(outlined) / len(outlined) < sum(others) / len(others)  # certain: drawn as easy


def test_reproduce_commands_wrap_between_words_and_copy_whole(page, server):
    previous = start_run(page, "fmnist-pf", ["look-ahead"], label=3, seed=1)
    (lane,) = wait_for(
        page, lambda d: lanes_with_status(d, previous, 1, "done"), "look-ahead to finish"
    )
    command = _shown_run(page, server)[1]["lanes"][0]["command"]
    code = lane.find_element("css selector", ".lane-command")
    assert code.get_attribute("textContent") == command  # what a selection of it copies
    assert code.value_of_css_property("word-break") != "break-all"
    words = code.find_elements("css selector", ".word")
    assert " ".join(w.get_attribute("textContent") for w in words) == command
    assert {w.value_of_css_property("display") for w in words} == {"inline-block"}
    lines = page.execute_script(_WORD_LINES, code)
    assert lines["lines"] > 1 and lines["split"] == 0  # it wraps, and only between words
    page.execute_script(
        "Object.defineProperty(navigator.clipboard, 'writeText', "
        "{value: (text) => { window.copied = text; return Promise.resolve(); }});"
    )
    lane.find_element("css selector", ".lane-copy").click()
    assert page.execute_script("return window.copied") == command


def test_switching_model_clears_the_previous_models_run(page, server):
    from selenium.webdriver.support.ui import Select

    previous = start_run(page, "fmnist-pf", ["dual-loop"], nfe=200)
    wait_for(page, lambda d: lanes_with_status(d, previous, 1, "running"), "the run to start")
    run_id = page.find_element("id", "lanes").get_attribute("data-run")
    Select(page.find_element("id", "checkpoint")).select_by_value("emoji-t2i")
    assert page.find_elements("css selector", ".lane") == []
    assert page.find_element("id", "lanes").get_attribute("data-run") is None
    assert page.find_element("id", "step-label").text == "no run yet"
    for control in ("step", "play", "export-png", "cancel"):
        assert not page.find_element("id", control).is_enabled(), control
    wait_for(
        page,
        lambda d: json.loads(_api(server, f"api/runs/{run_id}"))["status"] == "cancelled",
        "the cleared run to be cancelled",
    )
    Select(page.find_element("id", "checkpoint")).select_by_value("fmnist-pf")
    assert page.find_elements("css selector", ".lane") == []


def test_a_text_model_takes_a_prompt_instead_of_a_class(page):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "checkpoint")).select_by_value("emoji-t2i")
    assert (
        page.find_element("id", "prompt").is_displayed()
        and not page.find_element("id", "label").is_displayed()
    )
    previous = start_run(page, "emoji-t2i", ["euler-pf"], prompt="heavy black heart")
    (lane,) = wait_for(
        page, lambda d: lanes_with_status(d, previous, 1, "done"), "the text model's run to finish"
    )
    assert "--prompt 'heavy black heart'" in lane.find_element("css selector", ".lane-command").text
    assert 'prompt "heavy black heart"' in page.find_element("id", "message").text
    assert _colours(page, lane, "image")["distinct"] > 10  # a drawn emoji, not a blank canvas
    assert lane.find_element("css selector", ".lane-subject").text == "“heavy black heart”"
    assert lane.find_element("css selector", ".panel-image").get_attribute("width") == str(32 * 5)
    Select(page.find_element("id", "checkpoint")).select_by_value("fmnist-pf")
    assert not page.find_elements("css selector", ".lane")  # the emoji run is gone
    assert (
        page.find_element("id", "label").is_displayed()
        and not page.find_element("id", "prompt").is_displayed()
    )


def test_bad_input_gets_a_message_and_the_server_goes_on(page):
    start_run(page, "fmnist-pf", ["dual-loop"], nfe=0)
    message = wait_for(
        page, lambda d: d.find_element("css selector", "#message.error"), "an error message"
    )
    assert "nfe must be an integer" in message.text
    fill(page, "opt-p", "1.5")
    start_run(page, "fmnist-pf", ["dual-loop"])
    wait_for(
        page,
        lambda d: "option p" in d.find_element("id", "message").text,
        "the option's range message",
    )
    fill(page, "opt-p", "0.4")
    previous = start_run(page, "fmnist-pf", ["dual-loop"])
    wait_for(
        page, lambda d: lanes_with_status(d, previous, 1, "done"), "a good run after the bad ones"
    )


def test_a_run_can_be_cancelled(page):
    previous = start_run(page, "fmnist-pf", ["dual-loop"], nfe=200)
    wait_for(page, lambda d: lanes_with_status(d, previous, 1, "running"), "the run to start")
    page.find_element("id", "cancel").click()
    wait_for(
        page, lambda d: lanes_with_status(d, previous, 1, "cancelled"), "the run to be cancelled"
    )
    assert page.find_element("id", "message").text.startswith("cancelled")


def test_a_static_page_of_a_model_with_html_like_class_names_plays(browser, tmp_path):
    """``view --static`` of a model whose class names hold ``<!--<script>`` and ``</script>``: the
    page keeps its three scripts, shows the names as text and plays its runs (last: it leaves the
    served page)."""
    from patchforcing.cli.main import main

    out = tmp_path / "page.html"
    model = hostile_model(tmp_path / "model")
    assert main(["view", "--static", str(out), "--checkpoint", str(model)]) == 0
    browser.get(out.as_uri())
    wait_for(browser, lambda d: len(d.find_elements("css selector", ".lane")) == 4, "four lanes")
    assert browser.execute_script("return document.scripts.length") == 3
    assert not browser.find_elements("id", "injected")
    titles = [o.text for o in browser.find_elements("css selector", "#static-select option")]
    assert "class 0 (<!--<script>)" in titles[0], titles
    subjects = {e.text for e in browser.find_elements("css selector", ".lane-subject")}
    assert subjects == {"class 0: <!--<script>"}
