"""Specs that try to write outside their folder, hang the loader, read non-data files or give bad seeds
and output paths: each fails fast with a probwb error naming what was expected and found."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from probwb.cli import main
from probwb.errors import DataError, SpecError
from probwb.report.schema import load_spec, safe_stem, validate_spec


def _bomb(levels: int = 9) -> str:
    """A few hundred bytes of nested YAML aliases that expand to 9**levels strings under ``title``."""
    lines = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "name: bomb\nmodel: {kind: fake}\ntitle:\n" + "".join(f"  - {x}\n" for x in lines)


BOMB = _bomb()


def test_billion_laughs_is_refused_quickly(tmp_path, fake_family):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 800
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match="expands to .* values, expected at most"):
        validate_spec(path)
    assert main(["validate", str(path)]) == 2
    assert time.perf_counter() - t0 < 5


def test_alias_count_is_bounded_and_recursive_alias_refused(tmp_path):
    many = "base: &x 1\nitems: [" + ", ".join(["*x"] * 150) + "]\n"
    (tmp_path / "many.yaml").write_text(many)
    with pytest.raises(SpecError, match="more than 100 YAML aliases"):
        load_spec(tmp_path / "many.yaml")
    (tmp_path / "rec.yaml").write_text("a: &a [1, *a]\nmodel: {kind: fake}\n")
    with pytest.raises(SpecError, match="recursive"):
        load_spec(tmp_path / "rec.yaml")
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(SpecError, match="refers to itself"):
        validate_spec({"name": "x", "model": {"kind": "fake"}, "title": loop})


def test_a_few_aliases_still_load(tmp_path, fake_family):
    text = ("name: aliased\nmodel: {kind: fake, group: &g coupon}\nfit: &f {interval: 0.9}\n"
            "description: *g\n")
    (tmp_path / "ok.yaml").write_text(text)
    v = validate_spec(tmp_path / "ok.yaml")
    assert v.spec["description"] == "coupon" and v.spec["fit"] == {"interval": 0.9}


def test_messages_quote_values_briefly():
    huge = {"name": "x", "model": {"kind": "bn"}, "title": list(range(50_000))}
    t0 = time.perf_counter()
    with pytest.raises(SpecError) as err:
        validate_spec(huge)
    assert time.perf_counter() - t0 < 5
    assert "title must be str" in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize("name", ["../../x", "/tmp/evil", "..", ".hidden", "a/b", "a\\b", " padded", ""])
def test_unsafe_names_are_reported_by_validate(tmp_path, fake_family, name, capsys):
    spec = {"name": name, "model": {"kind": "fake"}}
    with pytest.raises(SpecError, match="name"):
        validate_spec(spec)
    path = tmp_path / "s.yaml"
    path.write_text(f"name: {name!r}\nmodel: {{kind: fake}}\n")
    assert main(["validate", str(path)]) == 2
    assert "name" in capsys.readouterr().err


def test_run_never_writes_outside_the_working_folder(tmp_path, fake_spec, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = fake_spec(extra="")
    text = path.read_text().replace("name: fake_redemption", "name: ../../escaped")
    path.write_text(text)
    assert main(["run", str(path), "--quick"]) == 2
    assert not (tmp_path.parent / "escaped.pwb").exists()
    assert not any(tmp_path.rglob("escaped*"))


@pytest.mark.parametrize("name,stem", [("../../x", "x"), ("/etc/passwd", "passwd"), ("a b/c?d", "c_d"),
                                       ("..", "model"), ("", "model")])
def test_safe_stem(name, stem):
    assert safe_stem(name) == stem
    assert "/" not in safe_stem(name) and not safe_stem(name).startswith(".")


def test_data_path_must_be_a_data_file(tmp_path, fake_family):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN KEY-----\n")
    link = tmp_path / "innocent.csv"
    link.symlink_to(secret)
    for target in (str(secret), "/etc/passwd", str(link)):
        spec = {"name": "x", "model": {"kind": "fake"}, "data": {"source": "csv", "path": target}}
        with pytest.raises(SpecError, match="data files ending in .csv"):
            validate_spec(spec)


def test_data_section_shows_the_resolved_path(tmp_path, fake_family):
    from probwb.datasets import simulate_coupon_campaign
    from probwb.report.runner import run_report

    sub = tmp_path / "specs"
    sub.mkdir()
    simulate_coupon_campaign(n_customers=200, n_stores=3, n_weeks=6, random_state=2).coupons.to_csv(
        tmp_path / "offers.csv", index=False)
    (sub / "s.yaml").write_text("name: s\nmodel: {kind: fake}\ndata: {source: csv, path: ../offers.csv}\n")
    rep = run_report(sub / "s.yaml", quick=True)
    assert rep.data["path"] == str((tmp_path / "offers.csv").resolve())
    from probwb.report.html import render_html

    assert str((tmp_path / "offers.csv").resolve()) in render_html(rep)


@pytest.mark.parametrize("seed", ["-1", "-7"])
def test_negative_seed_fails_before_any_work(fake_spec, seed, capsys, tmp_path):
    path = fake_spec()
    t0 = time.perf_counter()
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "--seed", seed]) == 2
    assert main(["run", str(path), "-o", str(tmp_path / "m.pwb"), "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert f"--seed must be a non-negative integer, found int {seed}" in err
    import sys

    assert sys.modules["probwb_test_fake_family"].RUNS == []  # the family never ran
    assert time.perf_counter() - t0 < 30


def test_spec_seed_checked_by_validate():
    for bad in (-1, -20, "7", 1.5, True):
        with pytest.raises(SpecError, match=r"fit.random_state must be (a non-negative integer|int)"):
            validate_spec({"name": "x", "model": {"kind": "hmm", "states": ["a", "b"]},
                           "fit": {"random_state": bad}})


def test_run_report_rejects_bad_seed_values(fake_spec):
    from probwb.report.runner import run_report

    for bad in (-1, "abc", 2.5):
        with pytest.raises(DataError, match="seed must be a non-negative integer"):
            run_report(fake_spec(), seed=bad, quick=True)


def test_output_paths_checked_before_the_fit(fake_spec, tmp_path, capsys):
    import sys

    path = fake_spec()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cases = [["report", str(path), "-o", str(tmp_path)],
             ["report", str(path), "-o", str(blocker / "r.html")],
             ["report", str(path), "-o", str(tmp_path / "r.html"), "--json", str(tmp_path)],
             ["run", str(path), "-o", str(tmp_path)],
             ["run", str(path), "-o", str(blocker / "deeper" / "m.pwb")]]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "expected" in err and "found" in err, err
    assert sys.modules["probwb_test_fake_family"].RUNS == []


def test_check_writable_accepts_new_folders(tmp_path):
    from probwb.core.io import check_writable

    p = check_writable(tmp_path / "new" / "deeper" / "m.pwb")
    assert p == (tmp_path / "new" / "deeper" / "m.pwb").absolute()
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(DataError, match="found a directory"):
        check_writable(tmp_path)
    with pytest.raises(DataError, match="expected a file path"):
        check_writable(Path("."))
