"""Fault injection: SIGKILL at random moments, SIGTERM/SIGINT, every kind of failed write
(simulated, and on a real full tmpfs where the machine allows one), bad data, non-finite losses,
destinations that are not a command's own, side-by-side runs, backups and leftovers among a run's
files, other spellings of a run's path, restarts, damaged checkpoints, sizes beyond the limits,
bad sampling inputs, what long commands show while they run, and (full mode) a user's files among
the outputs and interrupted commands.
Prints a table and exits non-zero unless every checkpoint stayed readable, no user file was lost and
every interrupted run reached bitwise the weights of an uninterrupted one.

    python scripts/fault_tests.py            # >= 20 random kill points, a few minutes on 2 cores
    python scripts/fault_tests.py --quick    # 3 kill points (run by the test suite)

Uses a tiny model on a tiny synthetic .npz in a temporary folder, one torch thread per process.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import latest_checkpoint, list_checkpoints
from patchforcing.train.checkpoint import load_train_state, read_train_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_feedback import feedback_rows  # noqa: E402
from fault_inputs import input_rows  # noqa: E402
from fault_limits import limit_rows, real_disk_rows, sampling_rows  # noqa: E402
from fault_probes import cli, destination_rows, run_folder_rows, train_args  # noqa: E402
from fault_scenarios import Row, data_fault_rows, disk_fault_rows, nonfinite_rows  # noqa: E402
from fault_user_files import user_file_rows  # noqa: E402

STEPS = 30
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
    "5",
    "--checkpoint-every",
    "1",
    "--keep-checkpoints",
    "2",
    "--sample-every",
    "10",
    "--log-every",
    "5",
    "--threads",
    "1",
    "--no-progress",
    "--seed",
    "3",
]


def write_tiny_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(
        path, images=rng.integers(0, 256, (48, 8, 8), dtype=np.uint8), labels=np.arange(48) % 3
    )
    return path


def train_cmd(npz: Path, out: Path, steps: int = STEPS) -> list[str]:
    return [
        sys.executable,
        "-m",
        "patchforcing",
        "train",
        "--data",
        str(npz),
        "--steps",
        str(steps),
        "--out",
        str(out),
        *TINY,
    ]


def checkpoint_problems(run: Path) -> list[str]:
    """Every complete-looking checkpoint must load fully; returns what failed."""
    problems = []
    for folder in list_checkpoints(run):
        try:
            model = PatchForcingDiT(read_train_config(folder).model)
            load_train_state(folder, model, PatchForcingDiT(model.config))
        except (
            Exception
        ) as err:  # any failure here is a corrupted checkpoint, which is what we count
            problems.append(f"{folder}: {err}")
    return problems


def same_final(run: Path, ref: Path, steps: int = STEPS) -> bool:
    """Bitwise equality of online and EMA weights and of the optimizer moments at the last step."""
    a, b = run / "checkpoints" / f"step_{steps:08d}", ref / "checkpoints" / f"step_{steps:08d}"
    if not (a.is_dir() and b.is_dir()):
        return False
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        if wa.keys() != wb.keys() or not all(torch.equal(wa[k], wb[k]) for k in wa):
            return False
    oa = torch.load(a / "train_state.pt", weights_only=True)["optimizer"]["state"]
    ob = torch.load(b / "train_state.pt", weights_only=True)["optimizer"]["state"]
    return all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i])


def _wait_started(proc: subprocess.Popen, run: Path, launched: float, steady: bool = False) -> bool:
    """True once the process has reached the training loop (rewritten run/config.json) or, with
    ``steady``, once it has written a new checkpoint (so that kills land among steps and writes,
    not in the first step's one-off set-up)."""
    marker = run / "config.json"
    before = latest_checkpoint(run)
    while proc.poll() is None:
        if steady and latest_checkpoint(run) != before:
            return True
        if not steady and marker.exists() and marker.stat().st_mtime >= launched:
            return True
        time.sleep(0.005)
    return False


@dataclass
class KillStats:
    kills: int = 0
    mid_write: int = 0
    resumed: int = 0
    corrupted: int = 0
    episodes: int = 0
    equal: int = 0


def kill_loop(npz: Path, ref: Path, work: Path, kills: int, rng: random.Random) -> KillStats:
    """Episodes of: start the same command, SIGKILL it at a random moment, repeat until it finishes
    by itself; then compare its final weights with the reference."""
    stats = KillStats()
    while stats.kills < kills:
        run = work / f"episode{stats.episodes}"
        stats.episodes += 1
        while True:
            if list_checkpoints(run):
                stats.resumed += 1
            launched = time.time()
            proc = subprocess.Popen(
                train_cmd(npz, run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            if (
                _wait_started(proc, run, launched, steady=rng.random() < 0.75)
                and stats.kills < kills
            ):
                time.sleep(rng.uniform(0.0, 0.5))
            if proc.poll() is None and stats.kills < kills:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                stats.kills += 1
                stats.mid_write += any((run / "checkpoints").glob(".step_*.tmp"))
                stats.corrupted += len(checkpoint_problems(run))
                continue
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(
                    f"training exited with {proc.returncode}: {err.decode()[-2000:]}"
                )
            break
        stats.corrupted += len(checkpoint_problems(run))
        stats.equal += same_final(run, ref)
    return stats


def signal_rows(npz: Path, ref: Path, work: Path, signals: tuple[signal.Signals, ...]) -> list[Row]:
    """SIGTERM / SIGINT: exit code 128 + signal, a checkpoint at the stopping step, exact resume."""
    rows = []
    for sig in signals:
        run = work / f"signal_{sig.name}"
        launched = time.time()
        proc = subprocess.Popen(
            train_cmd(npz, run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _wait_started(proc, run, launched)
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate()
        clean = (
            proc.returncode == 128 + sig and b"Traceback" not in err and bool(list_checkpoints(run))
        )
        rerun = subprocess.run(train_cmd(npz, run), capture_output=True, text=True)
        equal = same_final(run, ref)
        bad = len(checkpoint_problems(run))
        detail = (
            f"first run: exit {proc.returncode}, {err.decode()[-800:]}\n"
            f"rerun: exit {rerun.returncode}, {rerun.stderr[-800:]}"
        )
        rows.append(
            Row(
                f"{sig.name} (save + clean exit)",
                1,
                int(rerun.returncode == 0),
                bad,
                f"{int(equal)}/1",
                clean and rerun.returncode == 0 and equal and bad == 0,
                detail,
            )
        )
    return rows


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'fault':<46} {'injected':>8} {'resumed':>8} {'corrupted':>9} {'final equal':>11}  result"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.fault:<46} {r.injected:>8} {r.resumed:>8} {r.corrupted:>9} {r.equal:>11}  "
            f"{'ok' if r.ok else 'FAIL'}"
        )
    for r in rows:
        if not r.ok and r.detail:
            print(f"\n{r.fault} failed:\n{r.detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 kill points instead of --kills, SIGTERM only"
    )
    parser.add_argument("--kills", type=int, default=24, help="random SIGKILL points (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be >= 1")
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pf-faults-") as tmp:
        work = Path(tmp)
        npz = write_tiny_npz(work / "tiny.npz")
        ref = work / "reference"
        subprocess.run(train_cmd(npz, ref), check=True, capture_output=True)
        stats = kill_loop(npz, ref, work, 3 if args.quick else args.kills, random.Random(args.seed))
        rows = [
            Row(
                "SIGKILL at a random moment",
                stats.kills,
                stats.resumed,
                stats.corrupted,
                f"{stats.equal}/{stats.episodes}",
                stats.corrupted == 0 and stats.equal == stats.episodes,
            ),
            Row(
                "  of which during a checkpoint write",
                stats.mid_write,
                "-",
                "-",
                "-",
                args.quick or stats.mid_write > 0,
                "no kill hit a checkpoint write; try another --seed",
            ),
        ]
        rows += signal_rows(
            npz, ref, work, (signal.SIGTERM,) if args.quick else (signal.SIGTERM, signal.SIGINT)
        )
        rows += disk_fault_rows(npz, work, args.quick)
        rows += real_disk_rows(npz, work, args.quick)
        rows += data_fault_rows(work)
        rows += nonfinite_rows(npz, work)
        rows += destination_rows(npz, work)
        reference6 = work / "reference6"
        assert cli(train_args(npz, reference6, 6))[0] == 0
        rows += run_folder_rows(npz, work, reference6, args.quick)
        rows += limit_rows(npz, work)
        rows += sampling_rows(npz, work)
        rows += input_rows(reference6, work)
        rows += feedback_rows(reference6, npz, work)
        if not args.quick:  # the suite runs these cases as unit tests; alone: fault_user_files.py
            rows += user_file_rows(npz, work)
    print_table(rows)
    ok = all(r.ok for r in rows)
    print(
        f"\n{'all faults handled' if ok else 'FAILURES above'}; wall time "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
