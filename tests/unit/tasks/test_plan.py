"""One fit plan for the dry run and the run (tasks.plan): its rules on cells built here (no data),
and the counts a dry run prints against what a run of the same job does."""

from __future__ import annotations

import pytest

from tasks.cells import make_cell
from tasks.plan import distinct, make_plan

ROWS = {("arrhythmia", None, None): 452, ("20news", "alt.atheism", 0.1): 515}
TOTALS = {"arrhythmia": 452, "20news": 11_314}
DATA = {("arrhythmia", None): "d-arr", ("20news", None): "d-20n"}
SLA = {"n_projections": 8, "proj_dim": 8, "acc_threshold": 0.6}


def _cells(methods, seeds=(0, 1, 2), dataset="arrhythmia"):
    cls, ratio = (None, None) if dataset == "arrhythmia" else ("alt.atheism", 0.1)
    return [make_cell(dataset, cls, ratio, m, dict(SLA) if m.startswith("sla") else {}, s)
            for m in methods for s in seeds]


def test_a_dry_run_plan_counts_fits_riders_and_reuses():
    cells = _cells(["sla2p", "sla", "ecod", "iforest"])
    plan = make_plan("table", cells + cells[:2], ROWS, TOTALS)  # repeats run once
    assert plan.cells == tuple(cells) and plan.keys is None
    # ecod is seed-invariant on a split of all rows: one fit, two reuses; SLA rides on SLA2P per seed
    assert plan.counts == {"cells": 12, "cached": 0, "fits": 7, "riders": 3, "reuses": 2}
    assert {plan.cells[i].method for i in plan.rides} == {"sla"}
    assert all(plan.cells[j].method == "sla2p" and plan.cells[j].seed == plan.cells[i].seed
               for i, j in plan.rides.items())
    assert {(plan.cells[i].method, plan.cells[i].seed) for i in plan.reuses} == {("ecod", 1), ("ecod", 2)}
    assert plan.shared_pairs() == ["SLA from SLA2P"] and plan.rows == (452,) * 12


def test_a_one_vs_rest_split_reuses_nothing_and_an_ablation_never_reuses():
    assert make_plan("table", _cells(["ecod"], dataset="20news"), ROWS, TOTALS).counts["reuses"] == 0
    assert make_plan("ablation", _cells(["ecod"]), ROWS, TOTALS).counts == \
        {"cells": 3, "cached": 0, "fits": 3, "riders": 0, "reuses": 0}


def test_cached_cells_are_not_fitted_and_a_rider_whose_source_is_cached_is_fitted():
    cells = _cells(["sla2p", "sla", "ecod"], seeds=(0, 1))
    keys = make_plan("table", cells, ROWS, TOTALS, DATA).keys
    by = dict(zip(((c.method, c.seed) for c in cells), keys))
    plan = make_plan("table", cells, ROWS, TOTALS, DATA, cached_keys={by["sla2p", 0], by["ecod", 0], by["ecod", 1]})
    # ecod s1 is derived (its files, if any, are never read); it counts as cached with its source
    assert {(plan.cells[i].method, plan.cells[i].seed) for i in plan.cached} == {("sla2p", 0), ("ecod", 0)}
    assert {(plan.cells[i].method, plan.cells[i].seed) for i in plan.fits} == {("sla", 0), ("sla2p", 1)}
    assert plan.counts == {"cells": 6, "cached": 3, "fits": 2, "riders": 1, "reuses": 0}
    assert plan.keyed(plan.fits[0]).key == plan.keys[plan.fits[0]]


def test_distinct_ignores_the_device_and_takes_list_valued_parameters():
    cells = _cells(["iforest"], seeds=(0,)) * 2 + [make_cell("arrhythmia", None, None, "iforest", {}, 0, device="cpu")]
    cells += [make_cell("arrhythmia", None, None, "ae", {"hidden": [8, 4]}, 0, detector="autoencoder")] * 2
    assert len(distinct(cells)) == 2


@pytest.mark.slow
def test_the_dry_run_counts_are_what_a_run_does(monkeypatch, tmp_path):
    """configs/odds.yaml on one small set and two seeds (every method: fits, SLA riding on SLA2P,
    seed-invariant reuses), run by the flow's body in this process: its counts are the plan's."""
    import flows.run as run_mod
    from flows.config import load_job
    from flows.options import RunOptions
    from tasks.plan import plan_job

    from support.inline_flow import Submit, inline_flow, run_inline

    job = load_job("odds", datasets=["odds_glass"], seeds=[0, 1])
    n = plan_job(job).counts
    assert n["fits"] and n["riders"] and n["reuses"]
    inline_flow(monkeypatch, "test_plan")
    sub = Submit()
    monkeypatch.setattr(run_mod, "fit_and_score_task", sub)
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      workers=1)
    out = run_inline(job, opts)
    assert (out["cells"], out["fitted"], out["shared"], out["reused"], out["failed"]) == \
        (n["cells"], n["fits"], n["riders"], n["reuses"], 0)
    assert len(sub.fitted) == n["fits"] and len(sub.shared) == n["riders"]
    again = run_inline(job, opts)  # the same plan with everything cached: nothing fitted
    assert (again["cached"], again["fitted"], again["run"]) == (n["cells"], 0, 0)
