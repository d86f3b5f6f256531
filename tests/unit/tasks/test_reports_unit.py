"""Report pieces on hand-made cells: the comparison table's numbers, bold and failed cells, the
LaTeX structure, the statistics against scipy, the plots."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tasks.cells import CellRecord
from tasks.metrics import cells_frame
from tasks.report import plots
from tasks.report.significance import (average_ranks, friedman, min_two_sided_p, nemenyi_cd, score_matrix,
                                       wilcoxon_vs)
from tasks.report.tables import comparison, to_latex, to_markdown, wide


def record(ds, cls, ratio, method, seed, auroc, status="ok", row_order="shuffled", error=""):
    rec = {"key": f"{method}-{ds}-{cls}-{ratio}-{seed}-{row_order}", "status": status, "error": error,
           "cell": {"dataset": ds, "normal_class": cls, "ratio": ratio, "method": method, "params": {},
                    "seed": seed, "detector": method, "row_order": row_order}}
    if status == "ok":
        rec["metrics"] = {"auroc": auroc, "aupr": auroc / 2, "ap": auroc / 3}
    return rec


@pytest.fixture
def cells():
    rng = np.random.default_rng(0)
    recs = []
    for ds, classes, ratios in [("alpha", [None], [None]), ("beta", ["a", "b"], [0.1, 0.3])]:
        for cls in classes:
            for ratio in ratios:
                for method, base in [("iforest", 0.7), ("sla2p", 0.8), ("knn", 0.75)]:
                    for seed in (0, 1, 2):
                        recs.append(record(ds, cls, ratio, method, seed, base + rng.normal(0, 0.02)))
    recs.append(record("alpha", None, None, "sla2p_official", 0, 0.99, row_order="inliers_first"))
    recs.append(record("gamma", None, None, "sla2p", 0, 0.9))
    recs.append(record("gamma", None, None, "iforest", 0, None, status="failed", error="ValueError: boom"))
    recs.append(record("gamma", None, None, "knn", 0, None, status="missing", error="never logged"))
    return cells_frame([CellRecord.from_dict(r) for r in recs])


def test_comparison_values_order_and_bold(cells):
    comp = comparison(cells, "auroc")
    assert list(dict.fromkeys(comp.row)) == ["alpha", "beta (p=0.1)", "beta (p=0.3)", "gamma"]
    assert list(dict.fromkeys(comp.method)) == ["sla2p", "iforest", "knn"]  # SLA2P first; audit cells left out
    # beta at 0.3, sla2p: mean over seeds of the class average, std over seeds (ddof=0)
    g = cells[(cells.dataset == "beta") & (cells.ratio == 0.3) & (cells.method == "sla2p")]
    per_seed = g.groupby("seed").auroc.mean()
    r = comp[(comp.row == "beta (p=0.3)") & (comp.method == "sla2p")].iloc[0]
    assert r["mean"] == pytest.approx(per_seed.mean()) and r["std"] == pytest.approx(np.std(per_seed.to_numpy()))
    for row, g in comp[comp.status == "ok"].groupby("row"):
        assert set(g[g.best].method) == set(g[g["mean"].round(3) == g["mean"].round(3).max()].method)
    t = wide(comp)
    assert t.loc["gamma", "iforest"] == "failed (1/1)" and t.loc["gamma", "knn"] == "missing (1/1)"
    assert t.loc["gamma", "best"] == "sla2p"  # a failed cell is never the best
    assert re.fullmatch(r"0\.\d{3} ± 0\.\d{3}", t.loc["alpha", "sla2p"])


def test_ratio_and_metric_choice(cells):
    comp = comparison(cells, "ap", ratio=0.1)
    assert list(dict.fromkeys(comp.row)) == ["alpha", "beta (p=0.1)", "gamma"]  # intrinsic rows stay
    with pytest.raises(ValueError, match="ratio 0.5 is not in this run"):
        comparison(cells, "auroc", ratio=0.5)
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        comparison(cells, "f1")
    md = to_markdown(comp, "ap", 0.1)
    assert "average precision" in md and "p=0.1" in md
    assert "trapezoidal" in to_markdown(comparison(cells, "aupr"), "aupr")


def test_latex_is_a_well_formed_table_fragment(cells):
    comp = comparison(cells, "auroc")
    tex = to_latex(comp, "auroc", label="tab:x")
    lines = tex.strip().splitlines()
    assert lines[0].startswith(r"\begin{table}") and lines[-1] == r"\end{table}"
    for env in ("table", "tabular"):
        assert tex.count(rf"\begin{{{env}}}") == tex.count(rf"\end{{{env}}}") == 1
    spec = re.search(r"\\begin\{tabular\}\{([lc]+)\}", tex).group(1)
    body = lines[lines.index(r"\toprule") + 1:lines.index(r"\bottomrule")]
    rows = [ln for ln in body if ln != r"\midrule"]
    assert len(rows) == 1 + 4  # header + 4 table rows
    for ln in rows:
        assert ln.endswith(r"\\") and ln[:-2].count("&") == len(spec) - 1
    assert tex.count("{") == tex.count("}")
    assert "±" not in tex and r"$\pm$" in tex and r"\textit{failed (1/1)}" in tex and r"\textbf{" in tex
    n_best = int(comp.best.sum())
    assert tex.count(r"\textbf{") == n_best
    assert r"odds\_x" in to_latex(comparison(cells.assign(dataset=cells.dataset.replace("alpha", "odds_x")),
                                             "auroc"), "auroc")


def test_wilcoxon_matches_scipy_and_says_when_too_few():
    rng = np.random.default_rng(1)
    m = pd.DataFrame({"sla2p": rng.uniform(0.6, 0.9, 12), "iforest": rng.uniform(0.5, 0.8, 12),
                      "knn": rng.uniform(0.6, 0.9, 12)}, index=[f"d{i}" for i in range(12)])
    m.loc["d3", "knn"] = np.nan  # knn failed on one dataset: that pair rests on 11
    tests = {t.baseline: t for t in wilcoxon_vs(m)}
    ref = stats.wilcoxon(m.sla2p, m.iforest)
    assert tests["iforest"].statistic == pytest.approx(ref.statistic)
    assert tests["iforest"].p_value == pytest.approx(ref.pvalue)
    both = m[["sla2p", "knn"]].dropna()
    assert tests["knn"].n_rows == 11 and tests["knn"].p_value == pytest.approx(stats.wilcoxon(both.sla2p, both.knn).pvalue)
    small = {t.baseline: t for t in wilcoxon_vs(m.iloc[:5])}
    assert "too few rows (n=5)" in small["iforest"].verdict and "too few rows (n=4)" in small["knn"].verdict
    assert min_two_sided_p(5) == pytest.approx(0.0625) and min_two_sided_p(6) == pytest.approx(0.03125)


def test_ranks_friedman_and_nemenyi():
    m = pd.DataFrame({"a": [0.9, 0.8, 0.7, 0.9], "b": [0.8, 0.8, 0.6, 0.5], "c": [0.1, 0.2, 0.3, np.nan]})
    ranks, n = average_ranks(m)
    assert n == 3  # the row with a missing value is left out
    assert ranks["a"] == pytest.approx((1 + 1.5 + 1) / 3) and ranks["b"] == pytest.approx((2 + 1.5 + 2) / 3)
    fr = friedman(m)
    ref = stats.friedmanchisquare(*[m.dropna()[c] for c in m])
    assert fr.statistic == pytest.approx(ref.statistic) and fr.p_value == pytest.approx(ref.pvalue)
    # Demšar (2006), Table 5: q_0.05 = 2.343 for k = 3
    assert nemenyi_cd(3, 10) == pytest.approx(2.343 * np.sqrt(3 * 4 / 60), abs=1e-3)
    assert "at least 3 methods" in friedman(m[["a", "b"]]).verdict


def test_score_matrix_keeps_failed_as_nan(cells):
    mat = score_matrix(comparison(cells, "auroc"))
    assert np.isnan(mat.loc["gamma", "iforest"]) and np.isnan(mat.loc["gamma", "knn"])
    assert not mat.drop(index="gamma").isna().any().any()


def png_ok(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plots_are_written(cells, tmp_path):
    comp = comparison(cells, "auroc")
    assert png_ok(plots.contamination_curves(comp, tmp_path / "c.png"))
    assert plots.contamination_curves(comparison(cells, "auroc", ratio=0.1), tmp_path / "none.png") is None
    ranks, n = average_ranks(score_matrix(comp))
    assert png_ok(plots.cd_diagram(ranks, nemenyi_cd(3, n), n, tmp_path / "cd.png"))
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(90), np.ones(10)].astype(int)
    curves = {"a": (labels, labels + rng.normal(0, 1, 100)), "b": (labels, rng.normal(0, 1, 100))}
    assert png_ok(plots.roc_pr(curves, "t", tmp_path / "r.png"))
    abl = pd.DataFrame([{"parameter": p, "value": v, "dataset": "d", "metric": m, "mean": 0.7 + 0.01 * i,
                         "std": 0.01, "n_seeds": 3}
                        for p, vals in {"epsilon": [0.0, 1.0, 10.0], "n_projections": [16, 64, 256]}.items()
                        for i, v in enumerate(vals) for m in ("auroc", "aupr")])
    assert png_ok(plots.ablation_curves(abl, tmp_path / "a.png", order=["epsilon", "n_projections"]))


def test_aupr_inflated_by_ties_is_flagged_and_never_best():
    """LOF-style scores (most rows tied at the top) get a high trapezoidal AUPR: flagged, not bold."""
    from tasks.metrics import evaluate

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(628), np.ones(36)].astype(int)
    tied = rng.normal(size=664)
    tied[rng.permutation(664)[:544]] = 10.0
    honest = rng.normal(size=664) + 0.8 * y
    recs = []
    for method, s in [("lof", tied), ("sla2p", honest)]:
        m = evaluate(y, s)
        recs.append({"key": method, "status": "ok", "metrics": m,
                     "cell": {"dataset": "20news", "normal_class": "a", "ratio": 0.1, "method": method, "params": {},
                              "seed": 0}})
    frame = cells_frame([CellRecord.from_dict(r) for r in recs])
    assert frame.set_index("method").aupr_tie_gain["lof"] > 0.1 and frame.set_index("method").aupr_tie_gain["sla2p"] == 0
    assert frame.set_index("method").aupr["lof"] > frame.set_index("method").aupr["sla2p"]  # the trapezoid's reward
    comp = comparison(frame, "aupr").set_index("method")
    assert comp.tie_flag["lof"] and not comp.best["lof"] and comp.best["sla2p"]
    md = to_markdown(comparison(frame, "aupr"), "aupr")
    header = next(line for line in md.splitlines() if line.startswith("| dataset"))
    row = next(line for line in md.splitlines() if line.startswith("| 20news"))
    cell = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cell["lof"].endswith("†") and not cell["lof"].startswith("**") and cell["sla2p"].startswith("**")
    assert "never marked best" in md
    assert not comparison(frame, "auroc").tie_flag.any()
    assert "\\dag{}" in to_latex(comparison(frame, "aupr"), "aupr")


def test_caption_states_each_fit_subsample_rule(cells):
    """knn has a registry fit cap (12,000 rows): the caption says so, in every format; iforest and
    sla2p have none and are not named in it."""
    from baselines import detector_info

    comp = comparison(cells, "auroc")
    rule = detector_info("knn").fit_rule()
    md = to_markdown(comp, "auroc")
    caption_line = md.splitlines()[0]
    assert rule in caption_line and "12,000" in caption_line and "seed" in caption_line
    assert "iforest is fitted" not in caption_line and "sla2p is fitted" not in caption_line
    tex = to_latex(comp, "auroc")
    assert "knn is fitted on a random subsample of 12,000 rows" in tex
    no_knn = comparison(cells[cells.method != "knn"], "auroc")
    assert "Subsample" not in to_markdown(no_knn, "auroc").splitlines()[0]


def test_the_caption_names_a_subsample_rule_only_where_it_applied():
    """knn's rule (12,000 rows) is stated only when one of its cells had more rows than that: from
    the rows its fit used, else from its rows; an unknown size keeps the rule (it may have applied)."""
    from tasks.report.tables import caption, fit_rules

    def comp(n_rows, fit_rows):
        frame = cells_frame([CellRecord.from_dict(record("alpha", None, None, m, s, 0.7 + 0.01 * s))
                             for m in ("knn", "iforest") for s in (0, 1)])
        return comparison(frame.assign(n_rows=n_rows, fit_rows=fit_rows), "auroc")

    small = comp(452, 452)
    assert fit_rules(small) == [] and "Subsample" not in caption("auroc", rules=fit_rules(small))
    assert fit_rules(comp(452, float("nan"))) == []  # no fit_rows recorded: the rule on 452 rows fits them all
    (rule,) = fit_rules(comp(60_000, 12_000))
    assert "knn" in rule and "12,000" in rule
    assert len(fit_rules(comp(float("nan"), float("nan")))) == 1  # size unknown: stated


def test_report_names_the_runs_report_on_disk(tmp_path):
    from types import SimpleNamespace

    from flows.cli import _kept_report
    from tasks.report.source import stored_report

    assert stored_report(tmp_path, "table", "smoke", "abc") is None
    folder = tmp_path / "tables" / "table-smoke-abc" / "report"
    folder.mkdir(parents=True)
    (folder / "report.md").write_text("# report\n")
    assert stored_report(tmp_path, "table", "smoke", "abc") == folder
    assert stored_report(tmp_path, "table", None, "abc") is None
    said = _kept_report(SimpleNamespace(stored_report=folder))
    assert str(folder) in said and "not kept" not in said
    assert "not kept on disk" in _kept_report(SimpleNamespace(stored_report=None))
