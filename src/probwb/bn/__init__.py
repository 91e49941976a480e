"""Discrete Bayesian networks: define, learn, intervene, and exact batched inference.

``BayesNet`` is the estimator users hold; :mod:`probwb.bn.kernels` holds the compiled, batched
variable-elimination engine as plain functions on numpy arrays.
"""

from probwb.bn.network import BayesNet
from probwb.bn.structure import structural_hamming_distance

__all__ = ["BayesNet", "structural_hamming_distance"]
