#!/usr/bin/env bash
# Side-by-side speed of strongid and PyTorch references of the same models (bench/torch/), in
# the order A B A B, at 1 and 2 threads; then bench/report.py prints medians and ratios.
#   bench/speed.sh            # everything (≈ 20 min on 2 cores) -> bench/speed_results.jsonl
#   bench/speed.sh ivae       # only workloads whose name contains "ivae" -> speed_results_ivae.jsonl
#   bench/speed.sh b:         # workload group (b) -> speed_results_b.jsonl (filter's [A-Za-z0-9_-] only)
# Needs: python3 (a venv with torch and zuko is created in bench/.venv on first use; large).
set -euo pipefail
cd "$(dirname "$0")/.."
FILTER="${1:-}"
OUT=bench/speed_results${FILTER:+_${FILTER//[^a-zA-Z0-9_-]/}}.jsonl
DATA=target/bench-data
PY=bench/.venv/bin/python
if [ ! -x "$PY" ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet torch zuko numpy
fi
cargo build --release --quiet
BIN=$(cargo bench --bench speed --no-run --message-format=json 2>/dev/null \
  | $PY -c 'import sys, json; print([j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable") and j["target"]["name"] == "speed"][0])')
S=target/release/strongid
mkdir -p "$DATA"
[ -f "$DATA/ivae/x.npy" ] || $S simulate ivae --latent-dim 5 --obs-dim 5 --segments 40 --per-segment 1000 --mixing-layers 3 --seed 1 --out "$DATA/ivae" >/dev/null
[ -f "$DATA/tmi8/x.npy" ] || $S simulate tmi --dim 8 --n 20000 --seed 1 --out "$DATA/tmi8" >/dev/null
[ -f "$DATA/tmi8-1m/x.npy" ] || $S simulate tmi --dim 8 --n 1000000 --seed 2 --out "$DATA/tmi8-1m" >/dev/null
[ -f "$DATA/ivae-1m/x.npy" ] || $S simulate ivae --latent-dim 5 --obs-dim 5 --segments 40 --per-segment 25000 --mixing-layers 3 --seed 2 --out "$DATA/ivae-1m" >/dev/null

# name | strongid bench args | torch script and args (one or more, separated by ';')
WORKLOADS=(
  "a:ivae-b64|ivae --data $DATA/ivae --batch 64 --hidden 100|ivae.py --data $DATA/ivae --batch 64 --hidden 100"
  "a:ivae-b256|ivae --data $DATA/ivae --batch 256 --hidden 100|ivae.py --data $DATA/ivae --batch 256 --hidden 100"
  "a:ivae-h50-b64|ivae --data $DATA/ivae --batch 64 --hidden 50|ivae.py --data $DATA/ivae --batch 64 --hidden 50"
  "b:flow-spline|flow --data $DATA/tmi8 --layers 5 --hidden 64 --batch 256 --steps 300|flow.py --data $DATA/tmi8 --layers 5 --hidden 64 --batch 256 --steps 300;flow.py --zuko nsf --data $DATA/tmi8 --layers 5 --hidden 64 --batch 256 --steps 300"
  "b:flow-affine|flow --transform affine --data $DATA/tmi8 --layers 5 --hidden 64 --batch 256 --steps 300|flow.py --transform affine --data $DATA/tmi8 --layers 5 --hidden 64 --batch 256 --steps 300;flow.py --zuko maf --data $DATA/tmi8 --layers 5 --hidden 64 --batch 256 --steps 300"
  "c:flow-large|flow --data $DATA/tmi8 --layers 5 --hidden 256 --batch 512 --steps 100 --warmup 10|flow.py --data $DATA/tmi8 --layers 5 --hidden 256 --batch 512 --steps 100 --warmup 10"
  "c:ivae-large|ivae --data $DATA/ivae --batch 512 --hidden 256 --steps 300|ivae.py --data $DATA/ivae --batch 512 --hidden 256 --steps 300"
  "d:flow-logprob-1m|flow-logprob --data $DATA/tmi8-1m --layers 5 --hidden 64 --batch 256 --warmup 100|flow.py --infer logprob --data $DATA/tmi8-1m --layers 5 --hidden 64 --batch 256 --warmup 100"
  "d:flow-encode-1m|flow-encode --data $DATA/tmi8-1m --layers 5 --hidden 64 --batch 256 --warmup 100|flow.py --infer encode --data $DATA/tmi8-1m --layers 5 --hidden 64 --batch 256 --warmup 100"
  "d:ivae-encode-1m|ivae-encode --data $DATA/ivae-1m --hidden 100 --batch 64 --warmup 100|ivae.py --infer encode --data $DATA/ivae-1m --hidden 100 --batch 64 --warmup 100"
)

: > "$OUT.tmp"
for threads in 1 2; do
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r name ours theirs <<< "$w"
    [[ -z "$FILTER" || "$name" == *"$FILTER"* ]] || continue
    for rep in 1 2; do
      echo "== $name threads=$threads rep=$rep" >&2
      # shellcheck disable=SC2086
      RAYON_NUM_THREADS=$threads "$BIN" $ours \
        | sed "s/^{/{\"name\":\"$name\",\"rep\":$rep,/" >> "$OUT.tmp"
      IFS=';' read -ra refs <<< "$theirs"
      for ref in "${refs[@]}"; do
        # shellcheck disable=SC2086
        OMP_NUM_THREADS=$threads $PY bench/torch/$ref --threads "$threads" \
          | sed "s/^{/{\"name\":\"$name\",\"rep\":$rep,/" >> "$OUT.tmp"
      done
    done
  done
done

# (e) The probe: 8 restarts of a tmi-flow (d = 8, 5 steps, hidden 64, batch 256, 5 epochs of
# 18 000 training rows = 355 steps each), fitted in parallel on the 2 cores, then encoded and
# compared pairwise at every alignment level; against the same 8 trainings in PyTorch, one after
# the other with 2 threads (training only).
if [[ -z "$FILTER" || "e:probe" == *"$FILTER"* ]]; then
  for rep in 1 2; do
    echo "== e:probe rep=$rep" >&2
    start=$(date +%s%N)
    $S probe tmi-flow --data "$DATA/tmi8" --restarts 8 --layers 5 --hidden 64 --batch 256 --epochs 5 --patience 100 --quiet --json > /dev/null
    secs=$(awk "BEGIN{print ($(date +%s%N) - $start) / 1e9}")
    echo "{\"name\":\"e:probe-8-restarts\",\"rep\":$rep,\"impl\":\"strongid\",\"threads\":\"2\",\"median_s\":$secs,\"peak_rss_mb\":null}" >> "$OUT.tmp"
    total=0
    for seed in 0 1 2 3 4 5 6 7; do
      w=$(OMP_NUM_THREADS=2 $PY bench/torch/flow.py --data "$DATA/tmi8" --layers 5 --hidden 64 --batch 256 --steps 355 --warmup 0 --seed $seed --threads 2 \
        | $PY -c 'import sys, json; print(json.load(sys.stdin)["wall_s"])')
      total=$(awk "BEGIN{print $total + $w}")
    done
    echo "{\"name\":\"e:probe-8-restarts\",\"rep\":$rep,\"impl\":\"torch\",\"threads\":\"2\",\"median_s\":$total,\"peak_rss_mb\":null}" >> "$OUT.tmp"
  done
fi
mv "$OUT.tmp" "$OUT"
$PY bench/report.py "$OUT"
