"""scripts/gpu_train_shipped.sh --smoke: every step of the GPU script (the four larger recipes
trained side by side, exported with bf16 parameters, the grid of sampling settings, the final
evaluations, sample grids and cards) at a tiny size on the CPU, on fake data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import torch
from safetensors import safe_open

from patchforcing.model import load_model
from patchforcing.model.pretrained import recommended_sampling

REPO = Path(__file__).resolve().parents[1]
RUNS = ("fmnist-pf-gpu", "fmnist-global-gpu", "emoji-t2i-gpu", "emoji-t2i-global-gpu")


def test_the_gpu_script_smoke_runs_every_step(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", "scripts/gpu_train_shipped.sh", "--smoke", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((out / "metrics.json").read_text())
    assert {r["model"] for r in rows} == set(RUNS)
    assert "| fmnist-pf-gpu | final | recommended:" in (out / "report.md").read_text()
    for name in RUNS:
        folder = out / "models" / name
        model = load_model(folder)
        assert model.meta is not None and model.meta.training["step"] == 2
        record = recommended_sampling(model)
        assert record is not None and record.nfe == 4
        assert record.sampler in (
            ("euler",) if "global" in name else ("euler-pf", "dual-loop", "look-ahead")
        )
        card = (folder / "README.md").read_text()
        assert "Not measured yet" not in card and "![Samples of" in card
        assert "unguided:" in card and "recommended:" in card and "on one CPU" in card
        assert (folder / "samples.png").is_file()
        with safe_open(str(folder / "model.safetensors"), "pt") as f:
            dtypes = {f.get_tensor(k).dtype for k in f.keys()}
        assert torch.bfloat16 in dtypes
    finals = [r for r in rows if r["part"] == "final" and r["model"] == "emoji-t2i-gpu"]
    assert "alignment score" in finals[0]["metrics"] and finals[0]["guidance_scale"] == 1.0
