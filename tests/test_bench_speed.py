"""Smoke test of ``patchforcing bench speed`` on a tiny model."""

from __future__ import annotations

import json

import pytest

from patchforcing.cli.main import main
from patchforcing.evaluation.speed.inference import SpeedConfig
from patchforcing.utils.runtime import keep_freed_memory

pytestmark = pytest.mark.usefixtures("single_thread")


def test_bench_speed_smoke(tmp_path, capsys):
    out = tmp_path / "bench" / "speed.json"
    assert (
        main(
            [
                "bench",
                "speed",
                "--preset",
                "T/4",
                "--image-size",
                "8",
                "--batch",
                "2",
                "--steps",
                "2",
                "--repeats",
                "1",
                "--forwards",
                "1",
                "--cfg",
                "2",
                "--clock",
                "cpu",
                "--threads",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "forward, PF model at uniform t" in table and "sampler look-ahead" in table
    report = json.loads(out.read_text())
    assert report["forward_ratio"] > 0 and report["targets"] == {"forward": 1.10, "sampler": 1.05}
    assert {s["name"]: s["nfe"] for s in report["samplers"]} == {
        "euler": 2,
        "euler-pf": 2,
        "dual-loop": 8,
        "look-ahead": 3,
        "random": 8,
        "hardest-first": 8,
        "matrix": 2,
    }
    assert all(s["ratio"] > 0 and s["images_forwarded"] == 4 * s["nfe"] for s in report["samplers"])
    assert all(s["ratio_iqr"][0] <= s["ratio"] <= s["ratio_iqr"][1] for s in report["samplers"])
    assert [m["layout"] for m in report["mixed"]] == [
        "segments",
        "gathered",
    ] and "(gathered)" in table
    assert (
        report["heap_kept"] is keep_freed_memory()
    )  # the command asked malloc to keep freed memory (glibc)
    assert out.with_suffix(".md").read_text().startswith("bench speed on cpu")


def test_bench_speed_rejects_bad_config():
    with pytest.raises(ValueError, match="unknown sampler"):
        SpeedConfig(samplers=("heun",))
    with pytest.raises(ValueError, match="clock"):
        SpeedConfig(clock="sundial")
