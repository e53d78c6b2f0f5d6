"""Helpers of the viewer tests: the shipped models loaded once, the event stream parsed, and
``patchforcing view`` started as a real server on a free loopback port."""

from __future__ import annotations

import functools
import json
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
