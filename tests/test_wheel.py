"""The package as users install it: ``python -m build`` makes a wheel and an sdist that ``twine
check`` accepts, and a fresh virtual environment holding only that wheel (its dependencies, torch
included, linked from this environment instead of downloaded; no extra) imports patchforcing and
samples from the shipped models, away from the repository. Builds without isolation (nothing is
fetched)."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="building the wheel needs the test extra (build)")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO, cwd=out)
    return out


def test_wheel_and_sdist_pass_twine_check(dist):
    pytest.importorskip("twine", reason="checking the wheel needs the test extra (twine)")
    (wheel,) = dist.glob("patchforcing-*.whl")
    (sdist,) = dist.glob("patchforcing-*.tar.gz")
    assert "PASSED" in _run(
        sys.executable, "-m", "twine", "check", "--strict", wheel, sdist, cwd=dist
    )
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("fmnist-pf", "fmnist-global", "emoji-t2i", "fmnist-classifier", "emoji-clip"):
        for file in ("config.json", "model.safetensors", "README.md"):
            assert f"patchforcing/model/checkpoints/{model}/{file}" in names
    assert "patchforcing/viewer/assets/index.html" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]


def _dependencies(wheel: Path, into: Path) -> None:
    """Link the wheel's own dependencies (not its extras), with theirs, from this environment into
    ``into``: the packages a plain ``pip install`` of the wheel would bring, and nothing else."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        todo = email.message_from_bytes(z.read(name)).get_all("Requires-Dist") or []
    seen: set[str] = set()
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's dependency, or one for another platform
        dist = metadata.distribution(requirement.name)
        if dist.metadata["Name"] in seen:
            continue
        seen.add(dist.metadata["Name"])
        todo += dist.requires or []
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".."}:
            if not (into / top).exists():
                (into / top).symlink_to(Path(str(dist.locate_file(top))))
    assert "torch" in seen and "matplotlib" not in seen


def test_a_fresh_venv_with_only_the_wheel_samples(dist, tmp_path):
    """Only the wheel and its dependencies: no extra is needed to sample."""
    (wheel,) = dist.glob("patchforcing-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    deps = tmp_path / "dependencies"
    deps.mkdir()
    _dependencies(wheel, deps)
    (Path(site.strip()) / "dependencies.pth").write_text(f"{deps}\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", "--no-compile", wheel, cwd=tmp_path)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PATCHFORCING"))}
    env["HF_HUB_OFFLINE"] = "1"
    where = _run(
        python, "-c", "import patchforcing; print(patchforcing.__file__)", cwd=tmp_path, env=env
    )
    assert Path(where.strip()).is_relative_to(venv) and str(REPO) not in where
    out = tmp_path / "samples"
    _run(venv / "bin" / "patchforcing", "sample", "--checkpoint", "fmnist-pf", "--num", "2",
         "--steps", "2", "--threads", "1", "--out", out, cwd=tmp_path, env=env)  # fmt: skip
    assert len(list((out / "images").glob("*.png"))) == 2 and (out / "samples.jsonl").is_file()
