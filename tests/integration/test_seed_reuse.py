"""One fit per split: in a table, the seeds of a split whose rows do not depend on the seed, for a
detector registered ``seed_invariant``, are fitted once (the lowest seed) and the other seeds'
records derived from that fit; every other cell is fitted per seed.

The flow body (:func:`flows.run._execute`) runs in this process on real data (the two smallest
intrinsic sets) into a temporary results folder and SQLite MLflow store, with Prefect's task
submission replaced by a direct call of the plain cell function (no Prefect server: a few seconds
a run). The CLI end to end is ``test_flows_e2e.py``'s (its 'knn' column now reuses fits too).
"""

from __future__ import annotations


import pytest

import flows.run as run_mod
import tasks.estimate as est
from tasks.plan import plan_job
from flows.config import load_job
from flows.options import RunOptions
from tasks.cells import CellRecord, KeyedCell, make_cell, reuse_plan, split_rows_fixed
from tasks.detect import fit_and_score
from tasks.jobs import expand_job

from support.inline_flow import Submit, cell_runs, inline_flow, run_inline

SEEDS = [0, 1, 2]
CONFIG = """
kind: table
name: seed-reuse
seeds: [0, 1, 2]
datasets:
  adbench_wbc: {}
  arrhythmia: {}
methods:
  ecod: {}
  iforest: {params: {n_estimators: 20}}
"""


@pytest.fixture
def flow(monkeypatch, tmp_path):
    """Run the table flow's body in this process: ``flow(config_text, **options)`` -> (summary,
    the cells fitted). The report is skipped (its own tests build it)."""
    inline_flow(monkeypatch, "test_seed_reuse")
    cfg = tmp_path / "seed-reuse.yaml"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def go(text=CONFIG, submit=None, **options):
        cfg.write_text(text)
        sub = submit or Submit()
        monkeypatch.setattr(run_mod, "fit_and_score_task", sub)
        opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=uri, workers=1, **options)
        return run_inline(load_job(str(cfg)), opts), sub.fitted

    go.uri, go.results = uri, tmp_path / "results"
    return go


def test_a_seed_invariant_method_is_fitted_once_per_split_and_the_rest_per_seed(flow):
    out, fitted = flow()
    # ecod: one fit per dataset (its lowest seed); iforest: every seed
    assert sorted((c.method, c.dataset, c.seed) for c in fitted) == sorted(
        [("ecod", ds, 0) for ds in ("adbench_wbc", "arrhythmia")]
        + [("iforest", ds, s) for ds in ("adbench_wbc", "arrhythmia") for s in SEEDS])
    assert (out["cells"], out["run"], out["fitted"], out["reused"], out["failed"]) == (12, 12, 8, 4, 0)

    children = cell_runs(flow.uri)
    assert len(children) == 12 and {r.info.status for r in children.values()} == {"FINISHED"}
    for ds in ("adbench_wbc", "arrhythmia"):
        first = children[f"ecod/{ds}/all/intrinsic/s0"]
        assert "sla2p.reuses_cell" not in first.data.tags and "fit_seconds" in first.data.metrics
        for s in SEEDS[1:]:
            r = children[f"ecod/{ds}/all/intrinsic/s{s}"]
            # its own run and seed, tagged with the fit it reuses (name and key), the same metrics
            assert r.data.params["seed"] == str(s)
            assert r.data.tags["sla2p.reuses_cell"] == first.info.run_name
            assert r.data.tags["sla2p.reuses_cell_key"] == first.data.tags["sla2p.cell_key"]
            assert r.data.tags["sla2p.cell_key"] != first.data.tags["sla2p.cell_key"]
            for m in ("auroc", "aupr", "ap", "n_rows", "n_outliers"):
                assert r.data.metrics[m] == first.data.metrics[m], m
            assert "fit_seconds" not in r.data.metrics  # the time is counted once, on the fit
        # iforest's seeds are fitted: their own scores, not copies
        aurocs = {children[f"iforest/{ds}/all/intrinsic/s{s}"].data.metrics["auroc"] for s in SEEDS}
        assert len(aurocs) > 1, aurocs

    # the table: ecod has no spread over seeds (one fit), iforest has
    import pandas as pd

    cells = pd.read_csv(f"{out['tables_dir']}/cells.csv")
    spread = cells.groupby(["dataset", "method"]).auroc.std(ddof=0)
    assert (spread.xs("ecod", level="method") == 0).all() and (spread.xs("iforest", level="method") > 0).all()
    assert sorted(cells[cells.method == "ecod"].seed) == sorted(SEEDS * 2)

    # derived cells have no files of their own: only the 8 fits wrote results
    assert len(list((flow.results / "cells").rglob("*.npz"))) == 8

    # a rerun is fully cached: nothing fitted, the derived cells derived again, no new child run
    out2, fitted2 = flow()
    assert fitted2 == [] and (out2["cached"], out2["run"], out2["fitted"], out2["reused"]) == (12, 0, 0, 0)
    assert set(cell_runs(flow.uri)) == set(children)
    pd.testing.assert_frame_equal(pd.read_csv(f"{out2['tables_dir']}/cells.csv").drop(columns="cached"),
                                  cells.drop(columns="cached"))


def test_a_failed_fit_fails_the_cells_that_reuse_it(flow):
    def broken(work, results_dir):
        if work.cell.method == "ecod":
            raise RuntimeError("boom")
        return fit_and_score(work, results_dir)

    text = CONFIG.replace("  arrhythmia: {}\n", "").replace("seeds: [0, 1, 2]", "seeds: [0, 1]")
    out, fitted = flow(text, submit=Submit(broken))
    assert [c.seed for c in fitted if c.method == "ecod"] == [0]
    assert (out["cells"], out["failed"], out["fitted"], out["reused"]) == (4, 2, 3, 1)
    r = cell_runs(flow.uri)["ecod/adbench_wbc/all/intrinsic/s1"]
    assert r.info.status == "FAILED"
    assert r.data.tags["error"] == "reuses ecod/adbench_wbc/all/intrinsic/s0, which failed: RuntimeError: boom"
    assert r.data.tags["sla2p.reuses_cell"] == "ecod/adbench_wbc/all/intrinsic/s0"


def _report_reads_reused_cells() -> bool:
    import inspect

    import tasks.report.source as source

    return "sla2p.reuses_cell_key" in inspect.getsource(source)


@pytest.mark.xfail(not _report_reads_reused_cells(), strict=True,
                   reason="tasks/report/source.py does not read a reused fit's files yet (the change is in issue 15's "
                          "helper report); this test then passes and the marker no longer applies")
def test_the_report_reads_a_reused_cell_from_the_fit_it_reuses(flow):
    from tasks.report import load_run

    text = CONFIG.replace("  arrhythmia: {}\n", "").replace("seeds: [0, 1, 2]", "seeds: [0, 1]")
    text = text.replace("  iforest: {params: {n_estimators: 20}}\n", "")
    out, fitted = flow(text)
    assert len(fitted) == 1 and out["reused"] == 1
    run = load_run(out["parent_run_id"], tracking_uri=flow.uri, results_dir=flow.results)
    by_seed = {r.cell.seed: r for r in run.records.values()}
    assert by_seed[1].status == "ok", by_seed[1].error
    assert by_seed[1].reused_from == by_seed[0].key and by_seed[1].metrics == by_seed[0].metrics
    assert (run.scores(by_seed[1].key)["scores"] == run.scores(by_seed[0].key)["scores"]).all()
    assert not [n for n in run.notes if "logged" in n]  # the logged metrics are those of its scores


def test_the_dry_run_estimate_counts_one_fit_per_split():
    job3 = expand_job(_yaml(CONFIG), "seed-reuse.yaml")
    job1 = expand_job(_yaml(CONFIG), "seed-reuse.yaml", seeds=[0])
    costs = est.load_costs()
    e3, e1 = (est.estimate(plan_job(j), costs=costs, rate_gflops=80.0, same_cpu=True) for j in (job3, job1))
    assert (e3.counts["cells"], e3.counts["fits"], e3.counts["reuses"]) == (12, 8, 4)
    assert (e1.counts["fits"], e1.counts["reuses"]) == (4, 0)
    assert e3.by_method["ecod"] == pytest.approx(e1.by_method["ecod"])  # one fit, not three
    assert e3.by_method["iforest"] == pytest.approx(3 * e1.by_method["iforest"])


def _yaml(text):
    import yaml

    return yaml.safe_load(text)


# -- which cells share a fit (no data: the rule alone) ---------------------------------------------
def _cell(ds, method, seed, cls=None, ratio=None, **params):
    return make_cell(ds, cls, ratio, method, params, seed)


def test_the_plan_groups_only_seeds_of_fixed_rows_for_seed_invariant_detectors():
    rows = {"adbench_wbc": 223, "kddcup99": 494_021, "20news": 11_314}
    cells = [_cell("adbench_wbc", "ecod", s) for s in (2, 0, 1)]               # 0: lowest seed, fitted
    cells += [_cell("adbench_wbc", "ecod", s, contamination=0.2) for s in (0, 1)]  # other params: own group
    cells += [_cell("adbench_wbc", "iforest", s) for s in (0, 1)]              # draws from the seed
    cells += [_cell("kddcup99", "ecod", s) for s in (0, 1)]                    # paper set: all rows
    cells += [_cell("kddcup99", "knn", s) for s in (0, 1)]                     # fitted on a seeded subsample
    cells += [_cell("20news", "ecod", s, "comp.graphics", 0.1) for s in (0, 1)]  # one-vs-rest: seeded rows
    plan = reuse_plan(cells, lambda c: rows[c.dataset])
    assert plan == {0: 1, 2: 1, 4: 3, 8: 7}


def test_split_rows_fixed_follows_the_protocol():
    assert split_rows_fixed("arrhythmia", 452) and split_rows_fixed("kddcup99", 494_021)  # the paper's: all rows
    assert split_rows_fixed("adbench_wbc", 223)
    assert not split_rows_fixed("adbench_wbc", 12_001)  # an extra above the cap is subsampled by the seed
    assert not split_rows_fixed("20news", 11_314)


def test_a_derived_record_round_trips_and_old_records_load_unchanged():
    cell0, cell1 = _cell("adbench_wbc", "ecod", 0), _cell("adbench_wbc", "ecod", 1)
    fitted = CellRecord("k0", cell0, "ok", metrics={"auroc": 0.9}, fit_seconds=1.5, n_rows=223,
                        started_at=1.0, finished_at=2.5, scores_file="cells/k0/k0.npz", scores_sha256="abc")
    d = fitted.reusing(KeyedCell(cell1, "data", "k1"))
    assert (d.key, d.cell.seed, d.reused_from, d.scores_key) == ("k1", 1, "k0", "k0")
    assert d.metrics == {"auroc": 0.9} and d.n_rows == 223 and d.status == "ok"
    assert d.fit_seconds is None and d.started_at is None and d.scores_file == "cells/k0/k0.npz"
    assert CellRecord.from_dict(d.to_dict()) == d
    assert "reused_from" not in fitted.to_dict() and CellRecord.from_dict(fitted.to_dict()).reused_from is None
    with pytest.raises(ValueError, match="reuses another fit itself"):
        d.reusing(KeyedCell(cell0, "data", "k2"))


def test_a_cell_runs_with_the_torch_threads_it_is_given(tmp_path, monkeypatch):
    import torch

    from tasks.embed import prepare_dataset

    work = KeyedCell.of(make_cell("adbench_wbc", None, None, "ecod", {}, 0), prepare_dataset("adbench_wbc")["data_key"])
    monkeypatch.setenv("SLA2P_TORCH_THREADS", "3")  # no longer read: the argument is the one setting
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        fit_and_score(work, str(tmp_path))
        assert torch.get_num_threads() == 2  # None: left as it is
        fit_and_score(work, str(tmp_path), threads=1)
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads must be None or an int >= 1, got 0"):
            fit_and_score(work, str(tmp_path), threads=0)
    finally:
        torch.set_num_threads(before)
