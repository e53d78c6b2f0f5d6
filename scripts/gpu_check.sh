#!/usr/bin/env bash
# GPU performance check on one GPU (parts 1-3 took about 5 minutes on an H200; part 4 is meant to
# keep the whole run within 8 minutes, not yet timed on a GPU):
#   bash scripts/gpu_check.sh [OUT_DIR]
#   TRAIN_MODES=fp32,bf16,bf16+compile,fp32+compile ROUNDS=5 bash scripts/gpu_check.sh OUT_DIR   # more modes
#   SMOKE=1 bash scripts/gpu_check.sh OUT_DIR   # every part at a tiny size on the CPU (no GPU needed)
# 1. the GPU, torch's version and the bf16 matrix-product rate measured on it (8192^3, for MFU context);
# 2. the PF forward at uniform t against the global-time model of the same size, and the sampler speed
#    table (each sampler's wall time / (NFE x one forward)), B/2, 32x32x4 latents, batch 64;
# 3. B/2 training images/s and MFU in each TRAIN_MODES mode (default bf16), same shapes, and our step
#    against a plain per-token adaLN DiT of the same size, interleaved;
# 4. scripts/gpu_train_check.py: B/2 and XL/2 at batch 256, bf16 compiled, fused AdamW, TF32 on:
#    images/s, MFU and speed against the plain DiT; B/2's largest batch; Euler-PF, dual-loop and
#    look-ahead images/s at batch 256, NFE 32; FSDP2 on one GPU against DDP (B/2, batch 64, 5 bf16
#    steps: both losses and their largest relative difference).
# Writes OUT_DIR/gpu.txt, OUT_DIR/speed-b2.{json,md}, OUT_DIR/report.md and OUT_DIR/train.md
# (default OUT_DIR: gpu-check).
# Runs with the repository's .venv, else the system python3 (with ./src where patchforcing is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
"$py" -c "import patchforcing" 2>/dev/null || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${SMOKE:-}" ]; then
    "$py" -c "import torch; print('smoke run on the CPU, torch', torch.__version__)" | tee "$out/gpu.txt"
    "$py" -m patchforcing bench speed --device cpu --preset T/4 --image-size 8 --batch 2 --steps 2 \
        --repeats 1 --forwards 1 --clock cpu --train --train-steps 2 --train-modes "${TRAIN_MODES:-bf16}" \
        --out "$out/speed-b2.json" | tee "$out/report.md"
    "$py" scripts/gpu_train_check.py --smoke | tee "$out/train.md"
    exit 0
fi
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
    --train-modes "${TRAIN_MODES:-bf16}" --out "$out/speed-b2.json" 2> >(tee "$out/stderr.log" >&2) | tee "$out/report.md"
"$py" scripts/gpu_train_check.py 2> >(tee -a "$out/stderr.log" >&2) | tee "$out/train.md"
