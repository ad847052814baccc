"""Input conversion and the scikit-learn protocol, shared by every estimator.

Estimators inherit scikit-learn's ``BaseEstimator`` and ``TransformerMixin`` when scikit-learn is
installed (tags, ``clone``, ``check_estimator``); without it, an equivalent ``get_params`` /
``set_params`` is provided here, so scikit-learn is not a dependency.
"""
from __future__ import annotations

import inspect

import numpy as np

try:  # pragma: no cover - exercised when scikit-learn is installed
    from sklearn.base import BaseEstimator as _SkBase
    from sklearn.base import TransformerMixin as _SkTransformer
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover
    class NotFittedError(ValueError, AttributeError):
        """The estimator has not been fitted yet."""

    class _SkBase:
        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(f"Invalid parameter {key!r} for estimator {type(self).__name__}. Valid parameters are: {valid}.")
                setattr(self, key, value)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class _SkTransformer:
        pass


def as_matrix(X, name="X"):
    """A C-ordered float64 2-D array from any array-like (lists, pandas DataFrames, CPU torch
    tensors via ``np.asarray``); float32 and Fortran order are converted. Errors are ValueError."""
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # a torch tensor: no autograd, on the CPU
        X = X.detach().cpu()
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a sparse matrix: sparse data is not supported, pass a dense array (X.toarray())")
    try:
        arr = np.asarray(X)
    except Exception as e:  # noqa: BLE001 - anything numpy refuses is bad input
        raise ValueError(f"{name} cannot be read as a numeric array: {e}") from e
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} has complex values, real numbers expected")
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as e:
            # The same kind of error numpy raised (TypeError for non-numbers), with the name.
            raise type(e)(f"{name} has dtype {arr.dtype}, which cannot be converted to float64: {e}") from e
    if arr.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {arr.ndim}D array instead: {name} must be n × d. "
            "Reshape your data either using array.reshape(-1, 1) if your data has a single feature "
            "or array.reshape(1, -1) if it contains a single sample."
        )
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required: {name} has no columns.")
    if arr.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required: {name} has no rows.")
    return np.ascontiguousarray(arr, dtype=np.float64)


def as_aux(u, n_rows, name="u"):
    """u as the binding takes it: (labels int64 1-D, None) for one column of integers, (None,
    real float64 n × k) otherwise; (None, None) for None."""
    if u is None:
        return None, None
    if hasattr(u, "detach") and hasattr(u, "cpu"):
        u = u.detach().cpu()
    arr = np.asarray(u)
    if arr.ndim == 2 and arr.shape[1] == 1 and arr.dtype.kind in "biu":
        arr = arr[:, 0]
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D labels or an n × k matrix, got {arr.ndim} dimensions")
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n_rows}: give one row of u per row of X")
    if arr.ndim == 1:
        if arr.dtype.kind in "biu":
            return np.ascontiguousarray(arr, dtype=np.int64), None
        f = np.asarray(arr, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(f))
        if bad.size:
            raise ValueError(f"{name}[{bad[0]}] is {f[bad[0]]}: values must be finite (row {bad[0]}, counting from 0)")
        if np.all(f == np.round(f)) and np.all(np.abs(f) < 2**53):
            return np.ascontiguousarray(f, dtype=np.int64), None
        arr = f.reshape(-1, 1)
    return None, as_matrix(arr, name)


def check_fitted(est):
    if not hasattr(est, "model_"):
        raise NotFittedError(f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments before using this estimator.")
