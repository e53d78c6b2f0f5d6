"""Probes of ``fault_tests.py`` for hostile inputs that once crashed or blamed the wrong thing:
labels beyond the reference's classes, malformed viewer requests, HTML-like class names in a static
page, a sampler's NFE and a batch's memory, an NFE budget below one step, decompression bombs,
endless or folder prompt files, a garbage limits variable, damaged bench results, two writers of
one destination, a mistyped option and an ``--out`` named as a folder.

Each probe must end in one clear line (or, for the viewer, a 400 with a reason), with no traceback
and nothing written where the command was refused.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from fault_limits import env
from fault_probes import cli, one_line
from fault_scenarios import Row
from patchforcing.utils.io.atomic import one_writer
from patchforcing.utils.limits import LIMITS_ENV

__all__ = ["input_rows"]

ROOT = Path(__file__).resolve().parents[1]


def _cli_rows(run: Path, work: Path) -> list[Row]:
    """CLI inputs: each must give status 2 and one error line naming the problem."""
    Image.new("1", (14_000, 14_000)).save(work / "bomb.png")  # 24 KB, 196 megapixels
    Image.new("L", (8, 8), 255).save(work / "mask8.png")
    Image.new("L", (16, 16), 128).save(work / "known16.png")
    rng = np.random.default_rng(0)
    np.savez(
        work / "ref2.npz",
        images=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
        labels=np.arange(16) % 2,
    )
    shipped = work / "shipped_samples"
    assert cli(["sample", "--num", "6", "--steps", "1", "--out", str(shipped)])[0] == 0
    (work / "results.json").write_text('{"config": {"nfe": [8')
    sample = ["sample", "--checkpoint", str(run), "--num", "1", "--steps", "1", "--threads", "1"]
    known, x = [*sample, "--out", str(work / "inp")], work / "x"
    cases = [
        (
            ["eval", "--folder", str(shipped), "--reference", str(work / "ref2.npz")],
            "beyond the reference's 2 classes",
        ),
        (
            [*sample, "--sampler", "dual-loop", "--steps", "100000", "--n-inner", "1000000"],
            "NFE dual-loop would spend per image is 100,000,000,000",
        ),
        ([*known, "--inpaint", str(work / "bomb.png"), "--mask", str(work / "mask8.png")], "bomb"),
        ([*known, "--inpaint", str(work / "mask8.png"), "--mask", str(work / "bomb.png")], "bomb"),
        (
            [*known, "--inpaint", str(work / "known16.png"), "--mask", str(work / "mask8.png")],
            "is 16x16; the model makes 8x8 images",
        ),
        (
            ["sample", "--checkpoint", "emoji-t2i", "--prompts", "/dev/zero", "--out", str(x)],
            "larger than 64 MiB",
        ),
        (
            ["sample", "--checkpoint", "emoji-t2i", "--prompts", str(work), "--out", str(x)],
            "is a folder",
        ),
        (
            ["sample", "--checkpoint", str(run), "--sampler", "dual-loop", "--nfe", "2", "--out"]
            + [str(x)],
            "the smallest budget it can honour is 4",
        ),
        (["sample", "--nmu", "3"], "(did you mean --num?)"),
        (["eval", "--folder", str(shipped), "--out", f"{x}/"], "is a folder"),
    ]
    clear = [one_line(*cli(args), phrase) for args, phrase in cases]
    with mock.patch("patchforcing.utils.limits.available_memory", lambda: 2**30):
        batch = [*sample, "--num", "100000", "--batch-size", "100000", "--out", str(work / "b")]
        clear.append(one_line(*cli(batch), "GiB of memory"))
    with env(LIMITS_ENV, "garbage"):
        code, err = cli([*sample, "--out", str(work / "g")])
        clear.append(one_line(code, err, f"{LIMITS_ENV}: unknown limit") and "config" not in err)
    bench = [sys.executable, "-m", "benchmarks.quality", "--report-only", "--out", str(work / "q")]
    results = work / "results.json"
    done = subprocess.run(
        [*bench, "--results", str(results)], capture_output=True, text=True, cwd=ROOT
    )
    clear.append(one_line(done.returncode, done.stderr, f"results file {results} is not JSON"))
    model = work / "one_writer_model"
    assert cli(["export", str(run), str(model)])[0] == 0
    with one_writer(Path(os.path.abspath(model))):  # as while another export is writing it
        clear.append(
            one_line(*cli(["export", str(run), str(model), "--overwrite"]), "another process")
        )
    written = [p.name for p in work.iterdir() if p.name in ("inp", "b", "g", "x")]
    return [
        Row(
            "hostile inputs (one line each)",
            len(clear),
            "-",
            len(written),
            "-",
            all(clear) and not written,
            f"clear {clear}; written {written}",
        )
    ]


def _viewer_rows(work: Path) -> list[Row]:
    """Malformed requests answered 400 with a reason, and a static page of a model whose class
    names hold HTML-like text keeping its structure (needs the view extra)."""
    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("httpx") is None:
        return [Row("viewer: malformed requests", 0, "-", "-", "-", True, "no view extra")]
    from starlette.testclient import TestClient

    sys.path.insert(0, str(ROOT / "tests"))
    from patchforcing.viewer import Viewer
    from patchforcing.viewer.app import create_app
    from viewer_helpers import hostile_model, run_body, shipped_catalog

    app = create_app(Viewer(shipped_catalog()), allowed_hosts=["testserver"])
    header = {"content-type": "application/json"}
    body = run_body(["euler-pf"]) | {"checkpoint": "emoji-t2i", "label": None}
    lone = json.dumps(body).replace('"client"', '"prompt": "a \\ud800", "client"').encode()
    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        answers.append(client.post("/api/runs", content=b"[" * 2000 + b"]" * 2000, headers=header))
        answers.append(client.post("/api/runs", content=lone, headers=header))
        run = client.post("/api/runs", json=run_body(["euler-pf"])).json()
        events = f"/api/runs/{run['id']}/events"
        answers.append(client.get(events, headers={"last-event-id": "9" * 5000}))
    refused = [a.status_code == 400 and bool(a.json().get("error")) for a in answers]
    page = work / "hostile.html"
    made = cli(["view", "--static", str(page), "--checkpoint", str(hostile_model(work / "h"))])
    html = page.read_text() if page.is_file() else ""
    intact = made[0] == 0 and html.count("<script") == 3 and "<!--" not in html
    return [
        Row(
            "viewer: malformed requests, hostile names",
            len(refused) + 1,
            "-",
            "-",
            "-",
            all(refused) and intact,
            f"400s {refused} {[a.text[:80] for a in answers]}; static page intact {intact}",
        )
    ]


def input_rows(run: Path, work: Path) -> list[Row]:
    """``run``: a trained tiny run (8 x 8 images, 3 classes)."""
    work = work / "inputs"
    work.mkdir()
    return _cli_rows(run, work) + _viewer_rows(work)
