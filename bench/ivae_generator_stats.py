"""Summary statistics of `strongid simulate ivae` against the official iVAE generator.

The official generator is ilkhem/iVAE `data/data.py` `generate_data` with `repeat_linearity=True`
(what its SyntheticDataset uses) at configs/ivae.yaml sizes: 40 segments x 1000 points, d = 5,
3 xtanh layers, Gaussian sources. Give a checkout of that repository (not part of strongid):

    python bench/ivae_generator_stats.py --official /path/to/iVAE [--seeds 30]

Prints, per modulation, the mean and sd over seeds of five statistics of x (mean coordinate sd,
max/min coordinate sd, mean excess kurtosis, mean |correlation| between coordinates, mean |x|)
for the official generator and for strongid's shared and fresh mixing. The official numbers are
the reference constants of tests/simulate_ivae.rs.
"""
import argparse, json, subprocess, sys, tempfile, types
import numpy as np


def stats(x):
    x = x.astype(float)
    sd = x.std(0)
    xs = (x - x.mean(0)) / sd
    corr = np.corrcoef(x.T)[np.triu_indices(x.shape[1], 1)]
    return {"sd": sd.mean(), "sd_ratio": sd.max() / sd.min(), "kurtosis": ((xs ** 4).mean(0) - 3).mean(),
            "abs_corr": np.abs(corr).mean(), "abs_mean": np.abs(x).mean()}


def summary(rows):
    return {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows], ddof=1))) for k in rows[0]}


def official(repo, seeds, uncentered):
    # The official module imports torch for its Dataset classes only; generate_data is numpy.
    import scipy.stats  # noqa: F401  (imported before the stub so scipy sees no torch)
    torch = types.ModuleType("torch"); torch.Tensor = type("Tensor", (), {})
    data = types.ModuleType("torch.utils.data"); data.Dataset = object
    sys.modules.update({"torch": torch, "torch.utils": types.ModuleType("torch.utils"), "torch.utils.data": data})
    np.int = int  # removed from numpy 2; the official to_one_hot still uses it
    sys.path.insert(0, repo + "/data")
    import data as od
    return [stats(od.generate_data(1000, 40, 5, 5, n_layers=3, prior="gauss", activation="xtanh", seed=s,
                                   uncentered=uncentered, repeat_linearity=True, one_hot_labels=False)[1]) for s in seeds]


def ours(binary, seeds, modulation, mixing):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:
            out = f"{tmp}/d{s}"
            subprocess.run([binary, "simulate", "ivae", "--modulation", modulation, "--mixing", mixing, "--seed", str(s),
                            "--out", out], check=True, stdout=subprocess.DEVNULL)
            rows.append(stats(np.load(out + "/x.npy")))
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="checkout of github.com/ilkhem/iVAE")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--binary", default="target/release/strongid")
    a = ap.parse_args()
    seeds = range(1, a.seeds + 1)
    result = {}
    for modulation, unc in (("variance", False), ("mean-variance", True)):
        result[modulation] = {"official": summary(official(a.official, seeds, unc)),
                              "strongid shared": summary(ours(a.binary, seeds, modulation, "shared")),
                              "strongid fresh": summary(ours(a.binary, seeds, modulation, "fresh"))}
        for name, s in result[modulation].items():
            print(f"{modulation:14s} {name:16s} " + "  ".join(f"{k} {m:.4f} ± {sd:.4f}" for k, (m, sd) in s.items()))
    print(json.dumps(result))
