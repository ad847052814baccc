"""The theory made computable: the catalogue of indeterminacy sets (the CLI's ``theory``) and Thm 4.5's
anchor check."""
from __future__ import annotations

import json

from . import _strongid


def catalogue(kind=None, dim=3, variance_only=False):
    """The catalogue's text: for one model kind ("tmi-flow", "ivae-frozen", …) its indeterminacy
    set A(F) ∩ A(P) and the tasks it identifies; for None, every kind."""
    return _strongid.theory_explain(kind, int(dim), bool(variance_only), 0)


def table(dim=3):
    """The catalogue's model classes at dimension ``dim``: generator and prior spaces, as dicts."""
    return json.loads(_strongid.theory_table(int(dim)))


def check_anchors(anchors):
    """Thm 4.5's condition for anchor priors [{"env", "mean", "var"}]: a dict with the family, the
    rank found and needed, the smallest singular value, ``strongly_identifiable`` and a message."""
    return json.loads(_strongid.check_anchors(json.dumps(anchors)))
