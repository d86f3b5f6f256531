"""Holm's step-down correction of a report's Wilcoxon family: against statsmodels' multipletests
(random p-values, ties, NaN), the verdicts it drives, the report's wording, and the committed
reports' wilcoxon_<metric>.csv files (their p_holm is the adjustment of their own p_value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from tasks.report.build import WILCOXON_HEADER, nemenyi_caption, wilcoxon_lines
from tasks.report.significance import ALPHA, Pairwise, holm, with_holm, wilcoxon_vs

ROOT = Path(__file__).resolve().parents[3]


def statsmodels_holm(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels on the p-values that exist; NaN (and not rejected) elsewhere."""
    adj, rej = np.full(p.shape, np.nan), np.zeros(p.shape, bool)
    ok = ~np.isnan(p)
    if ok.any():
        rej[ok], adj[ok], _, _ = multipletests(p[ok], alpha=ALPHA, method="holm")
    return adj, rej


@pytest.mark.parametrize("seed", range(40))
def test_holm_matches_statsmodels_on_random_families(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 30))
    p = rng.uniform(0, 1, m) ** rng.uniform(0.5, 6)  # from mostly large to mostly tiny p-values
    if seed % 3 == 0:
        p = np.round(p, 2)  # ties, and exact zeros
    if seed % 4 == 1:
        p[rng.choice(m, size=min(m, 3), replace=False)] = p[0]  # ties with the first
    if seed % 2 == 0 and m > 1:
        p[rng.choice(m, size=int(rng.integers(1, m)), replace=False)] = np.nan  # comparisons without a test
    ours = holm(p)
    adj, rej = statsmodels_holm(p)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(p))  # NaN stays NaN
    np.testing.assert_allclose(ours, adj, rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(np.nan_to_num(ours, nan=1.0) < ALPHA, rej)  # same decisions at 0.05


def test_holm_by_hand_ties_nan_and_edges():
    # m = 4 tests (the NaN is not one): 0.01*4, 0.02*3 -> 0.06, ties 0.03*2 -> 0.06 and 0.03*1 -> max 0.06
    np.testing.assert_allclose(holm([0.03, np.nan, 0.01, 0.03, 0.02]), [0.06, np.nan, 0.04, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(holm([0.014]), [0.014])  # a family of one is not adjusted
    assert holm([]).shape == (0,)
    assert np.isnan(holm([np.nan, np.nan])).all()
    # ADBench, all 39 sets, AUROC: SLA2P vs SLA p = 0.014 is the smallest of 14 -> 14 x 0.014 = 0.196
    assert holm([0.013966038043582325] + [0.5] * 13)[0] == pytest.approx(0.19552453261015255)


def test_wilcoxon_verdicts_read_the_adjusted_p():
    rng = np.random.default_rng(3)
    n = 20
    base = rng.uniform(0.5, 0.9, n)
    m = pd.DataFrame({"sla2p": base,
                      "far": base - 0.1 - rng.uniform(0, 0.01, n),     # loses everywhere: p ~ 2e-6
                      "edge": base - rng.normal(0.01, 0.02, n),        # raw p below 0.05, not after Holm
                      "same": base,                                     # no difference: no test
                      "gone": np.nan},                                  # never ran: no test
                     index=[f"d{i}" for i in range(n)])
    for i in range(8):
        m[f"noise{i}"] = base + rng.normal(0, 0.05, n)
    tests = {t.baseline: t for t in wilcoxon_vs(m)}
    raw = np.array([t.p_value for t in tests.values()])
    np.testing.assert_allclose([t.p_holm for t in tests.values()], statsmodels_holm(raw)[0], equal_nan=True)
    assert sum(not np.isnan(t.p_value) for t in tests.values()) == 10  # 'same' and 'gone' are out of the family
    assert tests["far"].p_holm < ALPHA and tests["far"].verdict == "sla2p better (Holm-adjusted p < 0.05)"
    edge = tests["edge"]
    assert edge.p_value < ALPHA <= edge.p_holm
    assert edge.verdict == "no significant difference at 0.05 after Holm's correction (raw p < 0.05)"
    assert np.isnan(tests["same"].p_holm) and tests["same"].verdict == "no test: no row with a difference"
    assert np.isnan(tests["gone"].p_holm) and tests["gone"].verdict == "no test: no row where both ran"


def test_too_few_rows_stay_in_the_family_and_say_so():
    # n = 2 non-zero rows: p exists (0.5), but nothing can be significant; Holm counts it as tested
    t = [Pairwise("a", 2, 2, 2, 0, 0, 0.1, 0.0, 0.5, np.nan, ""),
         Pairwise("b", 2, 2, 1, 0, 1, 0.0, 1.0, 1.0, np.nan, "")]
    out = with_holm(t)
    assert [x.p_holm for x in out] == [1.0, 1.0]
    assert all(x.verdict.startswith("too few rows (n=2)") for x in out)


def test_report_lines_carry_both_p_values_and_say_what_is_controlled():
    tests = with_holm([Pairwise("sla", 39, 38, 26, 1, 12, 0.001, 201.0, 0.014, np.nan, ""),
                       Pairwise("knn", 39, 39, 14, 0, 25, -0.035, 297.0, 0.199, np.nan, ""),
                       Pairwise("gone", 0, 0, 0, 0, 0, np.nan, np.nan, np.nan, np.nan, "")])
    lines = wilcoxon_lines(tests)
    text = "\n".join(lines)
    assert WILCOXON_HEADER in lines and "These 2 tests with a p-value are one family" in text
    assert "| sla | 39 | 38 | 26/1/12 | +0.001 | 201 | 0.014 | 0.028 | sla2p better (Holm-adjusted p < 0.05) |" in lines
    assert "| gone | 0 | 0 | 0/0/0 | n/a | n/a | n/a | n/a | no test: no row where both ran |" in lines
    assert wilcoxon_lines([]) == ["No SLA2P column: no pairwise tests.", ""]
    cap = nemenyi_caption(15, 3.43)
    assert "family-wise error at 0.05 over all 105 pairs of the 15 methods" in cap and "Demšar" in cap


COMMITTED = sorted((ROOT / "docs" / "results").rglob("wilcoxon_*.csv"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT / "docs" / "results")))
def test_committed_wilcoxon_files_are_holm_corrected(path):
    """bench/bench_holm_rebuild.py wrote p_holm from each file's own p_value column."""
    w = pd.read_csv(path)
    assert list(w.columns[-3:]) == ["p_value", "p_holm", "verdict"]
    if w.empty:  # a run without an SLA2P column: the header only, no test to check or report
        return
    np.testing.assert_allclose(w.p_holm, holm(w.p_value.to_numpy()), rtol=0, atol=1e-15, equal_nan=True)
    better_or_worse = w.verdict.str.contains(r"sla2p (?:better|worse)", regex=True)
    assert (better_or_worse == (w.p_holm < ALPHA) & ~w.verdict.str.startswith("too few")).all()
    report = path.parent / "report.md"
    if not report.exists():
        report = path.parent.parent / "report.md"  # a half's tables live in its parent's report
    assert "p_holm" in report.read_text()


def test_committed_reports_exist():
    assert len(COMMITTED) >= 21
