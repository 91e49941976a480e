"""Hypothesis tests and ANOVA with tidy, trustworthy results, and Bayesian A/B tests.

Entry points: :func:`anova` (n-way, types I/II/III, ANCOVA), :func:`oneway` (classic or Welch),
:func:`rm_anova` (repeated measures with sphericity corrections), :func:`mixed_anova` (linear mixed model),
:func:`kruskal`, :func:`friedman`; t, Mann-Whitney, proportion, chi-square, Fisher, Levene and Shapiro tests;
Tukey HSD, Games-Howell and corrected pairwise tests; effect sizes with intervals; power; Bayesian A/B;
:func:`regress` (linear and generalised linear models with robust and cluster-robust SEs).
Plots live in :mod:`probwb.stats.plots` (imports matplotlib only when used).
"""

from probwb.stats.ab import beta_binomial_ab, coupon_ab, hdi, rate_ab, spend_ab
from probwb.stats.anova import (
    anova,
    friedman,
    kruskal,
    mixed_anova,
    oneway,
    parse_formula,
    rm_anova,
    welch_anova,
)
from probwb.stats.effects import (
    EffectSize,
    anova_effect_sizes,
    cohens_d,
    cramers_v,
    eta_squared,
    omega_squared,
    partial_eta_squared,
)
from probwb.stats.htests import (
    chi2_independence,
    fisher_exact,
    levene,
    mannwhitney,
    proportions_test,
    shapiro,
    ttest,
)
from probwb.stats.posthoc import adjust_pvalues, games_howell, pairwise_tests, tukey_hsd
from probwb.stats.power import cohens_h, power_anova, power_ttest, power_two_proportions
from probwb.stats.regress import RegressionResult, regress
from probwb.stats.results import ABResult, AnovaResult, TableResult, TestResult

__all__ = [
    "ABResult", "AnovaResult", "EffectSize", "TableResult", "TestResult",
    "adjust_pvalues", "anova", "anova_effect_sizes", "beta_binomial_ab", "chi2_independence", "cohens_d",
    "cohens_h", "coupon_ab", "cramers_v", "eta_squared", "fisher_exact", "friedman", "games_howell", "hdi",
    "kruskal", "levene", "mannwhitney", "mixed_anova", "omega_squared", "oneway", "pairwise_tests",
    "parse_formula", "partial_eta_squared", "power_anova", "power_ttest", "power_two_proportions",
    "proportions_test", "rate_ab", "rm_anova", "shapiro", "spend_ab", "ttest", "tukey_hsd", "welch_anova",
    "RegressionResult", "regress",
]
