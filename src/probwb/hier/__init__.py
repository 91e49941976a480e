"""Hierarchical Bayesian models in PyMC: multilevel GLMs for risk across groups, customer-lifetime-value
models (BG/NBD, Pareto/NBD, Gamma-Gamma), SBC, model specs.

Sampling goes through :mod:`probwb.hier.backend` (nutpie by default, PyMC's NUTS or numpyro on request);
diagnostics through :mod:`probwb.diagnostics`. PyMC is imported only when a model is built, so
``import probwb.hier`` is cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HierarchicalGLM", "meta_analysis_model", "parse_formula", "sbc", "SBCResult", "sample",
           "available_samplers", "BetaGeoModel", "ParetoNBDModel", "GammaGammaModel", "simulate_bgnbd",
           "simulate_pareto_nbd", "validate_rfm"]

_LAZY = {
    "HierarchicalGLM": ("probwb.hier.glm", "HierarchicalGLM"),
    "meta_analysis_model": ("probwb.hier.glm", "meta_analysis_model"),
    "parse_formula": ("probwb.hier.formula", "parse_formula"),
    "sbc": ("probwb.hier.sbc", "sbc"),
    "SBCResult": ("probwb.hier.sbc", "SBCResult"),
    "sample": ("probwb.hier.backend", "sample"),
    "available_samplers": ("probwb.hier.backend", "available_samplers"),
    "BetaGeoModel": ("probwb.hier.clv", "BetaGeoModel"),
    "ParetoNBDModel": ("probwb.hier.clv", "ParetoNBDModel"),
    "GammaGammaModel": ("probwb.hier.clv", "GammaGammaModel"),
    "simulate_bgnbd": ("probwb.hier.clv", "simulate_bgnbd"),
    "simulate_pareto_nbd": ("probwb.hier.clv", "simulate_pareto_nbd"),
    "validate_rfm": ("probwb.hier.clv", "validate_rfm"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'probwb.hier' has no attribute {name!r}")
