"""The empirical indeterminacy probe: fit several restarts, measure how their codes relate (identity,
permutation and sign, component-wise, affine, smooth), per coordinate and for the whole code,
compare with the theory's prediction and, on request, with null controls (u shuffled across rows,
environments merged). CEBRA's and iTuna's scores of the same codes come with it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field


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
    #: Index of the restart (lowest validation loss) whose coordinates ``coordinates`` describes.
    reference: int
    #: Per coordinate of the reference code: worst agreement over the other restarts at each level, and its level.
    coordinates: list
    #: The per-coordinate result as a sentence ("coordinates 1–3 unique at the identity across 8 restarts; 4 only up to sign").
    verdict: str
    #: Set when the restarts agree more tightly than the theory guarantees (the agreement is the optimiser's, not uniqueness).
    caveat: object
    #: CEBRA's consistency (``cebra_pairs``, ``cebra_mean``) and iTuna's four scores (``ituna``) of the same codes.
    peers: dict
    #: The null controls: [{control, description, result (a ProbeResult), error}] (empty unless asked for).
    controls: list
    #: The restarts' codes of X, in seed order (not for the controls' restarts).
    codes: list = field(default_factory=list, repr=False)

    @classmethod
    def _from(cls, report, codes=()):
        controls = [dict(c, result=cls._from(c["result"]) if c.get("result") else None) for c in report.pop("controls")]
        return cls(**report, controls=controls, codes=list(codes))


def probe(estimator, X, u=None, restarts=4, threshold=0.95, controls=False):
    """Probe ``estimator`` (an unfitted strongid estimator: its kind and options are used, seeds
    random_state, random_state + 1, …) on X (and u). ``controls=True`` also probes the same
    restarts with u shuffled across rows and with the environments merged (models with u only)."""
    X = as_matrix(X)
    labels, real = as_aux(u, X.shape[0]) if u is not None else (None, None)
    with estimator._anchor_args() as extra:
        report, codes = _strongid.probe(estimator._kind_name(), X, labels, real, estimator._options() + extra, int(restarts), float(threshold), bool(controls))
    return ProbeResult._from(json.loads(report), codes)


def peer_scores(codes):
    """CEBRA's between-runs consistency (every ordered pair and the mean) and iTuna's
    PairwiseConsistency scores (identity, permutation, linear, affine) of codes of the same rows,
    computed as those packages compute them (``bench/peer_scores.py`` checks it)."""
    return json.loads(_strongid.peer_scores([as_matrix(c, name=f"code {k + 1}") for k, c in enumerate(codes)]))
