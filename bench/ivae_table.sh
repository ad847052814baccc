#!/usr/bin/env bash
# The iVAE-family table of the README: `simulate ivae` (d = x = 5, 40 segments × 1000 points,
# 3 mixing layers, mean-variance modulation), seeds 1..5 (data and fit), three models:
#   ivae-frozen with the TRUE per-segment priors as anchors, ivae (learned priors), vae.
# Usage: bench/ivae_table.sh [OUT_DIR]   (15 fits, about 12 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
S=target/release/strongid
OUT=${1:-target/bench/ivae_table}
mkdir -p "$OUT"
rm -f "$OUT/results.jsonl.tmp"
COMMON=(--latent-dim 5 --hidden 100 --hidden-layers 2 --batch 64 --lr 3e-3 --epochs 100 --patience 20 --quiet --force)
for seed in 1 2 3 4 5; do
  data="$OUT/data$seed"
  $S simulate ivae --latent-dim 5 --obs-dim 5 --segments 40 --per-segment 1000 --mixing-layers 3 \
     --modulation mean-variance --seed "$seed" --out "$data" --force > /dev/null
  for kind in ivae-frozen ivae vae; do
    extra=()
    [ "$kind" = ivae-frozen ] && extra=(--anchors "$data/priors.json")
    start=$(date +%s%N)
    $S fit "$kind" --data "$data" --out "$OUT/$kind-$seed.safetensors" --seed "$seed" "${COMMON[@]}" "${extra[@]}" > /dev/null
    secs=$(( ($(date +%s%N) - start) / 1000000 ))e-3
    $S encode --model "$OUT/$kind-$seed.safetensors" --data "$data" --out "$OUT/$kind-$seed.z.npy" --force > /dev/null
    json=$($S eval --true "$data/z.npy" --learned "$OUT/$kind-$seed.z.npy" --json)
    echo "{\"kind\": \"$kind\", \"seed\": $seed, \"seconds\": $secs, \"scores\": $json}" >> "$OUT/results.jsonl.tmp"
  done
done
mv "$OUT/results.jsonl.tmp" "$OUT/results.jsonl"
python3 - "$OUT/results.jsonl" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = ["strong_mcc", "mcc", "mcc_spearman", "affine_r2", "identity_rmse"]
print("| model | seed | " + " | ".join(keys) + " | fit s |")
print("|---|---|" + "---|" * (len(keys) + 1))
for kind in ["ivae-frozen", "ivae", "vae"]:
    rs = [r for r in rows if r["kind"] == kind]
    for r in rs:
        print(f"| {kind} | {r['seed']} | " + " | ".join(f"{r['scores'][k]:.3f}" for k in keys) + f" | {r['seconds']:.1f} |")
    print(f"| **{kind}** | mean ± sd | " + " | ".join(f"**{st.mean(r['scores'][k] for r in rs):.3f}** ± {st.stdev(r['scores'][k] for r in rs):.3f}" for k in keys) + f" | {st.mean(r['seconds'] for r in rs):.1f} |")
PY
