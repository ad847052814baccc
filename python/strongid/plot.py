"""Figures for papers (matplotlib, the optional ``plot`` extra). Each function takes an ``ax``
(a new figure's if None) and returns it."""
from __future__ import annotations

import textwrap

import numpy as np

from ._base import as_matrix


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4, 4))
    return ax


def true_vs_learned(z, zhat, coordinate=None, ax=None, max_points=3000, random_state=0):
    """Scatter of learned against true latent coordinates (one coordinate, or all overlaid), with
    the identity line: a strongly identifiable fit lies on it."""
    z, zhat = as_matrix(z, "z"), as_matrix(zhat, "zhat")
    ax = _ax(ax)
    rng = np.random.default_rng(random_state)
    rows = rng.choice(z.shape[0], size=min(max_points, z.shape[0]), replace=False)
    coords = range(z.shape[1]) if coordinate is None else [coordinate]
    for k in coords:
        ax.scatter(z[rows, k], zhat[rows, k], s=3, alpha=0.4, label=f"z{k + 1}")
    lo, hi = float(np.min(z[rows])), float(np.max(z[rows]))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8)
    ax.set_xlabel("true z")
    ax.set_ylabel("learned ẑ")
    if coordinate is None and z.shape[1] > 1:
        ax.legend(markerscale=3, fontsize="small")
    return ax


def correlation_heatmap(z, zhat, ax=None):
    """Signed Pearson correlations between true (rows) and learned (columns) coordinates: the
    identity matrix for a strongly identifiable fit, a signed permutation or a mix otherwise."""
    z, zhat = as_matrix(z, "z"), as_matrix(zhat, "zhat")
    d = z.shape[1]
    c = np.corrcoef(z.T, zhat.T)[:d, d:]
    ax = _ax(ax)
    im = ax.imshow(c, vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            ax.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize="small")
    ax.set_xticks(range(c.shape[1]), [f"ẑ{j + 1}" for j in range(c.shape[1])])
    ax.set_yticks(range(d), [f"z{i + 1}" for i in range(d)])
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax


def training_curve(estimator_or_report, ax=None):
    """Training and validation loss per epoch, the best epoch marked."""
    report = getattr(estimator_or_report, "training_report_", estimator_or_report)
    ax = _ax(ax)
    epochs = np.arange(1, len(report["val_loss"]) + 1)
    ax.plot(epochs, report["train_loss"], label="train")
    ax.plot(epochs, report["val_loss"], label="validation")
    ax.axvline(report["best_epoch"], color="grey", linestyle=":", label=f"best (epoch {report['best_epoch']})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats)")
    ax.legend(fontsize="small")
    return ax


def probe_agreement(result, level="identity", ax=None):
    """The probe's agreement between every pair of restarts at one level (identity,
    permutation_sign, componentwise, affine, smooth), as a matrix."""
    n = len(result.seeds)
    m = np.eye(n)
    for p in result.pairs:
        m[p["a"], p["b"]] = m[p["b"], p["a"]] = p[level]
    ax = _ax(ax)
    im = ax.imshow(m, vmin=-1 if level == "identity" else 0, vmax=1, cmap="viridis")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="white", fontsize="small")
    ax.set_xticks(range(n), [str(s) for s in result.seeds])
    ax.set_yticks(range(n), [str(s) for s in result.seeds])
    ax.set_title(f"restart agreement ({level}); {result.classification}")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax


def _annotated_map(ax, m, scale):
    """m as a heat map saturating at ±scale, each cell's number printed (white on the dark
    cells), with a colour bar."""
    im = ax.imshow(m, vmin=-scale, vmax=scale, cmap="RdBu", aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="white" if abs(m[i, j]) > 0.6 * scale else "black", fontsize="small")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)


_LEVELS = [("identity", "identity"), ("permutation_sign", "perm + sign"), ("componentwise", "component-wise"), ("affine", "affine"), ("smooth", "smooth")]


def probe_coordinates(result, ax=None):
    """The probe's per-coordinate agreement (coordinates × levels, worst over restarts against the
    reference restart), as a heat map titled with the verdict; pass a control's result
    (``result.controls[k]["result"]``) for its panel beside the real fit's."""
    m = np.array([[c[key] for key, _ in _LEVELS] for c in result.coordinates])
    ax = _ax(ax)
    _annotated_map(ax, m, 1.0)
    ax.set_xticks(range(len(_LEVELS)), [label for _, label in _LEVELS], rotation=30)
    ax.set_yticks(range(m.shape[0]), [f"ẑ{c['coordinate']} ({c['level']})" for c in result.coordinates])
    ax.set_title(textwrap.fill(result.verdict, 60), fontsize="small")
    return ax


def condition_means(code, u, conditions=None, ax=None):
    """Mean of each code coordinate within each environment (labels u), as a heat map: which
    conditions move which coordinates. ``conditions``: names indexed by label (e.g.
    ``strongid.datasets.load("sachs").conditions``)."""
    code = as_matrix(code, "code")
    u = np.asarray(u).ravel()
    envs = np.unique(u)
    m = np.array([code[u == e].mean(axis=0) for e in envs])
    scale = float(np.abs(m).max()) or 1.0
    ax = _ax(ax)
    _annotated_map(ax, m, scale)
    names = [conditions[int(e)] if conditions is not None else f"env {e}" for e in envs]
    ax.set_xticks(range(m.shape[1]), [f"ẑ{k + 1}" for k in range(m.shape[1])])
    ax.set_yticks(range(len(envs)), names)
    ax.set_title("environment means in the code", fontsize="small")
    return ax
