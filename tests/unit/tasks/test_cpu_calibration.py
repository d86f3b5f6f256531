"""A machine's calibration (bench/bench_baselines.py --calibrate) replaces the GEMM probe's ratio
for figures measured on another CPU: its factors are computed from measured reference cells, found
for this machine's CPU, workers and threads, and applied per detector by the estimate."""

from __future__ import annotations

import json
import os

import pytest

import tasks.estimate as est
from tasks import cpu_calibration as cc
from tasks.env import cpu_model
from tests.unit.tasks.test_estimate import FakeJob, _cells, costs_doc
from tests.unit.tasks.test_estimate import offline  # noqa: F401  (a fixture: used by name)


def _figures():
    fig = {"status": "ok", "seconds": 2.0, "cpu": "Ref CPU", "cores": 2}
    return {"goad": {"arrhythmia": dict(fig), "20news": {**fig, "seconds": 8.0}}, "pca": {"arrhythmia": dict(fig)}}


def test_factors_are_geometric_means_of_measured_over_figure():
    measured = [{"goad": {"arrhythmia": 4.0, "20news": 4.0}, "pca": {"arrhythmia": 2.0}},
                {"goad": {"arrhythmia": 4.0, "20news": 4.0}, "pca": {"arrhythmia": 2.0}}]
    c = cc.compute(_figures(), measured, lambda f: f["seconds"])
    assert c["by_detector"]["goad"] == pytest.approx(1.0)  # 2x and 0.5x
    assert c["by_detector"]["pca"] == pytest.approx(1.0)
    assert c["pairs"] == 6 and (c["reference_cpu"], c["reference_cores"]) == ("Ref CPU", 2)
    slow = cc.compute(_figures(), [{"pca": {"arrhythmia": 6.0}}], lambda f: f["seconds"] / 2)  # threads conversion
    assert slow["factor"] == pytest.approx(6.0) and slow["by_detector"] == {"pca": pytest.approx(6.0)}


@pytest.mark.parametrize("measured, match", [
    ([{"goad": {"kddcup99": 3.0}}], r"goad/kddcup99: the costs file has no measured figure"),
    ([{"goad": {"arrhythmia": None}}], r"goad/arrhythmia: this machine's measurement failed"),
    ([], r"nothing was measured"),
])
def test_a_calibration_that_cannot_be_computed_says_which_pair(measured, match):
    with pytest.raises(cc.CalibrationError, match=match):
        cc.compute(_figures(), measured, lambda f: f["seconds"])


def test_figures_from_two_machines_are_refused():
    figs = _figures()
    figs["pca"]["arrhythmia"]["cpu"] = "Another CPU"
    with pytest.raises(cc.CalibrationError, match="several machines"):
        cc.compute(figs, [{"goad": {"arrhythmia": 2.0}, "pca": {"arrhythmia": 2.0}}], lambda f: f["seconds"])


def _cal(workers=2, threads=1, date="2026-12-07", factor=3.0, by=None, cpu=None, cores=None, ref="Ref CPU"):
    return {"cpu": cpu or cpu_model(), "cores": cores or os.cpu_count(), "workers": workers, "threads": threads,
            "date": date, "factor": factor, "by_detector": by or {}, "reference_cpu": ref, "reference_cores": 2}


def test_the_run_s_workers_and_threads_are_preferred_then_the_newest_of_this_cpu():
    doc = {"calibrations": [_cal(1, 2, "2026-12-09"), _cal(2, 1, "2026-12-01"), _cal(cpu="Other", date="2027-01-01")]}
    assert cc.find(doc, cpu_model(), os.cpu_count(), 2, 1)["date"] == "2026-12-01"
    assert cc.find(doc, cpu_model(), os.cpu_count(), 4, 1)["date"] == "2026-12-09"
    assert cc.find(doc, "No such CPU", 2, 2, 1) is None
    cc.upsert(doc, _cal(2, 1, "2026-12-08"))  # replaces the one of the same machine and concurrency
    assert [c["date"] for c in doc["calibrations"]] == ["2026-12-09", "2027-01-01", "2026-12-08"]


def _doc_from(ref_cpu="Ref CPU"):
    doc = costs_doc()
    doc["machine"] = {"cpu": ref_cpu, "cores": 2}
    return doc


def test_the_estimate_applies_the_detector_s_factor_else_the_overall_one(offline):  # noqa: F811
    doc = _doc_from()
    doc["calibrations"] = [_cal(by={"goad": 2.0})]
    e = est.estimate(FakeJob(_cells(["iforest", "goad"])), costs=doc, rate_gflops=40.0, workers=2, threads=1)
    # per cell: goad 10 s x 2.0, iforest 0.5 s x 3.0 (not the probes' 80/40); two workers halve the wall time
    assert e.per_cell == pytest.approx((0.5 * 3.0, 10.0 * 2.0))  # the plan's order: iforest, goad
    assert "calibrated on this machine" in e.scaling and "x3.00" in e.scaling
    probe = est.estimate(FakeJob(_cells(["iforest"])), costs=_doc_from(), rate_gflops=40.0, workers=2, threads=1)
    assert probe.per_cell == pytest.approx((1.0,))  # no calibration: the GEMM probes, and the dry run says so
    assert "GEMM probes" in probe.scaling and "--calibrate 2 --threads 1" in probe.scaling


def test_a_calibration_against_another_cpu_s_figures_is_not_applied(offline):  # noqa: F811
    doc = _doc_from()
    doc["calibrations"] = [_cal(ref="Yet Another CPU")]
    e = est.estimate(FakeJob(_cells(["iforest"])), costs=doc, rate_gflops=40.0, workers=2, threads=1)
    assert e.per_cell == pytest.approx((1.0,))  # the probes' ratio
    fixed = est.estimate(FakeJob(_cells(["iforest"])), costs={**doc, "calibrations": [_cal()]}, rate_gflops=40.0,
                         same_cpu=True, workers=2, threads=1)
    assert fixed.per_cell == pytest.approx((0.5,))  # the caller's same_cpu decides; no calibration


def test_a_corrupt_calibration_is_refused(tmp_path):
    doc = _doc_from()
    doc["calibrations"] = [_cal(factor=0.0)]
    p = tmp_path / "costs.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(est.CostsFileError, match="factors must be > 0"):
        est.load_costs(p)


def test_with_a_calibration_the_estimate_uses_its_gemm_probe_not_a_new_one(offline, monkeypatch, tmp_path):  # noqa: F811
    # a probe now would move the estimate between two dry runs (15% on an idle machine, stop 41)
    def no_probe():
        raise AssertionError("probed the GEMM rate although the calibration has one")

    monkeypatch.setattr(est, "gemm_core_rate", no_probe)
    doc = _doc_from()
    doc["calibrations"] = [{**_cal(), "gemm_core_gflops": 40.0}]
    job = FakeJob(_cells(["sla2p", "iforest"]))
    e = est.estimate(job, costs=doc, workers=2, threads=1)
    assert e.gemm_core_gflops == 40.0
    assert e.per_cell == pytest.approx(est.estimate(job, costs=doc, rate_gflops=40.0, workers=2, threads=1).per_cell)
    assert e.per_cell != pytest.approx(est.estimate(job, costs=doc, rate_gflops=80.0, workers=2, threads=1).per_cell)
    doc["calibrations"] = [{**_cal(), "gemm_core_gflops": -1.0}]
    p = tmp_path / "costs.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(est.CostsFileError, match="gemm_core_gflops must be > 0"):
        est.load_costs(p)
