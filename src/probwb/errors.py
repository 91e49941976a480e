"""Errors and warnings raised by probwb.

Every error is a subclass of :class:`ValueError` so that callers who catch
``ValueError`` keep working; each message says what was expected, what was
found, and where (column, node, row, key path).
"""

from __future__ import annotations

__all__ = [
    "ProbwbError",
    "DataError",
    "SpecError",
    "ModelError",
    "ProbabilityError",
    "StateError",
    "ImpossibleEvidenceError",
    "NotFittedError",
    "ModelFileError",
    "MissingDependencyError",
    "ProbwbWarning",
    "ConvergenceWarning",
    "SamplingWarning",
    "SmallSampleWarning",
]


class ProbwbError(ValueError):
    """Base class of every error probwb raises on bad input."""


class DataError(ProbwbError):
    """Input data has the wrong shape, type, columns, missing values or range."""


class SpecError(ProbwbError):
    """A model specification (dict or YAML) is malformed: unknown key, wrong type, missing field."""


class ModelError(ProbwbError):
    """A model's own definition is inconsistent (cycle, shape mismatch, bad parameter)."""


class ProbabilityError(ModelError):
    """A probability table or vector is not a distribution (negative, NaN, not summing to one)."""


class StateError(DataError):
    """An unknown node, variable, state or symbol was named."""


class ImpossibleEvidenceError(ProbwbError):
    """The evidence has probability zero under the model, so no posterior exists."""


class NotFittedError(ProbwbError):
    """A method that needs a fitted model was called before ``fit``."""


class ModelFileError(ProbwbError):
    """A saved model file is damaged, foreign, or belongs to a different model class or version."""


class MissingDependencyError(ProbwbError, ImportError):
    """A feature needs an optional package (PyMC, nutpie, ...) that is not installed; the message names the
    feature, the package and the ``pip install "probwb[<extra>]"`` command. Also an ImportError, so code that
    catches a failed import keeps working."""


class ProbwbWarning(UserWarning):
    """Base class of probwb's warnings."""


class ConvergenceWarning(ProbwbWarning):
    """An iterative fit (EM, value iteration, optimisation) stopped before converging."""


class SamplingWarning(ProbwbWarning):
    """MCMC diagnostics are poor: divergences, R-hat above threshold, low ESS, low BFMI."""


class SmallSampleWarning(ProbwbWarning):
    """A test's assumptions are doubtful for this sample (e.g. small expected counts in chi-square)."""
