"""strongid's CEBRA and iTuna scores against the real packages, on the same codes.

For each case, `strongid probe --save-codes DIR --json` fits the restarts and reports
`peers` (computed in Rust, src/metrics/consistency.rs); this script loads the saved codes and
computes the same scores with `cebra.sklearn.metrics.consistency_score(between="runs")` and
`ituna.metrics.PairwiseConsistency(indeterminacy=...)` (defaults: every ordered pair, no diagonal),
then prints the largest absolute difference. The packages live in a bench environment only:

    python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install torch cebra ituna
    STRONGID=target/release/strongid /tmp/benchvenv/bin/python bench/peer_scores.py

Exit 1 if any difference exceeds 1e-6. Results: bench/peer_scores_results.txt.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import cebra
import ituna.metrics as im

STRONGID = os.environ.get("STRONGID", "target/release/strongid")
TOL = 1e-6


def run(*args):
    out = subprocess.run([STRONGID, *args], check=True, capture_output=True, text=True)
    return out.stdout


def peers_by_packages(codes):
    scores, pairs, _ = cebra.sklearn.metrics.consistency_score(embeddings=codes, between="runs")
    out = {"cebra_pairs": np.asarray(scores, dtype=float).ravel(), "cebra_pair_ids": np.asarray(pairs).reshape(-1, 2)}
    for name, model in [("identity", im.Identity()), ("permutation", im.Permutation()), ("linear", im.Linear()), ("affine", im.Affine())]:
        pc = im.PairwiseConsistency(indeterminacy=model)
        pc.fit(codes)
        out[name] = float(pc.score(codes))
    return out


def compare(name, report, codes):
    ref = peers_by_packages(codes)
    ours = report["peers"]
    our_pairs = np.array([p["r2"] for p in ours["cebra_pairs"]])
    our_ids = np.array([[p["source"], p["target"]] for p in ours["cebra_pairs"]])
    assert (our_ids == ref["cebra_pair_ids"]).all(), "pair order differs"
    diffs = {"cebra (every ordered pair)": np.abs(our_pairs - ref["cebra_pairs"]).max()}
    for k in ["identity", "permutation", "linear", "affine"]:
        diffs[f"ituna {k}"] = abs(ours["ituna"][k] - ref[k])
    worst = max(diffs.values())
    print(f"{name}: {len(codes)} codes of {codes[0].shape[0]} × {codes[0].shape[1]}; CEBRA mean {ours['cebra_mean']:.6f}; "
          f"iTuna identity {ours['ituna']['identity']:.6f} permutation {ours['ituna']['permutation']:.6f} "
          f"linear {ours['ituna']['linear']:.6f} affine {ours['ituna']['affine']:.6f}")
    for k, v in diffs.items():
        print(f"    |strongid − package| {k}: {v:.2e}")
    return worst


def case(name, data, *fit_args):
    with tempfile.TemporaryDirectory() as tmp:
        codes_dir = os.path.join(tmp, "codes")
        report = json.loads(run("probe", *fit_args, "--data", data, "--save-codes", codes_dir, "--json"))
        codes = [np.load(f) for f in sorted(glob.glob(os.path.join(codes_dir, "code_seed*.npy")), key=lambda f: int(f.split("seed")[1][:-4]))]
        return compare(name, report, codes)


def main():
    print(f"cebra {cebra.__version__}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        sachs = os.path.join(tmp, "sachs")
        run("datasets", "export", "sachs", "--out", sachs)
        worst = max(worst, case("sachs, ivae-frozen --freeze-after 20, d = 4, 8 restarts", sachs, "ivae-frozen", "--freeze-after", "20", "--latent-dim", "4", "--restarts", "8"))
        sim = os.path.join(tmp, "sim")
        run("simulate", "ivae", "--latent-dim", "3", "--obs-dim", "6", "--segments", "10", "--per-segment", "300", "--modulation", "mean-variance", "--seed", "11", "--out", sim)
        worst = max(worst, case("simulated ivae d = 3, D = 6, vae (weakly identifiable), 4 restarts", sim, "vae", "--latent-dim", "3", "--restarts", "4"))
        pair = os.path.join(tmp, "pair")
        run("datasets", "export", "tuebingen", "--pair", "1", "--out", pair)
        worst = max(worst, case("tuebingen pair 1, tmi-flow, 4 restarts", pair, "tmi-flow", "--restarts", "4"))
    print(f"largest difference {worst:.2e} (tolerance {TOL:g})")
    sys.exit(0 if worst <= TOL else 1)


if __name__ == "__main__":
    main()
