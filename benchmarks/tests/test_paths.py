"""How the benchmarks record paths: relative where they lie under the root, shortened elsewhere,
never absolute; in commands too, quoted ones included."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.paths import portable_command, portable_path, record_root


@pytest.mark.parametrize(
    "path,recorded",
    [
        ("/data/bq/arms/pf-seed0-abc", "bq/arms/pf-seed0-abc"),  # under the root
        ("/data", "data"),  # the root itself: its name
        ("/srv/runs/fmnist-pf", "runs/fmnist-pf"),  # elsewhere: the last two components
        ("runs/fmnist-pf", "runs/fmnist-pf"),  # relative: as given
        ("../runs/x", "../runs/x"),
    ],
)
def test_portable_path(path: str, recorded: str) -> None:
    assert portable_path(path, "/data") == recorded


def test_portable_command_shortens_every_absolute_path_and_nothing_else() -> None:
    command = (
        "python -m benchmarks.quality --out /data/bq --adopt pf:0=/srv/runs/fmnist-pf "
        "--results=/data/r.json --docs docs/results.md --nfe-sweep 8,16 '/srv/my runs/a b' "
        "(run /srv/runs/x, `/data/bq`)"
    )
    assert portable_command(command, "/data") == (
        "python -m benchmarks.quality --out bq --adopt pf:0=runs/fmnist-pf --results=r.json "
        "--docs docs/results.md --nfe-sweep 8,16 'my runs/a b' (run runs/x, `bq`)"
    )


def test_record_root_is_the_folder_the_output_folder_lies_in(tmp_path, monkeypatch) -> None:
    assert record_root(tmp_path / "bq") == tmp_path
    monkeypatch.chdir(tmp_path)
    assert record_root("bq") == Path(tmp_path)
