#!/usr/bin/env bash
# Which code of a noisy fit is closest to the Bayes-optimal one? (issue #21). For each data seed
# and σ: `simulate ivae --modulation mean-variance --noise σ` (d = 5 square), one default
# `fit ivae-frozen --anchors priors.json`, then strong_mcc of the encoder's mean (`encode`) and of
# the importance-sampled posterior mean (`encode --importance-samples K`), and, with PY set (a
# python with numpy and scipy), the true model's posterior mean (bench/ivae_noise_oracle.py).
#   SEEDS (default 201-210)  SIGMAS (default 0.05 0.1)  K (default 512)  THREADS (default 2)
# Writes OUT (default bench/ivae_noise_code_results.jsonl), one line per fit.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${SEEDS:-201 202 203 204 205 206 207 208 209 210}"
SIGMAS="${SIGMAS:-0.05 0.1}"
K="${K:-512}"
THREADS="${THREADS:-2}"
[ -n "${STRONGID:-}" ] || cargo build --release --quiet
S="${STRONGID:-target/release/strongid}"
W="${WORK:-target/bench-noise-code}"
OUT="${OUT:-bench/ivae_noise_code_results.jsonl}"
mkdir -p "$W"
: > "$OUT.tmp"
score() { $S eval --true "$1/z.npy" --learned "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["strong_mcc"])'; }
for s in $SEEDS; do for sigma in $SIGMAS; do
  D="$W/meanvar-s$s-n$sigma"
  [ -f "$D/x.npy" ] || $S simulate ivae --modulation mean-variance --noise "$sigma" --seed "$s" --out "$D" >/dev/null
  RAYON_NUM_THREADS=$THREADS $S fit ivae-frozen --data "$D" --anchors "$D/priors.json" --out "$D/m.safetensors" --quiet --force >/dev/null 2>&1
  gen=$($S inspect "$D/m.safetensors" | grep -q '^auto          mlp with learned' && echo noisy-refit || echo flow)
  RAYON_NUM_THREADS=$THREADS $S encode --model "$D/m.safetensors" --data "$D" --out "$D/z_mean.npy" --force >/dev/null
  mean=$(score "$D" "$D/z_mean.npy")
  iw=null; secs=null
  if [ "$gen" = noisy-refit ]; then
    t0=$(date +%s%N)
    RAYON_NUM_THREADS=$THREADS $S encode --model "$D/m.safetensors" --data "$D" --importance-samples "$K" --out "$D/z_iw.npy" --force >/dev/null
    secs=$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")
    iw=$(score "$D" "$D/z_iw.npy")
  fi
  oracle=null
  [ -n "${PY:-}" ] && oracle=$($PY bench/ivae_noise_oracle.py "$D" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pm_strong"])')
  echo "{\"seed\": $s, \"sigma\": $sigma, \"generator\": \"$gen\", \"strong_mcc_encoder_mean\": $mean, \"strong_mcc_importance\": $iw, \"importance_samples\": $K, \"importance_encode_seconds\": $secs, \"strong_mcc_bayes_optimal\": $oracle}" | tee -a "$OUT.tmp"
done; done
mv "$OUT.tmp" "$OUT"
