#!/usr/bin/env bash
# Validation loss of the iVAE after the same 550 training steps (workload (a): hidden 100, batch 64)
# in strongid and in the PyTorch reference, over seeds 0–21 on one thread: the "same accuracy"
# check of the speed table, over enough seeds to see the two basins both implementations reach.
#   bench/ivae_val_loss_seeds.sh      (run bench/speed.sh first: it builds the data and the venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=bench/.venv/bin/python
DATA=target/bench-data/ivae
BIN=$(cargo bench --bench speed --no-run --message-format=json 2>/dev/null \
  | $PY -c 'import sys, json; print([j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable") and j["target"]["name"] == "speed"][0])')
OUT=bench/ivae_val_loss_seeds.jsonl
: > "$OUT.tmp"
for seed in $(seq 0 21); do
  RAYON_NUM_THREADS=1 "$BIN" ivae --data "$DATA" --batch 64 --hidden 100 --seed "$seed" | sed "s/^{/{\"seed\":$seed,/" >> "$OUT.tmp"
  OMP_NUM_THREADS=1 $PY bench/torch/ivae.py --data "$DATA" --batch 64 --hidden 100 --seed "$seed" --threads 1 | sed "s/^{/{\"seed\":$seed,/" >> "$OUT.tmp"
done
mv "$OUT.tmp" "$OUT"
$PY - "$OUT" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
for impl in ("strongid", "torch"):
    v = [r["val_loss"] for r in rows if r["impl"] == impl]
    print(f"{impl:9s} val loss mean {st.mean(v):.3f} sd {st.stdev(v):.3f}  lower basin (< 3.6) {sum(x < 3.6 for x in v)} of {len(v)}")
PY
