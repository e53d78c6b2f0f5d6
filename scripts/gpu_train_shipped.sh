#!/usr/bin/env bash
# The four larger recipes on one GPU, trained side by side, then exported, evaluated and written as
# model folders with their recommended sampling settings, metrics, sample grids and cards:
#   bash scripts/gpu_train_shipped.sh OUT            # one GPU (sized for 8 minutes of an H200)
#   bash scripts/gpu_train_shipped.sh --smoke OUT    # every step at a tiny size on the CPU, fake data
#   bash scripts/gpu_train_shipped.sh --prepare DATA # copy the data sets (and the package emoji)
#                                                    # into DATA, to carry to a machine without them
# Recipes: fmnist-pf-gpu, fmnist-global-gpu, emoji-t2i-gpu, emoji-t2i-global-gpu
# (src/patchforcing/train/recipes.py), bf16, compiled, each with a log in OUT/logs/. TRAIN_SECONDS
# (default 480) bounds the four trainings together: a run still going then stops with a checkpoint
# (SIGTERM), is exported at the step it reached (its card says which) and resumes when this runs
# again. The data sets come from GPU_DATA (default gpu-data/, as --prepare writes it: fashion-mnist/,
# emoji/ and python/ for the package emoji), else from their usual places.
# Writes OUT/runs/NAME (the training runs), OUT/models/NAME (model folders), OUT/samples/NAME,
# OUT/metrics.json (every evaluation) and OUT/report.md.
# Runs with the repository's .venv, else the system python3 (with ./src where patchforcing is not installed).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=gpu
case "${1:-}" in
    --smoke) mode=smoke; shift ;;
    --prepare) mode=prepare; shift ;;
esac
out="${1:?usage: gpu_train_shipped.sh [--smoke | --prepare] OUT}"
export PYTHONUNBUFFERED=1
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
"$py" -c "import patchforcing" 2>/dev/null || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [ "$mode" = prepare ]; then
    exec "$py" scripts/gpu_train_shipped.py prepare "$out"
fi
mkdir -p "$out/logs"
data="${GPU_DATA:-gpu-data}"
common=(--precision bf16 --no-progress)
if [ "$mode" = smoke ]; then
    "$py" scripts/gpu_train_shipped.py fake-data "$out/data"
    data="$out/data"
    common+=(--device cpu --threads 1 --depth 1 --width 32 --heads 2 --steps 2 --batch-size 4
             --checkpoint-every 2 --sample-every 100)
    budget="${TRAIN_SECONDS:-120}"
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    common+=(--device cuda --compile)
    budget="${TRAIN_SECONDS:-480}"
fi
[ -d "$data/python" ] && export PYTHONPATH="$PWD/$data/python${PYTHONPATH:+:$PYTHONPATH}"
fmnist=(); emoji=()
[ -d "$data/fashion-mnist" ] && fmnist=(--data-dir "$data/fashion-mnist")
[ -d "$data/emoji" ] && emoji=(--data-dir "$data/emoji")
start=$(date +%s)
pids=()
for recipe in fmnist-pf-gpu fmnist-global-gpu emoji-t2i-gpu emoji-t2i-global-gpu; do
    where=("${fmnist[@]}")
    [[ "$recipe" == emoji-* ]] && where=("${emoji[@]}")
    timeout -s TERM -k 60 "$budget" "$py" -m patchforcing train --recipe "$recipe" \
        --out "$out/runs/$recipe" "${where[@]}" "${common[@]}" > "$out/logs/$recipe.log" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    code=0
    wait "$pid" || code=$?
    if [ "$code" -ne 0 ] && [ "$code" -ne 143 ] && [ "$code" -ne 124 ]; then  # 143: stopped by TERM
        echo "a training failed (exit $code); its log is in $out/logs/" >&2
        tail -n 20 "$out"/logs/*.log >&2
        exit 1
    fi
done
echo "trained the four recipes in $(( $(date +%s) - start )) s (budget $budget s)" | tee "$out/train.txt"
finish=(finish "$out")
[ "$mode" = smoke ] && finish+=(--smoke)
[ -d "$data/fashion-mnist" ] && finish+=(--fmnist-dir "$data/fashion-mnist")
[ -d "$data/emoji" ] && finish+=(--emoji-dir "$data/emoji")
"$py" scripts/gpu_train_shipped.py "${finish[@]}"
