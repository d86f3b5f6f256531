"""A change to one detector's code refits exactly that detector's cells: the flow's body runs a
small table, GOAD's file is changed in a copy of the code the versions are read from, and the
rerun fits GOAD's cells again and takes every other cell from the results folder."""

from __future__ import annotations

import shutil

import pytest

import flows.run as run_mod
import tasks.versions as versions
from flows.options import RunOptions
from support import ROOT
from support.inline_flow import Submit, inline_flow, run_inline
from tasks.jobs import expand_job

pytestmark = pytest.mark.slow

CONFIG = {"kind": "table", "name": "versions", "seeds": [0, 1], "datasets": {"odds_glass": {}},
          "methods": {"goad": {"params": {"n_epochs": 2}}, "iforest": {"params": {"n_estimators": 20}},
                      "sla2p": {"params": {"n_projections": 8, "proj_dim": 8}}}}


def _clear():
    for fn in (versions._tree, versions.module_hash, versions.detector_version):
        fn.cache_clear()


def test_a_change_to_goad_refits_exactly_goads_cells(monkeypatch, tmp_path):
    inline_flow(monkeypatch, "test_versions_rerun")
    job = expand_job(CONFIG, "versions.yaml")
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      workers=1)
    monkeypatch.setattr(run_mod, "fit_and_score_task", Submit())
    first = run_inline(job, opts)
    assert (first["cells"], first["fitted"], first["failed"]) == (6, 6, 0)

    code = tmp_path / "code"
    for pkg in ("sla2p", "baselines", "tasks"):
        shutil.copytree(ROOT / pkg, code / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    goad = code / "baselines" / "goad.py"
    goad.write_text(goad.read_text().replace("NEGATIVE_SLOPE = 0.2", "NEGATIVE_SLOPE = 0.25", 1))
    monkeypatch.setattr(versions, "CODE_ROOT", code)
    _clear()
    try:
        sub = Submit()
        monkeypatch.setattr(run_mod, "fit_and_score_task", sub)
        again = run_inline(job, opts)
    finally:
        _clear()
    assert sorted((c.method, c.seed) for c in sub.fitted) == [("goad", 0), ("goad", 1)]
    assert (again["cached"], again["fitted"], again["failed"]) == (4, 2, 0)


def test_a_detector_added_by_name_refits_nothing_else(monkeypatch, tmp_path):
    """A table, then the same table with a PyOD detector the registry does not list (pyod:INNE):
    the second run fits only the new detector's cells."""
    import baselines.by_name as by_name
    from baselines import list_detectors, unregister

    inline_flow(monkeypatch, "test_versions_rerun")
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      workers=1)
    base = {k: v for k, v in CONFIG.items() if k != "methods"} | {"methods": {"iforest": {"params": {"n_estimators": 20}}}}
    monkeypatch.setattr(run_mod, "fit_and_score_task", Submit())
    run_inline(expand_job(base, "versions.yaml"), opts)
    try:
        more = {**base, "methods": {**base["methods"], "inne": {"detector": "pyod:INNE"}}}
        sub = Submit()
        monkeypatch.setattr(run_mod, "fit_and_score_task", sub)
        out = run_inline(expand_job(more, "versions.yaml"), opts)
    finally:
        if "pyod:INNE" in list_detectors():
            unregister("pyod:INNE")
            by_name.RESOLVED.discard("pyod:INNE")
    assert sorted((c.method, c.seed) for c in sub.fitted) == [("inne", 0), ("inne", 1)]
    assert (out["cached"], out["failed"]) == (2, 0)
