"""The report's training section (each SLA2P/SLA cell's stop_reason) and the order audit at a
reduced scope (`scope: first`: one seed and one ratio per dataset), on hand-made cells with real
stored scores in a temporary results folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.cells import CellRecord, make_cell
from tasks.metrics import cells_frame, evaluate
from tasks.report.audit import audit_markdown, audit_table
from tasks.report.build import build_report
from tasks.report.source import RunData
from tasks.report.training import training_cells, training_markdown, training_summary
from tasks.store import save_result

SLA2P = {"n_projections": 8, "proj_dim": 8}


def _history(reason, steps, epochs):
    return {"steps": steps, "epochs": epochs, "stop_reason": reason, "train_seconds": steps / 100}


def _record(results, ds, cls, ratio, method, seed, *, params=None, detector=None, row_order="shuffled",
            history=None, status="ok", rng):
    cell = make_cell(ds, cls, ratio, method, dict(params or {}), seed, detector=detector, row_order=row_order)
    key = f"{method}-{ds}-{cls}-{ratio}-{seed}".replace(".", "_")
    if status != "ok":
        return CellRecord(key, cell, status, error="RuntimeError: boom")
    n, n_out = 300, 30  # the last scoring batch (300 = 2 x 128 + 44) holds the outliers when inliers come first
    indices = np.arange(n) if row_order == "inliers_first" else rng.permutation(n)
    labels = np.zeros(n, int)
    labels[np.isin(indices, np.arange(n - n_out, n))] = 1  # dataset rows 270..299 are the outliers
    scores = labels * (1.0 if row_order == "inliers_first" else 0.6) + rng.normal(0, 0.5, n)
    rec = CellRecord(key, cell, "ok", metrics=evaluate(labels, scores), fit_seconds=1.0, n_rows=n,
                     n_outliers=n_out, n_features=4, device="cpu", history=history)
    return save_result(results, rec, scores, labels, indices)


@pytest.fixture
def run(tmp_path):
    """SLA2P and SLA on 'alpha' (no classes) and '20news'-like 'beta' (2 classes x 2 ratios) over
    two seeds; the audit only at seed 0 and the first ratio; iforest has no training history."""
    rng = np.random.default_rng(0)
    results = tmp_path / "results"
    recs = []
    for ds, classes, ratios in [("alpha", [None], [None]), ("beta", ["a", "b"], [0.1, 0.3])]:
        for cls in classes:
            for ratio in ratios:
                for seed in (0, 1):
                    text = ds == "beta"
                    hist = _history("max_epochs", 400 + seed, 20) if text else _history("acc_threshold", 30 + seed, 1)
                    recs.append(_record(results, ds, cls, ratio, "sla2p", seed, params=SLA2P, history=hist, rng=rng))
                    recs.append(_record(results, ds, cls, ratio, "sla", seed, params=SLA2P,
                                        history=_history("acc_threshold", 10, 1), rng=rng))
                    recs.append(_record(results, ds, cls, ratio, "iforest", seed, rng=rng))
                    if seed == 0 and ratio in (None, 0.1):  # scope: first
                        recs.append(_record(results, ds, cls, ratio, "sla2p_official", seed,
                                            params={**SLA2P, "compat": "official"}, detector="sla2p",
                                            row_order="inliers_first", history=hist, rng=rng))
    recs.append(_record(results, "beta", "a", 0.5, "sla2p", 0, params=SLA2P, status="failed", rng=rng))
    records = {r.key: r for r in recs}
    return RunData("parent", "test", "table", "sqlite://", results, cells_frame(recs), records, {})


def test_training_cells_and_summary(run):
    cells = training_cells(run)
    assert set(cells.method) == {"sla2p", "sla", "sla2p_official"}  # iforest has no stop rule
    assert len(cells) == sum(r.cell.detector_name in ("sla2p", "sla") for r in run.records.values())
    row = cells.set_index("name").loc["sla2p/beta/a/p0.3/s1"]
    assert (row.stop_reason, row.steps, row.epochs, row.status) == ("max_epochs", 401, 20, "ok")
    assert row.acc_threshold == pytest.approx(0.6) and row.max_epochs == 20  # SLA2P's defaults, not in params
    failed = cells.set_index("name").loc["sla2p/beta/a/p0.5/s0"]
    assert failed.status == "failed" and failed.stop_reason == "" and np.isnan(failed.steps)
    assert cells.set_index("name").loc["sla/alpha/all/intrinsic/s0"].acc_threshold == pytest.approx(0.8)  # SLA's own

    s = training_summary(cells).set_index(["method", "dataset"])
    beta = s.loc[("sla2p", "beta")]
    assert (beta.cells, beta.stopped_acc_threshold, beta.stopped_max_epochs, beta.not_known) == (9, 0, 8, 1)
    assert beta.median_steps == 400.5 and beta.median_epochs == 20
    alpha = s.loc[("sla2p", "alpha")]
    assert (alpha.stopped_acc_threshold, alpha.stopped_max_epochs, alpha.median_steps) == (2, 0, 30.5)
    assert s.loc[("sla2p_official", "beta")].cells == 2  # the audit's own cells: one seed, one ratio
    md = training_markdown(training_summary(cells))
    assert "| beta | sla2p | 0.6 | 20 | 9 | 0 | 8 | 1 | 400.5 | 20 |" in md
    assert ("**sla2p on beta**: `acc_threshold` 0.6 was never reached; all 8 finished cell(s) ran to "
            "`max_epochs` 20") in md
    assert "sla on beta" not in md.split("|---|")[-1]  # SLA reached its threshold there


def test_audit_at_reduced_scope_pairs_only_the_audited_splits(run):
    table, notes = audit_table(run)
    assert list(table.row) == ["alpha", "beta (p=0.1)"]  # one row per dataset: the audited ratio only
    assert list(table.n_pairs) == [1, 2] and list(table.n_seeds) == [1, 1]
    cells = run.cells
    for ds, ratio in [("alpha", None), ("beta", 0.1)]:
        sel = (cells.dataset == ds) & (cells.seed == 0) & ((cells.ratio == ratio) | (ratio is None))
        dflt = cells[sel & (cells.method == "sla2p")].auroc.mean()  # the paired default cells, not every seed
        off = cells[sel & (cells.method == "sla2p_official")].auroc.mean()
        r = table[table.dataset == ds].iloc[0]
        assert r.default_auroc_mean == pytest.approx(dflt) and r.official_auroc_mean == pytest.approx(off)
        assert r.diff_auroc_mean == pytest.approx(off - dflt)
        assert "one seed: no spread to compare with" in r.explanation
    covered = "the audit ran on 3 of the 11 splits SLA2P ran on (seed 0; p = 0.1 where a dataset has ratios"
    assert any(covered in n for n in notes)
    md = audit_markdown(table, notes)
    assert "± 0.000" not in md.split("| dataset |")[1]  # one seed: the mean alone


def test_full_scope_needs_no_coverage_note(run):
    records = {k: r for k, r in run.records.items()
               if not (r.cell.method == "sla2p" and (r.cell.seed == 1 or r.cell.ratio in (0.3, 0.5)))}
    small = RunData("p", "t", "table", "sqlite://", run.results_dir, cells_frame(list(records.values())), records, {})
    _, notes = audit_table(small)
    assert not any("the audit ran on" in n for n in notes)


def test_the_report_has_the_training_section_and_csv(run, tmp_path):
    files = build_report(run, tmp_path / "report", metrics=["auroc"])
    assert {"training.csv", "training_summary.csv", "audit.csv"} <= set(files)
    csv = pd.read_csv(files["training.csv"])
    assert len(csv) == len(training_cells(run))
    assert set(csv.stop_reason.dropna()) == {"acc_threshold", "max_epochs"}
    assert {"name", "method", "dataset", "normal_class", "ratio", "seed", "stop_reason", "steps", "epochs"} <= set(csv)
    text = files["report"].read_text()
    assert text.index("## Order audit") < text.index("## Training: where SLA2P and SLA stopped") \
        < text.index("## Failed and missing cells")
    audit = pd.read_csv(files["audit.csv"])
    assert list(audit.dataset) == ["alpha", "beta"]


def test_no_training_section_without_sla_cells(run, tmp_path):
    records = {k: r for k, r in run.records.items() if r.cell.method == "iforest"}
    only = RunData("p", "t", "table", "sqlite://", run.results_dir, cells_frame(list(records.values())), records, {})
    assert training_cells(only).empty and training_summary(training_cells(only)).empty
    files = build_report(only, tmp_path / "r", metrics=["auroc"])
    assert "training.csv" not in files and "## Training" not in files["report"].read_text()
    # no SLA2P column, no pairwise test: the Wilcoxon file is still a readable CSV (its header)
    w = pd.read_csv(files["wilcoxon_auroc.csv"])
    assert w.empty and list(w.columns[-3:]) == ["p_value", "p_holm", "verdict"]


def test_cells_that_ran_to_max_epochs_are_listed_and_marked_in_the_tables(run, tmp_path):
    cells = training_cells(run)
    md = training_markdown(training_summary(cells), cells)
    assert "Cells whose training ran to `max_epochs` without reaching `acc_threshold` (10;" in md  # 8 sla2p + 2 audit
    assert "- sla2p on beta / a, p=0.1, seed 0: 400 steps, 20 epochs (max_epochs 20, acc_threshold 0.6)" in md
    assert "sla on beta / a" not in md  # SLA stopped by its threshold there
    files = build_report(run, tmp_path / "report", metrics=["auroc"])
    table = files["table_auroc.md"].read_text()
    beta = next(line for line in table.splitlines() if line.startswith("| beta (p=0.3)"))
    alpha = next(line for line in table.splitlines() if line.startswith("| alpha"))
    assert beta.count("‡") == 1 and "‡" not in alpha  # sla2p on beta only; sla and iforest unmarked
    assert "‡: training of some of its cells ran to max_epochs" in table
    tex = files["table_auroc.tex"].read_text()
    assert r"\ddag{}" in tex and "‡" not in tex


def test_no_mark_when_every_cell_stopped_by_its_threshold(run, tmp_path):
    records = {k: r for k, r in run.records.items() if r.cell.dataset == "alpha"}
    small = RunData("p", "t", "table", "sqlite://", run.results_dir, cells_frame(list(records.values())), records, {})
    files = build_report(small, tmp_path / "report", metrics=["auroc"])
    assert "‡" not in files["table_auroc.md"].read_text()
    assert "ran to `max_epochs`" not in files["report"].read_text()
