"""The time estimate reads measured costs (bench/measured_costs.json, written by
bench/bench_baselines.py), scales them by a cell's rows with the registry's fit rule, and refuses
a missing or corrupt costs file. No timing asserts here: the dry run's speed is a bench figure
(``bench/bench_baselines.py --dry-run-speed``)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml

import tasks.estimate as est
from baselines import detector_info, list_detectors
from tasks.cells import make_cell
from tasks.env import CODE_ROOT
from tasks.plan import distinct, make_plan


def _m(fit, n, d, fit_rows=None, score=0.0, status="ok", **kw):
    return {"status": status, "fit_seconds": fit, "score_seconds": score, "seconds": fit + score, "n": n, "d": d,
            "fit_rows": fit_rows or n, "gemm_core_gflops": 80.0, **kw}


def costs_doc():
    return {"format": est.COSTS_FORMAT, "gemm_core_gflops": 80.0, "date": "2026-12-01T00:00:00+00:00",
            "cells": {"arrhythmia": {"n": 452, "d": 274, "extractor": "identity"},
                      "kddcup99": {"n": 20000, "d": 118, "extractor": "identity"}},
            "costs": {"iforest": {"arrhythmia": _m(0.5, 452, 274), "kddcup99": _m(4.0, 20000, 118)},
                      "knn": {"arrhythmia": _m(0.2, 452, 274),
                              "kddcup99": _m(30.0, 20000, 118, fit_rows=12000, score=10.0)},
                      "goad": {"arrhythmia": _m(10.0, 452, 274)}}}


ROWS = {("arrhythmia", None, None): 452, ("kddcup99", None, None): 494_021}


def FakeJob(cells):
    """The plan of ``cells``, rows given here: no data needed."""
    return make_plan("table", cells, ROWS, {ds: n for (ds, _, _), n in ROWS.items()})


@pytest.fixture
def offline(monkeypatch):
    """Nothing is embedded."""
    monkeypatch.setattr(est, "_embedded", lambda ds: True)


def _cells(methods, datasets=("arrhythmia",), seeds=(0,)):
    return [make_cell(ds, None, None, m, {}, s) for ds in datasets for m in methods for s in seeds]


# -- the file: read, validated, refused with a clear error ----------------------------------------
def test_missing_file_is_refused_naming_the_command(tmp_path):
    with pytest.raises(est.CostsFileError, match=r"missing.*bench/bench_baselines\.py"):
        est.load_costs(tmp_path / "nope.json")


def test_unreadable_json_is_refused(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"format": 1, "costs": {')
    with pytest.raises(est.CostsFileError, match=r"unreadable.*JSONDecodeError.*bench_baselines"):
        est.load_costs(p)


@pytest.mark.parametrize("breakage", ["format", "no_costs", "negative", "nan", "no_gemm", "zero_rows"])
def test_corrupt_content_is_refused(tmp_path, breakage):
    doc = costs_doc()
    if breakage == "format":
        doc["format"] = 99
    elif breakage == "no_costs":
        doc["costs"] = {}
    elif breakage == "negative":
        doc["costs"]["iforest"]["arrhythmia"]["fit_seconds"] = -1
    elif breakage == "nan":
        doc["costs"]["iforest"]["arrhythmia"]["fit_seconds"] = "nan"
    elif breakage == "no_gemm":
        del doc["gemm_core_gflops"]
    else:
        doc["costs"]["knn"]["kddcup99"]["fit_rows"] = 0
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(est.CostsFileError, match="corrupt"):
        est.load_costs(p)


def test_a_good_file_loads(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(costs_doc()))
    assert est.load_costs(p)["costs"]["knn"]["kddcup99"]["fit_rows"] == 12000


def test_estimate_refuses_when_the_file_is_missing(offline, monkeypatch, tmp_path):
    monkeypatch.setattr(est, "COSTS_FILE", tmp_path / "gone.json")
    with pytest.raises(est.CostsFileError, match="missing"):
        est.estimate(FakeJob(_cells(["iforest"])), rate_gflops=80.0)


# -- the figures come from the file, scaled by the registry's rule --------------------------------
def test_estimate_is_the_measured_cost_per_cell(offline):
    e = est.estimate(FakeJob(_cells(["iforest", "goad"], seeds=(0, 1, 2))), costs=costs_doc(), rate_gflops=80.0)
    assert e.by_method["iforest"] == pytest.approx(3 * 0.5)
    assert e.by_method["goad"] == pytest.approx(3 * 10.0)
    doubled = costs_doc()
    doubled["costs"]["goad"]["arrhythmia"]["fit_seconds"] = 20.0
    e2 = est.estimate(FakeJob(_cells(["goad"])), costs=doubled, rate_gflops=80.0)
    assert e2.by_method["goad"] == pytest.approx(20.0)  # read from the file, not a constant
    assert e.unmeasured == []


def test_another_cpu_rescales_the_measured_seconds_by_the_gemm_probe(offline):
    job = FakeJob(_cells(["iforest"]))
    e = est.estimate(job, costs=costs_doc(), rate_gflops=40.0, same_cpu=False)
    assert e.by_method["iforest"] == pytest.approx(1.0)  # measured at 80 GFLOP/s, now 40
    same = est.estimate(job, costs=costs_doc(), rate_gflops=40.0, same_cpu=True)
    assert same.by_method["iforest"] == pytest.approx(0.5)  # the measuring CPU: seconds as measured


def test_each_figure_is_scaled_by_the_machine_it_was_measured_on(offline):
    """A file re-measured in part on this machine: those figures are used as they are, the rest
    (another CPU, the file's machine) rescaled by their own probe."""
    import os

    from tasks.env import cpu_model

    doc = costs_doc()
    doc["machine"] = {"cpu": "Some Other CPU", "cores": 64}
    doc["costs"]["goad"]["arrhythmia"].update(cpu=cpu_model(), cores=os.cpu_count(), gemm_core_gflops=20.0)
    e = est.estimate(FakeJob(_cells(["iforest", "goad"])), costs=doc, rate_gflops=40.0)
    assert e.by_method["goad"] == pytest.approx(10.0)  # measured here: as measured, whatever its probe read
    assert e.by_method["iforest"] == pytest.approx(1.0)  # the file's machine, 80 GFLOP/s then, 40 now


def test_workers_share_the_wall_time_and_threads_convert_the_figures(offline):
    """Figures measured on one thread: two workers of one thread each take half the summed time;
    one worker on two threads runs each cell 1.6x faster (the probe's parallel efficiency)."""
    doc = costs_doc()
    for per in doc["costs"].values():
        for m in per.values():
            m["threads"] = 1
    job = FakeJob(_cells(["iforest"], seeds=(0, 1, 2, 3)))
    two = est.estimate(job, costs=doc, rate_gflops=80.0, same_cpu=True, workers=2, threads=1)
    assert two.per_cell == pytest.approx((0.5,) * 4) and two.by_method["iforest"] == pytest.approx(1.0)
    one = est.estimate(job, costs=doc, rate_gflops=80.0, same_cpu=True, workers=1, threads=2)
    assert one.by_method["iforest"] == pytest.approx(4 * 0.5 / (2 * est.PARALLEL_EFFICIENCY))


def test_linear_method_scales_with_rows(offline):
    e = est.estimate(FakeJob(_cells(["iforest"], datasets=("kddcup99",))), costs=costs_doc(), rate_gflops=80.0)
    assert e.by_method["iforest"] == pytest.approx(4.0 * 494_021 / 20_000)
    assert "iforest" not in e.subsampled


def test_subsampled_quadratic_method_costs_the_capped_fit_plus_linear_scoring(offline):
    assert detector_info("knn").max_fit_rows == 12_000
    e = est.estimate(FakeJob(_cells(["knn"], datasets=("kddcup99",))), costs=costs_doc(), rate_gflops=80.0)
    assert e.by_method["knn"] == pytest.approx(30.0 + 10.0 / 20_000 * 494_021)
    assert "12,000" in e.subsampled["knn"]


def test_quadratic_method_without_a_cap_in_reach_scales_quadratically():
    m = _m(2.0, 1000, 100)
    assert est.baseline_seconds("knn", 2000, 100, m) == pytest.approx(8.0)
    assert est.baseline_seconds("iforest", 2000, 100, m) == pytest.approx(4.0)
    assert est.baseline_seconds("iforest", 2000, 200, m) == pytest.approx(8.0)  # features: linear


def test_unmeasured_pair_is_scaled_from_another_dataset_and_listed(offline):
    e = est.estimate(FakeJob(_cells(["goad"], datasets=("kddcup99",))), costs=costs_doc(), rate_gflops=80.0)
    assert e.unmeasured == ["goad/kddcup99"]
    # goad's fit is capped at 12,000 rows; with no scoring pass measured, a row scores at its fit cost
    fit = 10.0 * 12_000 / 452 * 118 / 274
    assert e.by_method["goad"] == pytest.approx(fit + 10.0 / 452 * 494_021 * 118 / 274)
    doc = costs_doc()
    doc["costs"]["goad"]["arrhythmia"]["rescore_seconds"] = 0.452  # a measured scoring pass: 1 ms a row
    e2 = est.estimate(FakeJob(_cells(["goad"], datasets=("kddcup99",))), costs=doc, rate_gflops=80.0)
    assert e2.by_method["goad"] == pytest.approx(fit + 0.001 * 494_021 * 118 / 274)


def test_features_scale_along_the_detectors_measured_width_curve():
    # seconds per fitted row: 1 ms at 10 features, 4 ms at 1,000 (a network whose hidden layers
    # cost as much as its input layer until the input grows wide)
    per = {"narrow": _m(1.0, 1000, 10), "wide": _m(2.0, 500, 1000), "proxy": _m(99.0, 10, 100, proxy=True)}
    curve = est.width_curve(per)
    assert curve == [(10.0, pytest.approx(1e-3)), (1000.0, pytest.approx(4e-3))]  # real cells before proxies
    assert est.width_scale(curve, 2, 10) == 1.0                                   # flat below the narrowest
    assert est.width_scale(curve, 100, 10) == pytest.approx(2.0)                  # log-log inside: sqrt(4)
    slope = math.log(4) / math.log(100)  # above the widest: the widest segment's slope
    assert est.width_scale(curve, 2000, 1000) == pytest.approx(2 ** slope)
    steep = [(10.0, 1e-3), (100.0, 1e-1)]                                          # slope 2: capped at proportional
    flat = [(10.0, 1e-3), (100.0, 1e-3), (1000.0, 0.9e-3)]                         # slope < 0: held flat (SLAD)
    assert est.width_scale(steep, 1000, 100) == pytest.approx(10.0)
    assert est.width_scale(flat, 10_000, 1000) == pytest.approx(1.0)
    assert est.width_scale(curve, 10, 1000) == pytest.approx(0.25)
    assert est.width_scale(curve[:1], 20, 10) == 2.0                              # one width: linear, as before
    assert est.width_scale([], 20, 10) == 2.0
    # a quadratic detector's curve is per squared fitted row; two datasets at one width: geometric mean
    per2 = {"a": _m(4.0, 2000, 50), "b": _m(1.0, 1000, 50)}
    assert est.width_curve(per2, work=est.fit_work("knn")) == [(50.0, pytest.approx(1e-6))]
    assert est.width_curve({"t": _m(0, 1, 5, status="timeout")}) == []


def test_a_narrow_unmeasured_set_costs_at_least_the_narrowest_measured_row(offline):
    # iforest measured at 274 and 118 features; a 6-feature set costs per row what 118 does (flat),
    # not 6/118 of it (the old linear rule priced ADBench's narrow sets 45-97% short)
    doc = costs_doc()
    doc["cells"]["adbench_annthyroid"] = {"n": 1000, "d": 6, "extractor": "identity"}
    cell = [make_cell("adbench_annthyroid", None, None, "iforest", {}, 0)]
    plan = make_plan("table", cell, {("adbench_annthyroid", None, None): 1000}, {"adbench_annthyroid": 1000})
    e = est.estimate(plan, costs=doc, rate_gflops=80.0)
    assert e.unmeasured == ["iforest/adbench_annthyroid"]
    assert e.by_method["iforest"] == pytest.approx(4.0 * 1000 / 20000)


def test_a_timed_out_measurement_is_a_listed_lower_bound(offline):
    doc = costs_doc()
    doc["costs"]["goad"]["kddcup99"] = {"status": "timeout", "seconds_at_least": 90.0, "n": 300, "d": 118}
    e = est.estimate(FakeJob(_cells(["goad"], datasets=("kddcup99",))), costs=doc, rate_gflops=80.0)
    assert e.lower_bounds == ["goad/kddcup99"] and e.unmeasured == []
    assert e.by_method["goad"] == pytest.approx(90.0 * 12_000 / 300)  # the fit cap bounds it


def test_distinct_cells_match_the_jobs_rule():
    from tasks.jobs import Job

    cells = _cells(["iforest", "knn"], seeds=(0, 1)) * 2
    cells += [make_cell("arrhythmia", None, None, "iforest", {}, 0, device="cpu")]  # device does not count
    cells += [make_cell("arrhythmia", None, None, "ae", {"hidden": [8, 4]}, 0, detector="autoencoder")] * 2
    job = Job("table", "t", "t.yaml", {}, tuple(cells))
    assert len(distinct(cells)) == len(job.distinct_cells()) == 5


# -- the committed file covers the paper table ------------------------------------------------------
def test_committed_costs_cover_every_detector_on_every_paper_dataset():
    """Every registered detector of the paper table, SLA2P and SLA included, has a measured cost on
    every dataset of configs/table.yaml."""
    costs = est.load_costs()
    table = yaml.safe_load((CODE_ROOT / "configs" / "table.yaml").read_text())
    missing = []
    # Known gaps (the estimate scales them from the nearest measured dataset and lists them as
    # unmeasured): measure them with bench/bench_baselines.py and remove them from here.
    known: set[str] = set()
    for method, entry in table["methods"].items():
        det = (entry or {}).get("detector", method)
        if det not in list_detectors():
            continue
        for ds in table["datasets"]:
            r = costs["costs"].get(det, {}).get(ds, {})
            if r.get("status") != "ok" and f"{det}/{ds}" not in known:
                missing.append(f"{det}/{ds}: {r.get('status', 'not measured')}")
            elif r.get("status") == "ok" and f"{det}/{ds}" in known:
                missing.append(f"{det}/{ds} is measured now: drop it from the known gaps")
    assert not missing, "measure them with bench/bench_baselines.py: " + ", ".join(missing)


def test_committed_costs_record_where_they_were_measured():
    costs = est.load_costs()
    assert costs["commit"] and costs["date"] and costs["machine"]["cpu"]
    for name, per in costs["costs"].items():
        for ds, r in per.items():
            if r["status"] == "ok":
                assert r["fit_rows"] == detector_info(name).fit_rows(r["n"]), (name, ds)


def test_sla_training_uses_measured_steps_when_the_file_has_them(offline):
    params = {"n_projections": 16, "proj_dim": 16}
    cells = [make_cell("arrhythmia", None, None, "sla2p", params, 0)]
    doc = costs_doc()
    without = est.estimate(FakeJob(cells), costs=doc, rate_gflops=80.0).by_method["sla2p"]
    assumed = est._training_seconds(cells[0], 452, 274, "tabular", doc, 80.0 * 1e9 * 0.65 * threads_factor(), 1.0)
    doc2 = copy.deepcopy(doc)
    training = {"steps": 12, "stop_reason": "acc_threshold", "train_seconds": 100.0}
    doc2["costs"]["sla2p"] = {"arrhythmia": _m(130.0, 452, 274, params=params, training=training)}
    with_ = est.estimate(FakeJob(cells), costs=doc2, rate_gflops=80.0).by_method["sla2p"]
    # measured: training as measured, scoring = fit minus training (same rows), no FLOP model
    assert with_ == pytest.approx(100.0 + 30.0, rel=1e-6)
    assert without > assumed  # the FLOP model's scoring plus the assumed training
    # measured at other settings: not this cell's training, the assumption stands
    doc2["costs"]["sla2p"]["arrhythmia"]["params"] = {"n_projections": 256, "proj_dim": 256}
    assert est.estimate(FakeJob(cells), costs=doc2, rate_gflops=80.0).by_method["sla2p"] == pytest.approx(without)


def test_sla_training_takes_the_steps_real_runs_took_over_all_classes(offline):
    """Seconds per step from the measured cell, times the mean steps of a real run's cells
    (run_steps): a representative class trained 12 steps, the run's classes 600 on average."""
    params = {"n_projections": 16, "proj_dim": 16, "acc_threshold": 0.6, "max_epochs": 20}
    cells = [make_cell("arrhythmia", None, None, "sla2p", params, 0)]
    doc = costs_doc()
    training = {"steps": 12, "stop_reason": "acc_threshold", "train_seconds": 6.0}
    doc["costs"]["sla2p"] = {"arrhythmia": _m(10.0, 452, 274, params=params, training=training)}
    doc["run_steps"] = {"sla2p": {"arrhythmia": {"mean_steps": 600.0, "acc_threshold": 0.6, "max_epochs": 20}}}
    e = est.estimate(FakeJob(cells), costs=doc, rate_gflops=80.0)
    assert e.by_method["sla2p"] == pytest.approx(600 * 0.5 + 4.0)  # 0.5 s a step; scoring 10 - 6
    doc["run_steps"]["sla2p"]["arrhythmia"]["acc_threshold"] = 0.9  # runs at another threshold: not these cells
    assert est.estimate(FakeJob(cells), costs=doc, rate_gflops=80.0).by_method["sla2p"] == pytest.approx(10.0)


def threads_factor():
    import torch

    t = torch.get_num_threads()
    return 1.0 if t <= 1 else t * est.PARALLEL_EFFICIENCY


def test_sla_projection_of_sparse_rows_costs_their_nonzeros():
    doc = {"cells": {"20news": {"n": 1000, "d": 10_000, "nnz": 127_000}, "cifar10": {"n": 6600, "d": 1280, "nnz": None}}}
    assert est._projected_width("20news", 10_000, doc) == pytest.approx(127.0)
    assert est._projected_width("cifar10", 1280, doc) == 1280.0
    assert est._projected_width("odds_wbc", 30, doc) == 30.0  # not measured: dense


def test_a_sampled_detector_scales_by_its_own_sample_not_its_rows():
    # SLAD trains on r * rows_per_group(n) pairs an epoch: 22,000 at 452 rows, 5,000 at 1,000,
    # 24,000 at 12,000. Scaled by rows, a 1,000-row measurement priced a 12,000-row cell 12x; by
    # its pairs, 4.8x.
    from baselines.slad import SLAD

    work = est.fit_work("slad")
    assert work(1000) == SLAD.fit_work(1000) == 5000 and est.fit_work("iforest")(1000) == 1000
    assert work(452) == 22_000 and work(12_000) == 24_000 and est.fit_work("knn")(1000) == 1e6
    m = _m(10.0, 1000, 100)
    assert est.baseline_seconds("slad", 12_000, 100, m) == pytest.approx(10.0 * 24_000 / 5000)
    assert est.baseline_seconds("slad", 452, 100, m) == pytest.approx(10.0 * 22_000 / 5000)
    assert est.baseline_seconds("iforest", 12_000, 100, m) == pytest.approx(120.0)  # linear: by rows
    curve = est.width_curve({"a": _m(10.0, 1000, 100), "b": _m(45.2, 452, 10)}, work=work)
    assert curve == [(10.0, pytest.approx(45.2 / 22_000)), (100.0, pytest.approx(10.0 / 5000))]


def test_the_embedding_rate_follows_the_threads_a_run_embeds_on(offline, monkeypatch):
    # measured at 40 images/s on two threads of this CPU; a run embeds on every core its workers share
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    doc = costs_doc()
    doc["embedding"] = {"images_per_s": 40.0, "threads": 2}
    plan = FakeJob(_cells(["iforest"]))
    two = est.estimate(plan, costs=doc, rate_gflops=80.0, same_cpu=True, workers=2, threads=1)
    assert est.embed_threads(2, 1) == 2 and two.images_per_s == pytest.approx(40.0)
    one = est.estimate(plan, costs=doc, rate_gflops=80.0, same_cpu=True, workers=1, threads=1)
    assert one.images_per_s == pytest.approx(40.0 / est.thread_speedup(2))
    assert est.embed_threads(4, 2) == 2                                    # never more than the cores
    # another CPU whose GEMM probe reads half: the same images a second (measured on two CPUs: the
    # probe's ratio does not carry over to embedding)
    other = est.estimate(plan, costs=doc, rate_gflops=40.0, same_cpu=False, workers=2, threads=1)
    assert other.images_per_s == pytest.approx(40.0)
    del doc["embedding"]                                                   # never measured: the default
    assert est.estimate(plan, costs=doc, rate_gflops=40.0, same_cpu=False).images_per_s == est.DEFAULT_IMAGES_PER_S
