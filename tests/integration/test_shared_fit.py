"""Shared fits: SLA's cell from SLA2P's fit. SLA is SLA2P without the perturbation; at equal
parameters both train the same classifier, and SLA's scores are the logits of the first forward
pass SLA2P's scoring already makes (``SLA2P.unperturbed_scores_``). A table holding both fits
SLA2P once and writes SLA's record from it (``tasks.cells.shared_fit_plan``).

Detector level: bit-identity with a separate SLA fit. Rule level: which cells pair. Flow level:
the table flow's body in this process on adbench_wbc (223 rows), as ``test_seed_reuse.py`` runs
it (no Prefect server), at K = m = 8.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import flows.run as run_mod
import tasks.estimate as est
from tasks.plan import plan_job
from baselines import SharedFit, make_detector, register, unregister
from flows.config import load_job
from flows.options import RunOptions
from sla2p import SLA, SLA2P
from tasks.cells import CellRecord, KeyedCell, make_cell, shared_fit_plan, shares_fit
from tasks.jobs import expand_job
from tasks.store import load_failure, load_record

from support.inline_flow import Submit, cell_runs, inline_flow, run_inline

# -- detector level ---------------------------------------------------------------------------------
_DENSE = np.random.default_rng(0).normal(size=(150, 12)).astype(np.float32)
_SPARSE = sp.random(150, 40, density=0.1, format="csr", random_state=1, dtype=np.float32)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("normalize", ["l2", "zscore_l2"])
@pytest.mark.parametrize("aggregate", ["mean", "median"])
def test_unperturbed_scores_are_sla_s_scores_bit_for_bit(sparse, normalize, aggregate):
    X = _SPARSE if sparse else _DENSE
    # score_batch_size 40: 150 rows in four blocks
    kw = dict(n_projections=8, proj_dim=8, acc_threshold=0.6, normalize=normalize, aggregate=aggregate,
              score_batch_size=40, max_epochs=3, device="cpu", random_state=3)
    a = SLA2P(epsilon=2.0, **kw).fit(X)
    b = SLA(**kw).fit(X)
    assert a.unperturbed_scores_.dtype == np.float64 and a.unperturbed_scores_.shape == (150,)
    assert np.array_equal(a.unperturbed_scores_, b.decision_scores_)
    assert not np.array_equal(a.decision_scores_, a.unperturbed_scores_)  # the perturbation did something
    assert np.array_equal(b.unperturbed_scores_, b.decision_scores_)  # SLA: epsilon 0


def test_with_epsilon_zero_they_are_the_decision_scores_and_pickles_keep_them(monkeypatch):
    det = SLA2P(n_projections=8, proj_dim=8, epsilon=0.0, device="cpu", random_state=0).fit(_DENSE)
    assert np.array_equal(det.unperturbed_scores_, det.decision_scores_)
    assert det.unperturbed_scores_ is not det.decision_scores_

    fitted = SLA2P(n_projections=8, proj_dim=8, device="cpu", random_state=0).fit(_DENSE)
    back = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(back.unperturbed_scores_, fitted.unperturbed_scores_)
    assert np.array_equal(back.decision_function(_DENSE[:20]), fitted.decision_function(_DENSE[:20]))

    # decision_function on new rows asks for nothing extra: one step set, no unperturbed pass
    import sla2p.scoring as scoring

    seen = []
    real = scoring.normality_score_sets
    monkeypatch.setattr(scoring, "normality_score_sets", lambda f, X, W, sets, *a, **k: seen.append(list(sets))
                        or real(f, X, W, sets, *a, **k))
    out = fitted.decision_function(_DENSE[:10])
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0] is not None and out.shape == (10,)


# -- the pairing rule ------------------------------------------------------------------------------
ADB_SLA2P = {"n_projections": 256, "proj_dim": 256, "acc_threshold": 0.6, "epsilon": 7.8125}
ADB_SLA = {"n_projections": 256, "proj_dim": 256, "acc_threshold": 0.6}


def _cell(method, params, seed=0, **kw):
    return make_cell("adbench_wbc", None, None, method, params, seed, **kw)


def test_the_adbench_parameters_pair_and_the_defaults_do_not():
    assert shares_fit(_cell("sla", ADB_SLA), _cell("sla2p", ADB_SLA2P))
    assert not shares_fit(_cell("sla2p", ADB_SLA2P), _cell("sla", ADB_SLA))  # one way only
    assert not shares_fit(_cell("sla", {}), _cell("sla2p", {}))  # acc_threshold 0.8 vs 0.6
    assert shares_fit(_cell("sla", {"acc_threshold": 0.6}), _cell("sla2p", {}))  # effective: the defaults
    assert shares_fit(_cell("sla", {**ADB_SLA, "contamination": 0.2}), _cell("sla2p", ADB_SLA2P))


@pytest.mark.parametrize("sla_cell, src_cell", [
    (_cell("sla", {**ADB_SLA, "acc_threshold": 0.7}), _cell("sla2p", ADB_SLA2P)),
    (_cell("sla", ADB_SLA, seed=1), _cell("sla2p", ADB_SLA2P)),
    (_cell("sla", ADB_SLA, row_order="inliers_first"), _cell("sla2p", ADB_SLA2P)),
    (_cell("sla", ADB_SLA), _cell("sla2p", {**ADB_SLA2P, "compat": "official"})),
    (_cell("sla", {**ADB_SLA, "normalize": "zscore_l2"}), _cell("sla2p", ADB_SLA2P)),
    (_cell("sla", ADB_SLA), _cell("ecod", {})),
    (_cell("sla", ADB_SLA), make_cell("arrhythmia", None, None, "sla2p", ADB_SLA2P, 0)),
    (_cell("sla", ADB_SLA), _cell("sla2p", {**ADB_SLA2P, "no_such": 1})),  # fails on its own
], ids=["acc_threshold", "seed", "row_order", "compat-official", "normalize", "not-the-source", "dataset",
        "bad-params"])
def test_cells_that_do_not_pair(sla_cell, src_cell):
    assert not shares_fit(sla_cell, src_cell)


def test_a_detector_with_max_fit_rows_never_shares():
    register("sla_capped", SLA, description="test", accepts_sparse=True, max_fit_rows=100,
             shared=SharedFit("sla2p", attribute="unperturbed_scores_", ignores=("epsilon",)))
    try:
        assert not shares_fit(_cell("sla_capped", ADB_SLA), _cell("sla2p", ADB_SLA2P))
    finally:
        unregister("sla_capped")


def test_the_registry_validates_the_declaration():
    def bad(shared, message):
        with pytest.raises(ValueError, match=message):
            register("x_share", SLA, description="t", shared=shared)

    bad(SharedFit("nope", attribute="a_"), "not a registered detector")
    bad(SharedFit("sla", attribute="a_"), "shares the fit of 'sla2p' itself")
    bad(SharedFit("", attribute="a_"), "SharedFit.source must name a registered detector")
    bad({"source": "sla2p", "attribute": "a_"}, "shared must be a SharedFit or None")
    bad(SharedFit("sla2p"), r"give exactly one of SharedFit\.attribute .* and SharedFit\.scores")
    bad(SharedFit("sla2p", attribute="a_", scores=lambda src, own: src.a_),
        r"give exactly one of SharedFit\.attribute .* and SharedFit\.scores")
    bad(SharedFit("sla2p", attribute="a"), r"SharedFit\.attribute must name a fitted attribute")
    bad(SharedFit("sla2p", attribute="a_", setup="f"), r"SharedFit\.setup must be a function")
    for cost in (-0.1, 1.5, True, "1/3"):
        bad(SharedFit("sla2p", attribute="a_", cost=cost), r"SharedFit\.cost must be a fraction")
    bad(SharedFit("sla2p", attribute="a_", ignores="epsilon"), r"SharedFit\.ignores must be a sequence")
    bad(SharedFit("sla2p", attribute="a_", ignores=("eps",)), "names no parameter")
    from baselines import detector_info, list_detectors

    assert "x_share" not in list_detectors()
    shared = detector_info("sla").shared
    assert shared == SharedFit("sla2p", ignores=("epsilon",), attribute="unperturbed_scores_")
    # what register keeps: ignores as a tuple, cost as a float
    info = register("x_share", SLA, description="t", shared=SharedFit("sla2p", attribute="a_", ignores=["epsilon"],
                                                                      cost=0))
    try:
        assert info.shared.ignores == ("epsilon",) and type(info.shared.cost) is float
    finally:
        unregister("x_share")


def test_the_plan_and_its_composition_with_one_fit_per_split():
    cells = [_cell("sla", ADB_SLA, 0), _cell("sla2p", ADB_SLA2P, 0), _cell("sla", ADB_SLA, 1),
             _cell("sla2p", ADB_SLA2P, 1), _cell("sla", {}, 0), _cell("sla2p", ADB_SLA2P, 2)]
    assert shared_fit_plan(cells) == {0: 1, 2: 3}
    # a cell one fit per split derives is never fitted: it neither gives nor takes a fit
    assert shared_fit_plan(cells, derived={3}) == {0: 1}
    assert shared_fit_plan(cells, derived={0}) == {2: 3}


def test_a_shared_record_round_trips_and_old_records_load_unchanged():
    cell, src = _cell("sla", ADB_SLA), _cell("sla2p", ADB_SLA2P)
    rec = CellRecord("k1", cell, "ok", metrics={"auroc": 0.7}, n_rows=223, shares_fit_of="k0")
    assert rec.to_dict()["shares_fit_of"] == "k0" and CellRecord.from_dict(rec.to_dict()) == rec
    plain = rec.replace(shares_fit_of=None)
    assert "shares_fit_of" not in plain.to_dict() and CellRecord.from_dict(plain.to_dict()).shares_fit_of is None
    failed = CellRecord.shared_failure(KeyedCell(cell, "d", "k1"), KeyedCell(src, "d", "k0"), "RuntimeError: boom")
    assert failed.error == f"shares the fit of {src.name}, which failed: RuntimeError: boom"
    assert failed.status == "failed" and failed.shares_fit_of == "k0"
    # a record derived from a shared one (one fit per split) names only the record it copies
    derived = rec.reusing(KeyedCell(_cell("sla", ADB_SLA, 1), "d", "k2"))
    assert derived.reused_from == "k1" and derived.shares_fit_of is None


# -- the flow --------------------------------------------------------------------------------------
TABLE = """
kind: table
name: shared-fit
seeds: [0, 1]
datasets:
  adbench_wbc: {}
methods:
  sla2p: {params: {n_projections: 8, proj_dim: 8, acc_threshold: 0.6, max_epochs: 2, epsilon: 7.8125}}
  sla: {params: {n_projections: 8, proj_dim: 8, acc_threshold: 0.6, max_epochs: 2}}
"""
SLA_ONLY = TABLE.replace(
    "  sla2p: {params: {n_projections: 8, proj_dim: 8, acc_threshold: 0.6, max_epochs: 2, epsilon: 7.8125}}\n", "")
SLA2P_ONLY = TABLE.replace("  sla: {params: {n_projections: 8, proj_dim: 8, acc_threshold: 0.6, max_epochs: 2}}\n", "")


@pytest.fixture
def flow(monkeypatch, tmp_path):
    """``flow(config_text, where="a")`` -> (summary, the _Submit), results and MLflow per ``where``."""
    inline_flow(monkeypatch, "test_shared_fit")

    def go(text=TABLE, where="a"):
        cfg = tmp_path / f"{where}.yaml"
        cfg.write_text(text)
        sub = Submit()
        monkeypatch.setattr(run_mod, "fit_and_score_task", sub)
        # one MLflow store for all (creating one costs seconds); a results folder per ``where``
        opts = RunOptions(results_dir=str(go.results(where)), tracking_uri=go.uri, workers=1)
        return run_inline(load_job(str(cfg)), opts), sub

    go.uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    go.results = lambda where="a": tmp_path / where / "results"
    return go


def _sla_records(out, results):
    import pandas as pd

    cells = pd.read_csv(f"{out['tables_dir']}/cells.csv")
    return {int(r.seed): load_record(results, r.key) for r in cells[cells.method == "sla"].itertuples()}


def test_a_table_fits_sla2p_once_and_sla_gets_the_scores_of_its_own_fit(flow):
    out, sub = flow()
    assert sorted((c.method, c.seed) for c in sub.fitted) == [("sla2p", 0), ("sla2p", 1)]
    assert sorted((c.method, c.seed) for c in sub.shared) == [("sla", 0), ("sla", 1)]
    assert (out["cells"], out["run"], out["fitted"], out["shared"], out["failed"]) == (4, 4, 2, 2, 0)
    shared = _sla_records(out, flow.results())
    children = cell_runs(flow.uri, out["parent_run_id"])
    for seed, rec in shared.items():
        src = children[f"sla2p/adbench_wbc/all/intrinsic/s{seed}"]
        assert rec.shares_fit_of == src.data.tags["sla2p.cell_key"] and rec.fit_seconds is None
        assert rec.history["stop_reason"] and rec.scores_file  # the fit's history, files of its own
        r = children[rec.name]
        assert r.data.tags["sla2p.shares_fit_of"] == src.info.run_name
        assert r.data.tags["sla2p.shares_fit_of_key"] == rec.shares_fit_of
        assert "fit_seconds" not in r.data.metrics and r.info.status == "FINISHED"
        assert r.data.metrics["auroc"] != src.data.metrics["auroc"]  # its own scores, not SLA2P's

    # SLA alone, elsewhere: the same scores (file hash) and metrics, from a fit of its own
    solo, solo_sub = flow(SLA_ONLY, where="b")
    assert sorted(c.seed for c in solo_sub.fitted) == [0, 1] and solo["shared"] == 0
    for seed, rec in _sla_records(solo, flow.results("b")).items():
        assert rec.shares_fit_of is None and rec.fit_seconds is not None
        assert rec.key == shared[seed].key
        assert rec.scores_sha256 == shared[seed].scores_sha256 and rec.metrics == shared[seed].metrics

    # a rerun is fully cached
    out2, sub2 = flow()
    assert sub2.fitted == [] and (out2["cached"], out2["run"], out2["fitted"], out2["shared"]) == (4, 0, 0, 0)
    assert out2["parent_run_id"] == out["parent_run_id"]
    assert set(cell_runs(flow.uri, out["parent_run_id"])) == set(children)


def test_with_its_source_cached_a_sharing_cell_is_fitted_on_its_own(flow):
    text = SLA2P_ONLY.replace("seeds: [0, 1]", "seeds: [0]")
    flow(text)
    out, sub = flow(TABLE.replace("seeds: [0, 1]", "seeds: [0]"))
    assert [c.method for c in sub.fitted] == ["sla"] and sub.shared == []
    assert (out["cached"], out["shared"]) == (1, 0)
    assert _sla_records(out, flow.results())[0].shares_fit_of is None


def test_a_failed_source_fails_its_sharing_cell_and_a_rerun_fits_both(flow, monkeypatch):
    import tasks.detect.fit_score as fs

    real = fs.fit_detector

    def broken(det, detector, *a, **k):
        if detector == "sla2p":
            raise RuntimeError("boom")
        return real(det, detector, *a, **k)

    text = TABLE.replace("seeds: [0, 1]", "seeds: [0]")
    monkeypatch.setattr(fs, "fit_detector", broken)
    out, sub = flow(text)
    assert [c.method for c in sub.fitted] == ["sla2p"] and (out["failed"], out["shared"]) == (2, 1)
    src = "sla2p/adbench_wbc/all/intrinsic/s0"
    r = cell_runs(flow.uri, out["parent_run_id"])["sla/adbench_wbc/all/intrinsic/s0"]
    assert r.info.status == "FAILED" and r.data.tags["sla2p.shares_fit_of"] == src
    assert r.data.tags["error"] == f"shares the fit of {src}, which failed: RuntimeError: boom"
    assert load_failure(flow.results(), r.data.tags["sla2p.cell_key"]).error == r.data.tags["error"]

    monkeypatch.setattr(fs, "fit_detector", real)
    out2, sub2 = flow(text)
    assert [c.method for c in sub2.fitted] == ["sla2p"] and [c.method for c in sub2.shared] == ["sla"]
    assert (out2["failed"], out2["run"], out2["shared"]) == (0, 2, 1)


BIGSTEP = {"sla2p_bigstep": {"params": {"n_projections": 8, "proj_dim": 8, "acc_threshold": 0.6, "max_epochs": 2}}}


def _with(text, seeds, methods):
    import yaml

    doc = yaml.safe_load(text)
    doc["seeds"], doc["methods"] = seeds, methods(doc["methods"])
    return yaml.safe_dump(doc)


def test_sla2p_bigstep_rides_on_the_same_fit_with_the_scores_of_its_own(flow):
    three = _with(TABLE, [0], lambda m: {**m, **BIGSTEP})
    out, sub = flow(three)
    assert [c.method for c in sub.fitted] == ["sla2p"]
    assert sorted(c.method for c in sub.shared) == ["sla", "sla2p_bigstep"]
    assert (out["cells"], out["fitted"], out["shared"], out["failed"]) == (3, 1, 2, 0)
    import pandas as pd

    cells = pd.read_csv(f"{out['tables_dir']}/cells.csv").set_index("method")
    big = load_record(flow.results(), cells.loc["sla2p_bigstep", "key"])
    assert big.shares_fit_of == cells.loc["sla2p", "key"] and big.fit_seconds is None
    # alone, elsewhere: its own fit gives the same key, scores and metrics
    solo, solo_sub = flow(_with(TABLE, [0], lambda m: BIGSTEP), where="b")
    assert [c.method for c in solo_sub.fitted] == ["sla2p_bigstep"] and solo["shared"] == 0
    alone = load_record(flow.results("b"), big.key)
    assert alone.shares_fit_of is None and alone.scores_sha256 == big.scores_sha256 and alone.metrics == big.metrics


SWEEP = """
kind: ablation
name: eps-sweep
seeds: [0]
datasets:
  adbench_wbc: {}
method: sla2p
base: {params: {n_projections: 8, proj_dim: 8, acc_threshold: 0.6, max_epochs: 2, epsilon: 2.0}}
grid:
  epsilon: [2.0, 0.0, 7.8125]
"""


def test_an_epsilon_sweep_fits_once_and_each_step_has_the_scores_of_its_own_fit(flow):
    out, sub = flow(SWEEP)
    assert len(sub.fitted) == 1 and sub.fitted[0].param_dict["epsilon"] == 2.0  # the first grid point
    assert sorted(c.param_dict["epsilon"] for c in sub.shared) == [0.0, 7.8125]
    assert (out["cells"], out["fitted"], out["shared"], out["failed"]) == (3, 1, 2, 0)
    import pandas as pd

    cells = pd.read_csv(f"{out['tables_dir']}/cells.csv")
    recs = {rec.cell.param_dict["epsilon"]: rec for rec in (load_record(flow.results(), k) for k in cells.key)}
    assert recs[0.0].shares_fit_of == recs[2.0].key == recs[7.8125].shares_fit_of
    # each step alone, elsewhere: the same keys, scores and metrics from fits of their own
    for eps in (0.0, 7.8125):
        solo, solo_sub = flow(SWEEP.replace("[2.0, 0.0, 7.8125]", f"[{eps}]").replace("epsilon: 2.0", f"epsilon: {eps}"),
                              where=f"solo{eps}")
        assert len(solo_sub.fitted) == 1 and solo["shared"] == 0
        alone = load_record(flow.results(f"solo{eps}"), recs[eps].key)
        assert alone.scores_sha256 == recs[eps].scores_sha256 and alone.metrics == recs[eps].metrics


def test_new_steps_of_a_cached_sweep_share_one_fit_among_themselves(flow):
    flow(SWEEP.replace("[2.0, 0.0, 7.8125]", "[2.0]"))
    out, sub = flow(SWEEP.replace("[2.0, 0.0, 7.8125]", "[2.0, 0.5, 7.8125]"))
    assert out["cached"] == 1 and (out["fitted"], out["shared"]) == (1, 1)
    assert [c.param_dict["epsilon"] for c in sub.fitted] == [0.5]
    assert [c.param_dict["epsilon"] for c in sub.shared] == [7.8125]


# -- the dry run -----------------------------------------------------------------------------------
def test_the_estimate_counts_a_shared_cell_at_no_cost():
    import yaml

    both = expand_job(yaml.safe_load(TABLE), "shared-fit.yaml")
    alone = expand_job(yaml.safe_load(SLA2P_ONLY), "shared-fit.yaml")
    costs = est.load_costs()
    e, e0 = (est.estimate(plan_job(j), costs=costs, rate_gflops=80.0, same_cpu=True) for j in (both, alone))
    assert (e.counts["cells"], e.counts["fits"], e.counts["riders"], e.shared_pairs) == (4, 2, 2, ["SLA from SLA2P"])
    assert e.by_method["sla"] == 0.0 and e.total == pytest.approx(e0.total)


def test_make_detector_builds_what_the_rule_compares():
    # the rule compares detectors as the cell runner builds them: presets and defaults included
    a, b = make_detector("sla", random_state=0, **ADB_SLA), make_detector("sla2p", random_state=0, **ADB_SLA2P)
    assert (a.compat, a.epsilon, b.compat) == ("none", 0.0, "none")
