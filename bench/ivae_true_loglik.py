"""The true model's mean log p(x | u) per row on a square, noiseless `simulate ivae` dataset
(issue #21): x = g(z) with g the recipe's mixing (meta.json), z | u ~ N(μ_u, diag σ²_u), so
    log p(x | u) = log N(g⁻¹(x); μ_u, diag σ²_u) − log|det ∂g/∂z (g⁻¹(x))|,
what `strongid logprob --model M --data DIR` (the flow generator's exact log p(x | u)) reaches
at best. The gap between the two says how far a fit is from the maximum-likelihood code.
Bench only (numpy, scipy):  python bench/ivae_true_loglik.py DATASET_DIR...
"""
import sys

import numpy as np

from ivae_noise_oracle import ginv, jac, load

for d in sys.argv[1:]:
    x, z, u, As, par, pri = load(d)
    mu = np.array([p["mean"] for p in pri])[u]
    var = np.array([p["var"] for p in pri])[u]
    zi = ginv(x, As)
    log_prior = -0.5 * (((zi - mu) ** 2) / var + np.log(var) + np.log(2 * np.pi)).sum(1)
    log_det = np.linalg.slogdet(jac(zi, As))[1]
    print(f"{d}: true mean log p(x | u) {np.mean(log_prior - log_det):.4f} nats per row (g⁻¹ reproduces z to {np.abs(zi - z).max():.1e})")
