"""In-process fault scenarios for ``fault_tests.py``: disk faults, bad data files,
non-finite losses.

Each returns table rows; a row is ``ok`` only if the fault was reported clearly and nothing that
was already saved got damaged.
"""

from __future__ import annotations

import errno
import io
import os
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError

from patchforcing.cli.main import build_parser
from patchforcing.cli.train_cmd import build_train_config
from patchforcing.data import BadImageError, DataConfig, load_dataset
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import latest_checkpoint, list_checkpoints
from patchforcing.train import NonFiniteLossError, TrainConfig, train
from patchforcing.train.checkpoint import load_train_state, read_train_config
from patchforcing.utils.io.atomic import DiskWriteError

__all__ = ["Row", "tiny_config", "disk_fault_rows", "data_fault_rows", "nonfinite_rows"]


@dataclass(frozen=True)
class Row:
    fault: str
    injected: int | str
    resumed: int | str
    corrupted: int | str
    equal: str
    ok: bool
    detail: str = ""  # printed under the table when the row failed


def tiny_config(npz: Path, out: Path, steps: int = 8, *extra: str) -> TrainConfig:
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            str(npz),
            "--out",
            str(out),
            "--steps",
            str(steps),
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
            "--checkpoint-every",
            "1",
            "--sample-every",
            "1000",
            *extra,
        ]
    )
    return build_train_config(args)


def _loads(folder: Path | None) -> bool:
    if folder is None:
        return False
    model = PatchForcingDiT(read_train_config(folder).model)
    ema = PatchForcingDiT(model.config)
    load_train_state(folder, model, ema)
    return all(bool(torch.isfinite(p).all()) for p in [*model.parameters(), *ema.parameters()])


def _disk_case(name: str, npz: Path, out: Path, patch: mock._patch, expect: str) -> Row:
    """Train 2 steps, then fail the next write; the error must be one DiskWriteError naming the file
    and the cause, step 2 (3 when the sample grid fails) must survive, nothing half-written may be
    left, and a rerun must finish."""
    config = tiny_config(npz, out, 5, "--sample-every", "3")
    train(config, device="cpu", progress=False, stop_after=2)
    try:
        with patch:
            train(config, device="cpu", progress=False)
        message = "no error"
    except DiskWriteError as err:
        message = str(err)
    kept = latest_checkpoint(out)
    leftovers = [
        p
        for folder in (out, out / "checkpoints", out / "samples")
        if folder.is_dir()
        for p in folder.glob(".*.tmp")
    ]
    intact = (
        kept is not None
        and kept.name == f"step_{3 if 'sample' in name else 2:08d}"
        and _loads(kept)
    )
    resumed = train(config, device="cpu", progress=False).steps_done == 5
    ok = (
        expect in message
        and "\n" not in message
        and str(out) in message
        and intact
        and not leftovers
        and resumed
    )
    return Row(
        name,
        1,
        int(resumed),
        0 if intact else 1,
        "-",
        ok,
        f"message: {message}; leftovers {leftovers}",
    )


def _raising(error: BaseException):
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    return fail


def disk_fault_rows(npz: Path, work: Path, quick: bool = False) -> list[Row]:
    """Every kind of failed write, simulated where it is raised: OSError with
    ENOSPC / EDQUOT / EROFS / EIO, torch's RuntimeError, safetensors' SafetensorError, Pillow's
    OSError, the metrics log."""

    def os_error(code: int) -> OSError:
        return OSError(code, os.strerror(code))

    torch_full = RuntimeError(
        "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
        "data/0: file write failed"
    )
    st_quota = SafetensorError(
        "Error while serializing: I/O error: Disk quota exceeded (os error 122)"
    )
    cases = [
        (
            "disk full during checkpoint (ENOSPC)",
            mock.patch(
                "patchforcing.model.pretrained.folder.save_file", side_effect=os_error(errno.ENOSPC)
            ),
            "No space left",
        ),
        (
            "read-only checkpoint folder (EROFS)",
            mock.patch("tempfile.mkdtemp", side_effect=os_error(errno.EROFS)),
            "Read-only file system",
        ),
        (
            "disk full during sample write",
            mock.patch(
                "patchforcing.utils.io.images.atomic_write", side_effect=os_error(errno.ENOSPC)
            ),
            "sample grid",
        ),
        (
            "torch.save RuntimeError (checkpoint)",
            mock.patch("patchforcing.train.checkpoint.torch.save", side_effect=torch_full),
            "PytorchStreamWriter",
        ),
        (
            "safetensors error, quota (EDQUOT)",
            mock.patch("patchforcing.model.pretrained.folder.save_file", side_effect=st_quota),
            "Disk quota exceeded (EDQUOT)",
        ),
        (
            "Pillow OSError on the sample grid (EIO)",
            mock.patch("PIL.Image.Image.save", _raising(os_error(errno.EIO))),
            "Input/output error (EIO)",
        ),
        (
            "metrics log, I/O error (EIO)",
            mock.patch(
                "patchforcing.train.helpers.open", create=True, side_effect=os_error(errno.EIO)
            ),
            "metrics log",
        ),
    ]
    return [
        _disk_case(name, npz, work / f"disk{i}", patch, expect)
        for i, (name, patch, expect) in enumerate(cases[:3] if quick else cases)
    ]


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _write_bad_folder(root: Path) -> tuple[list[str], dict[str, int]]:
    """Good images plus every kind of awkward file; returns (names that must be reported,
    {name: expected grey value} for files that must be converted)."""
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (16, 16), 60 * i).save(root / cls / f"good{i}.png")
    a = root / "a"
    good = _png(Image.new("L", (16, 16), 200))
    (a / "truncated.png").write_bytes(good[: len(good) // 2])
    (a / "empty.png").write_bytes(b"")
    (a / "not_image.png").write_bytes(b"hello, I am text")
    (a / "notes.txt").write_text("not an image")
    Image.new("L", (2, 2), 9).save(a / "tiny.png")
    Image.new("CMYK", (16, 16), (0, 0, 0, 0)).save(a / "cmyk.jpg")  # no ink: white
    Image.fromarray(np.full((16, 16), 32896, dtype=np.uint16)).save(
        a / "sixteen.png"
    )  # 32896 / 257 = 128
    Image.new("L", (16, 16), 77).convert("P").save(a / "palette.png")
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(a / "alpha.png")  # fully transparent: white
    return (
        ["truncated.png", "empty.png", "not_image.png", "notes.txt", "tiny.png"],
        {"cmyk.jpg": 255, "sixteen.png": 128, "palette.png": 77, "alpha.png": 255},
    )


def data_fault_rows(work: Path) -> list[Row]:
    root = work / "bad_folder"
    bad, converted = _write_bad_folder(root)
    try:
        load_dataset(DataConfig(source=str(root), image_size=16, channels=1))
        listed = 0
    except BadImageError as err:
        listed = sum(name in str(err) for name in bad)
    data = load_dataset(DataConfig(source=str(root), image_size=16, channels=1, on_bad_file="skip"))
    skipped_ok = sorted(Path(s.split(":")[0]).name for s in data.skipped) == sorted(bad)
    # sorted file order: the converted files are the first images of class a
    names = sorted(p.name for p in (root / "a").iterdir() if p.name not in bad)
    values = {n: int(data.images[i].float().mean().round()) for i, n in enumerate(names)}
    wrong = (
        sum(abs(values[n] - v) > 2 for n, v in converted.items())
        + (len(bad) - listed)
        + (not skipped_ok)
    )
    rows = [
        Row(
            "bad image files (error and skip policy)",
            len(bad) + len(converted),
            "-",
            wrong,
            "-",
            wrong == 0,
        )
    ]

    (work / "empty_folder").mkdir()
    np.savez(
        work / "labels.npz",
        images=np.zeros((9, 8, 8), np.uint8),
        labels=np.arange(9) % 3,
        class_names=np.array(["x", "y"]),
    )
    np.savez(work / "small.npz", images=np.zeros((4, 8, 8), np.uint8))
    cases = {
        "is empty": lambda: load_dataset(DataConfig(str(work / "empty_folder"), image_size=8)),
        "class names": lambda: tiny_config(work / "labels.npz", work / "never", 2),
        "fewer than the batch size": lambda: train(
            tiny_config(work / "small.npz", work / "never", 2), device="cpu", progress=False
        ),
    }
    clear = 0
    for phrase, run in cases.items():
        try:
            run()
        except ValueError as err:
            clear += phrase in str(err)
    rows.append(
        Row(
            "dataset errors (empty, labels, too small)",
            len(cases),
            "-",
            len(cases) - clear,
            "-",
            clear == len(cases),
        )
    )
    return rows


def nonfinite_rows(npz: Path, work: Path) -> list[Row]:
    """NaN loss at step 3: 'stop' keeps checkpoints up to step 3 untouched, 'skip'
    finishes finite."""
    import patchforcing.train.loop as loop

    real = loop.patch_forcing_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        return (
            type(out)(out.loss * float("nan"), out.mse, out.nll, out.per_patch_mse)
            if calls["n"] == 4
            else out
        )

    rows = []
    for policy in ("stop", "skip"):
        out = work / f"nan_{policy}"
        calls["n"] = 0
        config = tiny_config(npz, out, 6, "--on-nonfinite", policy)
        try:
            with mock.patch.object(loop, "patch_forcing_loss", poisoned):
                result = train(config, device="cpu", progress=False)
            stopped, skipped = False, result.skipped_steps
        except NonFiniteLossError as err:
            stopped, skipped = "step 3" in str(err), []
        finite = all(_loads(folder) for folder in list_checkpoints(out))
        last = latest_checkpoint(out)
        ok = finite and (
            stopped and last is not None and last.name == "step_00000003"
            if policy == "stop"
            else skipped == [3] and last is not None and last.name == "step_00000006"
        )
        rows.append(
            Row(f"non-finite loss, --on-nonfinite {policy}", 1, "-", 0 if finite else 1, "-", ok)
        )
    return rows
