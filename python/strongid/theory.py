"""The theory made computable: the catalogue of indeterminacy sets (the CLI's ``theory``) and Thm 4.5's
anchor check."""
from __future__ import annotations

import json

from . import _strongid


def _anchors(anchors):
    return None if anchors is None else json.dumps(anchors)


def catalogue(kind=None, dim=3, anchors=None, variance_only=False):
    """The catalogue's text (the CLI's ``theory``): for one model kind ("tmi-flow", "ivae", …;
    "ivae-frozen" needs its ``anchors``) its indeterminacy set A(F) ∩ A(P) and task table; for
    None, every class."""
    return _strongid.theory_explain(kind, int(dim), _anchors(anchors), bool(variance_only), 0)


def entry(kind, dim=3, anchors=None, variance_only=False, random_state=0):
    """One kind's catalogue entry as a dict: ``set``, ``strongly_identifiable``, ``why`` and
    ``tasks`` — per standard task (Prop. 3.1) whether it is identifiable and how much a random
    member of A(M) changes its output."""
    return json.loads(_strongid.theory_entry(kind, int(dim), _anchors(anchors), bool(variance_only), int(random_state)))


def table(dim=3):
    """Every class of the catalogue at dimension ``dim``: class, set, strongly_identifiable, why."""
    return json.loads(_strongid.theory_table(int(dim)))


def check_anchors(anchors):
    """Thm 4.5's condition for anchor priors [{"env", "mean", "var"}]: a dict with the family, the
    rank found and needed, the smallest singular value, ``strongly_identifiable`` and a message."""
    return json.loads(_strongid.check_anchors(json.dumps(anchors)))
