"""Shared plumbing: randomness, validation, atomic files, registries."""

from probwb.core.io import atomic_write_bytes, atomic_write_text, load_model, save_model
from probwb.core.random import check_random_state
from probwb.core.validation import (
    check_columns,
    check_dataframe,
    check_finite,
    check_nonnegative,
    check_probabilities,
    check_same_length,
    check_stochastic,
    closest_match,
)

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_columns",
    "check_dataframe",
    "check_finite",
    "check_nonnegative",
    "check_probabilities",
    "check_random_state",
    "check_same_length",
    "check_stochastic",
    "closest_match",
    "load_model",
    "save_model",
]
