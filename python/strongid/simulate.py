"""The simulators with known latents (the CLI's ``simulate``): each returns a :class:`Simulated`
with X, the true latents z, u (labels or a real-valued matrix, if any), the true priors and the
recipe."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import _strongid
from ._estimators import _seed


@dataclass
class Simulated:
    """A simulated dataset: observations ``X`` (n × D), true latents ``z`` (n × d), environment
    labels or a real-valued ``u`` (n,) / (n × k) when the recipe has them, the true priors
    (``priors``: the anchors of ``FrozenIVAE``) and the recipe with every parameter (``meta``)."""

    X: np.ndarray
    z: np.ndarray
    u: Optional[np.ndarray] = None
    #: The true per-environment priors [{"env", "mean", "var"}] (FrozenIVAE's anchors), if any.
    priors: Optional[list] = None
    meta: dict = field(default_factory=dict)


def _run(which, recipe, noise=0.0):
    X, z, labels, real, priors, meta = _strongid.simulate(which, json.dumps(recipe), float(noise))
    u = labels if labels is not None else real
    return Simulated(X=X, z=z, u=u, priors=json.loads(priors) if priors else None, meta=json.loads(meta) if meta else {})


def tmi(dim=3, n=10000, random_state=0):
    """x = G(z), G a random triangular monotone increasing map, z ~ N(0, I) (Thm 5.1)."""
    return _run("tmi", {"dim": dim, "n": n, "seed": _seed(random_state)})


def gaussian(dim=3, n=10000, random_state=0):
    """x = L z with L lower-triangular: the exact Knothe–Rosenblatt map is L⁻¹ (``meta['kr_map']``)."""
    return _run("gaussian", {"dim": dim, "n": n, "seed": _seed(random_state)})


def ivae(latent_dim=5, obs_dim=5, segments=40, per_segment=1000, mixing_layers=3, prior="gauss", modulation="variance",
         activation="xtanh", mixing="shared", noise=0.0, u_dim=0, random_state=0):
    """The official iVAE recipe: segment-modulated sources and an MLP mixing (``u_dim`` > 0: a
    real-valued u instead of segment labels)."""
    recipe = dict(latent_dim=latent_dim, obs_dim=obs_dim, segments=segments, per_segment=per_segment, mixing_layers=mixing_layers,
                  prior=prior, modulation=modulation, activation=activation, mixing=mixing, noise=0.0, seed=_seed(random_state), u_dim=u_dim)
    return _run("ivae", recipe, noise)


def linear_env(envs=3, latent_dim=2, obs_dim=10, per_env=2000, noise=0.1, random_state=0):
    """App. F.1: x = α + F z + ε with z ~ N(μ_e, I) in environment e."""
    return _run("linear-env", {"envs": envs, "latent_dim": latent_dim, "obs_dim": obs_dim, "per_env": per_env, "seed": _seed(random_state)}, noise)
