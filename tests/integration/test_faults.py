"""A fault of the machine during a run (a full disk, a read-only store) stops the run once and
cleanly: the cells in flight finish, no new one starts, the parent is closed FAILED, what finished
is saved, and a rerun after the fix gives the uninterrupted table. The fault is injected at the
store's write (an OSError(ENOSPC) where the cell's files are saved)."""

from __future__ import annotations

import errno

import pandas as pd
import pytest

import flows.run as run_mod
import tasks.detect.fit_score as fit_score
from flows.options import RunOptions
from support.inline_flow import Submit, inline_flow, run_inline
from tasks.jobs import expand_job

pytestmark = pytest.mark.slow

CONFIG = {"kind": "table", "name": "faults", "seeds": [0, 1, 2], "datasets": {"odds_glass": {}},
          "methods": {"iforest": {"params": {"n_estimators": 20}}, "hbos": {}, "pca": {}}}


def test_a_full_disk_stops_the_run_once_and_a_rerun_completes_it(monkeypatch, tmp_path):
    inline_flow(monkeypatch, "test_faults", report=True)
    job = expand_job(CONFIG, "faults.yaml")
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      workers=1)
    real_save, saved = fit_score.save_result, []

    def full_disk(results_dir, record, *args, **kwargs):
        if len(saved) >= 2:  # the third cell's files do not fit
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(record.key)
        return real_save(results_dir, record, *args, **kwargs)

    monkeypatch.setattr(fit_score, "save_result", full_disk)
    sub = Submit()
    monkeypatch.setattr(run_mod, "fit_and_score_task", sub)
    out = run_inline(job, opts)
    assert "No space left on device" in out["fault"] and not out["interrupted"]
    assert len(sub.fitted) == 3 and out["finished"] == 2 and out["failed"] == 1  # nothing after the fault
    assert out["not_run"] == out["cells"] - 3 == 6  # hbos and its derived seeds, and pca: not started
    from mlflow.tracking import MlflowClient

    parent = MlflowClient(opts.tracking_uri).get_run(out["parent_run_id"])
    assert parent.info.status == "FAILED"

    monkeypatch.setattr(fit_score, "save_result", real_save)  # space freed
    again = run_inline(job, opts)
    assert again["fault"] is None and again["failed"] == 0 and again["cached"] == 2
    clean = run_inline(job, RunOptions(results_dir=str(tmp_path / "clean"), workers=1,
                                       tracking_uri=f"sqlite:///{tmp_path / 'clean.db'}"))
    table = pd.read_csv(f"{again['tables_dir']}/report/table_auroc.csv", index_col=0)
    pd.testing.assert_frame_equal(table, pd.read_csv(f"{clean['tables_dir']}/report/table_auroc.csv", index_col=0))
