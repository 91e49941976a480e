"""Shared fixtures for the Bayesian-network tests: small networks with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from probwb.bn import BayesNet


@pytest.fixture(scope="session")
def asia() -> BayesNet:
    return BayesNet.from_bundled("asia")


def random_network(rng: np.random.Generator, n_nodes: int, max_parents: int = 3, max_card: int = 3,
                   zeros: bool = False) -> BayesNet:
    """A random DAG (nodes in index order) with random CPTs; ``zeros`` puts exact zeros in some rows."""
    spec = {"nodes": {}}
    cards = rng.integers(2, max_card + 1, size=n_nodes)
    for v in range(n_nodes):
        k = int(rng.integers(0, min(v, max_parents) + 1))
        pas = sorted(rng.choice(v, size=k, replace=False).tolist()) if k else []
        shape = tuple(int(cards[p]) for p in pas) + (int(cards[v]),)
        cpt = rng.dirichlet(np.full(int(cards[v]), 0.7), size=int(np.prod(shape[:-1]))).reshape(shape)
        if zeros:
            cpt = np.where(rng.random(shape) < 0.15, 0.0, cpt)
            cpt[..., 0] += 1e-3
            cpt = cpt / cpt.sum(axis=-1, keepdims=True)
        spec["nodes"][f"X{v}"] = {"states": [f"s{k}" for k in range(int(cards[v]))],
                                  "parents": [f"X{p}" for p in pas], "cpt": cpt.tolist()}
    return BayesNet.from_spec(spec)


@pytest.fixture(scope="session")
def make_network():
    """The random-network factory, as a fixture (hypothesis tests draw seeds and call it)."""
    return random_network
