"""A disk that fills as the run writes its tables (every cell saved) is a fault of the machine like
one during the cells: one cause in the outcome, the parent closed FAILED, no partial cells.csv, and
the rerun after the fix writes the table."""

from __future__ import annotations

import errno

import pytest

import flows.run as run_mod
from flows.options import RunOptions
from support.inline_flow import Submit, inline_flow, run_inline
from tasks.jobs import expand_job

pytestmark = pytest.mark.slow

CONFIG = {"kind": "table", "name": "tables-fault", "datasets": {"odds_glass": {}},
          "methods": {"iforest": {"params": {"n_estimators": 20}}, "hbos": {}}}


def test_a_full_disk_at_the_tables_stops_cleanly_and_a_rerun_writes_them(monkeypatch, tmp_path):
    inline_flow(monkeypatch, "test_faults_tables")
    monkeypatch.setattr(run_mod, "fit_and_score_task", Submit())
    job = expand_job(CONFIG, "tables-fault.yaml")
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      workers=1)
    real_write = run_mod.atomic_write_text

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_mod, "atomic_write_text", full_disk)
    out = run_inline(job, opts)
    assert out["fault"].startswith("writing the tables: OSError: [Errno 28] No space left on device")
    assert out["finished"] == out["cells"] == 2 and out["failed"] == 0
    assert not (tmp_path / "results" / "tables").exists() or not list((tmp_path / "results").rglob("cells.csv"))
    from mlflow.tracking import MlflowClient

    assert MlflowClient(opts.tracking_uri).get_run(out["parent_run_id"]).info.status == "FAILED"

    monkeypatch.setattr(run_mod, "atomic_write_text", real_write)  # space freed
    again = run_inline(job, opts)
    assert again["fault"] is None and again["cached"] == 2
    assert (tmp_path / "results" / "tables").exists() and list((tmp_path / "results").rglob("cells.csv"))
