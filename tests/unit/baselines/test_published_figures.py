"""The published ADBench figures (bench/published/dte_readme_adbench.csv, the DTE authors' README
tables) and the two benches that read them: bench_successors.py (figures beside a run, DTE's
bootstrap protocol) and bench_published_compare.py (a committed report against them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
CSV = ROOT / "bench" / "published" / "dte_readme_adbench.csv"


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
    assert figures[("dte", "adbench_thyroid", "paper")].startswith("AUROC 0.987 +- 0.001")
    assert "Table 2" in figures[("slad", "adbench_wbc", "bootstrap")]
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


def test_the_bootstrap_protocol_fits_on_a_resample_and_scores_every_row(monkeypatch):
    bench = _bench("bench_successors")
    monkeypatch.setitem(bench.DETECTORS, "recorder", _Recorder)
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(90, 4)), rng.normal(5, 1, size=(10, 4))].astype(np.float32)
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    fitted = []
    monkeypatch.setattr(_Recorder, "fitted", fitted)
    out = bench.run_one("recorder", {}, X, y, "bootstrap", 3)
    rows = fitted[0]
    assert len(rows) == len(X) and len(np.unique(rows, axis=0)) < len(X)  # drawn with replacement
    assert out["auroc"] == 1.0 and "f1" not in out                         # every row scored
    again = bench.run_one("recorder", {}, X, y, "bootstrap", 3)
    assert np.array_equal(fitted[1], rows) and again["auroc"] == out["auroc"]  # the seed draws them
    with pytest.raises(SystemExit):
        bench.main(["--protocols", "transductive"])


def test_the_first_half_split_is_the_readmes_whatever_the_seed():
    bench = _bench("bench_successors")
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])                     # 6 normals: rows 0 2 3 5 6 7
    train, test = bench.paper_split(y, None)
    assert train.tolist() == [0, 2, 3] and test.tolist() == [1, 4, 5, 6, 7]
    seeded = bench.paper_split(y, 0)[0]
    assert len(seeded) == 3 and set(seeded) <= {0, 2, 3, 5, 6, 7}
    figures = bench.published_figures(CSV)                      # Table 1 stands for both splits
    assert figures[("dif", "adbench_thyroid", "first")] == figures[("dif", "adbench_thyroid", "paper")]


def test_the_comparison_matches_set_names_and_measures_each_methods_gap(tmp_path):
    compare = _bench("bench_published_compare")
    assert compare.set_key("adbench_magic_gamma") == compare.set_key("magic.gamma") == "magic_gamma"
    assert compare.set_key("adbench_satimage_2") == compare.set_key("satimage-2")
    table = tmp_path / "table_auroc.csv"
    table.write_text("dataset,iforest,dif,best\nadbench_thyroid,0.980 ± 0.005,0.900 ± 0.010,iforest\n"
                     "adbench_wbc,0.900 ± 0.010,0.700 ± 0.020,iforest\nadbench_breastw,0.990 ± 0.001,,iforest\n")
    theirs = compare.published("unsup", CSV)
    result = compare.compare(compare.ours([str(table)]), theirs).set_index("method")
    published = theirs.set_index(["set", "method"])["theirs"]
    want = abs(0.900 - published[("thyroid", "dif")]), abs(0.700 - published[("wbc", "dif")])
    assert result.loc["dif", "sets"] == 2  # breastw's empty cell is left out, not read as 0
    assert result.loc["dif", "median_abs"] == pytest.approx(np.median(want))
    assert result.loc["iforest", "sets"] == 3
