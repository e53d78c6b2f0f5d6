"""Probes of ``fault_tests.py`` for sizes, sampling inputs, permissions and a real full disk.

Sizes: each probe asks for far too much through a small file or a flag, under an address-space limit
(so that a missing check fails the probe with ``out of memory`` instead of the kernel killing the
script). A real full disk: a small tmpfs filled to several levels, where the machine allows mounting
one (root with CAP_SYS_ADMIN); elsewhere the row says that only the simulated write errors ran.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from fault_probes import cli, one_line, train_args
from fault_scenarios import Row
from patchforcing.data import ImageArrays
from patchforcing.evaluation.metrics.reference import reference_features
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import list_checkpoints
from patchforcing.train.checkpoint import load_train_state, read_train_config
from patchforcing.utils.limits import LIMITS_ENV

__all__ = ["limit_rows", "sampling_rows", "real_disk_rows", "mount_tmpfs"]


@contextlib.contextmanager
def address_space(extra: int = 3 << 30) -> Iterator[None]:
    """At most ``extra`` bytes more address space for the block: an unchecked huge allocation raises
    MemoryError here instead of waking the kernel's OOM killer."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(
        resource.RLIMIT_AS,
        (used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard), hard),
    )
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def _model_with(folder: Path, out: Path, **architecture: int) -> Path:
    """A copy of a model folder whose config.json asks for another architecture."""
    shutil.copytree(folder, out)
    values = json.loads((out / "config.json").read_text())
    values["architecture"].update(architecture)
    (out / "config.json").write_text(json.dumps(values))
    return out


def limit_rows(npz: Path, work: Path) -> list[Row]:
    """Tiny inputs asking for huge sizes: each must end in one clear line, fast, without
    the memory."""
    model = work / "limits_model"
    assert cli(train_args(npz, work / "limits_run", 1))[0] == 0
    assert cli(["export", str(work / "limits_run"), str(model), "--weights", "online"])[0] == 0
    rng = np.random.default_rng(0)
    labels = np.arange(8)
    labels[-1] = 10**12
    np.savez(
        work / "huge_labels.npz",
        images=rng.integers(0, 256, (8, 8, 8), dtype=np.uint8),
        labels=labels,
    )
    sample = [
        "sample",
        "--checkpoint",
        str(model),
        "--steps",
        "2",
        "--out",
        str(work / "limits_out"),
    ]
    probes = [
        (
            train_args(work / "huge_labels.npz", work / "l1", 2),
            "largest label is 1,000,000,000,000",
        ),
        (
            [
                "sample",
                "--checkpoint",
                str(_model_with(model, work / "deep", depth=10**9)),
                "--out",
                str(work / "l2"),
            ],
            "depth is 1,000,000,000",
        ),
        (
            [
                "sample",
                "--checkpoint",
                str(_model_with(model, work / "wide", width=10**7, num_heads=2)),
                "--out",
                str(work / "l3"),
            ],
            "width is 10,000,000",
        ),
        ([*sample, "--classes", "0-10000000000"], "the number of values"),
        ([*sample, "--num", str(10**15)], "number of images is"),
        (
            [
                "sample",
                "--checkpoint",
                str(model),
                "--steps",
                str(10**12),
                "--out",
                str(work / "l4"),
            ],
            "outer steps is",
        ),
        ([*sample, "--seed", str(2**70)], "seed range"),
        (train_args(npz, work / "l5", 10**12), "at most 99,999,999 steps"),
        (train_args(npz, work / "l6", 2, "--seed", str(2**64)), "seed range"),
        (train_args(npz, work / "l7", 2, "--image-size", str(10**6)), "image_size is 1,000,000"),
        (train_args(npz, work / "l8", 2, "--batch-size", str(10**12)), "batch_size is"),
        (
            train_args(npz, work / "l9", 2, "--depth", "500", "--width", "16384", "--heads", "128"),
            "parameters is",
        ),
    ]
    clear, failures = 0, []
    with address_space():
        for args, phrase in probes:
            code, err = cli(args)
            clear += one_line(code, err, phrase)
            if not one_line(code, err, phrase):
                failures.append(
                    f"{' '.join(args[:1] + args[-4:])}: exit {code}, {err.strip()[-300:]}"
                )
        with env(
            LIMITS_ENV, "parameters=100000000000000"
        ):  # raised on purpose: the memory check answers
            code, err = cli(
                train_args(
                    npz, work / "l10", 2, "--depth", "500", "--width", "16384", "--heads", "128"
                )
            )
            clear += one_line(code, err, "GiB of memory")
        with env(
            LIMITS_ENV, "depth=1000000"
        ):  # raised on purpose: the next check (weights) answers
            code, err = cli(
                [
                    "sample",
                    "--checkpoint",
                    str(_model_with(model, work / "deeper", depth=600)),
                    "--out",
                    str(work / "l11"),
                ]
            )
            clear += one_line(code, err, "missing tensor")
    total = len(probes) + 2
    return [
        Row(
            "resource limits (sizes from files and flags)",
            total,
            "-",
            0,
            "-",
            clear == total,
            "\n".join(failures),
        )
    ]


class _Features:
    key, num_features = "probe", 4

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :4]


def sampling_rows(npz: Path, work: Path) -> list[Row]:
    """Non-finite weights and outputs, wrong-size masks and matrices, damaged files, huge seeds."""
    run, model = work / "sampling_run", work / "sampling_model"
    assert cli(train_args(npz, run, 1))[0] == 0
    assert cli(["export", str(run), str(model), "--weights", "online"])[0] == 0
    weights = load_file(str(model / "model.safetensors"))
    nan_model, huge_model = (
        shutil.copytree(model, work / "nan_model"),
        shutil.copytree(model, work / "huge_model"),
    )
    save_file(
        {**weights, "final_layer.linear.bias": weights["final_layer.linear.bias"] * float("nan")},
        str(nan_model / "model.safetensors"),
    )
    save_file(
        {k: v * 1e30 + 1e30 if v.is_floating_point() else v for k, v in weights.items()},
        str(huge_model / "model.safetensors"),
    )
    Image.new("L", (8, 8), 128).save(work / "known.png")
    Image.new("L", (5, 5), 255).save(work / "small_mask.png")
    np.save(work / "wrong.npy", np.ones((3, 7)))
    (work / "damaged.npy").write_bytes(b"\x93NUMPY garbage")
    torch.save({"not": "a tensor"}, work / "dict.pt")
    sample = ["sample", "--steps", "2", "--num", "2", "--threads", "1"]
    probes = [
        (
            [*sample, "--checkpoint", str(nan_model), "--out", str(work / "s1")],
            "non-finite values",
            work / "s1",
        ),
        (
            [*sample, "--checkpoint", str(huge_model), "--out", str(work / "s2")],
            "non-finite values",
            work / "s2",
        ),
        (
            [
                *sample,
                "--checkpoint",
                str(model),
                "--inpaint",
                str(work / "known.png"),
                "--mask",
                str(work / "small_mask.png"),
                "--out",
                str(work / "s3"),
            ],
            "the mask",
            work / "s3",
        ),
        (
            [
                *sample,
                "--checkpoint",
                str(model),
                "--matrix",
                str(work / "wrong.npy"),
                "--out",
                str(work / "s4"),
            ],
            "a schedule matrix must be",
            work / "s4",
        ),
        (
            [
                *sample,
                "--checkpoint",
                str(model),
                "--matrix",
                str(work / "damaged.npy"),
                "--out",
                str(work / "s5"),
            ],
            "cannot read --matrix",
            work / "s5",
        ),
        (
            [
                *sample,
                "--checkpoint",
                str(model),
                "--matrix",
                str(work / "dict.pt"),
                "--out",
                str(work / "s6"),
            ],
            "must hold one numeric array",
            work / "s6",
        ),
        (
            [
                *sample,
                "--checkpoint",
                str(model),
                "--seed",
                str(2**63 - 1),
                "--out",
                str(work / "s7"),
            ],
            "seed range",
            work / "s7",
        ),
    ]
    clear, failures = 0, []
    for args, phrase, out in probes:
        code, err = cli(args)
        good = one_line(code, err, phrase) and not any(out.rglob("*.png"))
        clear += good
        if not good:
            failures.append(f"{phrase}: exit {code}, {err.strip()[-300:]}")
    cache = work / "reference-cache"
    data = ImageArrays(
        torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    )
    first = reference_features(_Features(), data, cache)
    for path in cache.iterdir():
        path.write_bytes(b"damaged")
    note = io.StringIO()
    with contextlib.redirect_stderr(note):
        again = reference_features(_Features(), data, cache)
    cache_ok = (
        torch.equal(first, again)
        and "damaged" in note.getvalue()
        and all(load_file(str(p))["features"].shape == (4, 4) for p in cache.iterdir())
    )
    rows = [
        Row(
            "sampling inputs (NaN, masks, matrices, seeds)",
            len(probes),
            "-",
            0,
            "-",
            clear == len(probes),
            "\n".join(failures),
        ),
        Row("damaged reference-statistics cache", 1, "-", 0, "-", cache_ok, note.getvalue()),
    ]
    return rows + [_umask_row(run, work)]


def _umask_row(run: Path, work: Path) -> Row:
    """Files follow the umask: 0o027 gives group-readable, other-private outputs."""
    old = os.umask(0o027)
    try:
        exported = cli(["export", str(run), str(work / "umask_model")])[0] == 0
        sampled = (
            cli(
                [
                    "sample",
                    "--checkpoint",
                    str(run),
                    "--steps",
                    "2",
                    "--num",
                    "1",
                    "--out",
                    str(work / "umask_samples"),
                ]
            )[0]
            == 0
        )
    finally:
        os.umask(old)
    files = [
        work / "umask_model" / "model.safetensors",
        work / "umask_model" / "config.json",
        *(work / "umask_samples" / "images").glob("*.png"),
        work / "umask_samples" / "samples.jsonl",
    ]
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files if p.exists()}
    folder = oct((work / "umask_model").stat().st_mode & 0o777) if exported else "-"
    ok = (
        exported
        and sampled
        and len(modes) == 4
        and set(modes.values()) == {"0o640"}
        and folder == "0o750"
    )
    return Row(
        "written files follow the umask",
        len(files) + 1,
        "-",
        0,
        "-",
        ok,
        f"{modes}, folder {folder}",
    )


def mount_tmpfs(folder: Path, size_kb: int) -> bool:
    """Mount a ``size_kb`` tmpfs on ``folder``; False where the machine does not allow it."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
    except OSError:  # no mount command
        return False
    return proc.returncode == 0


def _fill(folder: Path, leave_kb: int) -> None:
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize // 1024
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave_kb, 0) * 1024)


def _checkpoints_load(run: Path) -> bool:
    try:
        for folder in list_checkpoints(run):
            model = PatchForcingDiT(read_train_config(folder).model)
            load_train_state(folder, model, PatchForcingDiT(model.config))
    except Exception:  # noqa: BLE001 - any failure is a damaged checkpoint, which the row counts
        return False
    return True


def real_disk_rows(npz: Path, work: Path, quick: bool) -> list[Row]:
    """Train (and sample, export) on a tmpfs filled to several levels: one line naming the file and
    ENOSPC each time, every checkpoint intact, and a rerun after freeing space finishes."""
    disk = work / "tmpfs"
    if not mount_tmpfs(disk, 3072):
        return [
            Row("real full disk (tmpfs): not available, simulated only", 0, "-", "-", "-", True)
        ]
    try:
        probe = work / "size_probe"
        assert cli(train_args(npz, probe, 1))[0] == 0
        checkpoint_kb = (
            sum(p.stat().st_size for p in (probe / "checkpoints" / "step_00000001").iterdir())
            // 1024
        )
        levels = (
            [4, 12, checkpoint_kb + checkpoint_kb // 2]
            if quick
            else [
                0,
                4,
                8,
                12,
                24,
                checkpoint_kb // 2,
                checkpoint_kb + checkpoint_kb // 2,
                2 * checkpoint_kb + 200,
            ]
        )
        clear, damaged, finished, notes = 0, 0, 0, []
        for leave in levels:
            for entry in disk.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            _fill(disk, leave)
            code, err = cli(train_args(npz, disk / "run", 6))
            good = one_line(code, err, "(ENOSPC)") and "cannot write" in err
            clear += good
            damaged += not _checkpoints_load(disk / "run")
            (disk / "filler").unlink()
            finished += cli(train_args(npz, disk / "run", 6))[0] == 0 and _checkpoints_load(
                disk / "run"
            )
            if not good:
                notes.append(f"{leave} KB free: exit {code}, {err.strip()[-300:]}")
        _fill(disk, 2)
        others = [
            one_line(
                *cli(
                    [
                        "sample",
                        "--checkpoint",
                        str(probe),
                        "--steps",
                        "2",
                        "--num",
                        "4",
                        "--out",
                        str(disk / "samples"),
                    ]
                ),
                "(ENOSPC)",
            ),
            one_line(*cli(["export", str(probe), str(disk / "model")]), "(ENOSPC)"),
        ]
        injected = len(levels) + len(others)
        ok = clear == len(levels) and all(others) and damaged == 0 and finished == len(levels)
        return [
            Row(
                f"real full disk (tmpfs, {len(levels)} fill levels)",
                injected,
                finished,
                damaged,
                "-",
                ok,
                "\n".join(notes) + f"\nsample/export on a full disk: {others}",
            )
        ]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
