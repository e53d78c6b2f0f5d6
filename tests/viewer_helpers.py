"""Helpers of the viewer tests: the shipped models loaded once, the event stream parsed,
``patchforcing view`` started as a real server on a free loopback port, and its page driven in a
headless browser."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchforcing.model.shipped import shipped_path
from patchforcing.viewer import Checkpoint, load_catalog

SERVER_START_S = 120  # loading torch and three models on a busy 2-core machine


@functools.cache
def shipped_catalog() -> dict[str, Checkpoint]:
    return load_catalog(["fmnist-pf", "fmnist-global", "emoji-t2i"])


HOSTILE_NAMES = [
    "<!--<script>",
    "</script><b id=injected>x</b>",
    "a'\"&amp;",
]  # class names that would change a page embedding them unescaped


def hostile_model(folder: Path) -> Path:
    """A copy of the shipped fmnist-pf model folder whose first class names are
    :data:`HOSTILE_NAMES`."""
    shutil.copytree(shipped_path("fmnist-pf"), folder)
    config = json.loads((folder / "config.json").read_text())
    names = config["data"]["class_names"]
    config["data"]["class_names"] = HOSTILE_NAMES + names[len(HOSTILE_NAMES) :]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@dataclass(frozen=True)
class StreamEvent:
    id: int
    kind: str
    data: dict[str, Any]


def parse_events(lines: Iterable[str]) -> list[StreamEvent]:
    """Server-Sent Events text lines -> events, in order."""
    events, fields = [], {}
    for line in lines:
        if not line:
            if fields:
                events.append(
                    StreamEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                )
            fields = {}
            continue
        key, _, value = line.partition(": ")
        fields[key] = value
    return events


def run_body(
    samplers: list[str], checkpoint: str = "fmnist-pf", client: str = "test", **values: Any
) -> dict:
    body: dict[str, Any] = {
        "client": client,
        "checkpoint": checkpoint,
        "samplers": samplers,
        "nfe": 8,
        "seed": 1,
        "label": 3,
    }
    body.update(values)
    return body


class ViewerProcess:
    """``python -m patchforcing view --port 0 ARGS``; ``url`` is the address it announced."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "patchforcing", "view", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.first_line = ""
        reader = threading.Thread(target=self._read_first_line, daemon=True)
        reader.start()
        reader.join(SERVER_START_S)
        if "http://" not in self.first_line:
            self.stop()
            raise RuntimeError(
                f"patchforcing view did not announce its address: {self.first_line!r} "
                f"{self.process.stderr.read() if self.process.stderr else ''}"
            )
        self.url = self.first_line.split("on ", 1)[1].split(" ", 1)[0]

    def _read_first_line(self) -> None:
        assert self.process.stdout is not None
        self.first_line = self.process.stdout.readline()

    def stop(self) -> int:
        """Interrupt the server as Ctrl-C would and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


# ---- driving the page in a headless browser (tests/test_viewer_browser.py) ----

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BROWSER_WAIT_S = 180  # a run takes well under a second alone; the test machine may be busy


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
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


def headless_chromium(profile: Path, width: int, height: int) -> Any:
    """A Selenium driver of headless Chromium with a fresh profile and a window of that size."""
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
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(driver: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, BROWSER_WAIT_S, poll_frequency=0.1).until(
        condition, message=f"waited {BROWSER_WAIT_S} s for {what}"
    )


def fill(driver: Any, element_id: str, value: str) -> None:
    field = driver.find_element("id", element_id)
    field.clear()
    field.send_keys(value)


def start_run(
    driver: Any,
    checkpoint: str,
    samplers: list[str],
    nfe: int = 32,
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
        fill(driver, "prompt", prompt)
    fill(driver, "nfe", str(nfe))
    fill(driver, "seed", str(seed))
    driver.find_element("id", "run").click()
    return previous


def lanes_with_status(driver: Any, previous: str, count: int, status: str) -> list:
    """The lanes of a run newer than ``previous`` once all ``count`` of them have ``status``."""
    shown = driver.find_element("id", "lanes").get_attribute("data-run") or ""
    lanes = driver.find_elements("css selector", ".lane")
    done = (
        shown != previous
        and len(lanes) == count
        and all(lane.get_attribute("data-status") == status for lane in lanes)
    )
    return lanes if done else []


def step_to(driver: Any, index: int) -> None:
    """Move the player's slider to pass ``index`` as a user would."""
    driver.execute_script(
        "const s = document.getElementById('step'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('input'));",
        index,
    )
