#!/usr/bin/env bash
# One prepared check of a GPU machine, printing one Markdown table:
#   1. builds the cuda and wgpu features (Burn's fusion and autotune on, as the features enable
#      them);
#   2. runs the parity tests against the official code's fixtures on cuda and on wgpu;
#   3. times the training step (`cargo bench --bench train_step`, EnCo, both phases) on cuda and
#      wgpu, and the official code (benches/reference/torch_step.py) on CUDA on the same card
#      when torch with CUDA is importable;
#   4. measures translation throughput (`cargo bench --bench translate`) on cuda and wgpu, and
#      the official generator's on CUDA;
#   5. with more than one GPU, times data-parallel training on all of them against one
#      (`cargo bench --bench data_parallel`).
#
# Usage: benches/gpu/run.sh            (from anywhere; it works in the repository root)
#
# Environment:
#   SIZES          training-step image sizes (default: "128 256")
#   ITERS, WARMUP  timed / warm-up iterations of every timing (default: 5 / 2)
#   PYTHON         interpreter with torch (default: python3)
#   OUT_DIR        where the logs go (default: target/gpu-check)
#   SKIP_WGPU=1    leave wgpu out (e.g. no Vulkan driver)
#
# Each step's outcome is a row; a failing step is reported, and the script goes on.
set -uo pipefail

cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"128 256"}
ITERS=${ITERS:-5}
WARMUP=${WARMUP:-2}
PYTHON=${PYTHON:-python3}
OUT_DIR=${OUT_DIR:-target/gpu-check}
SKIP_WGPU=${SKIP_WGPU:-0}
mkdir -p "$OUT_DIR" target/bench
sizes_csv=$(echo "$SIZES" | tr ' ' ',')

rows=()
row() { rows+=("| $1 | $2 | $3 |"); }
# field EXPR: EXPR over the JSON object on standard input (its fields as names), printed.
field() { python3 -c "import json, sys; print(eval(sys.argv[1], {}, json.loads(sys.stdin.readline())))" "$1"; }

card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    # CUDA numbers only the visible devices.
    gpus=$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c .)
fi
card=${card:-"(nvidia-smi found no GPU)"}
row "card" "${gpus} × ${card}" "nvidia-smi"

backends=(cuda)
[ "$SKIP_WGPU" = 1 ] || backends+=(wgpu)

# 1-2. Builds and parity.
for backend in "${backends[@]}"; do
    flags="--release --no-default-features --features $backend"
    log="$OUT_DIR/build-$backend.log"
    start=$(date +%s)
    if cargo build $flags --benches --tests >"$log" 2>&1; then
        row "build $backend" "ok ($(( $(date +%s) - start )) s)" "$log"
    else
        row "build $backend" "FAILED" "$log"
        continue
    fi
    log="$OUT_DIR/parity-$backend.log"
    if cargo test $flags --test parity -- --show-output >"$log" 2>&1; then
        result="passed ($(grep -o '[0-9]* passed' "$log" | head -1))"
    else
        result="FAILED"
    fi
    row "parity tests, $backend" "$result" "$log"
done

# 3. The training step.
torch_cuda=0
if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    torch_cuda=1
fi
rm -f target/bench/train_step.jsonl
for backend in "${backends[@]}"; do
    log="$OUT_DIR/train_step-$backend.log"
    if cargo bench --no-default-features --features "$backend" --bench train_step -- \
        --models enco --sizes "$sizes_csv" --iters "$ITERS" --warmup "$WARMUP" >"$log" 2>&1; then
        while read -r line; do
            row "train step $backend $(echo "$line" | field 'f"{size} px phase {phase}"')" \
                "$(echo "$line" | field 'f"{s_per_iter * 1000:.0f} ms/iter"')" "$log"
        done < <(grep "\"backend\":\"$backend\"" target/bench/train_step.jsonl)
    else
        row "train step $backend" "FAILED" "$log"
    fi
done
if [ "$torch_cuda" = 1 ]; then
    for size in $SIZES; do
        for phase in 1 2; do
            log="$OUT_DIR/torch-$size-$phase.log"
            if "$PYTHON" benches/reference/torch_step.py --bench --device cuda --size "$size" \
                --phase "$phase" --iters "$ITERS" --warmup "$WARMUP" >"$log" 2>&1; then
                ms=$(grep '^{' "$log" | field 'f"{s_per_iter_median * 1000:.0f}"')
                row "train step PyTorch cuda $size px phase $phase" "$ms ms/iter" "$log"
            else
                row "train step PyTorch cuda $size px phase $phase" "FAILED" "$log"
            fi
        done
    done
else
    row "train step PyTorch cuda" "skipped" "torch with CUDA is not importable with $PYTHON"
fi

# 4. Translation throughput (256 px, batches of 1 and 4).
for backend in "${backends[@]}"; do
    log="$OUT_DIR/translate-$backend.log"
    if cargo bench --no-default-features --features "$backend" --bench translate -- 256 >"$log" 2>&1; then
        while IFS='|' read -r _ batch _ ips _; do
            row "translate $backend 256 px batch $(echo $batch)" "$(echo $ips) images/s" "$log"
        done < <(grep -E '^\| [0-9]+ \|' "$log")
    else
        row "translate $backend" "FAILED" "$log"
    fi
done
if [ "$torch_cuda" = 1 ]; then
    for batch in 1 4; do
        log="$OUT_DIR/torch-translate-$batch.log"
        if "$PYTHON" benches/reference/torch_step.py --translate --device cuda --size 256 \
            --batch "$batch" --iters "$ITERS" --warmup "$WARMUP" >"$log" 2>&1; then
            ips=$(grep '^{' "$log" | field 'f"{images_per_s:.2f}"')
            row "translate PyTorch cuda 256 px batch $batch" "$ips images/s" "$log"
        else
            row "translate PyTorch cuda 256 px batch $batch" "FAILED" "$log"
        fi
    done
fi

# 5. Data parallelism over every GPU.
if [ "${gpus:-0}" -gt 1 ]; then
    log="$OUT_DIR/data_parallel.log"
    if cargo bench --no-default-features --features cuda --bench data_parallel -- \
        --devices "$gpus" --size 256 --iters "$ITERS" --warmup "$WARMUP" >"$log" 2>&1; then
        while IFS='|' read -r _ devices per s ips _; do
            row "data-parallel cuda, $(echo $devices) device(s), batch $gpus" \
                "$(echo $s) s/iter, $(echo $ips) images/s" "$log"
        done < <(grep -E '^\| [0-9]+ \|' "$log")
    else
        row "data-parallel cuda" "FAILED" "$log"
    fi
else
    row "data-parallel cuda" "skipped" "one GPU"
fi

echo
echo "| check | result | log |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
