"""strongid: strongly identifiable generative models (Xi & Bloem-Reddy, AISTATS 2023) from Python.

A thin binding over the Rust library the ``strongid`` command line uses: the estimators fit the
same models with the same options and seeds, and read and write the same model files.

    >>> import strongid
    >>> data = strongid.simulate.tmi(dim=3, n=5000, random_state=0)
    >>> z = strongid.TMIFlow(random_state=0).fit_transform(data.X)
    >>> strongid.metrics.strong_mcc(data.z, z) > 0.95  # the true latent, not a rotation of it
    True
"""
from . import datasets, experiments, metrics, probe, simulate, study, theory
from ._estimators import IVAE, VAE, FactorAnalysis, Flow, FrozenIVAE, NotFittedError, TMIFlow, load
from ._strongid import FitDivergedError, __version__

__all__ = [
    "TMIFlow", "Flow", "VAE", "IVAE", "FrozenIVAE", "FactorAnalysis", "load", "NotFittedError", "FitDivergedError",
    "datasets", "metrics", "simulate", "probe", "theory", "experiments", "study", "__version__",
]
