"""``patchforcing view``: the static page, a real server on a free loopback port, and the clear
error without the web extra."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from patchforcing.cli.main import main
from patchforcing.viewer import static_html, static_runs
from patchforcing.viewer.static_page import STATIC_IMAGES, STATIC_PROMPTS, script_json
from viewer_helpers import HOSTILE_NAMES, ViewerProcess, hostile_model, shipped_catalog


def _static_data(html: str) -> dict:
    block = re.search(r'<script id="pf-static" type="application/json">(.*?)</script>', html, re.S)
    assert block is not None
    return json.loads(block.group(1))


def test_static_page_is_self_contained_with_precomputed_runs():
    catalog = {"fmnist-pf": shipped_catalog()["fmnist-pf"]}
    html = static_html(static_runs(catalog, nfe=4))
    assert "/assets/" not in html and "http://" not in html and "https://" not in html
    assert (
        html.count("</script>") == 3 and "<style>" in html
    )  # the data block and the two inlined scripts
    runs = _static_data(html)["runs"]
    assert len(runs) == len(STATIC_IMAGES)
    for run in runs:
        lanes = [lane["sampler"] for lane in run["summary"]["lanes"]]
        assert lanes == ["euler-pf", "dual-loop", "look-ahead", "random"]
        frames = [e for e in run["events"] if e["kind"] == "frame"]
        results = [e["data"] for e in run["events"] if e["kind"] == "lane"]
        assert (
            len(frames) == sum(r["nfe"] for r in results)
            and run["events"][-1]["data"]["status"] == "done"
        )


def test_static_page_embeds_model_strings_as_inert_json():
    """Class names such as ``<!--<script>`` or ``</script>`` from a model folder are JSON escapes in
    the page (no ``<``, ``>`` or ``&`` in the data block), and the page still has exactly its three
    script elements; the data parses back to the same strings."""
    runs = [{"title": n, "summary": {"class_name": n}, "events": []} for n in HOSTILE_NAMES]
    html = static_html(runs)
    assert html.count("<script") == 3 and html.count("</script>") == 3 and "<!--" not in html
    block = html.split('<script id="pf-static" type="application/json">')[1].split("</script>")[0]
    assert not set("<>&") & set(block)
    assert json.loads(block)["runs"] == runs
    assert script_json("</script>") == '"\\u003c/script\\u003e"'


def test_view_static_of_a_model_with_html_like_class_names(tmp_path):
    model = hostile_model(tmp_path / "model")
    out = tmp_path / "page.html"
    assert main(["view", "--static", str(out), "--checkpoint", str(model)]) == 0
    html = out.read_text()
    assert html.count("<script") == 3 and "<!--" not in html and "id=injected" not in html
    titles = [run["title"] for run in _static_data(html)["runs"]]
    assert "class 0 (<!--<script>)" in titles[0]


def test_static_page_of_a_text_model_runs_its_prompts():
    runs = static_runs({"emoji-t2i": shipped_catalog()["emoji-t2i"]}, nfe=2)
    assert [run["summary"]["prompt"] for run in runs] == list(STATIC_PROMPTS)
    assert "prompt 'a flag'" in runs[0]["title"] and all(
        r["events"][-1]["data"]["status"] == "done" for r in runs
    )


def test_view_static_writes_a_small_page(tmp_path, capsys):
    out = tmp_path / "viewer.html"
    assert main(["view", "--static", str(out), "--checkpoint", "fmnist-global"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert out.stat().st_size < 1_000_000
    runs = _static_data(out.read_text())["runs"]
    assert {lane["sampler"] for run in runs for lane in run["summary"]["lanes"]} == {"euler"}


def test_view_serves_the_page_on_loopback():
    pytest.importorskip(
        "uvicorn", reason="the viewer's server needs pip install 'patchforcing[view]'"
    )
    server = ViewerProcess()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=30) as page:
            assert page.status == 200 and b"Patch Forcing" in page.read()
        with urllib.request.urlopen(server.url + "api/models", timeout=30) as models:
            names = [c["name"] for c in json.load(models)["checkpoints"]]
        assert names == ["fmnist-pf", "fmnist-global", "emoji-t2i"]
    finally:
        assert server.stop() == 0


def test_view_without_the_web_extra_says_what_to_install():
    hide_starlette = (
        "import sys; sys.modules['starlette'] = None; from patchforcing.cli.main import main; "
        "sys.exit(main(['view', '--port', '0']))"
    )  # in a fresh interpreter: nothing imported it yet
    done = subprocess.run(
        [sys.executable, "-c", hide_starlette], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert (
        len(done.stderr.strip().splitlines()) == 1
        and "pip install 'patchforcing[view]'" in done.stderr
    )


def test_loopback_hosts_and_port_range(capsys):
    is_loopback = pytest.importorskip(
        "patchforcing.viewer.serve", reason="needs the view extra"
    ).is_loopback
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert (
        not is_loopback("0.0.0.0")
        and not is_loopback("192.168.1.2")
        and not is_loopback("example.org")
    )
    with pytest.raises(SystemExit):
        main(["view", "--port", "70000"])
    assert "at most 65535" in capsys.readouterr().err
