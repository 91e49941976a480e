"""Frozen result objects shared by every test in :mod:`probwb.stats`.

A result carries the numbers a reader needs (statistic, degrees of freedom, p-value, effect size with its
confidence interval), the method that produced them and any warnings raised on the way, and offers a tidy
``to_frame()``, a readable ``repr``, an HTML view for notebooks and ``interpret()`` -- one plain sentence.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TestResult", "TableResult", "AnovaResult", "ABResult", "format_p"]


def format_p(p: float) -> str:
    """Return a p-value formatted for reading: ``p < 0.001`` below one in a thousand, else three digits."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p = nan"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, tuple):
        return "(" + ", ".join(_fmt(v, digits) for v in x) + ")"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if float(x).is_integer() and abs(x) < 1e9:
            return str(int(x))
        return f"{x:.{digits}g}"
    return str(x)


def _df_text(df: Any) -> str:
    if df is None:
        return ""
    if isinstance(df, tuple):
        return "(" + ", ".join(_fmt(v, 4) for v in df) + ")"
    return f"({_fmt(df, 4)})"


@dataclass(frozen=True)
class TestResult:
    """The outcome of one hypothesis test.

    ``statistic_name`` is the symbol of the statistic ("t", "F", "chi2", "U", "z", "W", "H", "Q");
    ``estimate`` is the quantity tested (a mean difference, a proportion difference) with ``estimate_ci``;
    ``effect_size`` is a standardised size (Cohen's d, eta squared, Cramér's V) with ``effect_size_ci``.
    ``details`` holds method-specific extras (group means, expected counts) for programs to read.
    """

    __test__ = False  # keep pytest from collecting this class

    method: str
    statistic_name: str
    statistic: float
    pvalue: float
    df: float | tuple[float, ...] | None = None
    alternative: str = "two-sided"
    estimate_name: str | None = None
    estimate: float | None = None
    estimate_ci: tuple[float, float] | None = None
    effect_size_name: str | None = None
    effect_size: float | None = None
    effect_size_ci: tuple[float, float] | None = None
    confidence: float = 0.95
    n: int | None = None
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row DataFrame with every number of the result (tidy, for concatenation)."""
        df = self.df if isinstance(self.df, tuple) else (self.df,)
        row: dict[str, Any] = {
            "method": self.method,
            "statistic_name": self.statistic_name,
            "statistic": self.statistic,
            "df1": df[0] if len(df) > 0 else None,
            "df2": df[1] if len(df) > 1 else None,
            "pvalue": self.pvalue,
            "alternative": self.alternative,
            "estimate_name": self.estimate_name,
            "estimate": self.estimate,
            "estimate_ci_low": self.estimate_ci[0] if self.estimate_ci else None,
            "estimate_ci_high": self.estimate_ci[1] if self.estimate_ci else None,
            "effect_size_name": self.effect_size_name,
            "effect_size": self.effect_size,
            "effect_size_ci_low": self.effect_size_ci[0] if self.effect_size_ci else None,
            "effect_size_ci_high": self.effect_size_ci[1] if self.effect_size_ci else None,
            "confidence": self.confidence,
            "n": self.n,
            "warnings": "; ".join(self.warnings),
        }
        return pd.DataFrame([row])

    def significant(self, alpha: float = 0.05) -> bool:
        """Return True when the p-value is below ``alpha``."""
        return bool(self.pvalue < alpha)

    def _lines(self) -> list[str]:
        pct = f"{100 * self.confidence:g}%"
        lines = [self.method, f"  {self.statistic_name}{_df_text(self.df)} = {_fmt(self.statistic)}, "
                 f"{format_p(self.pvalue)} ({self.alternative})"]
        if self.estimate is not None:
            ci = f", {pct} CI {_fmt(self.estimate_ci)}" if self.estimate_ci else ""
            lines.append(f"  {self.estimate_name} = {_fmt(self.estimate)}{ci}")
        if self.effect_size is not None:
            ci = f", {pct} CI {_fmt(self.effect_size_ci)}" if self.effect_size_ci else ""
            lines.append(f"  {self.effect_size_name} = {_fmt(self.effect_size)}{ci}")
        if self.n is not None:
            lines.append(f"  n = {self.n}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        body = self.to_frame().dropna(axis=1, how="all").to_html(index=False)
        warn = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        return f"<div><p><b>{html.escape(self.method)}</b></p>{body}{warn}</div>"

    def interpret(self, alpha: float = 0.05) -> str:
        """Return one plain sentence saying whether the test rejects at ``alpha`` and how big the effect is."""
        verdict = "is" if self.pvalue < alpha else "is not"
        what = f"{self.statistic_name}{_df_text(self.df)} = {_fmt(self.statistic, 3)}, {format_p(self.pvalue)}"
        sentence = f"The {self.method} {verdict} significant at the {alpha:g} level ({what})"
        if self.estimate is not None:
            sentence += f"; {self.estimate_name} = {_fmt(self.estimate, 3)}"
            if self.estimate_ci:
                sentence += f" ({100 * self.confidence:g}% CI {_fmt(self.estimate_ci[0], 3)} to " \
                            f"{_fmt(self.estimate_ci[1], 3)})"
        if self.effect_size is not None:
            sentence += f"; {self.effect_size_name} = {_fmt(self.effect_size, 3)}"
            if self.effect_size_ci:
                sentence += f" ({100 * self.confidence:g}% CI {_fmt(self.effect_size_ci[0], 3)} to " \
                            f"{_fmt(self.effect_size_ci[1], 3)})"
            if self.details.get("effect_size_note"):
                sentence += f" ({self.details['effect_size_note']})"
        if self.warnings:
            sentence += f" (caution: {len(self.warnings)} warning(s), see .warnings)"
        return sentence + "."


@dataclass(frozen=True)
class TableResult:
    """A result that is naturally a table (post-hoc comparisons, pairwise tests, sphericity checks)."""

    __test__ = False

    method: str
    table: pd.DataFrame
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the result table."""
        return self.table.copy()

    def __repr__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20, "display.precision", 5):
            text = f"{self.method}\n{self.table.to_string()}"
        return text + "".join(f"\nwarning: {w}" for w in self.warnings)

    def _repr_html_(self) -> str:
        warn = "".join(f"<p><b>warning:</b> {html.escape(w)}</p>" for w in self.warnings)
        return f"<div><p><b>{html.escape(self.method)}</b></p>{self.table.to_html()}{warn}</div>"

    def interpret(self, alpha: float = 0.05) -> str:
        """Return one plain sentence naming the rows whose p-value (adjusted when present) is below ``alpha``."""
        col = next((c for c in ("p_adj", "PR(>F)", "pvalue", "p") if c in self.table.columns), None)
        if col is None:
            return f"{self.method}: {len(self.table)} row(s)."
        sig = [str(i) for i, p in zip(self.table.index, self.table[col], strict=True) if p < alpha]
        if not sig:
            return f"{self.method}: no row is significant at the {alpha:g} level."
        return f"{self.method}: significant at the {alpha:g} level: {', '.join(sig)}."


@dataclass(frozen=True, repr=False)
class AnovaResult(TableResult):
    """An ANOVA table (index = terms and ``Residual``) with the sums-of-squares type and the formula.

    Columns: ``sum_sq``, ``df``, ``mean_sq``, ``F``, ``PR(>F)``, ``eta_sq``, ``partial_eta_sq``, ``omega_sq``
    (the first five named as in statsmodels' ``anova_lm`` so tables can be compared directly).
    """

    typ: int | str = 2
    formula: str = ""
    n: int = 0
    sphericity: pd.DataFrame | None = None

    def term(self, name: str) -> pd.Series:
        """Return the table row of one term."""
        return self.table.loc[name]

    def interpret(self, alpha: float = 0.05) -> str:
        """Return one plain sentence listing the terms with a significant effect and their partial eta squared."""
        def p_of(r: pd.Series) -> tuple[float, bool]:
            # the Greenhouse-Geisser p-value where sphericity matters, else the plain one
            if pd.notna(r.get("p_GG", np.nan)):
                return float(r["p_GG"]), True
            return float(r["PR(>F)"] if "PR(>F)" in r else r["pvalue"]), False

        rows = self.table.drop(index=[i for i in ("Residual", "Intercept") if i in self.table.index])
        resid_df = self.table.loc["Residual", "df"] if "Residual" in self.table.index else None
        parts = []
        for name, r in rows.iterrows():
            p, corrected = p_of(r)
            if not p < alpha:
                continue
            if pd.notna(r.get("partial_omega_sq", np.nan)):
                level = 100 * float(self.details.get("confidence", 0.95))
                extra = (f", partial omega^2 = {r['partial_omega_sq']:.3f} ({level:g}% CI "
                         f"{r['partial_omega_sq_ci_low']:.3f} to {r['partial_omega_sq_ci_high']:.3f})")
            else:
                extra = f", partial eta^2 = {r['partial_eta_sq']:.3f}" if "partial_eta_sq" in r and \
                    pd.notna(r.get("partial_eta_sq")) else ""
            if "chi2" in r:
                stat_text = f"Wald chi2({_fmt(r['df'])}) = {r['chi2']:.3g}"
            else:
                den = resid_df if resid_df is not None else r.get("df_error")
                stat_text = f"F({_fmt(r['df'])}, {_fmt(den)}) = {r['F']:.3g}"
            if corrected:
                extra += f", Greenhouse-Geisser corrected (epsilon = {r['eps_GG']:.3f})"
            parts.append(f"{name} ({stat_text}, {format_p(p)}{extra})")
        head = f"In the {self.method}"
        if not parts:
            out = f"{head}, no term is significant at the {alpha:g} level"
        else:
            out = f"{head}, the terms significant at the {alpha:g} level are " + "; ".join(parts)
        if self.warnings:
            out += f" (caution: {len(self.warnings)} warning(s), see .warnings)"
        return out + "."


@dataclass(frozen=True, repr=False)
class ABResult(TableResult):
    """A Bayesian A/B(/n) comparison.

    ``table`` has one row per arm: n, posterior mean and HDI of the arm's metric, P(arm is best), expected
    loss of choosing the arm; ``lift`` has one row per non-control arm: posterior mean and HDI of the relative
    lift over ``control`` and P(arm > control). ``draws`` are the posterior draws (columns = arms);
    ``interval`` is the posterior mass of the HDIs.
    """

    metric: str = "rate"
    control: str = ""
    lift: pd.DataFrame | None = None
    draws: pd.DataFrame | None = None
    interval: float = 0.95

    @property
    def hdi_prob(self) -> float:
        """Return :attr:`interval` (the old spelling, kept for one release with a FutureWarning)."""
        import warnings

        from probwb.core.api import user_stacklevel

        warnings.warn("ABResult.hdi_prob is deprecated and will be removed in the next release; read "
                      "ABResult.interval", FutureWarning, stacklevel=user_stacklevel())
        return self.interval

    def prob_better(self, arm: str, than: str | None = None) -> float:
        """Return the posterior probability that ``arm``'s metric exceeds ``than``'s (default the control)."""
        than = self.control if than is None else than
        return float(np.mean(self.draws[arm].to_numpy() > self.draws[than].to_numpy()))

    def interpret(self, alpha: float = 0.05) -> str:
        """Return one plain sentence naming the arm most likely to be best, with its probability and lift."""
        best = self.table["prob_best"].idxmax()
        pbest = self.table.loc[best, "prob_best"]
        out = f"Arm {best!r} has the highest {self.metric} with probability {pbest:.3f}"
        if self.lift is not None and best in self.lift.index:
            r = self.lift.loc[best]
            out += (f"; its lift over {self.control!r} is {100 * r['lift_mean']:.1f}% "
                    f"({100 * self.interval:g}% HDI {100 * r['lift_hdi_low']:.1f}% to "
                    f"{100 * r['lift_hdi_high']:.1f}%) and P(better than {self.control!r}) = "
                    f"{r['prob_better']:.3f}")
        elif best == self.control and self.lift is not None and len(self.lift):
            out += " (the control); no treatment arm is more likely to beat it"
        assumption = self.details.get("assumption") if self.details else None
        if assumption:
            # a reader must see what the posterior rests on, e.g. a parametric shape for spend
            out += f"; model: {assumption}"
        return out + "."

    def __repr__(self) -> str:
        with pd.option_context("display.width", 120, "display.max_columns", 20, "display.precision", 4):
            text = f"{self.method}\n{self.table.to_string()}"
            if self.lift is not None:
                text += f"\nlift over {self.control!r}:\n{self.lift.to_string()}"
        return text + "".join(f"\nwarning: {w}" for w in self.warnings)
