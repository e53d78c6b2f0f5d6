"""Probes of ``fault_tests.py`` for a user's own files and for interrupted commands: the README's
``sample`` lines run one after another, a user's files inside a sample folder, a checkpoint copied
under a newer name, a user's files inside a checkpoint being pruned or named like a temporary, a
run's lock file removed by hand, other data behind the same ``--data`` path, and ``sample``,
``eval`` and ``encode`` stopped by Ctrl-C or SIGTERM.

    python scripts/fault_user_files.py    # these rows alone, about a minute on 2 cores
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fault_probes import cli, inside, lost, one_line, snapshot, train_args
from fault_scenarios import Row
from patchforcing.model.pretrained import list_checkpoints
from patchforcing.train.run_folder import locked_run

__all__ = ["user_file_rows"]


def _sample(run: Path, *extra: str) -> list[str]:
    return [
        "sample",
        "--checkpoint",
        str(run),
        "--num",
        "3",
        "--steps",
        "2",
        "--threads",
        "1",
        *extra,
    ]


def _readme_row(run: Path, work: Path) -> Row:
    """The README's sample lines in one working directory: none stops on an earlier one's output,
    and a missing checkpoint is still named as such (not the taken default folder)."""
    here = work / "readme"
    here.mkdir()
    with inside(here):
        codes = [cli(_sample(run, *extra))[0] for extra in ((), ("--cfg", "2.5"), ("--cfg", "2.5"))]
        missing = cli(["sample", "--checkpoint", str(work / "none")])
    folders = sorted(p.name for p in here.iterdir())
    ok = codes == [0, 0, 0] and folders == ["samples", "samples-2"]
    ok = ok and one_line(*missing, "does not exist")
    return Row("README sample lines in order", 3, "-", 0, "-", ok, f"{codes} {folders} {missing}")


def _overwrite_row(run: Path, work: Path) -> Row:
    """--overwrite over a sample folder deletes the images it wrote, never a user's files there."""
    out = work / "picks"
    cli(_sample(run, "--out", str(out)))
    (out / "images" / "edited.png").write_bytes(b"my edit")
    (out / "images" / "best").mkdir()
    (out / "images" / "best" / "seed000001_class1.png").write_bytes(b"my pick")
    mine = snapshot(out / "images")
    mine = {k: v for k, v in mine.items() if k in ("edited.png", "best/seed000001_class1.png")}
    code, err = cli(_sample(run, "--out", str(out), "--overwrite", "--seed", "9"))
    seeds = sorted(p.name[:10] for p in (out / "images").glob("seed*.png"))
    ok = code == 0 and lost(mine, out / "images") == 0 and seeds[0] == "seed000009"
    return Row(
        "sample --overwrite, user files in images/",
        1,
        "-",
        lost(mine, out / "images"),
        "-",
        ok,
        f"exit {code} {err[-200:]} {seeds}",
    )


def _checkpoint_rows(npz: Path, work: Path) -> list[Row]:
    """An old checkpoint copied under a newer name is not a checkpoint: resume and pruning ignore
    it; pruning keeps a user's file in a checkpoint folder; user files named like temporaries
    stay."""
    run = work / "copied_run"
    assert cli(train_args(npz, run, 3))[0] == 0
    checkpoints = run / "checkpoints"
    shutil.copytree(checkpoints / "step_00000002", checkpoints / "step_00000009")
    (checkpoints / "step_00000003" / "notes.txt").write_text("mine")
    (checkpoints / ".draft.abcdefgh.tmp").write_text("mine")
    (run / ".mine.old.tmp").mkdir()
    copied = snapshot(checkpoints / "step_00000009")
    code, err = cli(train_args(npz, run, 5))
    real = [p.name for p in list_checkpoints(run)]
    copy_ok = code == 0 and real == ["step_00000004", "step_00000005"]
    copy_ok = copy_ok and lost(copied, checkpoints / "step_00000009") == 0
    notes = checkpoints / "step_00000003" / "notes.txt"
    lookalikes = (checkpoints / ".draft.abcdefgh.tmp").is_file() and (
        run / ".mine.old.tmp"
    ).is_dir()
    return [
        Row("old checkpoint copied under a newer name", 1, "-", 0, "-", copy_ok, f"{real} {err}"),
        Row(
            "user file in a pruned checkpoint",
            1,
            "-",
            int(not notes.is_file()),
            "-",
            notes.is_file(),
            err[-300:],
        ),
        Row("user files named like temporaries", 2, "-", int(not lookalikes), "-", lookalikes),
    ]


def _lock_removed_row(npz: Path, work: Path) -> Row:
    """A second train stops even when the lock file was removed by hand while the run is held."""
    run = work / "unlocked_run"
    assert cli(train_args(npz, run, 1))[0] == 0
    second = [sys.executable, "-m", "patchforcing", *train_args(npz, run, 3)]
    with locked_run(run):
        (run / ".lock").unlink()
        proc = subprocess.run(second, capture_output=True, text=True, timeout=300)
    ok = one_line(proc.returncode, proc.stderr, "is in use by PID")
    return Row("second train, lock file removed", 1, "-", 0, "-", ok, proc.stderr[-300:])


def _data_row(npz: Path, work: Path) -> Row:
    """Resume with other data of the same shape behind --data: refused with one line."""
    run, data = work / "data_run", work / "swapped.npz"
    shutil.copy(npz, data)
    assert cli(train_args(data, run, 2))[0] == 0
    with np.load(npz) as arrays:  # the same path now holds other images of the same shape
        np.savez(data, images=255 - arrays["images"], labels=arrays["labels"])
    args = train_args(data, run, 4)
    code, err = cli(args)
    ok = one_line(code, err, "other data") and [p.name for p in list_checkpoints(run)][-1] == (
        "step_00000002"
    )
    return Row("resume on other data, same shape", 1, "-", 0, "-", ok, err[-300:])


def _interrupt(args: list[str], ready, signum: int) -> subprocess.CompletedProcess:
    """Run ``patchforcing ARGS`` in a process, send ``signum`` once ``ready()``, wait for it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchforcing", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, "", err)


def _stopped(done: subprocess.CompletedProcess, signum: int) -> bool:
    lines = [line for line in done.stderr.strip().splitlines() if line and "img/s" not in line]
    return (
        done.returncode == 128 + signum
        and "Traceback" not in done.stderr
        and bool(lines)
        and "interrupted" in lines[-1]
    )


def _tiny_vae(folder: Path) -> Path | None:
    try:
        import diffusers
    except ImportError:  # the [latent] extra is not installed: no encode row
        return None
    diffusers.AutoencoderKL(
        latent_channels=4,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=16,
    ).save_pretrained(folder)
    return folder


def _interrupt_rows(run: Path, work: Path) -> list[Row]:
    """sample stopped mid-way by SIGTERM and by Ctrl-C: one line each; the same command finishes
    the folder, --overwrite replaces it; encode stops with one line and leaves nothing behind."""
    rows = []
    for signum, rerun in ((signal.SIGTERM, ()), (signal.SIGINT, ("--overwrite",))):
        out = work / f"stopped_{signum}"
        args = _sample(run, "--out", str(out), "--batch-size", "2")
        args[args.index("--num") + 1] = "400"
        done = _interrupt(args, lambda out=out: len(list(out.glob("images/*.png"))) >= 4, signum)
        code, err = cli(args + list(rerun))
        images = len(list(out.glob("images/*.png")))
        ok = _stopped(done, signum) and code == 0 and images == 400
        rows.append(
            Row(
                f"sample stopped by {signal.Signals(signum).name}, rerun {rerun or ''}",
                1,
                int(code == 0),
                0,
                "-",
                ok,
                f"{done.returncode} {done.stderr[-300:]} {err}",
            )
        )
    vae = _tiny_vae(work / "vae")
    if vae is not None:  # encode: the rerun encodes everything (the half-written folder is gone)
        data, out = work / "rgb.npz", work / "latents"
        rng = np.random.default_rng(0)
        np.savez(
            data,
            images=rng.integers(0, 256, (3000, 16, 16, 3), dtype=np.uint8),
            labels=np.arange(3000) % 3,
        )
        args = [
            "encode",
            "--data",
            str(data),
            "--vae",
            str(vae),
            "--image-size",
            "16",
            "--batch-size",
            "4",
            "--shard-size",
            "64",
            "--threads",
            "1",
            "--out",
            str(out),
        ]
        done = _interrupt(args, lambda: any(work.glob(".latents.pf-*.tmp/shard_*")), signal.SIGTERM)
        leftovers = [p.name for p in work.iterdir() if p.name.startswith(".latents.")]
        ok = _stopped(done, signal.SIGTERM) and not out.exists() and not leftovers
        rows.append(
            Row(
                "encode stopped by SIGTERM",
                1,
                "-",
                0,
                "-",
                ok,
                f"{done.returncode} {done.stderr[-300:]} {leftovers}",
            )
        )
    return rows


def user_file_rows(npz: Path, work: Path) -> list[Row]:
    run = work / "user_files_run"
    assert cli(train_args(npz, run, 2))[0] == 0
    return [
        _readme_row(run, work),
        _overwrite_row(run, work),
        *_checkpoint_rows(npz, work),
        _lock_removed_row(npz, work),
        _data_row(npz, work),
        *_interrupt_rows(run, work),
    ]


if __name__ == "__main__":
    from fault_tests import print_table, write_tiny_npz

    with tempfile.TemporaryDirectory(prefix="pf-user-files-") as tmp:
        found = user_file_rows(write_tiny_npz(Path(tmp) / "tiny.npz"), Path(tmp))
    print_table(found)
    sys.exit(0 if all(r.ok for r in found) else 1)
