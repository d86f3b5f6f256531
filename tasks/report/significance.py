"""Is a difference real? Average ranks, Wilcoxon signed-rank tests of SLA2P against each
baseline, and the Friedman test with the Nemenyi critical difference (Demšar, JMLR 2006).

The unit is a row of the comparison table (a dataset, or a dataset at one ratio): its value is
the seed-averaged, class-averaged metric. Rows of one dataset at several ratios are not
independent, so the report says so and ``--ratio`` tests at one ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    p_value: float
    verdict: str


def wilcoxon_vs(matrix: pd.DataFrame, reference: str = "sla2p", alpha: float = ALPHA) -> list[Pairwise]:
    """Two-sided Wilcoxon signed-rank test of ``reference`` against each other method, over the
    rows where both have a value (scipy's defaults: zero differences dropped, exact p for small n)."""
    if reference not in matrix.columns:
        return []
    out = []
    for base in matrix.columns:
        if base == reference:
            continue
        pair = matrix[[reference, base]].dropna()
        d = (pair[reference] - pair[base]).to_numpy()
        nz = int(np.count_nonzero(d))
        wins, ties, losses = int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())
        if nz == 0:
            stat, p = np.nan, np.nan
            verdict = "no test: no row with a difference" if len(d) else "no test: no row where both ran"
        else:
            res = stats.wilcoxon(pair[reference], pair[base])
            stat, p = float(res.statistic), float(res.pvalue)
            if min_two_sided_p(nz) > alpha:
                verdict = (f"too few rows (n={nz}): the smallest p this test can give is {min_two_sided_p(nz):.3g} "
                           f"> {alpha}, so no difference can be significant")
            elif p < alpha:
                verdict = f"{reference} {'better' if np.median(d) > 0 else 'worse'} (p < {alpha})"
            else:
                verdict = f"no significant difference at {alpha}"
        out.append(Pairwise(base, len(d), nz, wins, ties, losses, float(np.median(d)) if len(d) else np.nan,
                            stat, p, verdict))
    return out


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
