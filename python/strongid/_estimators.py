"""The estimators: each is the CLI's ``fit`` of one model kind, its parameters passed as the CLI's
options, so a fit from Python and ``strongid fit`` with the same options and seed give the same
model file, byte for byte."""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from . import _strongid
from ._base import NotFittedError, _SkBase, _SkTransformer, as_aux, as_matrix, check_fitted

# Parameters that are not CLI options of `fit`, and those named differently.
_NOT_OPTIONS = {"random_state", "verbose", "restarts", "anchors", "triangular", "standardize"}
_RENAMED = {"transform_type": "--transform"}


def _store(est, params):
    """Set every __init__ parameter as an attribute of the same name (scikit-learn's convention:
    no validation or conversion in __init__)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


def _seed(random_state):
    """An int seed: exact reproducibility needs one (None means 0)."""
    if random_state is None:
        return 0
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
        return int(random_state)
    raise ValueError(f"random_state must be an integer or None (strongid is reproducible from an integer seed), got {random_state!r}")


class _Estimator(_SkTransformer, _SkBase):
    """What every strongid estimator shares; subclasses set ``_kind``."""

    _kind = None

    # ------------------------------------------------------------------ options
    def _options(self):
        args = []
        for name, value in self.get_params(deep=False).items():
            if name in _NOT_OPTIONS or value is None or value is False:
                continue
            flag = _RENAMED.get(name, "--" + name.replace("_", "-"))
            if value is True:
                args.append(flag)
            elif isinstance(value, (list, tuple)):
                args += [flag, ",".join(str(v) for v in value)]
            elif isinstance(value, float):
                args += [flag, repr(value)]
            else:
                args += [flag, str(value)]
        if getattr(self, "standardize", True) is False:
            args.append("--no-standardize")
        args += ["--seed", str(_seed(self.random_state))]
        return args

    def _kind_name(self):
        return self._kind

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, u=None):
        """Fit to the rows of X (n × d). u: environment labels (n,) or a real-valued n × k matrix,
        for the iVAE family — given as ``u=`` or in scikit-learn's ``y`` place (``fit(X, u)``);
        the other models ignore it. Returns self."""
        u = y if u is None else u
        X = as_matrix(X)
        if X.shape[0] < 10:
            raise ValueError(f"n_samples = {X.shape[0]}: strongid needs at least 10 rows (a validation split decides early stopping)")
        labels, real = self._aux_for_fit(u, X.shape[0])
        with self._anchor_args() as extra:
            model = _strongid.fit(self._kind_name(), X, labels, real, self._options() + extra, self.restarts, bool(self.verbose))
        self._set_fitted(model)
        return self

    def _aux_for_fit(self, u, n):
        return None, None

    def _anchor_args(self):
        return _NoArgs()

    def _set_fitted(self, model):
        self.model_ = model
        self.n_features_in_ = model.obs_dim
        self.latent_dim_ = model.latent_dim
        self.training_report_ = json.loads(model.report_json())
        cert = model.certificate_json()
        self.certificate_ = json.loads(cert) if cert else None

    # ------------------------------------------------------------------ using
    def _check_X(self, X):
        check_fitted(self)
        X = as_matrix(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input.")
        return X

    def transform(self, X, u=None, importance_samples=0, random_state=None):
        """The codes of X: z = T(x) for flows, the posterior mean for the iVAE family, E[z | x]
        for factor analysis. ``importance_samples=K`` (models with an encoder: VAE, the iVAE
        family's MLP generator) estimates the fitted model's posterior mean by self-normalised
        importance sampling with K draws per row from the encoder instead of taking the encoder's
        mean, seeded by ``random_state`` (as ``strongid encode --importance-samples K``)."""
        X = self._check_X(X)
        if not isinstance(importance_samples, (int, np.integer)) or not 0 <= importance_samples <= 100_000:
            raise ValueError(f"importance_samples must be an integer in 0..=100000, got {importance_samples!r}")
        labels, real = self._aux_for_transform(u, X.shape[0])
        if importance_samples:
            return self.model_.encode(X, labels, real, None, int(importance_samples), _seed(random_state))
        return self.model_.encode(X, labels, real)

    def _aux_for_transform(self, u, n):
        return None, None

    def fit_transform(self, X, y=None, u=None):
        """``fit(X, y, u)`` then ``transform(X, u)``: the codes of the rows the model was fitted on."""
        u = y if u is None else u
        return self.fit(X, u=u).transform(X, u)

    def sample(self, n, env=None, random_state=None):
        """n draws of x from the fitted model (for the iVAE family, from environment ``env``'s
        prior, or from environments drawn uniformly)."""
        check_fitted(self)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return self.model_.sample(int(n), _seed(random_state), env)

    # ------------------------------------------------------------------ files and pickling
    def save(self, path, overwrite=False):
        """Write the model file, in exactly the format `strongid fit` writes (the CLI's `encode`,
        `sample`, `logprob`, `inspect` read it)."""
        check_fitted(self)
        self.model_.save(os.fspath(path), bool(overwrite))

    @classmethod
    def load(cls, path):
        """An estimator holding the model in a file written by `save` or by `strongid fit`."""
        return _from_model(_strongid.PyModel.load(os.fspath(path)), cls)

    def __getstate__(self):
        state = dict(self.__dict__)
        if "model_" in state:
            state["model_"] = bytes(self.model_.to_bytes())
        return state

    def __setstate__(self, state):
        if "model_" in state:
            state = dict(state, model_=_strongid.PyModel.from_bytes(state["model_"]))
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags


class _NoArgs:
    def __enter__(self):
        return []

    def __exit__(self, *exc):
        return False


class _Density:
    """Models with an exact log-density (flows, factor analysis); the iVAE family's ELBO only
    bounds it, so it has no ``score_samples``."""

    def score_samples(self, X):
        """Log-density of each row of X."""
        return self.model_.log_prob(self._check_X(X))

    def score(self, X, y=None):
        """Mean log-density of the rows of X."""
        return float(np.mean(self.score_samples(X)))


class TMIFlow(_Density, _Estimator):
    """Triangular monotone increasing flow with a fixed N(0, I) prior (Thm 5.1): strongly
    identifiable — the code is unique, the Knothe–Rosenblatt map of the data. ``transform_type``
    is the CLI's ``--transform`` (spline or affine; ``transform`` is scikit-learn's method)."""

    _kind = "tmi-flow"

    def __init__(self, transform_type="spline", bins=8, tail_bound=4.0, layers=3, hidden=64, hidden_layers=2, epochs=100, batch=256, lr=3e-3,
                 patience=10, val_fraction=0.1, random_state=0, verbose=False, restarts=None):
        _store(self, locals())


class Flow(TMIFlow):
    """The permuting autoregressive flow (variable order reversed between steps): fits as well,
    but only weakly identifiable — its code is some mixed function of the latent."""

    _kind = "flow"


class VAE(_Estimator):
    """A VAE with a fixed N(0, I) prior: weakly identifiable (any prior-preserving map)."""

    _kind = "vae"

    def __init__(self, latent_dim=None, hidden=64, hidden_layers=2, activation="lrelu", decoder_var=0.01, learn_decoder_var=False,
                 standardize=True, posterior="full", epochs=100, batch=256, lr=3e-3, patience=10, val_fraction=0.1, random_state=0,
                 verbose=False, restarts=None):
        _store(self, locals())


class _WithU:
    """Models that need u: fit and transform check it."""

    def _aux_for_fit(self, u, n):
        if u is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: it needs u (environment labels (n,) or a real-valued n × k matrix), as fit(X, u)"
            )
        return as_aux(u, n)

    def _aux_for_transform(self, u, n):
        if u is None and not self.model_.needs_u:
            return None, None  # the flow generator: the code g⁻¹(x) is a function of x alone
        if u is None:
            raise ValueError(f"{type(self).__name__}.transform needs u (the encoder is q(z | x, u))")
        return as_aux(u, n)

    def log_prob(self, X, u):
        """Exact log p(x | u) of each row, in nats: log N(g⁻¹(x); μ_u, diag σ²_u) + log|det ∂g⁻¹/∂x|.
        The flow generator only (``model_.needs_u`` is False for it); the MLP generator's ELBO
        only bounds it, and this raises. ``u``: the rows' environment labels."""
        X = self._check_X(X)
        labels, real = as_aux(u, X.shape[0])
        if labels is None:
            raise ValueError(f"{type(self).__name__}.log_prob needs u: the rows' environment labels (n,)")
        return self.model_.log_prob(X, labels)

    def _set_fitted(self, model):
        super()._set_fitted(model)
        self.envs_ = np.asarray(model.envs, dtype=np.int64)
        check = model.anchor_check_json()
        self.anchor_check_ = json.loads(check) if check else None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # u travels where scikit-learn puts y
        return tags


class IVAE(_WithU, _Estimator):
    """The identifiable VAE (Khemakhem et al. 2020): priors p(z | u) learned per environment (or a
    network λ(u) for a real-valued u); identifiable up to affine maps of T(z) (Prop. 4.3).
    ``generator``: "auto" (a flow fitted by exact likelihood on square data with environment
    labels, unless an option of the MLP generator is changed), "mlp" or "flow"; ``layers``: the
    flow generator's steps (None: one per latent dimension, 5 to 10, each after an LU linear layer). ``hidden``, ``hidden_layers``, ``epochs``, ``lr``, ``bins``, ``schedule``: None takes the
    generator's defaults (flow: 32, 2, 40, 1e-2, 6, "cosine"; MLP: 64, 2, 100, 3e-3, -, "plateau"; auto's
    MLP generator with learned noise: 3 hidden layers when it refits a square flow fit, 128 units when D > d)."""

    _kind = "ivae"

    def __init__(self, latent_dim=None, modulation="mean-variance", generator="auto", layers=None, hidden=None, hidden_layers=None, activation="lrelu", decoder_var=0.01,
                 learn_decoder_var=False, standardize=True, warm_start=10, posterior="full", epochs=None, batch=256, lr=None, schedule=None, bins=None,
                 patience=10, val_fraction=0.1, random_state=0, verbose=False, restarts=None):
        _store(self, locals())


class FrozenIVAE(_WithU, _Estimator):
    """iVAE with the priors of anchor environments frozen (Thm 4.5): strongly identifiable when the
    anchors' natural-parameter contrasts span K. ``anchors``: a list of {"env", "mean", "var"}
    dicts or a priors.json path; or ``freeze_after`` epochs of learning them first (MLP generator).
    ``generator``, ``layers`` and the generator-dependent defaults as for IVAE."""

    _kind = "ivae-frozen"

    def __init__(self, anchors=None, freeze_after=None, anchor_envs=None, allow_weak=False, latent_dim=None, generator="auto", layers=None, hidden=None, hidden_layers=None,
                 activation="lrelu", decoder_var=0.01, learn_decoder_var=False, standardize=True, warm_start=10, posterior="full", epochs=None,
                 batch=256, lr=None, schedule=None, bins=None, patience=10, val_fraction=0.1, random_state=0, verbose=False, restarts=None):
        _store(self, locals())

    def _anchor_args(self):
        return _AnchorFile(self.anchors)


class _AnchorFile:
    """--anchors PATH for the anchors: the path itself, or a temporary priors.json of the dicts."""

    def __init__(self, anchors):
        _store(self, locals())
        self.tmp = None

    def __enter__(self):
        if self.anchors is None:
            return []
        if isinstance(self.anchors, (str, os.PathLike)):
            return ["--anchors", os.fspath(self.anchors)]
        try:
            text = json.dumps([{"env": int(a["env"]), "mean": [float(v) for v in a["mean"]], "var": [float(v) for v in a["var"]]} for a in self.anchors])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"anchors must be a priors.json path or a list of {{'env', 'mean', 'var'}} dicts: {e}") from e
        fd, self.tmp = tempfile.mkstemp(prefix="strongid-anchors-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return ["--anchors", self.tmp]

    def __exit__(self, *exc):
        if self.tmp:
            os.unlink(self.tmp)
        return False


class FactorAnalysis(_Density, _Estimator):
    """Factor analysis (EM); identifiable up to rotations. ``triangular=True``: a lower-triangular
    loading, whose code is unique (the triangular variant of the paper's Thm 5.1 argument)."""

    def __init__(self, latent_dim=None, triangular=False, val_fraction=0.1, random_state=0, verbose=False):
        _store(self, locals())

    restarts = None

    def _kind_name(self):
        return "fa-tri" if self.triangular else "fa"


_CLASSES = {"tmi-flow": TMIFlow, "flow": Flow, "vae": VAE, "ivae": IVAE, "ivae-frozen": FrozenIVAE, "fa": FactorAnalysis, "fa-tri": FactorAnalysis}


def _from_model(model, cls=None):
    """Wrap a loaded model in its estimator class (hyperparameters at their defaults; the fitted
    model is the file's)."""
    target = _CLASSES[model.kind]
    if cls is not None and cls is not _Estimator and not issubclass(target, cls):
        raise ValueError(f"the file holds a {model.kind} model, not a {cls.__name__}")
    est = target(triangular=True) if model.kind == "fa-tri" else target()
    est._set_fitted(model)
    return est


def load(path):
    """The estimator of whatever kind the model file holds."""
    return _from_model(_strongid.PyModel.load(os.fspath(path)))


__all__ = ["TMIFlow", "Flow", "VAE", "IVAE", "FrozenIVAE", "FactorAnalysis", "load", "NotFittedError"]
