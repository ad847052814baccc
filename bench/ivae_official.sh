#!/usr/bin/env bash
# The official iVAE configuration end to end (d = 5, 40 segments × 1000, 3-layer xtanh mixing;
# variance-only priors, hidden 100, "3 layers", xtanh, batch 64, lr 0.01, 20 epochs), per seed,
# three implementations on the same data, each scored by `strongid eval` against the true z:
#   strongid         `fit ivae --modulation variance` + `encode` (posterior means)
#   torch            the same model in PyTorch (bench/torch/ivae.py --modulation variance)
#   official-recipe  the official code's own recipe re-implemented (bench/torch/ivae_official_recipe.py:
#                    separate encoders, prior network, weighted objective a=100, d=10, LR plateaus)
# All on THREADS threads (default 2). Prints one JSON line per run and a summary.
#   bench/ivae_official.sh [SEEDS...]     (default: 1 2 3 4 5)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("${@:-1 2 3 4 5}")
THREADS="${THREADS:-2}"
PY=bench/.venv/bin/python
[ -x "$PY" ] || { python3 -m venv bench/.venv; bench/.venv/bin/pip install --quiet torch zuko numpy; }
cargo build --release --quiet
S=target/release/strongid
W=target/bench-official
mkdir -p "$W"
OUT=bench/ivae_official_results.jsonl
: > "$OUT.tmp"
for seed in ${SEEDS[@]}; do
  D="$W/data$seed"
  [ -f "$D/x.npy" ] || $S simulate ivae --latent-dim 5 --obs-dim 5 --segments 40 --per-segment 1000 --mixing-layers 3 --seed "$seed" --out "$D" >/dev/null
  for impl in strongid torch official-recipe; do
    if [ $impl = strongid ]; then
      start=$(date +%s%N)
      RAYON_NUM_THREADS=$THREADS $S fit ivae --modulation variance --data "$D" --out "$W/m$seed.safetensors" --force --hidden 100 \
        --hidden-layers 2 --activation xtanh --batch 64 --lr 1e-2 --epochs 20 --patience 1000 --seed "$seed" --quiet >/dev/null
      RAYON_NUM_THREADS=$THREADS $S encode --model "$W/m$seed.safetensors" --data "$D" --out "$W/z_strongid$seed.npy" --force >/dev/null
      secs=$(awk "BEGIN{print ($(date +%s%N) - $start) / 1e9}")
      extra="{\"impl\":\"strongid\",\"seconds\":$secs"
    elif [ $impl = torch ]; then
      line=$(OMP_NUM_THREADS=$THREADS $PY bench/torch/ivae.py --modulation variance --data "$D" --hidden 100 --hidden-layers 2 --batch 64 \
        --lr 1e-2 --epochs 20 --codes "$W/z_torch$seed.npy" --seed "$seed" --threads "$THREADS")
      extra="{\"impl\":\"torch\",\"seconds\":$(echo "$line" | $PY -c 'import sys, json; print(json.load(sys.stdin)["seconds"])')"
    else
      line=$(OMP_NUM_THREADS=$THREADS $PY bench/torch/ivae_official_recipe.py --data "$D" --codes "$W/z_$impl$seed.npy" --seed "$seed" \
        --threads "$THREADS")
      extra="{\"impl\":\"$impl\",\"seconds\":$(echo "$line" | $PY -c 'import sys, json; print(json.load(sys.stdin)["seconds"])')"
    fi
    scores=$($S eval --true "$D/z.npy" --learned "$W/z_$impl$seed.npy" --json)
    echo "$extra,\"seed\":$seed,\"threads\":$THREADS,\"scores\":$scores}" | tee -a "$OUT.tmp"
  done
done
mv "$OUT.tmp" "$OUT"
$PY - "$OUT" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1])]
for impl in ("strongid", "torch", "official-recipe"):
    r = [x for x in rows if x["impl"] == impl]
    secs, mcc = [x["seconds"] for x in r], [x["scores"]["mcc"] for x in r]
    print(f"{impl:15s} seconds per seed {st.mean(secs):6.2f} (min {min(secs):.2f}, max {max(secs):.2f})   "
          f"mcc {st.mean(mcc):.3f} ± {st.pstdev(mcc):.3f}  over seeds {[x['seed'] for x in r]}")
PY
