"""Memory before work (flows/preflight.py): the cells in flight are capped so that their fits fit
the memory available, and a single fit larger than it is refused; the estimate's model of a fit's
memory bounds what a fit really takes."""

from __future__ import annotations

import pytest

from flows.preflight import PreflightError, workers_that_fit

GIB = 2**30


def test_workers_are_capped_to_the_fits_that_fit():
    assert workers_that_fit(3 * GIB, "sla2p on reuters", 8, available=10 * GIB) == 3
    assert workers_that_fit(3 * GIB, "sla2p on reuters", 2, available=10 * GIB) == 2
    assert workers_that_fit(0, "", 8, available=1) == 8  # no detector estimated its memory: not capped


def test_a_fit_larger_than_the_memory_is_refused_naming_it():
    with pytest.raises(PreflightError, match=r"one fit of sla2p on arrhythmia needs about 27\.7 GiB and 16\.0 GiB"):
        workers_that_fit(int(27.7 * GIB), "sla2p on arrhythmia", 2, available=16 * GIB)


@pytest.mark.slow  # a fit in a fresh process: 9 s
def test_the_sla2p_memory_model_is_the_projections_and_bounds_a_real_fit():
    import os
    import subprocess
    import sys

    from sla2p import SLA2P

    # K x d x m floats dominate: K = 100,000 on Arrhythmia is the 28 GB allocation a fit would make
    assert SLA2P(n_projections=100_000).memory_bytes(452, 274) / GIB == pytest.approx(27.7, abs=0.05)
    # The fit's own peak: the kernel's high-water mark reset just before it (/proc/self/clear_refs
    # "5"), so that the imports' peak does not count; Linux only.
    script = ("import re, numpy as np; from sla2p import SLA2P; "
              "X = np.random.default_rng(0).standard_normal((452, 274)).astype(np.float32); "
              "kb = lambda f: int(re.search(f + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
              "open('/proc/self/clear_refs', 'w').write('5'); b = kb('VmRSS'); "
              "SLA2P(random_state=0, max_epochs=1).fit(X); print((kb('VmHWM') - b) * 1024)")
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak")
    used = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
               .stdout.split()[-1])
    assert 0 < used <= SLA2P().memory_bytes(452, 274), used


# -- cores and disk room before work ----------------------------------------------------------
def test_workers_are_capped_by_the_cores():
    from flows.preflight import workers_for_cores

    assert workers_for_cores(100_000, cores=16) == 16
    assert workers_for_cores(4, cores=16) == 4


def _tiny_plan():
    from tasks.jobs import expand_job
    from tasks.plan import plan_job

    job = expand_job({"kind": "table", "name": "room", "seeds": [0, 1], "datasets": {"arrhythmia": {}},
                      "methods": {"hbos": {}, "sla2p": {}, "sla": {"params": {"acc_threshold": 0.6}}}},
                     "room.yaml")
    return plan_job(job)


def test_the_output_model_counts_the_files_of_the_cells_that_run():
    from flows.preflight import (REPORT_BYTES_PER_JOB, RESULT_BYTES_PER_CELL, RESULT_BYTES_PER_ROW,
                                 TABLE_BYTES_PER_CELL, TRACKING_BYTES_PER_CELL, output_bytes)

    plan = _tiny_plan()
    n = plan.counts
    with_files = n["fits"] + n["riders"]  # one fit per split: the reusing seeds have no files
    assert n["reuses"] > 0 and n["riders"] > 0 and with_files < n["cells"]
    results, tracking = output_bytes(plan)
    assert results == (with_files * (RESULT_BYTES_PER_ROW * 452 + RESULT_BYTES_PER_CELL)
                       + n["cells"] * TABLE_BYTES_PER_CELL + REPORT_BYTES_PER_JOB)
    assert tracking == n["cells"] * TRACKING_BYTES_PER_CELL


def test_a_job_larger_than_the_room_is_refused_naming_the_folder_the_room_and_the_need(tmp_path):
    from flows.preflight import check_output_room, output_bytes

    plan = _tiny_plan()
    results, tracking = output_bytes(plan)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    check_output_room(str(tmp_path / "results"), uri, plan, free=lambda p: results + tracking)  # just fits
    with pytest.raises(PreflightError) as err:  # one filesystem: the two folders share its room
        check_output_room(str(tmp_path / "results"), uri, plan, free=lambda p: results + tracking - 1)
    msg = str(err.value)
    assert str(tmp_path / "results") in msg and "tracking database" in msg and "free, the job's output needs" in msg
    assert "\n" not in msg


def test_a_cell_writes_no_more_than_the_model_says(tmp_path):
    """The constants bound what tasks.store.save_result and an MLflow child really write."""
    import numpy as np

    from flows.preflight import RESULT_BYTES_PER_CELL, RESULT_BYTES_PER_ROW, TRACKING_BYTES_PER_CELL
    from tasks.cells import CellRecord, KeyedCell, make_cell
    from tasks.metrics import evaluate
    from tasks.store import save_result
    from tasks.track import Tracker

    rng = np.random.default_rng(0)
    n = 5000
    labels, scores = (rng.random(n) < 0.1).astype(int), rng.normal(size=n)
    recs = []
    for seed in range(20):
        cell = make_cell("arrhythmia", None, None, "sla2p", {}, seed)
        recs.append(CellRecord(KeyedCell.of(cell, "d").key, cell, "ok", metrics=evaluate(labels, scores),
                               fit_seconds=1.0, n_rows=n, n_outliers=int(labels.sum()), n_features=274,
                               history={"steps": 11, "epochs": 1, "stop_reason": "acc_threshold", "fit_rows": n}))
    save_result(tmp_path / "results", recs[0], scores, labels, np.arange(n))
    written = sum(f.stat().st_size for f in (tmp_path / "results").rglob("*") if f.is_file())
    assert written <= RESULT_BYTES_PER_ROW * n + RESULT_BYTES_PER_CELL
    db = tmp_path / "mlflow.db"
    tracker = Tracker(f"sqlite:///{db}", "table", artifact_root=tmp_path / "art")
    parent, _ = tracker.open_parent("room", "table/room", {"n_cells": 20}, {})
    before = db.stat().st_size
    for r in recs:
        tracker.log_cell(parent, r, cached=False)
    assert 0 < (db.stat().st_size - before) / len(recs) <= TRACKING_BYTES_PER_CELL


def test_a_resume_needs_room_for_the_cells_left_only(tmp_path, monkeypatch):
    """The flow checks the room once it knows what is cached (the CLI can tell only for a results
    folder with no cell yet): a resume with most cells cached fits where the whole job would not."""
    import shutil
    from collections import namedtuple
    from dataclasses import replace

    from flows.options import RunOptions
    from flows.preflight import output_bytes
    from flows.run import _check_room

    plan = _tiny_plan()
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    cached = replace(plan, cached=frozenset(plan.fits[1:]))
    whole, rest = sum(output_bytes(plan)), sum(output_bytes(cached))
    free = (whole + rest) // 2
    assert rest < free < whole
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(whole, whole - free, free))
    assert "free, the job's output needs" in _check_room(plan, opts)
    assert _check_room(cached, opts) is None


def test_the_cli_caps_workers_by_the_cores_with_a_line_saying_so(monkeypatch):
    from types import SimpleNamespace

    import flows.preflight as preflight
    from flows.cli import _cap_workers
    from flows.options import RunOptions

    monkeypatch.setattr(preflight.os, "cpu_count", lambda: 4)
    lines = []
    console = SimpleNamespace(print=lines.append)
    est = SimpleNamespace(peak_bytes=0, peak_cell="")
    assert _cap_workers(console, RunOptions(workers=100_000), est).workers == 4
    assert lines == ["running 4 cell(s) at once, not 100000: this machine has 4 cores"]
    lines.clear()
    assert _cap_workers(console, RunOptions(workers=3), est).workers == 3 and not lines
    # an existing cluster's workers have their own cores
    assert _cap_workers(console, RunOptions(workers=64, runner="dask", address="tcp://h:8786"), est).workers == 64


def _crash_mid_transaction(db) -> None:
    """A process killed (SIGKILL) in the middle of a write to ``db``: pages of the uncommitted
    transaction already in the file, the rollback journal beside it (a "hot" journal)."""
    import subprocess
    import sys

    code = f"""
import os, signal, sqlite3
con = sqlite3.connect({str(db)!r}, isolation_level=None)
con.execute("PRAGMA cache_size = 1")  # spill the transaction's pages into the file before commit
con.execute("BEGIN")
con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)
os.kill(os.getpid(), signal.SIGKILL)
"""
    subprocess.run([sys.executable, "-c", code], check=False)


def test_a_store_left_by_a_crash_is_recovered_not_refused(tmp_path):
    """After a crash mid-write SQLite rolls the hot journal back on the next open that may write;
    the preflight's check must let it, not refuse the store as unusable (it did with a read-only
    connection: "attempt to write a readonly database")."""
    import sqlite3

    from flows.preflight import check_sqlite

    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (v TEXT)")
    con.execute("INSERT INTO t VALUES ('committed')")
    con.commit()
    con.close()
    _crash_mid_transaction(db)
    assert (tmp_path / "mlflow.db-journal").exists(), "the crash left no journal: the test proves nothing"
    check_sqlite(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT v FROM t").fetchall() == [("committed",)]  # rolled back, nothing lost
    con.close()
