"""The metric-sensitivity bench on a small set of real images, in both shipped feature spaces: FD
grows with the noise, background noise raises the background level, and the report names no
absolute path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.metric_sensitivity.__main__ import DEFAULT_SPACES, main
from patchforcing.data import DataConfig, load_images


@pytest.fixture
def fmnist_npz(tmp_path):
    """The first 300 Fashion-MNIST train images as an .npz file: both the set corrupted and
    the reference."""
    data = load_images(DataConfig())
    path = tmp_path / "fmnist.npz"
    np.savez(
        path,
        images=data.images[:300, 0].numpy(),
        labels=data.labels[:300].numpy(),
        class_names=np.array(data.class_names),
    )
    return path


def test_sensitivity_of_the_shipped_feature_spaces(fmnist_npz, tmp_path, capsys):
    out = tmp_path / "sens.json"
    assert (
        main(
            [
                "--data",
                str(fmnist_npz),
                "--reference",
                str(fmnist_npz),
                "--num",
                "300",
                "--noise",
                "0.1,0.4,1.0",
                "--blur",
                "1",
                "--drop",
                "1",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--threads",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    rows = {row["corruption"]: row for row in report["rows"]}
    assert [s["name"] for s in report["spaces"]] == list(DEFAULT_SPACES) and len(
        rows
    ) == 1 + 3 + 3 + 1 + 1
    assert rows["clean"]["fd"] == pytest.approx([0.0, 0.0], abs=1e-3)  # the reference itself
    for space in range(2):
        fds = [rows[f"noise sigma {s:g}"]["fd"][space] for s in (0.1, 0.4, 1.0)]
        assert fds == sorted(fds) and fds[0] > rows["clean"]["fd"][space], (space, fds)
    levels = [rows[f"background noise sigma {s:g}"]["background"] for s in (0.1, 0.4, 1.0)]
    assert levels == sorted(levels) and levels[0] > rows["clean"]["background"]
    assert rows["class 0 missing"]["num_images"] < 300
    md = (tmp_path / "sens.md").read_text()
    assert "FD / tr(S_ref)" in md and "none of these FDs is an FID" in md
    assert (
        f"Command: `python -m benchmarks.metric_sensitivity --data {tmp_path.name}/fmnist.npz "
        in md
    )
    assert str(tmp_path) not in md and str(tmp_path) not in out.read_text()


def test_errors_are_one_line_with_exit_status_2(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m benchmarks.metric_sensitivity: error: ") and "\n" not in err
    with pytest.raises(SystemExit) as stop:
        main(["--noise", "0"])
    assert stop.value.code == 2 and "expected numbers > 0" in capsys.readouterr().err
