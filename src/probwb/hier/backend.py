"""The one module of probwb that calls PyMC's samplers (NUTS via nutpie, PyMC or numpyro).

Every hierarchical and CLV model builds a ``pymc.Model`` and hands it to :func:`sample`; a change of
PyMC, nutpie or numpyro API is this module's work alone. Compiled nutpie models are cached per model
object, so refitting the same model with new ``pm.Data`` values (simulation-based calibration,
cross-validation) compiles once.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import warnings
import weakref
from typing import Any

import numpy as np

from probwb.core.progress import sampler_progressbar
from probwb.core.random import RandomState, check_random_state, seed_from
from probwb.errors import DataError, ModelError

__all__ = [
    "SAMPLERS",
    "available_samplers",
    "default_sampler",
    "sample",
    "sample_prior_predictive",
    "sample_posterior_predictive",
    "add_log_likelihood",
]

logger = logging.getLogger("probwb.hier")

SAMPLERS = ("nutpie", "pymc", "numpyro")

#: "auto" compiles with numba above this many data values in the model's pm.Data containers.
NUMBA_DATA_SIZE = 20_000

# model -> {(compile backend,): compiled nutpie model}
_NUTPIE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def available_samplers() -> list[str]:
    """Return the samplers usable here ("pymc" always; "nutpie", "numpyro" when installed)."""
    out = []
    if _has("nutpie"):
        out.append("nutpie")
    out.append("pymc")
    if _has("numpyro") and _has("jax"):
        out.append("numpyro")
    return out


def default_sampler() -> str:
    """Return "nutpie" when it is installed, else "pymc"."""
    return "nutpie" if _has("nutpie") else "pymc"


def _check_args(draws: int, tune: int, chains: int, target_accept: float) -> None:
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise DataError(f"{name} must be an int >= {low}, found {value!r}")
    if not 0.5 <= float(target_accept) < 1.0:
        raise DataError(f"target_accept must lie in [0.5, 1), found {target_accept!r}")


def _nutpie_compiled(model: Any, compile_backend: str) -> Any:
    key = (compile_backend,)
    cached = _NUTPIE_CACHE.get(model, {}).get(key)
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if compile_backend == "numba":
            compiled = _nutpie_numba_model(model)
        else:
            try:
                compiled = _nutpie_c_model(model)
            except (ImportError, AttributeError, TypeError, ValueError) as exc:
                # The C route uses nutpie internals; if a nutpie release changes them, numba still works.
                logger.warning("nutpie C-function route unavailable (%s); compiling with numba instead", exc)
                compiled = _nutpie_numba_model(model)
                compile_backend = "numba"
    logger.info("nutpie (%s) compiled the model in %.1fs", compile_backend, time.perf_counter() - t0)
    _NUTPIE_CACHE.setdefault(model, {})[key] = compiled
    return compiled


def _nutpie_numba_model(model: Any) -> Any:
    """nutpie's numba-compiled model, loaded from probwb's on-disk compile cache when this model structure
    was compiled before (see :mod:`probwb.hier.compile_cache`), else compiled and stored."""
    import nutpie

    from probwb.hier import compile_cache

    try:
        compiled, key, shared = compile_cache.load(model)
    except Exception as exc:  # noqa: BLE001 - the cache is an optimisation; compiling always works
        logger.debug("compile-cache lookup failed (%s); compiling", exc)
        compiled, key, shared = None, None, {}
    if compiled is not None:
        logger.info("nutpie numba model loaded from the compile cache (%s)", key[:12])
        object.__setattr__(compiled, "_from_compile_cache", True)
        return compiled
    compiled = nutpie.compile_pymc_model(model)
    if key is not None:
        compile_cache.store(key, compiled, list(shared))
    return compiled


def _nutpie_c_model(model: Any) -> Any:
    """Build a nutpie model whose log density and gradient are PyTensor's C-compiled functions.

    PyTensor caches compiled C modules on disk, so a model structure seen before (in any process) compiles
    in about a second, where the numba backend JIT-compiles for several seconds on every run. Each chain
    gets its own copy of the function (PyTensor functions are not thread-safe); the model's ``pm.Data``
    containers are shared, so ``pm.set_data`` reaches the compiled functions without recompiling.
    This uses nutpie's internal ``_make_functions`` (nutpie 0.16); a nutpie upgrade is checked here only.
    """
    import threading

    from nutpie import compile_pymc as ncp
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn

    init_fn = make_initial_point_fn(model=model, default_strategy="support_point",
                                    jitter_rvs=set(model.free_RVs), return_transformed=True)
    lock = threading.Lock()

    def locked_init(seed: int) -> dict:
        with lock:
            return init_fn(seed)

    n_dim, _, logp_fn, expand_fn, initial_point_fn, shape_info = ncp._make_functions(
        model, mode="FAST_RUN", compute_grad=True, join_expanded=False, pymc_initial_point_fn=locked_init)
    names, _, shapes = shape_info

    def make_logp_fn() -> Any:
        with lock:
            fn = logp_fn.copy(share_memory=False)
        fn.trust_input = True

        def logp(x: np.ndarray, **_: Any) -> tuple[float, np.ndarray]:
            value, grad = fn(x)
            return float(value), np.asarray(grad, dtype="float64", order="C")

        return logp

    def make_expand_fn(seed1: int, seed2: int, chain: int) -> Any:
        with lock:
            fn = expand_fn.copy(share_memory=False)

        def expand(x: np.ndarray, **_: Any) -> dict[str, np.ndarray]:
            values = fn(x)
            return {name: np.asarray(v, order="C", dtype="float64").reshape(shape)
                    for name, v, shape in zip(names, values, shapes, strict=True)}

        return expand

    dims, coords = ncp._prepare_dims_and_coords(model, shape_info)
    compiled = from_pyfunc(ndim=n_dim, make_logp_fn=make_logp_fn, make_expand_fn=make_expand_fn,
                       make_initial_point_fn=initial_point_fn, expanded_dtypes=[np.dtype("float64")] * len(names),
                       expanded_shapes=shapes, expanded_names=names, dims=dims, coords=coords)
    object.__setattr__(compiled, "_reads_model_data", True)
    return compiled


def auto_backend(model: Any) -> str:
    """Return the nutpie compile backend ``compile_backend="auto"`` uses for ``model``: "numba" when numba
    is installed and the model's ``pm.Data`` hold more than ``NUMBA_DATA_SIZE`` values, else "c".

    The choice depends on what is installed and on the model's data size only, never on what is cached
    (on disk or from an earlier fit of the same model object): the C and numba densities round differently,
    so a cache-dependent choice gave different draws for the same ``random_state`` on a warm cache.
    """
    if not _has("numba"):
        return "c"
    size = sum(int(np.size(v)) for v in _current_data(model).values())
    return "numba" if size > NUMBA_DATA_SIZE else "c"


def _current_data(model: Any) -> dict[str, np.ndarray]:
    """Current values of the model's pm.Data containers (they may have changed since compilation)."""
    return {var.name: np.asarray(var.get_value()) for var in model.data_vars}


def sample(
    model: Any,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    sampler: str | None = None,
    random_state: RandomState = None,
    progressbar: bool = True,
    target_accept: float = 0.95,
    cores: int | None = None,
    mass_matrix: str = "diag",
    compile_backend: str = "auto",
) -> Any:
    """Draw from the posterior of ``model`` with NUTS and return an ``arviz.InferenceData``.

    ``sampler``: "nutpie" (default when installed: Rust NUTS; the log density is compiled once per model
    object, see ``compile_backend``, and reused when only ``pm.Data`` values change), "pymc" (``pm.sample``) or
    "numpyro" (JAX; raises :class:`~probwb.errors.ModelError` when numpyro/jax are not installed).
    The result has ``posterior``, ``sample_stats`` (with ``diverging`` and ``energy``) and
    ``observed_data`` groups and records ``sampler``, ``sampling_time`` and ``compile_time`` (seconds)
    in ``posterior.attrs``. Same ``random_state`` gives the same draws for a given sampler.

    ``mass_matrix``: "diag" (default) or "low_rank" (nutpie only: a diagonal plus low-rank mass matrix
    learned from draws and gradients, which helps strongly correlated posteriors such as a population
    intercept against many group effects; ignored by the other samplers). ``target_accept`` defaults to
    0.95: on eight schools (non-centred) 0.9 gave a divergence in 2 of 20 seeded nutpie runs, 0.95 in none.
    ``cores`` defaults to one per chain. ``compile_backend`` (nutpie only): "c" evaluates the log density
    with PyTensor's C-compiled function called from nutpie (compilation cached on disk, so a model structure
    seen before starts in about a second, but each gradient costs tens of microseconds of Python overhead);
    "numba" has numba compile the density (nutpie's own default: the fastest gradients, after 4-15 seconds
    of compilation the first time a model structure is seen; probwb keeps the compiled code on disk, see
    :mod:`probwb.hier.compile_cache`, so later fits of the same structure, in any process and with any
    ``pm.Data`` values, load it in a fraction of a second); "auto" (default) picks "numba" when the model
    holds more than ``NUMBA_DATA_SIZE`` data values (an expensive density, where gradient speed repays
    compilation), and "c" otherwise (see :func:`auto_backend`): by installed packages and data size only,
    never by cache state, so the same ``random_state`` gives the same draws on a cold or a warm cache.
    """
    if compile_backend not in ("auto", "c", "numba"):
        raise DataError(f"compile_backend must be 'auto', 'c' or 'numba', found {compile_backend!r}")
    if mass_matrix not in ("diag", "low_rank"):
        raise DataError(f"mass_matrix must be 'diag' or 'low_rank', found {mass_matrix!r}")
    sampler = default_sampler() if sampler is None else sampler
    if sampler not in SAMPLERS:
        raise DataError(f"sampler must be one of {list(SAMPLERS)}, found {sampler!r}")
    _check_args(draws, tune, chains, target_accept)
    # a live bar only where one can show: never under quiet (--quiet, PROBWB_QUIET) nor in a notebook without
    # ipywidgets (rich would warn); the probwb command shows it even for specs that ask for none
    progressbar = sampler_progressbar(bool(progressbar))
    seed = seed_from(check_random_state(random_state))
    draws, tune, chains = int(draws), int(tune), int(chains)
    had = set(_NUTPIE_CACHE.get(model, {}))
    t_prep = time.perf_counter()
    if compile_backend == "auto":
        compile_backend = auto_backend(model) if sampler == "nutpie" else "c"
    compile_time = 0.0

    if sampler == "nutpie":
        if not _has("nutpie"):
            raise ModelError("sampler='nutpie' needs the nutpie package (pip install probwb[fast]); "
                             "use sampler='pymc' instead")
        import nutpie

        compiled = _nutpie_compiled(model, compile_backend)
        if (compile_backend,) not in had:
            # includes loading a cached compilation: part of getting this model object ready
            compile_time = time.perf_counter() - t_prep
        data = _current_data(model)
        compile_backend = "c" if getattr(compiled, "_reads_model_data", False) else "numba"
        if data and compile_backend == "numba":
            # A numba-compiled model holds copies of the pm.Data values; the C route reads them directly.
            compiled = compiled.with_data(**data)
        t0 = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                              progress_bar=progressbar, save_warmup=False, target_accept=target_accept,
                              cores=cores or chains,
                              low_rank_modified_mass_matrix=(mass_matrix == "low_rank"))
        elapsed = time.perf_counter() - t0
        idata = _add_observed(model, idata)
    elif sampler == "pymc":
        import pymc as pm

        t0 = time.perf_counter()
        with model, warnings.catch_warnings():
            # PyMC's own divergence/R-hat warnings are replaced by probwb.diagnostics' verdict.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores or min(chains, 4),
                              random_seed=seed, progressbar=progressbar, target_accept=target_accept,
                              compute_convergence_checks=False)
        elapsed = time.perf_counter() - t0
    else:
        if not (_has("numpyro") and _has("jax")):
            raise ModelError("sampler='numpyro' needs the numpyro and jax packages, which are not installed; "
                             f"available samplers: {available_samplers()}")
        from pymc.sampling.jax import sample_numpyro_nuts

        t0 = time.perf_counter()
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            idata = sample_numpyro_nuts(draws=draws, tune=tune, chains=chains, random_seed=seed,
                                        progressbar=progressbar, target_accept=target_accept)
        elapsed = time.perf_counter() - t0
    idata.posterior.attrs["sampler"] = sampler
    idata.posterior.attrs["sampling_time"] = float(elapsed)
    idata.posterior.attrs["compile_time"] = float(compile_time)
    if sampler == "nutpie":
        idata.posterior.attrs["compile_backend"] = compile_backend
    return idata


def _add_observed(model: Any, idata: Any) -> Any:
    """Attach the observed data (nutpie returns only posterior and sample_stats)."""
    if "observed_data" in idata.groups():
        return idata
    import xarray as xr

    obs = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        try:
            arr = np.asarray(value.eval()) if hasattr(value, "eval") else np.asarray(value)
        except Exception:  # noqa: BLE001 - observed values we cannot evaluate are simply not attached
            continue
        dims = [f"{rv.name}_dim_{i}" for i in range(arr.ndim)]
        obs[rv.name] = xr.DataArray(arr, dims=dims)
    if obs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata.add_groups({"observed_data": xr.Dataset(obs)})
    return idata


def sample_prior_predictive(model: Any, draws: int = 500, random_state: RandomState = None) -> Any:
    """Return an ``arviz.InferenceData`` with ``prior`` and ``prior_predictive`` groups of ``draws`` draws."""
    import pymc as pm

    seed = seed_from(check_random_state(random_state))
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pm.sample_prior_predictive(draws=int(draws), random_seed=seed)


def sample_posterior_predictive(model: Any, idata: Any, var_names: list[str] | None = None,
                                random_state: RandomState = None, progressbar: bool = False) -> Any:
    """Return the posterior predictive draws of ``model`` given ``idata`` (an ``InferenceData``)."""
    import pymc as pm

    seed = seed_from(check_random_state(random_state))
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pm.sample_posterior_predictive(idata, var_names=var_names, random_seed=seed,
                                              progressbar=progressbar, extend_inferencedata=False)


def add_log_likelihood(model: Any, idata: Any) -> Any:
    """Add a ``log_likelihood`` group (pointwise, for PSIS-LOO) to ``idata`` in place; return ``idata``."""
    import pymc as pm

    if "log_likelihood" in idata.groups():
        return idata
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        pm.compute_log_likelihood(idata, model=model, progressbar=False)
    return idata


def set_data(model: Any, values: dict[str, Any]) -> None:
    """Replace the values of ``pm.Data`` containers of ``model`` (shapes may change)."""
    import pymc as pm

    pm.set_data(values, model=model)


def observed_data_names(model: Any) -> dict[str, str]:
    """Map each observed variable of ``model`` to the name of the ``pm.Data`` container holding its values.

    Raises ModelError for an observed variable whose values are constants rather than ``pm.Data``.
    """
    out = {}
    shared = {v.name: v for v in model.data_vars}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        # observed=pm.Data(...) may be wrapped in a cast; look through it to the container.
        candidates = [value] + list(getattr(getattr(value, "owner", None), "inputs", []) or [])
        name = next((c.name for c in candidates if getattr(c, "name", None) in shared), None)
        if name is None:
            raise ModelError(f"observed variable {rv.name!r} must take its values from a pm.Data container "
                             "(observed=pm.Data(...)) so it can be replaced by simulated data")
        out[rv.name] = name
    return out
