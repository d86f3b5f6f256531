"""What a user sees of a run in MLflow's UI: cell names that read as the table (an ablation's
grid point in its cells' names), links that open the classic runs view with the metrics as
columns (a shared view the experiment carries), the datasets as run inputs with their DVC md5,
children timed as their fits, and a self-contained HTML report with the plots inlined.

Checked through MLflow's client on a temporary SQLite store (the browser test sees the pages)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from tasks.cells import Cell, CellRecord, KeyedCell, make_cell, name_points
from tasks.metrics import cells_frame, evaluate
from tasks.report import build_report, log_report
from tasks.report.html import to_html
from tasks.report.source import RunData
from tasks.store import save_result
from tasks.track import Tracker, fit_times, ui


# -- names ------------------------------------------------------------------------------------
def test_table_names_read_as_the_table_with_no_cryptic_part():
    ovr = make_cell("20news", "comp.graphics", 0.1, "sla2p", {"epsilon": 1.0}, 0)
    intrinsic = make_cell("arrhythmia", None, None, "iforest", {}, 3)
    assert ovr.name == "sla2p/20news/comp.graphics/p0.1/s0"
    assert intrinsic.name == "iforest/arrhythmia/all/intrinsic/s3"
    for name in (ovr.name, intrinsic.name):
        assert len(name.split("/")) == 5 and "p-" not in name


def test_ablation_cells_are_named_by_their_grid_point_and_keep_their_keys():
    base = {"epsilon": 7.8125, "n_projections": 64}
    grid = [{"epsilon": 0.0}, {"epsilon": 7.8125}, {"n_projections": 16}, {"n_projections": 64}]
    cells = [make_cell("arrhythmia", None, None, "sla2p", {**base, **pt}, 0) for pt in grid]
    named = name_points(cells, grid)
    assert [c.name for c in named] == [
        "sla2p/arrhythmia/epsilon=0/s0",
        "sla2p/arrhythmia/epsilon=7.8125,n_projections=64/s0",  # the base: on both curves, named by both
        "sla2p/arrhythmia/n_projections=16/s0",
        "sla2p/arrhythmia/epsilon=7.8125,n_projections=64/s0",
    ]
    assert len({c.name for c in named}) == 3  # one name per distinct cell
    for before, after in zip(cells, named):  # naming changes neither the key nor equality
        assert after.key("data") == before.key("data") and after == before and hash(after) == hash(before)
    ovr = make_cell("20news", "comp.graphics", 0.1, "sla2p", {"epsilon": 1e-5}, 2).at_point({"epsilon": 1e-5})
    assert ovr.name == "sla2p/20news/comp.graphics/p0.1/epsilon=1e-05/s2"  # a split it does have stays
    again = Cell.from_dict(json.loads(json.dumps(named[0].to_dict())))
    assert again.name == named[0].name and again.point == (("epsilon", 0.0),)
    assert "point" not in cells[0].to_dict()  # a table cell's stored form is unchanged


def test_reports_name_an_ablations_cells_by_their_points_whatever_the_stored_record_says():
    from tasks.report.source import _named_by_points

    cell = make_cell("arrhythmia", None, None, "sla2p", {"epsilon": 7.8125, "n_projections": 64}, 0)
    stored = {"k": CellRecord("k", cell, "ok"), "t": CellRecord("t", make_cell("odds_wbc", None, None, "knn", {}, 0))}
    named = _named_by_points(stored, {"k": [{"epsilon": 7.8125}, {"n_projections": 64}], "t": [{}]})
    assert named["k"].name == "sla2p/arrhythmia/epsilon=7.8125,n_projections=64/s0"
    assert named["t"].name == "knn/odds_wbc/all/intrinsic/s0"  # a table's cell: as it was


# -- timing -----------------------------------------------------------------------------------
def _record(key="k", **kw) -> CellRecord:
    return CellRecord(key, make_cell("arrhythmia", None, None, "iforest", {}, 0), "ok", metrics={"auroc": 0.75,
                      "aupr": 0.5}, **kw)


def test_a_child_is_timed_as_its_fit():
    rec = _record(fit_seconds=24.0, started_at=1_700_000_000.25, finished_at=1_700_000_024.25)
    assert fit_times(rec) == (1_700_000_000_250, 1_700_000_024_250)
    assert CellRecord.from_dict(json.loads(json.dumps(rec.to_dict()))).started_at == rec.started_at
    # a record stored before the times were kept: a span of fit_seconds ending now
    assert fit_times(_record(fit_seconds=24.0), now=1000.0) == (976_000, 1_000_000)
    assert fit_times(CellRecord("k", rec.cell, "failed", error="boom")) == (None, None)


# -- links ------------------------------------------------------------------------------------
def test_links_open_the_runs_view_with_the_metrics_as_columns():
    url = ui.runs_url("http://127.0.0.1:5000", "7")
    parts = urlsplit(url)
    route, _, query = parts.fragment.partition("?")
    assert route == "/experiments/7/runs"
    assert parse_qs(query) == {"workflowType": ["machine_learning"], "viewStateShareKey": [ui.EXPERIMENT_VIEW]}
    state = json.loads(ui.view_state())
    assert {"metrics.`auroc`", "metrics.`aupr`", "metrics.`fit_seconds`"} <= set(state["selectedColumns"])
    assert ui.ui_base("http://10.0.0.5:5000/") == "http://10.0.0.5:5000"
    assert ui.ui_base("sqlite:////x/mlflow.db", 5123) == "http://127.0.0.1:5123"
    assert ui.run_url("http://h:1", "7", "abc").endswith("/#/experiments/7/runs/abc?workflowType=machine_learning")


# -- the tracker on a real (temporary) store ----------------------------------------------------
ARRHYTHMIA_HASH = "ab" * 32


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    return Tracker(f"sqlite:///{tmp / 'mlflow.db'}", "ablation", artifact_root=tmp / "art")


def _dvc_md5(relpath: str) -> str | None:
    from tasks.fetch.sources import manifest

    return (manifest() or {}).get(relpath)


def test_experiment_carries_the_kind_and_the_shared_view(tracker):
    exp = tracker.client.get_experiment(tracker.experiment_id)
    assert exp.tags[ui.KIND_TAG] == ui.EXPERIMENT_KIND
    state = json.loads(exp.tags[ui.SHARED_VIEW_TAG + ui.EXPERIMENT_VIEW])
    assert "metrics.`auroc`" in state["selectedColumns"] and state["searchFilter"] == ""


def test_parent_and_children_list_their_dataset_and_children_their_fit_times(tracker):
    tags = {"source.arrhythmia": ARRHYTHMIA_HASH, "data.arrhythmia": "features-key"}
    parent, resumed = tracker.open_parent("job-1", "ablation/test", {"n_cells": 1}, tags)
    assert not resumed
    cell = make_cell("arrhythmia", None, None, "sla2p", {"epsilon": 7.8125}, 0).at_point({"epsilon": 7.8125})
    rec = CellRecord(KeyedCell.of(cell, "features-key").key, cell, "ok", metrics={"auroc": 0.8}, fit_seconds=24.0,
                     started_at=1_700_000_000.0, finished_at=1_700_000_024.0)
    child = tracker.client.get_run(tracker.log_cell(parent, rec, cached=False))
    assert child.info.run_name == "sla2p/arrhythmia/epsilon=7.8125/s0"
    assert (child.info.start_time, child.info.end_time) == (1_700_000_000_000, 1_700_000_024_000)
    assert child.data.metrics["fit_seconds"] == 24.0

    md5 = _dvc_md5("odds/arrhythmia.mat")
    for run in (tracker.client.get_run(parent), child):
        (inp,) = run.inputs.dataset_inputs
        ds = inp.dataset
        assert ds.name == "arrhythmia" and len(ds.digest) <= 36
        assert ds.digest == (md5 or ARRHYTHMIA_HASH[:32])  # the file's DVC md5 where data.dvc's manifest is here
        assert json.loads(ds.source) == {"uri": "data/odds/arrhythmia.mat"} and ds.source_type == "local"
        profile = json.loads(ds.profile)
        assert profile["source_hash"] == ARRHYTHMIA_HASH and profile["features_key"] == "features-key"
        assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "benchmark"

    again, resumed = tracker.open_parent("job-1", "ablation/test", {"n_cells": 1}, tags)
    assert resumed and again == parent
    assert len(tracker.client.get_run(parent).inputs.dataset_inputs) == 1  # logged once, not per reopening

    links = tracker.links(parent, port=5123)
    assert links["parent"].startswith("http://127.0.0.1:5123/#/experiments/")
    key = parse_qs(urlsplit(links["cells"]).fragment.partition("?")[2])["viewStateShareKey"][0]
    view = json.loads(tracker.client.get_experiment(tracker.experiment_id).tags[ui.SHARED_VIEW_TAG + key])
    assert view["searchFilter"] == f"tags.`mlflow.parentRunId` = '{parent}'"
    assert view["orderByKey"] == "tags.`mlflow.runName`"  # not by date: the UI then lists the cells flat
    note = tracker.client.get_run(parent).data.tags["mlflow.note.content"]
    assert f"#/experiments/{tracker.experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={key}" in note


# -- the HTML report --------------------------------------------------------------------------
def test_html_inlines_the_plots_and_keeps_tables_readable(tmp_path):
    (tmp_path / "plots").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    (tmp_path / "plots" / "roc.png").write_bytes(png)
    err = "RuntimeError: " + "x" * 80
    md = ("# Report: t\n\n<script>alert(1)</script>\n\n| cell | status | error |\n|---|---|---|\n"
          f"| a/b/all/intrinsic/s0 | failed | {err} |\n\n![ROC](plots/roc.png)\n\n![gone](plots/none.png)\n")
    page = to_html(md, tmp_path, "t")
    src = re.search(r'<img src="data:image/png;base64,([^"]+)" alt="ROC"', page)
    assert src and base64.b64decode(src.group(1)) == png
    assert '<img src="plots/none.png" alt="gone"' in page  # a missing plot stays a visible broken link
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<th>error</th>" in page and f'<td class="long">{err}</td>' in page and "<td>failed</td>" in page
    assert "white-space: nowrap" in page and "overflow-x: auto" in page


def _small_run(tmp_path) -> RunData:
    """Two methods on a dataset with two ratios (contamination curves) and one without, two seeds."""
    rng = np.random.default_rng(0)
    results = tmp_path / "results"
    recs = []
    for ds, cls, ratios in (("alpha", None, [None]), ("beta", "a", [0.1, 0.3])):
        for ratio in ratios:
            for method in ("sla2p", "iforest"):
                for seed in (0, 1):
                    cell = make_cell(ds, cls, ratio, method, {}, seed)
                    labels = (rng.random(200) < 0.1).astype(int)
                    scores = labels * (0.8 if method == "sla2p" else 0.4) + rng.normal(0, 0.5, 200)
                    rec = CellRecord(KeyedCell.of(cell, "d").key, cell, "ok", metrics=evaluate(labels, scores),
                                     fit_seconds=1.0, n_rows=200, n_outliers=int(labels.sum()), n_features=3)
                    recs.append(save_result(results, rec, scores, labels, np.arange(200)))
    return RunData("parent", "table/t", "table", "sqlite://", results, cells_frame(recs), {r.key: r for r in recs},
                   {})


def test_report_html_is_written_and_logged_with_the_plots_as_images(tmp_path, tracker):
    run = _small_run(tmp_path)
    parent, _ = tracker.open_parent("job-report", "table/t", {}, {})
    run.parent_id, run.tracking_uri, run.experiment_id = parent, tracker.uri, tracker.experiment_id
    out = tmp_path / "report"
    files = build_report(run, out, metrics=["auroc"])
    page = files["report.html"].read_text()
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "roc_pr.png" in plots and "contamination_auroc.png" in plots
    assert page.count('src="data:image/png;base64,') == len(plots) and "plots/" not in page.split("<body>")[1]
    assert f"#/experiments/{tracker.experiment_id}/runs/{parent}?workflowType=machine_learning" in page
    log_report(run, out)
    logged = {a.path for a in tracker.client.list_artifacts(parent, "report")}
    assert {"report/report.html", "report/report.md"} <= logged
    assert {a.path for a in tracker.client.list_artifacts(parent, "plots")} == {f"plots/{p}" for p in plots}
