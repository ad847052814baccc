"""Identifiability metrics of learned codes ``zhat`` against true latents ``z`` (both n × d), computed
by the library (the CLI's ``eval``)."""
from __future__ import annotations

import json

from . import _strongid
from ._base import as_matrix


def evaluate(z, zhat):
    """Every metric as a dict: n, dim, strong_mcc, mcc, mcc_spearman, affine_r2, identity_rmse."""
    return json.loads(_strongid.evaluate(as_matrix(z, "z"), as_matrix(zhat, "zhat")))


def strong_mcc(z, zhat):
    """Mean signed Pearson correlation of z_k with ẑ_k: no matching, no sign flip (the strong score)."""
    return evaluate(z, zhat)["strong_mcc"]


def mcc(z, zhat):
    """Mean |Pearson| after the best one-to-one matching (the community's MCC; weak)."""
    return evaluate(z, zhat)["mcc"]


def mcc_spearman(z, zhat):
    """The same with Spearman correlations: invariant to component-wise monotone maps."""
    return evaluate(z, zhat)["mcc_spearman"]


def affine_r2(z, zhat):
    """Mean R² of regressing each z_k affinely on ẑ (identifiability up to affine maps)."""
    return evaluate(z, zhat)["affine_r2"]


def identity_rmse(z, zhat):
    """RMSE of ẑ − z."""
    return evaluate(z, zhat)["identity_rmse"]
