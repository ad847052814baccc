#!/usr/bin/env bash
# Ablation of the iVAE family's options (issue #11): each variant is one `fit ivae-frozen` with
# the true priors on `simulate ivae --modulation mean-variance` (the official recipe, d = x = 5,
# 40 segments × 1000) for data seeds SEEDS (default 11 12 13: not the targets' seeds 1-10), and
# one variance-only `fit ivae` on `simulate ivae --modulation variance` with the same seeds.
# One fit per case (--restarts 1, seed 0), every seed reported; rows measured before the default
# posterior became full carry --posterior diagonal in their options; THREADS threads (default 1, so
# two ablations can share 2 cores). Appends to bench/ivae_ablation_results.jsonl.
#   bench/ivae_ablation.sh LABEL [FIT OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
LABEL=$1; shift
EXTRA=("$@")
SEEDS="${SEEDS:-11 12 13}"
THREADS="${THREADS:-1}"
S=${STRONGID:-target/release/strongid}
W=target/bench-ablation
mkdir -p "$W"
OUT=bench/ivae_ablation_results.jsonl
for s in $SEEDS; do
  for mod in mean-variance variance; do
    D="$W/$mod$s"
    [ -f "$D/x.npy" ] || $S simulate ivae --modulation $mod --seed "$s" --out "$D" >/dev/null
    if [ $mod = mean-variance ]; then
      kind=(ivae-frozen --anchors "$D/priors.json"); metric=strong_mcc
    else
      kind=(ivae --modulation variance); metric=mcc
    fi
    M="$W/m-$LABEL-$mod$s.safetensors"
    start=$(date +%s%N)
    RAYON_NUM_THREADS=$THREADS $S fit "${kind[@]}" --data "$D" --restarts 1 "${EXTRA[@]}" --quiet --force --out "$M" >/dev/null
    secs=$(awk "BEGIN{print ($(date +%s%N) - $start) / 1e9}")
    RAYON_NUM_THREADS=$THREADS $S encode --model "$M" --data "$D" --out "$W/z-$LABEL.npy" --force >/dev/null
    scores=$($S eval --true "$D/z.npy" --learned "$W/z-$LABEL.npy" --json)
    echo "{\"label\":\"$LABEL\",\"options\":\"${EXTRA[*]}\",\"data\":\"$mod$s\",\"metric\":\"$metric\",\"fit_seconds\":$secs,\"scores\":$scores}" | tee -a "$OUT"
  done
done
# The table of every variant measured so far (mean over seeds in brackets).
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| options | ivae-frozen strong_mcc (mean-variance) | ivae mcc (variance-only) | fit s |\n|---|---|---|---|")
for label in dict.fromkeys(r["label"] for r in rows):
    r = [x for x in rows if x["label"] == label]
    mv = [x["scores"]["strong_mcc"] for x in r if x["data"].startswith("mean")]
    va = [x["scores"]["mcc"] for x in r if x["data"].startswith("var")]
    fmt = lambda v: " ".join(f"{x:.3f}" for x in v) + (f" ({sum(v) / len(v):.3f})" if v else "")
    print(f"| `{r[0]['options'] or '(defaults)'}` | {fmt(mv)} | {fmt(va)} | {sum(x['fit_seconds'] for x in r) / len(r):.1f} |")
PY
