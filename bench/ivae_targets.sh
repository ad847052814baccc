#!/usr/bin/env bash
# The iVAE family's targets of issue #11, every seed reported, default options of each kind:
#   official-variance  `fit ivae --modulation variance` on the official code's variance-only data (mcc)
#   official-meanvar   `fit ivae-frozen --anchors priors.json` (true priors) on its mean-variance data (strong_mcc)
#   linear-env         `fit ivae-frozen` on `simulate linear-env --envs 3 --latent-dim 2 --obs-dim 10`, seeds 1-10
#   ivae-meanvar       `fit ivae-frozen` with the true priors on `simulate ivae --modulation mean-variance`, seeds 1-10
# Needs the official datasets (OFFICIAL, default ../shared/data/ivae-official). One fit per case,
# fit seed 0, THREADS threads (default 2). Writes bench/ivae_targets_results.jsonl and prints a table.
#   bench/ivae_targets.sh [EXTRA FIT OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
OFFICIAL="${OFFICIAL:-../shared/data/ivae-official}"
THREADS="${THREADS:-2}"
EXTRA=("$@")
cargo build --release --quiet
S=target/release/strongid
W=target/bench-targets
mkdir -p "$W"
OUT=bench/ivae_targets_results.jsonl
: > "$OUT.tmp"
one() { # case data-label metric fit-args...
  local case=$1 label=$2 metric=$3; shift 3
  local start; start=$(date +%s%N)
  RAYON_NUM_THREADS=$THREADS $S fit "$@" "${EXTRA[@]}" --quiet --force --out "$W/m.safetensors" >/dev/null
  local secs; secs=$(awk "BEGIN{print ($(date +%s%N) - $start) / 1e9}")
  local data; data=$(printf '%s\n' "$@" | awk 'prev=="--data"{print} {prev=$0}')
  RAYON_NUM_THREADS=$THREADS $S encode --model "$W/m.safetensors" --data "$data" --out "$W/z.npy" --force >/dev/null
  local scores; scores=$($S eval --true "$data/z.npy" --learned "$W/z.npy" --json)
  echo "{\"case\":\"$case\",\"data\":\"$label\",\"metric\":\"$metric\",\"fit_seconds\":$secs,\"scores\":$scores}" | tee -a "$OUT.tmp"
}
for s in 2 3 4; do
  one official-variance "seed$s" mcc ivae --modulation variance --data "$OFFICIAL/seed$s-variance"
done
for s in 2 3 4; do
  one official-meanvar "seed$s" strong_mcc ivae-frozen --data "$OFFICIAL/seed$s-meanvar" --anchors "$OFFICIAL/seed$s-meanvar/priors.json"
done
for s in $(seq 1 10); do
  D="$W/linear-env$s"
  [ -f "$D/x.npy" ] || $S simulate linear-env --envs 3 --latent-dim 2 --obs-dim 10 --seed "$s" --out "$D" >/dev/null
  one linear-env "seed$s" strong_mcc ivae-frozen --data "$D" --anchors "$D/priors.json" --latent-dim 2
done
for s in $(seq 1 10); do
  D="$W/ivae-meanvar$s"
  [ -f "$D/x.npy" ] || $S simulate ivae --modulation mean-variance --seed "$s" --out "$D" >/dev/null
  one ivae-meanvar "seed$s" strong_mcc ivae-frozen --data "$D" --anchors "$D/priors.json"
done
mv "$OUT.tmp" "$OUT"
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for case in dict.fromkeys(r["case"] for r in rows):
    r = [x for x in rows if x["case"] == case]
    m = r[0]["metric"]
    vals = [x["scores"][m] for x in r]
    print(f"{case:18s} {m:10s} " + " ".join(f"{v:.3f}" for v in vals) +
          f"   >= 0.95: {sum(v >= 0.95 for v in vals)}/{len(vals)}   fit s {sum(x['fit_seconds'] for x in r) / len(r):.1f}")
PY
