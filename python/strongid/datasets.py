"""Real datasets that install with strongid (the CLI's ``datasets``): measurements with no
ground-truth latent, loaded from the copy vendored in the library (no network). Provenance,
licences and checksums: ``data/*/README.md`` in the repository."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import _strongid


@dataclass
class RealData:
    """A real dataset: observations ``X`` (n × D) after the documented preprocessing
    (``meta["preprocessing"]``), the environment label of each row ``u`` (n,) indexing
    ``conditions`` (None when the data have one environment), the column names and the
    provenance (citation, source file and its SHA-256)."""

    X: np.ndarray
    u: Optional[np.ndarray]
    conditions: list
    columns: list
    meta: dict = field(default_factory=dict)


def load(name, pair=None):
    """Load a built-in dataset by name: ``"sachs"`` (7466 cells × 11 log phospho-protein
    intensities, 9 conditions as u) or ``"tuebingen"`` with ``pair=1..99`` (one cause–effect
    pair, cause first, no u). Raises ValueError for an unknown name or pair."""
    X, u, conditions, columns, meta = _strongid.datasets_load(str(name), None if pair is None else int(pair))
    return RealData(X=X, u=u, conditions=list(conditions), columns=list(columns), meta=json.loads(meta))


def names():
    """The built-in datasets: {name: one-line description}."""
    return dict(_strongid.datasets_list())
