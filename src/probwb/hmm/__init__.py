"""Hidden Markov models: many short sequences, named states, missing data, inputs, parameter uncertainty.

``HMM`` (EM with a batched forward–backward engine), ``BayesianHMM`` (PyMC, imported lazily),
``select_n_states`` (BIC/AIC and held-out log-likelihood), and the kernels in :mod:`probwb.hmm.kernels`.
"""

from __future__ import annotations

import importlib
from typing import Any

from probwb.hmm.emissions import CategoricalEmission, GaussianEmission, PoissonEmission
from probwb.hmm.kernels import forward_backward, viterbi
from probwb.hmm.model import HMM

__all__ = [
    "HMM",
    "BayesianHMM",
    "CategoricalEmission",
    "GaussianEmission",
    "PoissonEmission",
    "forward_backward",
    "select_n_states",
    "viterbi",
]

_LAZY = {"BayesianHMM": "probwb.hmm.bayes", "select_n_states": "probwb.hmm.selection"}


def __getattr__(name: str) -> Any:
    # PyMC is heavy: load the Bayesian model only when it is asked for
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'probwb.hmm' has no attribute {name!r}")
