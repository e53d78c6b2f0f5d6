"""End to end in a real headless browser (Debian's chromium and chromium-driver, through Selenium)
against ``patchforcing view`` on a free loopback port: every sampler of the shipped models plays to
its last pass with the NFE the sampler spent, the image and both maps are drawn, four samplers step
together, bad input gets a message, a run can be cancelled, and the current frame exports as PNG.

A screenshot of the comparison is written to ``$PATCHFORCING_SCREENSHOT`` when it is set
(``PATCHFORCING_SCREENSHOT=docs/viewer.png`` regenerates the one in the docs), else to a temporary
folder. Skipped, with the reason, where no browser is installed (``bash scripts/setup.sh --test``
installs one where apt-get can).
"""

from __future__ import annotations

import base64
import importlib.util
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from patchforcing.sampling import SAMPLERS
from patchforcing.sampling.options import sampler_options
from viewer_helpers import ViewerProcess, hostile_model

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
NFE = 32
WAIT_S = 180  # a run takes well under a second alone; the test machine may be busy
RED, YELLOW, GREY = (
    (227, 18, 43),
    (253, 231, 37),
    (136, 136, 136),
)  # certain outline; viridis at t = 1; no map
RUNS = [("fmnist-pf", name) for name in SAMPLERS] + [("fmnist-global", "euler")]
COMPARED = ["euler-pf", "dual-loop", "look-ahead", "random"]


def _missing() -> str | None:
    for module, what in (
        ("selenium", "selenium"),
        ("uvicorn", "the view extra"),
        ("starlette", "the view extra"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{what} is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return (
                f"no browser: {path} is missing (apt-get install chromium chromium-driver; "
                "bash scripts/setup.sh --test does this where apt-get and root are available)"
            )
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")

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


@pytest.fixture(scope="module")
def server():
    process = ViewerProcess()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1180,1300",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements("css selector", ".sampler-choice")
    )
    return browser


def _wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
        condition, message=f"waited {WAIT_S} s for {what}"
    )


def _set(driver, element_id: str, value: str) -> None:
    field = driver.find_element("id", element_id)
    field.clear()
    field.send_keys(value)


def _start(
    driver,
    checkpoint: str,
    samplers: list[str],
    nfe: int = NFE,
    label: int = 3,
    seed: int = 1,
    prompt: str | None = None,
) -> str:
    """Fill in the form (the class, or for a text model the prompt) and press Run; returns the id of
    the run shown before."""
    from selenium.webdriver.support.ui import Select

    previous = driver.find_element("id", "lanes").get_attribute("data-run") or ""

    Select(driver.find_element("id", "checkpoint")).select_by_value(checkpoint)
    for box in driver.find_elements("css selector", ".sampler-choice"):
        if box.is_selected() != (box.get_attribute("value") in samplers):
            box.click()
    if prompt is None:
        Select(driver.find_element("id", "label")).select_by_value(str(label))
    else:
        _set(driver, "prompt", prompt)
    _set(driver, "nfe", str(nfe))
    _set(driver, "seed", str(seed))
    driver.find_element("id", "run").click()
    return previous


def _lanes_with_status(driver, previous: str, count: int, status: str) -> list:
    """The lanes of a run newer than ``previous`` once all ``count`` of them have ``status``."""
    shown = driver.find_element("id", "lanes").get_attribute("data-run") or ""
    lanes = driver.find_elements("css selector", ".lane")
    done = (
        shown != previous
        and len(lanes) == count
        and all(lane.get_attribute("data-status") == status for lane in lanes)
    )
    return lanes if done else []


def _colours(driver, lane, panel: str, *wanted: tuple[int, int, int]) -> dict:
    canvas = lane.find_element("css selector", f".panel-{panel}")
    return driver.execute_script(_CANVAS_COLOURS, canvas, [list(c) for c in wanted])


def _step_to(driver, index: int) -> None:
    driver.execute_script(
        "const s = document.getElementById('step'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input'));",
        index,
    )


@pytest.mark.parametrize(("checkpoint", "sampler"), RUNS)
def test_every_sampler_plays_to_its_last_pass(page, checkpoint, sampler):
    previous = _start(page, checkpoint, [sampler])
    (lane,) = _wait(
        page, lambda d: _lanes_with_status(d, previous, 1, "done"), f"{sampler} to finish"
    )
    nfe = SAMPLERS[sampler]().budget(NFE).nfe
    assert lane.get_attribute("data-nfe") == str(nfe)
    _wait(
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
    _step_to(page, nfe // 2)
    middle = _colours(page, lane, "time", RED)
    takes_p = any(info.name == "p" for info in sampler_options(SAMPLERS[sampler]))
    assert (
        middle["counts"][0] > 0
    ) == takes_p  # the certain patches of samplers with a certain fraction p


def test_four_samplers_step_together_and_export(page, tmp_path):
    previous = _start(page, "fmnist-pf", COMPARED, label=7, seed=3)
    lanes = _wait(
        page, lambda d: _lanes_with_status(d, previous, 4, "done"), "the comparison to finish"
    )
    spent = [SAMPLERS[name]().budget(NFE).nfe for name in COMPARED]
    assert [lane.get_attribute("data-nfe") for lane in lanes] == [str(n) for n in spent]
    _step_to(page, 12)
    assert [lane.find_element("css selector", ".lane-nfe").text for lane in lanes] == [
        f"NFE 13 / {n}" for n in spent
    ]
    page.find_element("id", "play").click()
    _wait(
        page,
        lambda d: int(d.find_element("id", "step").get_attribute("value")) > 3,
        "the player to advance",
    )
    page.find_element("id", "play").click()
    assert page.find_element("id", "play").text == "Play"
    _step_to(
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


def test_a_text_model_takes_a_prompt_instead_of_a_class(page):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "checkpoint")).select_by_value("emoji-t2i")
    assert (
        page.find_element("id", "prompt").is_displayed()
        and not page.find_element("id", "label").is_displayed()
    )
    previous = _start(page, "emoji-t2i", ["euler-pf"], prompt="heavy black heart")
    (lane,) = _wait(
        page, lambda d: _lanes_with_status(d, previous, 1, "done"), "the text model's run to finish"
    )
    assert "--prompt 'heavy black heart'" in lane.find_element("css selector", ".lane-command").text
    assert 'prompt "heavy black heart"' in page.find_element("id", "message").text
    assert _colours(page, lane, "image")["distinct"] > 10  # a drawn emoji, not a blank canvas
    Select(page.find_element("id", "checkpoint")).select_by_value("fmnist-pf")
    assert (
        page.find_element("id", "label").is_displayed()
        and not page.find_element("id", "prompt").is_displayed()
    )


def test_bad_input_gets_a_message_and_the_server_goes_on(page):
    _start(page, "fmnist-pf", ["dual-loop"], nfe=0)
    message = _wait(
        page, lambda d: d.find_element("css selector", "#message.error"), "an error message"
    )
    assert "nfe must be an integer" in message.text
    _set(page, "opt-p", "1.5")
    _start(page, "fmnist-pf", ["dual-loop"])
    _wait(
        page,
        lambda d: "option p" in d.find_element("id", "message").text,
        "the option's range message",
    )
    _set(page, "opt-p", "0.4")
    previous = _start(page, "fmnist-pf", ["dual-loop"])
    _wait(
        page, lambda d: _lanes_with_status(d, previous, 1, "done"), "a good run after the bad ones"
    )


def test_a_run_can_be_cancelled(page):
    previous = _start(page, "fmnist-pf", ["dual-loop"], nfe=200)
    _wait(page, lambda d: _lanes_with_status(d, previous, 1, "running"), "the run to start")
    page.find_element("id", "cancel").click()
    _wait(
        page, lambda d: _lanes_with_status(d, previous, 1, "cancelled"), "the run to be cancelled"
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
    _wait(browser, lambda d: len(d.find_elements("css selector", ".lane")) == 4, "four lanes")
    assert browser.execute_script("return document.scripts.length") == 3
    assert not browser.find_elements("id", "injected")
    titles = [o.text for o in browser.find_elements("css selector", "#static-select option")]
    assert "class 0 (<!--<script>)" in titles[0], titles
