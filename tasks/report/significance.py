"""Is a difference real? Average ranks, Wilcoxon signed-rank tests of SLA2P against each
baseline, and the Friedman test with the Nemenyi critical difference (Demšar, JMLR 2006).

Multiple comparisons: the Wilcoxon tests of one table and metric (SLA2P against each other method)
are one family; their p-values are adjusted by Holm's step-down procedure (:func:`holm`) and the
verdicts read the adjusted value, so the family-wise error rate is at most ``ALPHA``. The Nemenyi
critical difference already controls the family-wise error over all k(k-1)/2 pairs of methods.

The unit is a row of the comparison table (a dataset, or a dataset at one ratio): its value is
the seed-averaged, class-averaged metric. Rows of one dataset at several ratios are not
independent, so the report says so and ``--ratio`` tests at one ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05


def score_matrix(comp: pd.DataFrame) -> pd.DataFrame:
    """Rows by methods of mean values; NaN where the group failed or is missing."""
    ok = comp[comp.status == "ok"]
    rows = list(dict.fromkeys(comp.row))
    methods = list(dict.fromkeys(comp.method))
    return ok.pivot(index="row", columns="method", values="mean").reindex(index=rows, columns=methods)


def average_ranks(matrix: pd.DataFrame) -> tuple[pd.Series, int]:
    """Mean rank per method (1 = best, ties share the average rank) over the rows where every
    method has a value; returns (ranks, number of rows used)."""
    complete = matrix.dropna()
    if complete.empty:
        return pd.Series(np.nan, index=matrix.columns), 0
    ranks = complete.apply(lambda r: pd.Series(stats.rankdata(-r.to_numpy()), index=r.index), axis=1)
    return ranks.mean().sort_values(), len(complete)


def min_two_sided_p(n: int) -> float:
    """The smallest p an exact two-sided signed-rank test can give with n non-zero pairs."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979) of one family of tests, in the input order.

    Sorted ascending, the i-th smallest of the m p-values (i from 0) is multiplied by m - i; the
    adjusted values are the running maximum of those products, capped at 1, so the order of the raw
    p-values is kept and tied p-values get the same adjusted value. A NaN (a comparison with no
    test) stays NaN and is not a member of the family: m counts the p-values that exist."""
    p = np.asarray(p_values, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(1.0, stepped)
    return out


@dataclass
class Pairwise:
    baseline: str
    n_rows: int           # rows where both have a value
    n_nonzero: int        # rows with a non-zero difference (what the test rests on)
    wins: int
    ties: int
    losses: int
    median_diff: float
    statistic: float
    p_value: float        # the test's own (raw) p
    p_holm: float         # Holm-adjusted over the family of wilcoxon_vs's tests; the verdict reads it
    verdict: str


def pair_verdict(t: Pairwise, reference: str = "sla2p", alpha: float = ALPHA) -> str:
    """The verdict on one comparison, read from its Holm-adjusted p (``t.p_holm``)."""
    if math.isnan(t.p_value):
        return "no test: no row with a difference" if t.n_rows else "no test: no row where both ran"
    if min_two_sided_p(t.n_nonzero) > alpha:
        return (f"too few rows (n={t.n_nonzero}): the smallest p this test can give is "
                f"{min_two_sided_p(t.n_nonzero):.3g} > {alpha}, so no difference can be significant")
    if t.p_holm < alpha:
        return f"{reference} {'better' if t.median_diff > 0 else 'worse'} (Holm-adjusted p < {alpha})"
    if t.p_value < alpha:
        return f"no significant difference at {alpha} after Holm's correction (raw p < {alpha})"
    return f"no significant difference at {alpha}"


def with_holm(tests: list[Pairwise], reference: str = "sla2p", alpha: float = ALPHA) -> list[Pairwise]:
    """``tests`` as one family: each with its Holm-adjusted p and the verdict read from it."""
    adjusted = holm([t.p_value for t in tests])
    out = []
    for t, p in zip(tests, adjusted):
        t = replace(t, p_holm=float(p))
        out.append(replace(t, verdict=pair_verdict(t, reference, alpha)))
    return out


def wilcoxon_vs(matrix: pd.DataFrame, reference: str = "sla2p", alpha: float = ALPHA) -> list[Pairwise]:
    """Two-sided Wilcoxon signed-rank test of ``reference`` against each other method, over the
    rows where both have a value (scipy's defaults: zero differences dropped, exact p for small n).
    The tests are one family: ``p_holm`` is Holm's adjustment over those with a p-value."""
    if reference not in matrix.columns:
        return []
    out = []
    for base in matrix.columns:
        if base == reference:
            continue
        pair = matrix[[reference, base]].dropna()
        d = (pair[reference] - pair[base]).to_numpy()
        nz = int(np.count_nonzero(d))
        stat, p = np.nan, np.nan
        if nz:
            res = stats.wilcoxon(pair[reference], pair[base])
            stat, p = float(res.statistic), float(res.pvalue)
        out.append(Pairwise(base, len(d), nz, int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum()),
                            float(np.median(d)) if len(d) else np.nan, stat, p, np.nan, ""))
    return with_holm(out, reference, alpha)


@dataclass
class Friedman:
    n_rows: int
    k: int
    statistic: float
    p_value: float
    cd: float             # Nemenyi critical difference of average ranks at ALPHA
    verdict: str


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """q_alpha * sqrt(k (k+1) / (6 n)); q_alpha is the studentized range quantile / sqrt(2)."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


def friedman(matrix: pd.DataFrame, alpha: float = ALPHA) -> Friedman:
    complete = matrix.dropna()
    n, k = complete.shape
    if k < 3:
        return Friedman(n, k, np.nan, np.nan, np.nan, "no test: the Friedman test needs at least 3 methods")
    if n < 2:
        return Friedman(n, k, np.nan, np.nan, np.nan, f"no test: {n} complete row(s)")
    res = stats.friedmanchisquare(*[complete[c].to_numpy() for c in complete.columns])
    cd = nemenyi_cd(k, n, alpha)
    verdict = (f"the methods differ (p < {alpha}); pairs whose average ranks differ by more than "
               f"CD={cd:.2f} differ significantly (Nemenyi)" if res.pvalue < alpha
               else f"no significant difference among the {k} methods at {alpha}")
    if n < 10:  # Demšar: the chi-square approximation wants n > 10 and k > 5
        verdict += f"; with only {n} rows the chi-square approximation is rough"
    return Friedman(n, k, float(res.statistic), float(res.pvalue), cd, verdict)


def dependence_note(comp: pd.DataFrame) -> str | None:
    per_ds = comp.drop_duplicates("row").groupby("dataset").size()
    many = per_ds[per_ds > 1]
    if many.empty:
        return None
    return (f"rows of one dataset at several ratios ({', '.join(many.index)}) are not independent samples; "
            f"the tests treat them as such: use --ratio to test at one ratio")
