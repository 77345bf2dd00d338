#!/usr/bin/env bash
# Recompute every number in faceocc/models/MODEL_CARD.md.
#   bash scripts/model_card_metrics.sh /path/to/shared/data [reports_dir]
# Needs the training data folder (faces/manifest.csv, occluders/) and ~10 minutes on 2 CPU cores.
set -euo pipefail
DATA=${1:?usage: $0 DATA_DIR [OUT_DIR]}
OUT=${2:-reports}
CACHE=${CACHE:-$OUT/cache}
INT8=faceocc/models/faceocc_mbv2_112_int8.onnx
FP32=${FP32:-$OUT/faceocc_mbv2_112_fp32.onnx}
AUDIT=faceocc/data/audit_no_mask.csv
mkdir -p "$OUT"
# real in-the-wild photos first: the two-labeller wild test split (reported first in the card), then the stability run
faceocc evaluate --wild "$DATA/wild" --split test --model "$INT8" --out "$OUT/wild_test" | tee "$OUT/wild_test.txt"
python scripts/stability_bench.py --model "$INT8" --json "$OUT/stability.json" | tee "$OUT/stability.txt"
[ -f "$CACHE/index.csv" ] || faceocc prepare "$DATA/faces" "$CACHE"
# real faces, test split, labels corrected by the audit; faces the detector found (as faceocc analyze sees them)
faceocc evaluate --cache "$CACHE" --split test --audit-labels "$AUDIT" --model "$INT8" --out "$OUT/real_test" -q
# the same including the tight crops where no face was found (aligned by the average landmark position)
faceocc evaluate --cache "$CACHE" --split test --use-fallback --audit-labels "$AUDIT" --model "$INT8" --out "$OUT/real_test_all" -q --no-plots
# synthetic occlusions from occluder cut-outs held out of training, pasted on the test split's audited clean faces;
# 10 per face (5530 samples, 461 occluding hands). 3 per face (149 hands) was too few: v0.3.0 read 96.6% there, 92.4% here
faceocc evaluate --cache "$CACHE" --split test --synthetic --occluders "$DATA/occluders" --per-face 10 \
    --audit-labels "$AUDIT" --model "$INT8" --out "$OUT/synthetic_test" -q
# synthetic held-out hands, one row per pose (outline: the hard negative)
python scripts/hand_poses.py "$CACHE" "$DATA/occluders" "$INT8" --per-pose 150 | tee "$OUT/hand_poses.txt"
# latency, size, memory: int8 against fp32 (when the fp32 export is there), 1 and 2 threads
MODELS=(--model "$INT8")
[ -f "$FP32" ] && MODELS+=(--model "$FP32")
faceocc bench "${MODELS[@]}" --threads 1,2 --iterations 200 --json "$OUT/bench.json"
