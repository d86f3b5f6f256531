"""The published ADBench figures (bench/published/dte_readme_adbench.csv, the DTE authors' README
tables) and the two benches that read them: bench_successors.py (figures beside a run, DTE's
bootstrap protocol) and bench_published_compare.py (a committed report against them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
CSV = ROOT / "bench" / "published" / "dte_readme_adbench.csv"


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch):
    """As when a bench script runs: its folder first on sys.path (bench_successors imports
    bench_published_compare by name)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_transcribed_tables_are_whole_and_read_as_the_readme_prints_them():
    t = pd.read_csv(CSV)
    assert set(t["setting"]) == {"semi", "unsup"}
    per_set = t.groupby(["setting", "dataset"])["method"].nunique()
    assert (per_set == 26).all() and t.groupby("setting")["dataset"].nunique().tolist() == [57, 57]
    assert t["auroc_mean"].between(0, 100).all() and (t["auroc_std"] >= 0).all()
    cell = t.set_index(["setting", "dataset", "method"])
    # read off the README by hand, as a check on the transcription
    assert tuple(cell.loc[("semi", "thyroid", "DTE-C")]) == (98.74, 0.14)
    assert tuple(cell.loc[("unsup", "wbc", "SLAD")]) == (96.08, 4.57)
    assert tuple(cell.loc[("unsup", "breastw", "DIF")]) == (51.14, 2.06)


def test_bench_successors_quotes_a_published_figure_by_detector_set_and_protocol():
    figures = _bench("bench_successors").published_figures(CSV)
    assert figures[("dte", "adbench_thyroid", "semi")].startswith("AUROC 0.987 +- 0.001")
    assert "Table 2" in figures[("slad", "adbench_wbc", "unsup")]
    assert not any(name in {"iforest", "knn"} for name, _, _ in figures)  # only the successors


class _Recorder:
    """Remembers the rows it was fitted on; scores a row by its distance from their mean."""

    fitted: list = []

    def __init__(self, random_state=None, device=None):
        self.random_state = random_state

    def fit(self, X):
        self.fit_rows_ = X.copy()
        _Recorder.fitted.append(self.fit_rows_)
        return self

    def decision_function(self, X):
        return np.linalg.norm(X - self.fit_rows_.mean(axis=0), axis=1)


def test_the_dte_settings_draw_rows_as_their_code_does():
    bench = _bench("bench_successors")
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    # under 1,000 rows: redrawn to 1,000 with replacement from the seed's legacy generator, then
    # (unsup) their zero-size labelled-anomaly draw, which permutes the anomalies, and a bootstrap
    train, test = bench.dte_split(y, 3, "unsup")
    rs = np.random.RandomState(3)
    rows = rs.choice(np.arange(100), 1000, replace=True)
    rs.permutation(int(y[rows].sum()))
    assert np.array_equal(test, rows) and np.array_equal(train, rows[rs.choice(np.arange(1000), 1000)])
    # semi: the first half (rounded) of the redrawn normals in order; the rest and every anomaly
    train, test = bench.dte_split(y, 3, "semi")
    normal = rows[y[rows] == 0]
    half = round(len(normal) / 2)
    assert np.array_equal(train, normal[:half]) and len(test) == 1000 - half and y[test].sum() == y[rows].sum()
    # from 1,000 rows up: no redraw, so semi is the file order's first half, whatever the seed
    big = np.r_[np.zeros(1100, int), np.ones(100, int)]
    assert np.array_equal(bench.dte_split(big, 0, "semi")[0], np.arange(550))
    assert np.array_equal(bench.dte_split(big, 4, "semi")[0], np.arange(550))


def test_the_protocols_fit_and_score_the_rows_they_name(monkeypatch):
    bench = _bench("bench_successors")
    monkeypatch.setitem(bench.DETECTORS, "recorder", _Recorder)
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(90, 4)), rng.normal(5, 1, size=(10, 4))].astype(np.float32)
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    fitted = []
    monkeypatch.setattr(_Recorder, "fitted", fitted)
    out = bench.run_one("recorder", {}, X, y, "unsup", 3)
    train, _ = bench.dte_split(y, 3, "unsup")
    assert np.array_equal(fitted[0], X[train]) and out["auroc"] == 1.0 and "f1" not in out
    assert "f1" in bench.run_one("recorder", {}, X, y, "semi", 3)
    # unsup_shortcut: the same fit, but the training rows' scores meet the test rows' labels, as
    # in their DIF harness; a perfect detector then scores the labels of other rows
    out = bench.run_one("recorder", {}, X, y, "unsup_shortcut", 3)
    train, test = bench.dte_split(y, 3, "unsup")
    assert np.array_equal(fitted[-1], X[train]) and len(train) == len(test)
    scores = np.linalg.norm(X[train] - X[train].mean(axis=0), axis=1)
    assert out["auroc"] == pytest.approx(roc_auc_score(y[test], scores)) and out["auroc"] < 0.9
    with pytest.raises(SystemExit):
        bench.main(["--protocols", "bootstrap"])


def test_the_comparison_matches_set_names_and_measures_each_methods_gap(tmp_path):
    compare = _bench("bench_published_compare")
    assert compare.set_key("adbench_magic_gamma") == compare.set_key("magic.gamma") == "magic_gamma"
    assert compare.set_key("adbench_satimage_2") == compare.set_key("satimage-2")
    head = "dataset,method,mean,std,status\n"
    first, later = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(head + "adbench_thyroid,iforest,0.98,0.005,ok\nadbench_wbc,iforest,0.90,0.01,ok\n"
                     "adbench_breastw,iforest,0.99,0.001,ok\nadbench_thyroid,dif,0.90,0.01,ok\n")
    # a later file adds DIF on WBC; its failed BreastW cell neither counts nor hides anything
    later.write_text(head + "adbench_wbc,dif,0.70,0.02,ok\nadbench_breastw,dif,,,failed\n"
                     "adbench_thyroid,iforest,,,failed\n")
    theirs = compare.published("unsup", CSV)
    result = compare.compare(compare.ours([str(first), str(later)]), theirs).set_index("method")
    published = theirs.set_index(["set", "method"])["theirs"]
    want = abs(0.900 - published[("thyroid", "dif")]), abs(0.700 - published[("wbc", "dif")])
    assert result.loc["dif", "sets"] == 2 and result.loc["iforest", "sets"] == 3
    assert result.loc["dif", "median_abs"] == pytest.approx(np.median(want))
    with pytest.raises(SystemExit, match="in common"):
        compare.compare(compare.ours([str(first)]).assign(method="nobody"), theirs)
