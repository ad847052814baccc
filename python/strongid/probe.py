"""The empirical indeterminacy probe: fit several restarts, measure how their codes relate (identity,
permutation and sign, component-wise, affine, smooth) and compare with the theory's prediction."""
from __future__ import annotations

import json
from dataclasses import dataclass

from . import _strongid
from ._base import as_aux, as_matrix


@dataclass
class ProbeResult:
    kind: str
    seeds: list
    validation_losses: list
    #: Per pair of restarts: agreement at every level (identity, permutation_sign, componentwise, affine, smooth).
    pairs: list
    threshold: float
    #: The smallest class explaining every pair's disagreement.
    classification: str
    #: The theory's largest class for this model.
    predicted: str
    theory_set: str
    consistent: bool


def probe(estimator, X, u=None, restarts=4, threshold=0.95):
    """Probe ``estimator`` (an unfitted strongid estimator: its kind and options are used, seeds
    random_state, random_state + 1, …) on X (and u)."""
    X = as_matrix(X)
    labels, real = as_aux(u, X.shape[0]) if u is not None else (None, None)
    with estimator._anchor_args() as extra:
        report = _strongid.probe(estimator._kind_name(), X, labels, real, estimator._options() + extra, int(restarts), float(threshold))
    return ProbeResult(**json.loads(report))
