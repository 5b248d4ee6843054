#!/usr/bin/env bash
# Side-by-side training-step benchmark: the PyTorch reference (torch_step.py) and
# `cargo bench --bench train_step` (each size and phase in its own process on both sides), at
# 128 and 256 px, phases 1 and 2, then one Markdown table from compare.py.
#
# Usage: benches/reference/side_by_side.sh
#
# Environment:
#   PYTHON             interpreter with torch (default: python3); without torch the recorded
#                      figures in benches/reference/pytorch_cpu.json are used instead
#   SIZES              image sizes (default: "128 256")
#   ITERS, WARMUP      timed / warm-up iterations for both sides (default: 3 / 1)
#   THREADS            PyTorch intra-op threads (default: 2)
#   CARGO_BENCH_FLAGS  extra cargo flags, e.g. "--no-default-features --features cuda"
#   OUT_DIR            where the raw logs go (default: a fresh temporary directory)
#
# Run it on a quiet machine: both sides are timed, one after the other.
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
SIZES=${SIZES:-"128 256"}
ITERS=${ITERS:-3}
WARMUP=${WARMUP:-1}
THREADS=${THREADS:-2}
CARGO_BENCH_FLAGS=${CARGO_BENCH_FLAGS:-}
OUT_DIR=${OUT_DIR:-$(mktemp -d -t enco-side-by-side.XXXXXX)}
mkdir -p "$OUT_DIR"

pytorch_jsonl="$OUT_DIR/pytorch.jsonl"
enco_log="$OUT_DIR/enco.log"
enco_jsonl="$OUT_DIR/enco.jsonl"
: >"$pytorch_jsonl"
: >"$enco_jsonl"

# PyTorch reference, one process per (size, phase).
if "$PYTHON" -c "import torch" 2>/dev/null; then
    for size in $SIZES; do
        for phase in 1 2; do
            echo "PyTorch: size $size, phase $phase" >&2
            "$PYTHON" benches/reference/torch_step.py --bench --size "$size" --phase "$phase" \
                --iters "$ITERS" --warmup "$WARMUP" --threads "$THREADS" | grep '^{' >>"$pytorch_jsonl"
        done
    done
else
    echo "torch is not importable with $PYTHON: using benches/reference/pytorch_cpu.json" >&2
fi

# enco: the rows the bench appends to target/bench/train_step.jsonl during this run.
jsonl_file=target/bench/train_step.jsonl
lines_before=0
[ -f "$jsonl_file" ] && lines_before=$(wc -l <"$jsonl_file")
# One process per (size, phase), as on the PyTorch side: a process keeps the heap it has grown
# (see `enco_kernels::keep_freed_memory`), so a phase-2 row timed after phase 1 in the same
# process would report phase 1's peak.
: >"$enco_log"
for size in $SIZES; do
    for phase in 1 2; do
        # shellcheck disable=SC2086 # CARGO_BENCH_FLAGS is a list of flags
        cargo bench $CARGO_BENCH_FLAGS --bench train_step -- --models enco --sizes "$size" \
            --phases "$phase" --iters "$ITERS" --warmup "$WARMUP" | tee -a "$enco_log"
    done
done
tail -n +"$((lines_before + 1))" "$jsonl_file" >"$enco_jsonl"

echo >&2
echo "raw rows in $OUT_DIR" >&2
echo
if [ -s "$pytorch_jsonl" ]; then
    "$PYTHON" benches/reference/compare.py --enco "$enco_jsonl" --pytorch "$pytorch_jsonl"
else
    "$PYTHON" benches/reference/compare.py --enco "$enco_jsonl"
fi
