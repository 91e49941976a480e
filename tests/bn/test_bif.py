"""probwb's own BIF reader: the same network as pgmpy's BIFReader, and clear errors on bad files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probwb.bn import BayesNet
from probwb.bn.bif import parse_bif
from probwb.datasets import load_network
from probwb.errors import SpecError

# pgmpy reads these in about a second altogether; every bundled network (and the larger bnlearn
# files) is compared in benchmarks/bench_bn.py, whose table says how many matched
SMALL = ["asia", "cancer", "earthquake", "survey", "sachs", "child", "insurance", "win95pts"]


@pytest.fixture(scope="module")
def pgmpy_reader():
    pytest.importorskip("pgmpy")
    from pgmpy.readwrite import BIFReader

    class Reader(BIFReader):
        """pgmpy's reader with its grammar built once (it builds it per file, ~1-4 s each)."""

        grammar: dict = {}

        def get_variable_grammar(self):
            if "v" not in Reader.grammar:
                Reader.grammar["v"] = super().get_variable_grammar()
            return Reader.grammar["v"]

        def get_probability_grammar(self):
            if "p" not in Reader.grammar:
                Reader.grammar["p"] = super().get_probability_grammar()
            return Reader.grammar["p"]

    return lambda text: Reader(string=text).get_model()


def _same(a: BayesNet, b: BayesNet) -> None:
    assert a.nodes == b.nodes
    assert a.node_states == b.node_states
    for n in a.nodes:
        assert a.parents(n) == b.parents(n)
        np.testing.assert_array_equal(a.cpts_[n], b.cpts_[n])


@pytest.mark.parametrize("name", SMALL)
def test_bundled_networks_read_as_pgmpy_reads_them(name, pgmpy_reader):
    path = load_network(name)
    text = gzip.open(path, "rt").read()
    model = pgmpy_reader(text)
    raw = parse_bif(text)
    # the numbers in the file, before any renormalisation: exactly pgmpy's
    for cpd in model.get_cpds():
        var = str(cpd.variable)
        assert raw.parents[var] == [str(p) for p in cpd.variables[1:]]
        assert raw.states[var] == list(cpd.state_names[var])
        want = np.moveaxis(np.asarray(cpd.get_values()).reshape(cpd.cardinality), 0, -1)
        np.testing.assert_array_equal(raw.cpts[var], want)
    # and the network built from them: same node order, states, parents, CPTs (renormalised alike)
    _same(BayesNet.from_bif(path), BayesNet.from_pgmpy(model))


def _write_bif(net: BayesNet, rng: np.random.Generator) -> str:
    """BIF text for ``net`` with random layout: row or table form, comments, spacing, order."""
    sp = lambda: " " * int(rng.integers(0, 3))  # noqa: E731
    out = ["// written by the test", "network test {", "}"]
    for n in rng.permutation(net.nodes):
        st_ = net.node_states[n]
        out.append(f"variable {n} {{\n  type discrete [ {len(st_)} ] {{ {', '.join(st_)} }};\n"
                   f"  property note = x ;\n}}")
    for n in rng.permutation(net.nodes):
        pas = net.parents(n)
        cpt = net.cpts_[n]
        head = f"probability ({sp()}{n}{sp()}" + (f"|{sp()}{', '.join(pas)}{sp()})" if pas else ")")
        lines = [head + " {", "  /* a comment\n spanning lines */"]
        if not pas or rng.random() < 0.3:
            vals = np.moveaxis(cpt, -1, 0).ravel()  # pgmpy's table layout: the node's state slowest
            lines.append("  table " + ", ".join(repr(float(x)) for x in vals) + ";")
        else:
            cfgs = list(np.ndindex(*cpt.shape[:-1]))
            default = None
            if len(cfgs) > 1 and rng.random() < 0.3:
                # the last configuration's row given as the default instead
                default = cpt[cfgs[-1]]
                cfgs = cfgs[:-1]
            for k in rng.permutation(len(cfgs)):
                cfg = cfgs[k]
                names = ", ".join(net.node_states[p][i] for p, i in zip(pas, cfg, strict=True))
                lines.append(f"  ({names}){sp()} " + ", ".join(repr(float(x)) for x in cpt[cfg]) + ";")
            if default is not None:
                lines.append("  default " + " ".join(repr(float(x)) for x in default) + ";")
        lines.append("}")
        out.append("\n".join(lines))
    return "\n".join(out) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n_nodes=st.integers(1, 9))
def test_written_networks_read_back_exactly(make_network, seed, n_nodes):
    rng = np.random.default_rng(seed)
    net = make_network(rng, n_nodes, max_card=4, zeros=bool(seed % 2))
    text = _write_bif(net, rng)
    raw = parse_bif(text)
    assert sorted(raw.names) == sorted(net.nodes)
    for n in net.nodes:
        assert raw.states[n] == net.node_states[n]
        assert raw.parents[n] == net.parents(n)
        np.testing.assert_array_equal(raw.cpts[n], net.cpts_[n])


def test_written_networks_read_as_pgmpy_reads_them(make_network, pgmpy_reader):
    rng = np.random.default_rng(3)
    for n_nodes in (3, 6, 8):
        net = make_network(rng, n_nodes, max_card=4)
        text = _write_bif(net, rng)
        raw = parse_bif(text)
        for cpd in pgmpy_reader(text).get_cpds():
            want = np.moveaxis(np.asarray(cpd.get_values()).reshape(cpd.cardinality), 0, -1)
            np.testing.assert_array_equal(raw.cpts[str(cpd.variable)], want)


GOOD = """network x {
}
variable a {
  type discrete [ 2 ] { yes, no };
}
variable b {
  type discrete [ 3 ] { lo, mid, hi };
}
probability ( a ) {
  table 0.3, 0.7;
}
probability ( b | a ) {
  (yes) 0.1, 0.2, 0.7;
  (no) 0.5, 0.25, 0.25;
}
"""


def test_the_good_file_reads():
    raw = parse_bif(GOOD)
    np.testing.assert_array_equal(raw.cpts["b"], [[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])


@pytest.mark.parametrize("old,new,pattern", [
    ("variable b {", "varable b {", r"line 6: expected a 'network', 'variable' or 'probability' block, "
                                    r"found 'varable b \{'"),
    ("[ 3 ] { lo, mid, hi }", "[ 3 ] { lo, mid }", r"line 6: variable 'b' declares 3 states but lists 2"),
    ("type discrete [ 2 ] { yes, no };", "type discrete [ 2 ] { yes, no }",
     r"line 3: expected 'variable NAME \{ type discrete \[ n \] \{ state, ... \}; \}'"),
    ("(no) 0.5, 0.25, 0.25;", "(no) 0.5, 0.25;", r"line 14: a row of 'b' needs 3 probabilities \(one per "
                                                  r"state\), found 2"),
    ("(no) 0.5, 0.25, 0.25;", "(maybe) 0.5, 0.25, 0.25;", r"line 14: parent 'a' of 'b' has no state 'maybe'"),
    ("(no) 0.5, 0.25, 0.25;", "", r"line 12: the probability block of 'b' has no row for parent "
                                  r"configuration \{'a': 'no'\}"),
    ("(no) 0.5, 0.25, 0.25;", "(yes) 0.5, 0.25, 0.25;", r"gives parent configuration \['yes'\] twice"),
    ("(no) 0.5, 0.25, 0.25;", "(no) 0.5, 0.2x5, 0.25;", r"line 14: expected a probability, found '0.2x5'"),
    ("table 0.3, 0.7;", "table 0.3, 0.7, 0.1;", r"line 10: the table of 'a' needs 2 entries"),
    ("probability ( b | a )", "probability ( b | c )", r"names 'c', which is not a declared variable"),
    ("probability ( a ) {\n  table 0.3, 0.7;\n}\n", "", r"variable\(s\) \['a'\] have no probability block"),
    ("(yes) 0.1", "yes 0.1", r"line 13: expected 'table', 'default' or a '\(parent states\)' row"),
    ("probability ( a ) {", "probability ( a ) ", r"line 9: expected 'probability \( NODE \| PARENT"),
])
def test_malformed_files_name_the_line_and_what_was_expected(old, new, pattern):
    assert old in GOOD
    with pytest.raises(SpecError, match=pattern):
        parse_bif(GOOD.replace(old, new, 1))


def test_from_bif_names_the_file(tmp_path):
    path = tmp_path / "bad.bif"
    path.write_text(GOOD.replace("(no) 0.5, 0.25, 0.25;", "(no) 0.5, 0.25;"))
    with pytest.raises(SpecError, match=r"network file '.*bad\.bif', line 14"):
        BayesNet.from_bif(path)
    # a default row fills the configurations no row names
    path.write_text(GOOD.replace("(no) 0.5, 0.25, 0.25;", "default 0.5, 0.25, 0.25;"))
    np.testing.assert_array_equal(BayesNet.from_bif(path).cpts_["b"], [[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
