#!/usr/bin/env bash
# GPU performance check on one GPU (the full four-mode run took about 7 minutes on an H200; the default,
# without fp32 + compile and with fewer rounds, should take about 2 minutes less; not yet timed):
#   bash scripts/gpu_check.sh [OUT_DIR]
#   TRAIN_MODES=fp32,bf16,bf16+compile,fp32+compile ROUNDS=5 bash scripts/gpu_check.sh OUT_DIR   # the full run
# 1. the GPU, torch's version and the bf16 matrix-product rate measured on it (8192^3, for MFU context);
# 2. the PF forward at uniform t against the global-time model of the same size, and the sampler speed
#    table (each sampler's wall time / (NFE x one forward)), B/2, 32x32x4 latents, batch 64;
# 3. B/2 training images/s and MFU in fp32, bf16 and bf16 + compile (TRAIN_MODES), same shapes.
# Writes OUT_DIR/gpu.txt, OUT_DIR/speed-b2.{json,md} and OUT_DIR/report.md (default OUT_DIR: gpu-check).
# Runs with the repository's .venv, else the system python3 (with ./src where patchforcing is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
"$py" -c "import patchforcing" 2>/dev/null || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
"$py" - <<'EOF' | tee -a "$out/gpu.txt"
import time

import torch

a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
for _ in range(3):
    a @ b
torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(10):
    a @ b
torch.cuda.synchronize()
rate = 10 * 2 * 8192**3 / (time.perf_counter() - start)
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}: bf16 8192^3 matmul {rate / 1e12:.0f} TFLOP/s")
EOF
"$py" -m patchforcing bench speed --device cuda --preset B/2 --image-size 32 --channels 4 --num-classes 1000 \
    --batch 64 --steps 10 --repeats "${ROUNDS:-3}" --forwards 10 --train --train-steps 20 \
    --train-modes "${TRAIN_MODES:-fp32,bf16,bf16+compile}" --out "$out/speed-b2.json" 2> >(tee "$out/stderr.log" >&2) | tee "$out/report.md"
