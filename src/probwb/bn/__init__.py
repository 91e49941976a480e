"""Discrete Bayesian networks: define, learn, intervene, and exact batched inference.

``BayesNet`` is the estimator users hold; :mod:`probwb.bn.kernels` holds the compiled, batched
variable-elimination engine (and max-product for the most probable explanation) and
:mod:`probwb.bn.junction` the junction-tree engine for many rows with different observed columns,
both as plain functions on numpy arrays.
"""

from probwb.bn.network import BayesNet
from probwb.bn.structure import structural_hamming_distance

__all__ = ["BayesNet", "structural_hamming_distance"]
