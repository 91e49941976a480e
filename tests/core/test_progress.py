"""probwb.core.progress: a bar on a terminal, lines in Jupyter without ipywidgets (never the "IProgress not
found" warning), log records elsewhere, nothing when quiet; and log lines tagged with model and fold."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import types
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probwb.core import progress as P
from probwb.core.logcontext import context_tag, current_context, get_logger, log_context
from probwb.errors import SpecError


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch):
    monkeypatch.setattr(P, "_settings", dict(P._DEFAULTS))
    monkeypatch.delenv("PROBWB_QUIET", raising=False)
    monkeypatch.delenv("PROBWB_PROGRESS", raising=False)


def _progress_lines(caplog) -> list[str]:
    # only the progress logger: other probwb INFO lines pass too when an earlier CLI test enabled them
    return [r.getMessage() for r in caplog.records if r.name == "probwb.progress"]


class _ZMQInteractiveShell:
    pass


@pytest.fixture
def notebook(monkeypatch):
    """Pretend to run in a Jupyter kernel (the checks tqdm.autonotebook makes), without ipywidgets."""
    return _pretend_notebook(monkeypatch)


@pytest.fixture
def notebook_factory(monkeypatch):
    """Call it to pretend to run in a Jupyter kernel without ipywidgets."""
    return lambda: _pretend_notebook(monkeypatch)


def _pretend_notebook(monkeypatch):
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: _ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    for name in ("tqdm.autonotebook", "tqdm.auto", "tqdm.notebook"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return monkeypatch


def test_terminal_shows_a_tqdm_bar_with_postfix():
    out = _Tty()
    with P.Progress(total=4, desc="HMM EM", stream=out, delay=0) as bar:
        assert bar.mode == "bar"
        for i in range(4):
            bar.update(1, f"log-likelihood {-100 + i}")
    text = out.getvalue()
    assert "HMM EM" in text and "4/4" in text and "log-likelihood -97" in text


def test_non_tty_logs_lines_with_counts_and_a_final_line(caplog):
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="probwb.progress"):
        with P.Progress(total=3, desc="value iteration", stream=out, delay=0, min_interval=0) as bar:
            assert bar.mode == "log"
            for i in range(3):
                bar.update(1, f"change {10.0 ** -i:.3g}")
    assert out.getvalue() == ""  # not written to the stream: logging decides where it goes
    msgs = [r.getMessage() for r in caplog.records if r.name == "probwb.progress"]
    assert [m.split(" (")[0] for m in msgs] == ["value iteration: 1/3", "value iteration: 2/3",
                                                 "value iteration: 3/3", "value iteration: 3/3"]
    assert "change 0.01" in msgs[2] and msgs[-1].endswith("done")


@settings(max_examples=25, deadline=None)
@given(total=st.integers(1, 40), step=st.integers(1, 5))
def test_iterator_yields_everything_and_counts_it(total, step):
    items = list(range(0, total * step, step))
    bar_out = _Tty()
    seen = list(P.progress(items, desc="restarts", stream=bar_out, delay=0))
    assert seen == items
    assert f"{len(items)}/{len(items)}" in bar_out.getvalue()


def test_short_work_stays_silent(caplog):
    out = _Tty()
    with caplog.at_level(logging.INFO, logger="probwb.progress"):
        for _ in P.progress(range(50), desc="fast", stream=out):
            pass
        for _ in P.progress(range(50), desc="fast", stream=io.StringIO()):
            pass
    assert out.getvalue() == "" and caplog.records == []


@pytest.mark.parametrize("how", ["configure", "context", "env", "disable"])
def test_quiet_prints_and_logs_nothing(how, monkeypatch, caplog, capsys):
    if how == "configure":
        P.configure(quiet=True)
    elif how == "env":
        monkeypatch.setenv("PROBWB_QUIET", "1")
    out = _Tty()
    with caplog.at_level(logging.DEBUG, logger="probwb"):
        ctx = P.quiet() if how == "context" else _null()
        with ctx:
            assert P.progress_mode(out, disable=how == "disable") == "off"
            with P.Progress(total=5, desc="EM", stream=out, delay=0, min_interval=0,
                            disable=how == "disable") as bar:
                for _ in range(5):
                    bar.update(1, "x")
            for _ in P.progress(range(5), desc="EM", delay=0, min_interval=0, disable=how == "disable"):
                pass
            assert P.sampler_progressbar(True) is False
    assert out.getvalue() == "" and caplog.records == []
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert bar.n == 5  # counting goes on, only the display is off


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def test_verbose_shows_work_disabled_by_default_but_quiet_wins(caplog):
    out = _Tty()
    assert P.progress_mode(out, disable=True) == "off"
    with P.verbose():
        assert P.progress_mode(out, disable=True) == "bar"
        with P.Progress(total=2, desc="posterior draws", stream=out, disable=True, delay=0) as bar:
            bar.update(2)
        with P.quiet():
            assert P.progress_mode(out, disable=True) == "off" and P.progress_mode(out) == "off"
    assert "posterior draws" in out.getvalue() and "2/2" in out.getvalue()
    assert P.progress_mode(out, disable=True) == "off"


def test_quiet_context_restores_and_env_forces_mode(monkeypatch):
    out = _Tty()
    with P.quiet():
        assert P.is_quiet()
    assert not P.is_quiet() and P.progress_mode(out) == "bar"
    monkeypatch.setenv("PROBWB_PROGRESS", "log")
    assert P.progress_mode(out) == "log"
    P.configure(mode="off")
    assert P.progress_mode(out) == "off"
    P.configure(mode="auto")
    assert P.progress_mode(out) == "log"
    with pytest.raises(SpecError, match=r"progress mode must be one of auto, .*found 'fancy'"):
        P.configure(mode="fancy")
    with pytest.raises(SpecError, match=r"quiet=\.\.\.\) must be True or False, found 'yes'"):
        P.configure(quiet="yes")
    with pytest.raises(SpecError, match=r"delay=\.\.\.\) must be a number of seconds >= 0, found -1"):
        P.configure(delay=-1)
    P.configure(delay=0, interval=0)
    bar = P.Progress(total=1, stream=io.StringIO())
    assert (bar.delay, bar.min_interval) == (0.0, 0.0)


def test_notebook_without_ipywidgets_uses_plain_lines_and_never_warns(notebook, capsys):
    # the simulated kernel is faithful: tqdm.auto itself warns in it
    with pytest.warns(Warning, match="IProgress not found"):
        import tqdm.autonotebook  # noqa: F401
    for name in ("tqdm.autonotebook", "tqdm.auto"):
        notebook.delitem(sys.modules, name, raising=False)

    assert P.in_notebook() and P.progress_mode() == "lines"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        P.silence_tqdm_notebook_warning()
        import tqdm.auto  # noqa: F401  (what pgmpy does at import)
        with P.Progress(total=2, desc="structure search", delay=0, min_interval=0) as bar:
            bar.update(2, "score -1234.5")
        assert P.sampler_progressbar(True) is False  # PyMC/rich would warn "install ipywidgets"
    assert [str(w.message) for w in caught] == []
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 2 and all(re.fullmatch(r"structure search: 2/2 \([\d.]+ s, score -1234\.5\)( done)?", x)
                                   for x in lines) and lines[1].endswith("done")
    assert "\r" not in err and "IProgress" not in err


def test_notebook_with_ipywidgets_chooses_the_widget_bar(notebook):
    notebook.setitem(sys.modules, "ipywidgets", types.ModuleType("ipywidgets"))
    assert P.progress_mode() == "widget" and P.sampler_progressbar(None) is True
    assert P.progress_mode(_Tty()) == "bar"  # an explicit stream is not the notebook's output


def test_real_kernel_shows_no_iprogress_warning(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ipywidgets is installed: tqdm shows widgets and never warns")
    spec = tmp_path / "jupyter" / "kernels" / "probwb-progress"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "probwb", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))

    def stderr_of(*cells: str) -> str:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        done = nbclient.NotebookClient(nb, timeout=120, kernel_name="probwb-progress").execute()
        outs = [o for c in done.cells for o in c.get("outputs", [])]
        assert [o for o in outs if o.get("output_type") == "error"] == []
        return "".join(o.get("text", "") for o in outs if o.get("name") == "stderr")

    # as it was: the first tqdm.auto import (pgmpy does it) in a kernel without ipywidgets warns
    assert "IProgress not found" in stderr_of("from tqdm.auto import tqdm")
    err = stderr_of("import probwb\nfrom tqdm.auto import tqdm\n"
                    "from probwb.core.progress import Progress\n"
                    "with Progress(total=3, desc='EM', delay=0, min_interval=0) as b:\n"
                    "    b.update(3, 'log-likelihood -12.5')")
    assert "IProgress" not in err and "EM: 3/3" in err and "log-likelihood -12.5" in err


def test_log_lines_and_bars_name_model_and_fold(caplog):
    log = get_logger("probwb.hmm")
    with caplog.at_level(logging.INFO, logger="probwb"):
        with log_context(model="disease_progression_hmm"):
            with log_context(fold=2):
                assert current_context() == {"model": "disease_progression_hmm", "fold": 2}
                log.info("restart %d/%d: log-likelihood %.1f", 3, 5, -12.25)
                with P.Progress(total=1, desc="HMM EM", stream=io.StringIO(), delay=0, min_interval=0) as bar:
                    bar.update()
            log.info("100% of folds done")
        log.info("outside")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0] == "restart 3/5: log-likelihood -12.2 [disease_progression_hmm, fold 2]"
    assert msgs[1].startswith("HMM EM [disease_progression_hmm, fold 2]: 1/1")
    assert msgs[3] == "100% of folds done [disease_progression_hmm]"
    assert msgs[4] == "outside" and context_tag() == ""
    first = caplog.records[0]
    assert first.probwb_model == "disease_progression_hmm" and first.probwb_fold == 2
    assert first.filename == "test_progress.py"  # the record points at the caller, not the adapter


def test_cross_validated_hmm_logs_name_model_fold_and_restart(caplog, small_campaign):
    from probwb.evaluate import GroupKFold, cross_validate
    from probwb.hmm import HMM

    panel = small_campaign.panel
    panel = panel[panel["customer_id"].isin(panel["customer_id"].unique()[:120])]
    hmm = HMM(n_states=2, emission={"purchases": "poisson"}, id_col="customer_id", time_col="week",
              n_init=2, n_iter=15, random_state=0)
    P.configure(delay=0, interval=0)
    with caplog.at_level(logging.INFO, logger="probwb"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with log_context(model="customer_lifecycle_hmm"), P.verbose():
            cross_validate(hmm, panel, GroupKFold(3, group="customer_id"))
    msgs = [r.getMessage() for r in caplog.records]
    for fold in range(3):
        tag = f"[customer_lifecycle_hmm, fold {fold}]"
        restarts = [m for m in msgs if m.startswith("restart ") and m.endswith(tag)]
        assert [m.split(":")[0] for m in restarts] == ["restart 1/2", "restart 2/2"]
        em = [m for m in msgs if m.startswith(f"HMM EM (restart 2/2) {tag}: ")]
        assert em and all("log-likelihood -" in m for m in em)
        assert sum(m.startswith("fold scored: score -") and m.endswith(tag) for m in msgs) == 1
    assert hmm.verbose is False and not hasattr(hmm, "loglik_")  # the estimator passed in is untouched
    # without a context, cross-validation names the model by its class
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="probwb"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cross_validate(hmm, panel, GroupKFold(2, group="customer_id"))
    assert any(r.getMessage().endswith("[HMM, fold 1]") for r in caplog.records)


def test_structure_search_reports_progress_in_logs_and_nothing_when_quiet(caplog, capsys):
    import numpy as np
    import pandas as pd

    from probwb.bn.structure import learn_structure

    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, 200)
    b = (a ^ (rng.random(200) < 0.1)).astype(int)
    data = pd.DataFrame({"a": a, "b": b, "c": rng.integers(0, 3, 200)})
    P.configure(delay=0, interval=0)
    with caplog.at_level(logging.INFO, logger="probwb"), log_context(model="risk_network"):
        edges = learn_structure(data, verbose=True)
        with P.quiet():
            assert learn_structure(data, verbose=True) == edges
    msgs = [r.getMessage() for r in caplog.records]
    n = len(edges)
    assert [m for m in msgs if m.startswith("structure search")] == [
        m for m in msgs if re.fullmatch(rf"structure search \(hill_climb\) \[risk_network\]: 1 \([\d.]+ s, "
                                        rf"{n} edges\)( done)?", m)]
    assert len([m for m in msgs if m.startswith("structure search")]) == 2  # the quiet run added none
    assert msgs.count(f"structure learning (hill_climb) found {n} edges [risk_network]") == 2
    assert capsys.readouterr().err == ""  # pgmpy's own bar is not drawn off a terminal


def test_value_iteration_progress_follows_the_settings(caplog):
    from probwb.mdp.examples import forest
    from probwb.mdp.solvers import solve

    mdp = forest(n_states=30)
    P.configure(delay=0, interval=0)
    with caplog.at_level(logging.INFO, logger="probwb.progress"):
        base = solve(mdp, method="value_iteration")  # quiet=True by default in Python
        assert _progress_lines(caplog) == []
        with P.verbose(), log_context(model="treatment_policy_mdp"):
            shown = solve(mdp, method="value_iteration")
        lines = _progress_lines(caplog)
        caplog.clear()
        with P.verbose(), P.quiet():
            solve(mdp, method="value_iteration")
        assert _progress_lines(caplog) == []
    assert (shown.policy == base.policy).all()
    assert len(lines) >= 3 and lines[-1].endswith("done")
    assert all(re.fullmatch(r"value iteration \[treatment_policy_mdp\]: \d+ \([\d.]+ s, change [-+.\de]+\)( done)?", m)
               for m in lines), lines


@pytest.mark.parametrize("setting", ["quiet", "log", "notebook_no_widgets", "terminal", "terminal_asked_none"])
def test_pymc_sampling_gets_a_live_bar_only_where_one_can_show(setting, monkeypatch, notebook_factory):
    pm = pytest.importorskip("pymc")
    from probwb.hier import backend

    class _Stop(Exception):
        pass

    seen = []

    def fake_sample(*args, **kwargs):
        seen.append(kwargs["progressbar"])
        raise _Stop

    monkeypatch.setattr(pm, "sample", fake_sample)
    with pm.Model() as model:
        pm.Normal("x")
    asked = setting != "terminal_asked_none"
    if setting == "quiet":
        P.configure(quiet=True, mode="bar")
    elif setting == "log":
        P.configure(mode="log")
    elif setting == "notebook_no_widgets":
        notebook_factory()
    else:
        P.configure(mode="bar")
    with pytest.raises(_Stop):
        backend.sample(model, draws=10, tune=10, chains=1, sampler="pymc", progressbar=asked)
    assert seen == [setting == "terminal"]


def test_state_selection_logs_name_candidate_and_fold(caplog, small_campaign):
    from probwb.hmm.selection import select_n_states

    panel = small_campaign.panel
    panel = panel[panel["customer_id"].isin(panel["customer_id"].unique()[:80])]
    with caplog.at_level(logging.INFO, logger="probwb.hmm"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with log_context(model="customer_lifecycle_hmm"):
            select_n_states(panel, [2], n_splits=2, emission={"purchases": "poisson"},
                            id_col="customer_id", time_col="week", n_init=1, n_iter=10, random_state=0)
    tags = [r.getMessage().rsplit(" [", 1)[1] for r in caplog.records if r.getMessage().startswith("restart 1/1")]
    assert tags == ["customer_lifecycle_hmm, n_states 2]", "customer_lifecycle_hmm, fold 0, n_states 2]",
                    "customer_lifecycle_hmm, fold 1, n_states 2]"]


def test_context_filter_tags_plain_probwb_loggers_once():
    from probwb.core.logcontext import ContextFilter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    plain, other = logging.getLogger("probwb.mdp"), logging.getLogger("pgmpy.test")
    adapted = get_logger("probwb.hmm")
    for lg in (plain, other, adapted.logger):
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        with log_context(model="treatment_policy_mdp", fold=1):
            plain.info("solved with %s: %d sweeps", "value_iteration", 12)
            other.info("not ours")
            adapted.info("restart %d/%d", 1, 2)
        plain.info("outside")
    finally:
        for lg in (plain, other, adapted.logger):
            lg.removeHandler(handler)
            lg.setLevel(logging.NOTSET)
    assert out.getvalue().splitlines() == ["solved with value_iteration: 12 sweeps [treatment_policy_mdp, fold 1]",
                                           "not ours", "restart 1/2 [treatment_policy_mdp, fold 1]", "outside"]
