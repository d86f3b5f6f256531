"""bench/bench_estimate_error.py compares a finished run with the estimate as the dry run states
it: both sides as wall time with the run's workers in flight."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from support import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("bench_estimate_error", ROOT / "bench" / "bench_estimate_error.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_measured_and_estimated_are_both_divided_by_the_workers():
    bench = _bench()
    cells = pd.DataFrame([{"dataset": "arrhythmia", "normal_class": "-", "ratio": "", "method": m, "seed": 0,
                           "status": "ok", "cached": "false", "fit_seconds": s} for m, s in (("a", 60.0), ("b", 120.0))])
    est = {bench._cell_id("arrhythmia", None, None, "a", 0): 60.0, bench._cell_id("arrhythmia", None, None, "b", 0): 240.0}
    out = bench.compare(cells, est, workers=2, by="method").set_index("method")
    assert out.loc["a", "measured_min"] == pytest.approx(0.5) and out.loc["a", "estimated_min"] == pytest.approx(0.5)
    assert out.loc["b", "error"] == pytest.approx(1.0) and out.loc["all", "error"] == pytest.approx(2 / 3)
