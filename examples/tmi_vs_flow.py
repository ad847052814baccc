"""A one-minute tour: simulate data from a triangular monotone generator (Thm 5.1), fit the
strongly identifiable TMIFlow and the permuting Flow, and see that both fit the data but only the
first returns the true latent — on every restart.

    python examples/tmi_vs_flow.py            # prints the table, writes tmi_vs_flow.png
"""
import sys

import strongid

data = strongid.simulate.tmi(dim=4, n=10000, random_state=0)
print(f"{'model':10s} {'seed':>4s} {'log-lik':>8s} {'strong_mcc':>10s} {'mcc':>6s} {'rmse':>6s}")
codes = {}
for name, cls in [("TMIFlow", strongid.TMIFlow), ("Flow", strongid.Flow)]:
    for seed in (0, 1):
        est = cls(epochs=40, random_state=seed).fit(data.X)
        z = est.transform(data.X)
        m = strongid.metrics.evaluate(data.z, z)
        print(f"{name:10s} {seed:4d} {est.score(data.X):8.3f} {m['strong_mcc']:10.3f} {m['mcc']:6.3f} {m['identity_rmse']:6.3f}")
        codes.setdefault(name, z)
print("Both fit the data equally well (log-likelihood); only TMIFlow's code is the true latent (strong_mcc ≈ 1,")
print("small rmse); the permuting flow's is another, mixed code, as Thm 5.1 allows for non-triangular maps.")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from strongid import plot
except ImportError:
    sys.exit("(pip install .[plot] for the figure)")
fig, axes = plt.subplots(1, 4, figsize=(16, 4))
for i, name in enumerate(codes):
    plot.true_vs_learned(data.z, codes[name], ax=axes[2 * i]).set_title(f"{name}: true vs learned")
    plot.correlation_heatmap(data.z, codes[name], ax=axes[2 * i + 1]).set_title(f"{name}: correlations")
fig.tight_layout()
fig.savefig("tmi_vs_flow.png", dpi=120)
print("wrote tmi_vs_flow.png")
