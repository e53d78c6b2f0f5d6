"""Every script in examples/ runs at its tiny size (``--tiny``) and writes the pictures it
promises, from a folder outside the repository (one that needs an extra: where it is installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WRITES = {
    "sample.py": ["samples.png", "sample-0.png"],
    "compare_samplers.py": ["compare.png"],
    "text_to_image.py": ["prompts.png"],
    "inpainting.py": ["inpainting.png"],
    "train_own_folder.py": ["own-folder.png", "runs/own-folder/checkpoints"],
    "diffusers_pipeline.py": ["diffusers-0.png", "fmnist-pf-diffusers/model_index.json"],
}
NEEDS = {"diffusers_pipeline.py": "diffusers"}  # the extra an example needs


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(WRITES)


@pytest.mark.parametrize("script", sorted(WRITES))
def test_example_runs(script, tmp_path):
    if script in NEEDS:
        pytest.importorskip(NEEDS[script], reason=f"{script} needs the [{NEEDS[script]}] extra")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--tiny"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in WRITES[script]:
        assert (tmp_path / name).exists(), f"{script} did not write {name}"
