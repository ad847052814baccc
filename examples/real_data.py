"""Real data, no ground truth: which coordinates of a learned code are unique, and what the null
controls say. Runs in about half a minute on 2 cores:

    python examples/real_data.py        # prints the verdicts, writes real_data.png

1. Sachs et al. (2005) flow cytometry, 9 experimental conditions as environments. The anchor
   priors are unknown, so the two-stage route learns them (freeze_after=20 epochs of a plain
   iVAE, then its priors frozen): each restart is then unique given its own frozen priors, and
   across restarts the theory allows stage 1's indeterminacy. 9 environments allow d <= 4.
2. A Tübingen cause-effect pair (altitude -> temperature): the triangular flow (Thm 5.1) against
   the permuting flow, whose agreement across restarts the theory does not guarantee.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import strongid  # noqa: E402
from strongid import plot  # noqa: E402

sachs = strongid.datasets.load("sachs")
r = strongid.probe.probe(strongid.FrozenIVAE(freeze_after=20, latent_dim=4), sachs.X, sachs.u, restarts=8, controls=True)
print("sachs real fit:", r.verdict)
print("sachs theory:", r.theory_set, "->", r.predicted)
print(f"sachs CEBRA consistency: real {r.peers['cebra_mean']:.3f}", end="")
for c in r.controls:
    print(f", {c['description']} {c['result'].peers['cebra_mean']:.3f}", end="")
print()
for c in r.controls:
    print(f"sachs control, {c['description']}:", c["result"].verdict)

pair = strongid.datasets.load("tuebingen", pair=1)
for est in [strongid.TMIFlow(), strongid.Flow()]:
    p = strongid.probe.probe(est, pair.X, restarts=4)
    print(f"tuebingen pair 1, {type(est).__name__}: {p.verdict}; caveat: {p.caveat or 'none'}")

fig, axes = plt.subplots(1, 4, figsize=(22, 5))
plot.probe_coordinates(r, ax=axes[0])
for ax, c in zip(axes[1:3], r.controls):
    plot.probe_coordinates(c["result"], ax=ax)
    ax.set_xlabel(f"control: {c['description']}")
plot.condition_means(r.codes[r.reference], sachs.u, sachs.conditions, ax=axes[3])
fig.tight_layout()
fig.savefig("real_data.png", dpi=120)
print("wrote real_data.png")
