from __future__ import annotations

import subprocess
import sys

import pytest

from probwb.cli import build_parser, main


def test_datasets_lists_everything(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "cdnow" in out and "coupon_campaign" in out and "alarm" in out


def test_demo_prints_a_real_result(capsys):
    assert main(["demo", "--customers", "1500", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Redemption by coupon" in out and "true_rate" in out
    assert "spend lift" in out


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "probwb.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "probwb" in out.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def _tick_command(monkeypatch):
    """A stand-in long command: one progress bar and one INFO log line, as EM or sampling would give."""
    import argparse
    import logging

    from probwb import cli
    from probwb.core.progress import Progress

    def run(args: argparse.Namespace) -> int:
        with Progress(total=3, desc="tick", delay=0, min_interval=0) as bar:
            bar.update(3, "log-likelihood -1.5")
        logging.getLogger("probwb.test").info("stage done")
        print("result")
        return 0

    monkeypatch.setitem(cli._COMMANDS, "tick", (run, lambda p: None, "a long stand-in command"))


@pytest.mark.parametrize("argv", [["--quiet", "tick"], ["tick", "--quiet"]])
def test_quiet_before_or_after_the_subcommand_silences_progress(argv, monkeypatch, capsys, caplog):
    _tick_command(monkeypatch)
    monkeypatch.delenv("PROBWB_QUIET", raising=False)
    assert build_parser().parse_args(argv).quiet is True
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == "result\n" and captured.err == ""
    assert [r.getMessage() for r in caplog.records] == []


def test_progress_shows_without_quiet_and_quiet_env_silences_it(monkeypatch, capsys, caplog):
    # (pytest's log capture stands in for the stderr handler the command installs)
    _tick_command(monkeypatch)
    monkeypatch.delenv("PROBWB_QUIET", raising=False)
    monkeypatch.delenv("PROBWB_PROGRESS", raising=False)
    assert build_parser().parse_args(["tick"]).quiet is False
    assert main(["tick"]) == 0
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0].startswith("tick: 3/3") and "log-likelihood -1.5" in msgs[0] and msgs[-1] == "stage done"
    caplog.clear()
    monkeypatch.setenv("PROBWB_QUIET", "1")
    assert main(["tick"]) == 0
    assert caplog.records == [] and capsys.readouterr().err == ""


def test_models_says_which_folder_it_read(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    assert main(["models", "specs"]) == 0
    assert capsys.readouterr().out == f"no specs (*.yaml) in {(tmp_path / 'specs').resolve()}\n"
    (tmp_path / "specs" / "a.yaml").write_text("name: a\nmodel: {kind: hmn}\n")
    assert main(["models", "specs", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"1 spec(s) in {(tmp_path / 'specs').resolve()}:" and out[1].startswith("a ")


def test_validate_reports_every_problem_of_every_spec(tmp_path, capsys):
    pytest.importorskip("probwb.hier.spec")
    (tmp_path / "d.csv").write_text("y,x,age_band,hospital\n1,0.5,young,a\n0,1.5,old,b\n")
    many = tmp_path / "many.yaml"
    many.write_text("name: many\ntitel: a typo\ndata: {source: csv, path: missing.csv}\n"
                    "model: {kind: hier, formula: 'y ~ x', n_chain: 2}\nfit: {draws: many}\n"
                    "report: {max_row: 3}\n")
    cols = tmp_path / "cols.yaml"
    cols.write_text("name: cols\ndata: {source: csv, path: d.csv}\n"
                    "model: {kind: hier, formula: 'y ~ x + age_bnd + (1 | hospitl)'}\n")
    good = tmp_path / "good.yaml"
    good.write_text("name: good\ndata: {source: csv, path: d.csv}\n"
                    "model: {kind: hier, formula: 'y ~ x + age_band + (1 | hospital)'}\n")
    assert main(["validate", str(many), str(cols), str(good)]) == 2
    captured = capsys.readouterr()
    assert captured.out == f"{good}: ok (hier via probwb.hier.spec: good)\n"
    err = captured.err.splitlines()
    assert err[0] == f"{many}: 5 problems"
    assert [e.split(":")[0].strip(" -") for e in err[1:6]] == [
        "titel", "model.n_chain", "fit.draws must be int (posterior draws per chain), found str 'many'",
        "report.max_row", "data.path"]
    assert "did you mean title?" in err[1] and "file 'missing.csv' not found" in err[5]
    assert err[6] == f"{cols}: 2 problems"
    assert "model.formula: column 'age_bnd' is not in table 'd.csv' (did you mean 'age_band'?)" in err[7]
    assert "model.formula: column 'hospitl' is not in table 'd.csv' (did you mean 'hospital'?)" in err[8]
    assert err[9] == "probwb: error: 2 of 3 spec(s) invalid"
    # --no-data skips loading, so only what the spec itself says is checked
    assert main(["validate", "--no-data", str(cols)]) == 0


def test_command_log_lines_name_the_model(monkeypatch, capsys):
    import argparse
    import logging

    from probwb import cli
    from probwb.core.logcontext import log_context

    def run(args: argparse.Namespace) -> int:
        with log_context(model="disease_progression_hmm", fold=2):
            logging.getLogger("probwb.mdp").info("a plain module's line")
        return 0

    monkeypatch.setitem(cli._COMMANDS, "tag", (run, lambda p: None, "logs one line"))
    monkeypatch.delenv("PROBWB_QUIET", raising=False)
    root = logging.getLogger()
    # as in a fresh process, where the command installs its own stderr handler
    monkeypatch.setattr(root, "handlers", [])
    try:
        assert main(["tag"]) == 0
    finally:
        made = list(root.handlers)
        for handler in made:
            root.removeHandler(handler)
    assert capsys.readouterr().err == "INFO probwb.mdp: a plain module's line [disease_progression_hmm, fold 2]\n"


def test_report_and_run_print_every_problem_before_any_work(tmp_path, capsys):
    pytest.importorskip("probwb.hier.spec")
    spec = tmp_path / "two.yaml"
    spec.write_text("name: two\nmodel: {kind: hier, formula: 'y ~ x', familly: bernoulli}\nfit: {drawz: 10}\n")
    for command in ("run", "report"):
        assert main([command, str(spec), "-o", str(tmp_path / f"out.{command}")]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("probwb: error:")]
        assert len(err) == 2
        assert err[0].startswith("probwb: error: model.familly: unknown key (did you mean model.family?)")
        assert err[1].startswith("probwb: error: fit.drawz: unknown key (did you mean fit.draws?)")
    assert list(tmp_path.iterdir()) == [spec]
