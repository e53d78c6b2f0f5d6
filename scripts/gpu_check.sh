#!/usr/bin/env bash
# GPU performance check, about 5 minutes on one GPU (run it where the device tool lends one):
#   bash scripts/gpu_check.sh [OUT_DIR]
# 1. B/2 training images/s and MFU in fp32 / bf16 / compiled (32x32x4 latents, batch 64);
# 2. the sampler speed table at B/2 (each sampler's wall time / (NFE x one forward));
# 3. the PF forward at uniform t against the global-time model of the same size (first row of 2).
# Writes OUT_DIR/speed-b2.{json,md} and OUT_DIR/train-b2.md (default OUT_DIR: gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
py=.venv/bin/patchforcing
[ -x "$py" ] || py=patchforcing
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
"$py" bench speed --device cuda --preset B/2 --image-size 32 --channels 4 --num-classes 1000 --batch 64 \
    --steps 10 --repeats 5 --forwards 20 --train --train-steps 20 --out "$out/speed-b2.json" | tee "$out/train-b2.md"
