#!/usr/bin/env bash
# Fit time of strongid's default `fit ivae-frozen --anchors priors.json` (everything a user gets:
# auto's generator choice, the restarts and the certificate, the noisy refit where it applies)
# against one fit of the official iVAE code's recipe (bench/torch/ivae_official_recipe.py: its
# cleanIVAE model, weighted objective, Adam 0.01 with plateaus, batch 64, hidden 100, 20 epochs),
# side by side on the same data and the same THREADS threads, for each case of issue #21:
#   sq5      d = D = 5, 40 segments × 1000, noiseless (the official size)
#   noise    the same with observation noise σ = 0.1
#   D20/D50  d = 5 latents, 20 / 50 observed coordinates
#   d10/d20  d = D = 10 (40 segments), d = D = 20 (60 segments)
# Mean-variance modulation, data seed SEED (default 301, used nowhere else). One JSON line per
# run to bench/ivae_speed_cases_results.jsonl, then a table with the ratio.
#   PY=/tmp/benchvenv/bin/python bench/ivae_speed_cases.sh      (PY: a python with torch and numpy)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
SEED="${SEED:-301}"
PY="${PY:-bench/.venv/bin/python}"
S="${STRONGID:-target/release/strongid}"
W="${WORK:-target/bench-speed-cases}"
OUT=bench/ivae_speed_cases_results.jsonl
mkdir -p "$W"
: > "$OUT.tmp"
ONLY="${ONLY:-}"   # e.g. ONLY="D20 D50": run these cases only, appending to the results
# name | latent dim | observed dim | segments | noise
CASES=("sq5|5|5|40|0" "noise|5|5|40|0.1" "D20|5|20|40|0" "D50|5|50|40|0" "d10|10|10|40|0" "d20|20|20|60|0")
for c in "${CASES[@]}"; do
  IFS='|' read -r name d D segs noise <<< "$c"
  [ -z "$ONLY" ] || [[ " $ONLY " == *" $name "* ]] || continue
  data="$W/$name"
  [ -f "$data/x.npy" ] || $S simulate ivae --latent-dim "$d" --obs-dim "$D" --segments "$segs" --per-segment 1000 --mixing-layers 3 \
    --modulation mean-variance --noise "$noise" --seed "$SEED" --out "$data" --force >/dev/null
  start=$(date +%s%N)
  RAYON_NUM_THREADS=$THREADS $S fit ivae-frozen --data "$data" --anchors "$data/priors.json" --out "$W/$name.safetensors" --force --quiet >/dev/null
  RAYON_NUM_THREADS=$THREADS $S encode --model "$W/$name.safetensors" --data "$data" --out "$W/z_strongid_$name.npy" --force >/dev/null
  ours=$(awk "BEGIN{print ($(date +%s%N) - $start) / 1e9}")
  line=$(OMP_NUM_THREADS=$THREADS $PY bench/torch/ivae_official_recipe.py --data "$data" --codes "$W/z_official_$name.npy" --seed 0 --threads "$THREADS")
  theirs=$(echo "$line" | $PY -c 'import sys, json; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["seconds"])')
  a=$($S eval --true "$data/z.npy" --learned "$W/z_strongid_$name.npy" --json)
  # The official recipe's loss can blow up (NaN codes): its time still counts, its score is null.
  b=$($S eval --true "$data/z.npy" --learned "$W/z_official_$name.npy" --json 2>/dev/null || echo null)
  echo "{\"case\":\"$name\",\"d\":$d,\"D\":$D,\"segments\":$segs,\"noise\":$noise,\"seed\":$SEED,\"threads\":$THREADS,\"strongid_seconds\":$ours,\"official_recipe_seconds\":$theirs,\"strongid\":$a,\"official_recipe\":$b}" | tee -a "$OUT.tmp"
done
if [ -n "$ONLY" ]; then cat "$OUT.tmp" >> "$OUT"; rm "$OUT.tmp"; else mv "$OUT.tmp" "$OUT"; fi
$PY - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| case | d | D | segments | σ | strongid default fit (s) | official recipe, one fit (s) | ratio | strong_mcc strongid | mcc official recipe |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['case']} | {r['d']} | {r['D']} | {r['segments']} | {r['noise']} | {r['strongid_seconds']:.1f} | {r['official_recipe_seconds']:.1f} | "
          f"{r['official_recipe_seconds'] / r['strongid_seconds']:.1f}× | {r['strongid']['strong_mcc']:.3f} | "
          f"{'NaN codes (diverged)' if r['official_recipe'] is None else format(r['official_recipe']['mcc'], '.3f')} |")
PY
