"""Probes of ``fault_tests.py`` as a careless or hostile user would try them: destinations that are
not the command's own, side-by-side runs, backups among the checkpoints, leftovers of interrupted
writes, other spellings of a run's path, restarts and damaged checkpoints.

Commands run in this process through ``patchforcing.cli.main.main`` (their one-line errors
captured), except where a second process is the point. A row's "corrupted" column counts user or run
files lost or changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import torch
from safetensors.torch import load_file

from fault_scenarios import Row
from patchforcing.cli.main import main
from patchforcing.model.pretrained import list_checkpoints
from patchforcing.train.run_folder import locked_run

__all__ = [
    "TINY",
    "cli",
    "snapshot",
    "one_line",
    "destination_rows",
    "run_folder_rows",
    "same_weights",
]

TINY = [
    "--preset",
    "T/4",
    "--depth",
    "1",
    "--width",
    "32",
    "--heads",
    "2",
    "--batch-size",
    "8",
    "--warmup",
    "2",
    "--checkpoint-every",
    "1",
    "--keep-checkpoints",
    "2",
    "--sample-every",
    "1000",
    "--log-every",
    "1",
    "--threads",
    "1",
    "--no-progress",
    "--seed",
    "3",
]


def train_args(npz: Path, out: Path | str, steps: int, *extra: str) -> list[str]:
    return ["train", "--data", str(npz), "--out", str(out), "--steps", str(steps), *TINY, *extra]


def cli(args: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of ``patchforcing ARGS`` run in this process; an escaping exception is
    a traceback the user would have seen, reported as status -1."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(args)
        except SystemExit as stop:  # argparse errors
            code = stop.code if isinstance(stop.code, int) else 2
        except BaseException as escaped:  # noqa: BLE001 - exactly what the probes look for
            return -1, f"Traceback: {type(escaped).__name__}: {escaped}"
    return code, err.getvalue()


def one_line(code: int, err: str, phrase: str) -> bool:
    """A refused command: status 2, no traceback, and its last line is the error
    holding ``phrase``."""
    lines = [line for line in err.strip().splitlines() if line]
    return (
        code == 2
        and "Traceback" not in err
        and bool(lines)
        and "error:" in lines[-1]
        and phrase in lines[-1]
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with a digest of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def lost(before: dict[str, str], folder: Path) -> int:
    after = snapshot(folder) if folder.exists() else {}
    return sum(after.get(name) != digest for name, digest in before.items())


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "ema.safetensors")), load_file(str(b / "ema.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("my own notes")
    (path / "config.json").write_text('{"mine": true}')
    return path


def destination_rows(npz: Path, work: Path) -> list[Row]:
    """export / convert / sample / encode / eval into folders that are not theirs, and an
    interrupted re-export."""
    run, user = work / "dest_run", _user_folder(work / "dest_user")
    assert cli(train_args(npz, run, 2))[0] == 0
    kept_user, kept_run = snapshot(user), snapshot(run)
    sample = ["sample", "--checkpoint", str(run), "--num", "2", "--steps", "2", "--threads", "1"]
    refused = [
        (["export", str(run), str(user)], "not a model folder"),
        (["export", str(run), str(run)], "inside the source"),
        (["export", str(run), str(run / "checkpoints" / "new")], "inside the source"),
        (["convert", str(work / "authors.pt"), str(user)], "not a model folder"),
        (["convert", str(user / "notes.txt"), str(user / "notes.txt")], "is a file"),
        ([*sample, "--out", str(user)], "not a sample folder"),
        ([*sample, "--out", str(run)], "not a sample folder"),
        (
            ["encode", "--data", str(npz), "--vae", str(work / "no-vae"), "--out", str(user)],
            "not an encoded-latents folder",
        ),
        (["eval", "--checkpoint", str(run), "--out", str(user / "notes.txt")], "not a result of"),
    ]
    clear = sum(one_line(*cli(args), phrase) for args, phrase in refused)
    with inside(user):
        clear += one_line(*cli(["export", str(run), "."]), "not a model folder")
    samples = work / "dest_samples"
    own = [
        cli([*sample, "--out", str(samples)])[0] == 0,
        one_line(*cli([*sample, "--out", str(samples), "--seed", "3"]), "--overwrite"),
        cli([*sample, "--out", str(samples), "--overwrite", "--seed", "5"])[0] == 0,
    ]
    (samples / "mine.txt").write_text("mine")
    own.append(
        one_line(*cli([*sample, "--out", str(samples), "--overwrite"]), "not a sample folder")
    )
    own.append(
        (samples / "mine.txt").read_text() == "mine"
        and len(list((samples / "images").iterdir())) == 2
    )
    damage = lost(kept_user, user) + lost(kept_run, run)
    rows = [
        Row(
            "destinations not the command's own",
            len(refused) + 1 + len(own),
            "-",
            damage,
            "-",
            clear == len(refused) + 1 and all(own) and damage == 0,
            f"refused clearly {clear}; own output {own}",
        )
    ]
    return rows + [_interrupted_replace(run, work / "dest_model")]


def _interrupted_replace(run: Path, model: Path) -> Row:
    """A re-export killed between renaming the old folder aside and moving the new one in: the next
    write puts the old one back (never a missing destination), and the replace then completes."""
    assert cli(["export", str(run), str(model)])[0] == 0
    before = snapshot(model)
    import patchforcing.utils.io.atomic as atomic

    real = os.replace

    def killed_after_aside(src: str | Path, dst: str | Path) -> None:
        if str(dst) == str(model.absolute()):  # the new folder moving in: the kill lands here
            raise KeyboardInterrupt
        real(src, dst)

    # as after SIGKILL: nothing is cleaned up, the old folder waits aside, the new one in
    # its temporary
    with (
        mock.patch.object(atomic.os, "replace", killed_after_aside),
        mock.patch.object(atomic.shutil, "rmtree"),
    ):
        cli(["export", str(run), str(model), "--overwrite", "--weights", "online"])
    missing = not model.exists() and atomic.aside_path(model).is_dir()
    refused = one_line(
        *cli(["export", str(run), str(model)]), "--overwrite"
    )  # puts the old one back first
    restored = lost(before, model) == 0
    replaced = cli(["export", str(run), str(model), "--overwrite", "--weights", "online"])[0] == 0
    leftovers = [p.name for p in model.parent.iterdir() if p.name.startswith(f".{model.name}.")]
    ok = missing and refused and restored and replaced and not leftovers
    return Row(
        "interrupted re-export (replace)",
        1,
        int(restored),
        0 if restored else 1,
        "-",
        ok,
        f"missing after kill {missing}, refused {refused}, restored {restored}, replaced "
        f"{replaced}, leftovers {leftovers}",
    )


def _lock_row(npz: Path, work: Path, quick: bool) -> Row:
    """A second train on a run in use stops at once, naming the holder; in full mode two real
    trains race."""
    run = work / "lock_run"
    assert cli(train_args(npz, run, 1))[0] == 0
    second = [sys.executable, "-m", "patchforcing", *train_args(npz, str(run) + "/", 3)]
    with locked_run(run):
        start = time.perf_counter()
        proc = subprocess.run(second, capture_output=True, text=True, timeout=120)
        seconds = time.perf_counter() - start
    named = one_line(proc.returncode, proc.stderr, f"is in use by PID {os.getpid()}")
    probes, complete = 1, True
    if (
        not quick
    ):  # the real race: both start; one trains, the other stops at once, no metric line is lost
        race = work / "race_run"
        first = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "patchforcing",
                *train_args(npz, race, 5000, "--checkpoint-every", "500"),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        while not (race / "metrics.jsonl").exists() and first.poll() is None:
            time.sleep(0.05)
        other = subprocess.run(
            [
                sys.executable,
                "-m",
                "patchforcing",
                *train_args(npz, race, 5000, "--checkpoint-every", "500"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        first.send_signal(signal.SIGTERM)  # saves a checkpoint at the step it reached and exits
        first.communicate()
        logged = [
            json.loads(line)["step"]
            for line in (race / "metrics.jsonl").read_text().splitlines()
            if '"loss"' in line
        ]
        complete = (
            first.returncode == 128 + signal.SIGTERM
            and logged == list(range(1, len(logged) + 1))
            and one_line(other.returncode, other.stderr, "is in use by PID")
            and bool(list_checkpoints(race))
        )
        probes += 1
    return Row(
        "one writer per run (second train)",
        probes,
        "-",
        0,
        "-",
        named and seconds < 60 and complete,
        f"second process: exit {proc.returncode} after {seconds:.0f} s: {proc.stderr[-300:]}",
    )


def run_folder_rows(npz: Path, work: Path, reference: Path, quick: bool) -> list[Row]:
    """Lock, checkpoint names, leftovers, path spellings and moves, restarts, damaged checkpoints.
    ``reference`` is an uninterrupted 6-step run of the same options."""
    rows = [_lock_row(npz, work, quick)]

    run = work / "names_run"
    assert cli(train_args(npz, run, 2))[0] == 0
    checkpoints = run / "checkpoints"
    names = ("step_00000099_backup", "step_99", "step_00000099.bak", "my-backups/step_00000099")
    for name in names:
        shutil.copytree(checkpoints / "step_00000002", checkpoints / name)
    (checkpoints / ".step_00000007.pf-abcd1234.tmp").mkdir()
    (run / ".config.json.pf-zzzzzzzz.tmp").write_text("half")
    (run / ".my-hidden-notes").write_text("mine")
    backups = {name: snapshot(checkpoints / name) for name in names}
    code, err = cli(train_args(npz, run, 4))
    real = [p.name for p in list_checkpoints(run)]
    kept = sum(lost(files, checkpoints / name) for name, files in backups.items())
    stale = [p.name for p in (*run.iterdir(), *checkpoints.iterdir()) if p.name.endswith(".tmp")]
    ok = (
        code == 0
        and real == ["step_00000003", "step_00000004"]
        and kept == 0
        and (run / ".my-hidden-notes").exists()
    )
    rows.append(
        Row(
            "backups named like checkpoints",
            4,
            1,
            kept,
            "-",
            ok,
            f"exit {code} {err[-300:]}; kept {real}",
        )
    )
    rows.append(
        Row(
            "leftover temporaries cleaned at start",
            2,
            "-",
            0,
            "-",
            code == 0 and not stale,
            f"left {stale}",
        )
    )

    moved = work / "spell" / "run"
    steps = [(str(moved) + "/", 2), ("./spell/run", 3), (str(moved.absolute()), 4)]
    assert cli(train_args(npz, moved, 1))[0] == 0
    resumed = 0
    with inside(work):
        for out, total in steps:
            resumed += cli(train_args(npz, out, total))[0] == 0
    shutil.move(str(work / "spell"), str(work / "spell-moved"))
    resumed += cli(train_args(npz, work / "spell-moved" / "run", 6))[0] == 0
    final = work / "spell-moved" / "run" / "checkpoints" / "step_00000006"
    equal = final.is_dir() and same_weights(final, reference / "checkpoints" / "step_00000006")
    rows.append(
        Row(
            "same run by another path or moved",
            4,
            resumed,
            0,
            f"{int(equal)}/1",
            resumed == 4 and equal,
        )
    )
    return rows + [_restart_row(npz, work), _damaged_row(npz, work, reference)]


def _restart_row(npz: Path, work: Path) -> Row:
    """A run that failed before its first checkpoint reruns with a corrected option."""
    import patchforcing.train.loop as loop

    run = work / "restart_run"
    real = loop.patch_forcing_loss

    def nan_loss(*args, **kwargs):
        out = real(*args, **kwargs)
        return type(out)(out.loss * float("nan"), out.mse, out.nll, out.per_patch_mse)

    with mock.patch.object(loop, "patch_forcing_loss", nan_loss):
        failed = one_line(*cli(train_args(npz, run, 3)), "non-finite loss at step 0")
    code, err = cli(train_args(npz, run, 3, "--lr", "0.0005"))
    headers = (run / "metrics.jsonl").read_text().count('"run_id"')
    ok = failed and code == 0 and headers == 1
    return Row(
        "restart before the first checkpoint",
        1,
        int(code == 0),
        0,
        "-",
        ok,
        f"exit {code}: {err[-300:]}",
    )


def _damaged_row(npz: Path, work: Path, reference: Path) -> Row:
    """The newest checkpoint damaged: resume falls back to the one before, says so, and
    ends exact."""
    run = work / "damaged_run"
    assert cli(train_args(npz, run, 4))[0] == 0
    (run / "checkpoints" / "step_00000004" / "train_state.pt").write_bytes(b"\0" * 100)
    code, err = cli(train_args(npz, run, 6))
    said = "step_00000004" in err and "step_00000003" in err and "damaged" in err
    final = run / "checkpoints" / "step_00000006"
    equal = code == 0 and same_weights(final, reference / "checkpoints" / "step_00000006")
    return Row(
        "damaged newest checkpoint",
        1,
        int(code == 0),
        0,
        f"{int(equal)}/1",
        said and equal,
        f"exit {code}: {err[-500:]}",
    )
