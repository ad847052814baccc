#!/usr/bin/env bash
# The flow generator's architecture (issue #21): LU-parametrised linear layers before each step
# and the number of steps, against the true model's likelihood. For each case and data seed, one
# `fit ivae-frozen --anchors priors.json` per configuration; printed: strong_mcc, the fit's exact
# mean log p(x | u) (`strongid logprob`) and the truth's (bench/ivae_true_loglik.py), each
# restart's validation loss, and the certificate's verdict.
#   sq5  d = D = 5, 40 segments (the official size);  d10 d = D = 10, 40 segments;
#   d20  d = D = 20, 60 segments.  Mean-variance modulation, noiseless.
# OLD: a binary built before the linear layers (commit ee438eb) for the "no linear layer" rows.
#   OLD=/tmp/strongid-ee438eb PY=/tmp/benchvenv/bin/python bench/ivae_flow_ablation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
S="${STRONGID:-target/release/strongid}"
PY="${PY:-python3}"
W="${WORK:-target/bench-flow-ablation}"
THREADS="${THREADS:-1}"
mkdir -p "$W"
one() { # binary data tag fit-args...
  local bin=$1 data=$2 tag=$3; shift 3
  RAYON_NUM_THREADS=$THREADS $bin fit ivae-frozen --data "$data" --anchors "$data/priors.json" --out "$data/m-$tag.safetensors" --force --quiet "$@" > "$data/log-$tag.txt" 2>&1
  $bin encode --model "$data/m-$tag.safetensors" --data "$data" --out "$data/z-$tag.npy" --force >/dev/null
  local mcc; mcc=$($S eval --true "$data/z.npy" --learned "$data/z-$tag.npy" --json | grep -o '"strong_mcc":[0-9.]*' | cut -d: -f2)
  local lp; lp=$($S logprob --model "$data/m-$tag.safetensors" --data "$data" --out "$data/lp-$tag.npy" --force | grep -o 'density [-0-9.]*' | cut -d' ' -f2)
  echo "$(basename "$data") $tag strong_mcc $mcc log_p $lp restarts $(grep -o 'validation loss [-0-9.]*' "$data/log-$tag.txt" | head -2 | cut -d' ' -f3 | tr '\n' ' ')$(grep -o 'NOT certified\|: certified' "$data/log-$tag.txt" | head -1)"
}
for spec in "sq5 5 40 301 302 303 304" "d10 10 40 211 212 213" "d20 20 60 221"; do
  read -r name d segs seeds <<< "$spec"
  for s in $seeds; do
    data="$W/$name-$s"
    [ -f "$data/x.npy" ] || $S simulate ivae --latent-dim "$d" --obs-dim "$d" --segments "$segs" --modulation mean-variance --seed "$s" --out "$data" >/dev/null
    (cd bench && $PY ivae_true_loglik.py "../$data")
    [ -z "${OLD:-}" ] || one "$OLD" "$data" "no-linear-5-steps"
    one "$S" "$data" "default"
    one "$S" "$data" "linear-5-steps" --layers 5
    one "$S" "$data" "linear-10-steps" --layers 10
  done
done
