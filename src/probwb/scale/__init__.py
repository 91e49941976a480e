"""Scale-out on Dask: the same scoring, cross-validation and fitting, spread over a cluster.

A local cluster is started when no client or scheduler address is given; pass ``address="tcp://host:8786"``
(or an existing ``distributed.Client``) to use a real one. Dask is an optional dependency (``probwb[scale]``)
and is imported only when these functions run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from probwb.core.validation import check_dataframe
from probwb.errors import DataError, ModelError, SpecError

__all__ = ["cluster", "cross_validate_parallel", "fit_many", "score_in_chunks"]

logger = logging.getLogger("probwb.scale")


def _distributed() -> Any:
    try:
        import distributed
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise ModuleNotFoundError(
            "probwb.scale needs dask.distributed: install with `pip install probwb[scale]`"
        ) from exc
    return distributed


@contextmanager
def cluster(address: str | None = None, n_workers: int | None = None, threads_per_worker: int = 1,
            processes: bool = True) -> Iterator[Any]:
    """Yield a ``distributed.Client``: connected to ``address``, or to a local cluster closed on exit."""
    distributed = _distributed()
    if address is not None:
        client = distributed.Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    local = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                     processes=processes, dashboard_address=None)
    client = distributed.Client(local)
    try:
        yield client
    finally:
        client.close()
        local.close()


@contextmanager
def _client_or_local(client: Any | None) -> Iterator[Any]:
    if client is not None:
        yield client
    else:
        with cluster(processes=False) as c:
            yield c


def _chunks(n: int, chunk_rows: int) -> list[slice]:
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise SpecError(f"chunk_rows must be a positive integer, found {chunk_rows!r}")
    return [slice(i, min(i + chunk_rows, n)) for i in range(0, n, chunk_rows)]


def _call(model: Any, method: str, chunk: pd.DataFrame, kwargs: Mapping[str, Any]) -> Any:
    return getattr(model, method)(chunk, **kwargs)


def score_in_chunks(model: Any, data: pd.DataFrame, method: str = "predict_proba", *, chunk_rows: int = 50_000,
                    client: Any | None = None, **kwargs: Any) -> pd.DataFrame | np.ndarray:
    """Return ``model.<method>(data, **kwargs)`` computed chunk by chunk on a Dask cluster, in row order.

    The fitted model is sent to the workers once; each task scores one block of rows. Outputs that are
    DataFrames keep the rows' index; arrays are concatenated along the first axis.
    """
    data = check_dataframe(data)
    if not callable(getattr(model, method, None)):
        raise ModelError(f"{type(model).__name__} has no method {method!r}")
    with _client_or_local(client) as c:
        remote_model = c.scatter(model, broadcast=True)
        futures = [c.submit(_call, remote_model, method, data.iloc[s], kwargs, pure=False)
                   for s in _chunks(len(data), chunk_rows)]
        parts = c.gather(futures)
    if all(isinstance(p, pd.DataFrame | pd.Series) for p in parts):
        return pd.concat(parts)
    return np.concatenate([np.asarray(p) for p in parts])


class _FixedFolds:
    """A splitter that yields folds computed beforehand (one task per fold)."""

    def __init__(self, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.folds = list(folds)

    def split(self, data: Any = None, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield from self.folds

    def get_n_splits(self, *args: Any, **kwargs: Any) -> int:
        return len(self.folds)


def _one_fold(model: Any, data: pd.DataFrame, fold: tuple[np.ndarray, np.ndarray], kwargs: dict[str, Any]) -> Any:
    from probwb.evaluate import cross_validate

    return cross_validate(model, data, _FixedFolds([fold]), **kwargs)


def cross_validate_parallel(model: Any, data: pd.DataFrame, splitter: Any, metrics: Any = "score", *,
                            client: Any | None = None, **kwargs: Any) -> Any:
    """Return :func:`probwb.evaluate.cross_validate`'s result, with the folds fitted in parallel on Dask.

    Same arguments and the same answer as the serial function (each fold deep-copies the unfitted model).
    """
    from probwb.evaluate.cv import CVResult, _summarize

    data = check_dataframe(data)
    folds = [(np.asarray(tr, dtype=int), np.asarray(te, dtype=int)) for tr, te in splitter.split(data)]
    if not folds:
        raise DataError("the splitter produced no folds")
    kwargs = {**kwargs, "metrics": metrics}
    with _client_or_local(client) as c:
        remote_data = c.scatter(data, broadcast=True)
        futures = [c.submit(_one_fold, model, remote_data, f, kwargs, pure=False) for f in folds]
        results = c.gather(futures)
    scores, preds, models = [], [], []
    for i, res in enumerate(results):
        scores.append(res.scores.assign(fold=i))
        if res.predictions is not None:
            preds.append(res.predictions.assign(fold=i))
        models.extend(res.models)
    table = pd.concat(scores, ignore_index=True)
    order = list(dict.fromkeys(table["metric"]))
    return CVResult(scores=table, summary=_summarize(table, order),
                    predictions=pd.concat(preds) if preds else None, models=models)


def _fit(model: Any, data: Any, kwargs: Mapping[str, Any]) -> Any:
    return model.fit(data, **kwargs)


def fit_many(models: Mapping[str, Any] | Sequence[Any], data: pd.DataFrame | Mapping[str, pd.DataFrame], *,
             client: Any | None = None, fit: Callable[..., Any] | None = None, **fit_kwargs: Any
             ) -> dict[str, Any] | list[Any]:
    """Fit several models in parallel (e.g. one per segment, or competing specifications); return them fitted.

    ``models`` is a list or a name -> model mapping; ``data`` is one DataFrame shared by all, or a mapping with
    one DataFrame per model name. Returns the fitted models in the same container shape.
    """
    named = dict(models) if isinstance(models, Mapping) else {str(i): m for i, m in enumerate(models)}
    if not named:
        raise DataError("fit_many needs at least one model")
    if isinstance(data, Mapping):
        missing = [k for k in named if k not in data]
        if missing:
            raise DataError(f"data has no entry for model(s) {missing}; entries found: {sorted(data)}")
    fit = fit or _fit
    with _client_or_local(client) as c:
        shared = None if isinstance(data, Mapping) else c.scatter(data, broadcast=True)
        futures = {k: c.submit(fit, m, data[k] if shared is None else shared, fit_kwargs, pure=False)
                   for k, m in named.items()}
        fitted = dict(zip(futures, c.gather(list(futures.values())), strict=True))
    return fitted if isinstance(models, Mapping) else [fitted[str(i)] for i in range(len(named))]
