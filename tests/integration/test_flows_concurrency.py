"""Two runs at once: the same job twice on one results folder refuses the second, naming the
first; two different jobs on one fresh SQLite tracking DB both succeed, each cell logged once;
processes creating one fresh tracking DB together do not trip over each other."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from support.flows_cli import ROOT, children_of, cli, env_for, finished_cells, mlflow_runs

from tasks.env import telemetry_off

JOB = """
kind: table
name: {name}
seeds: {seeds}
datasets: {{arrhythmia: {{}}}}
methods:
  iforest: {{params: {{n_estimators: 50}}}}
"""


def _both(procs) -> list[subprocess.CompletedProcess]:
    done = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


@pytest.mark.slow
def test_the_same_job_twice_at_once_refuses_the_second(tmp_path):
    job = JOB.format(name="same", seeds=[0, 1])
    env = env_for(tmp_path)
    procs = [cli(tmp_path, "table", job, popen=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True) for _ in range(2)]
    done = _both(procs)
    codes = sorted(r.returncode for r in done)
    assert codes == [0, 2], [(r.returncode, r.stdout[-1500:], r.stderr[-1500:]) for r in done]
    ran, refused = (done[0], done[1]) if done[0].returncode == 0 else (done[1], done[0])
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, refused.stderr
    first = procs[done.index(ran)]
    assert line.startswith("refused: this table job is already running") and f"pid {first.pid}," in line
    assert "started 20" in line and "command: sla2p-bench table --config" in line
    assert "cells: 2 (0 cached, 2 run, 0 failed)" in ran.stdout
    assert len(finished_cells(tmp_path / "results")) == 2
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert children_of(children, parents[0]) == ["iforest/arrhythmia/all/intrinsic/s0", "iforest/arrhythmia/all/intrinsic/s1"]


@pytest.mark.slow
def test_two_different_jobs_on_one_fresh_db_both_succeed(tmp_path):
    env = env_for(tmp_path, fresh_prefect=True)  # one PREFECT_HOME: two servers start on one fresh database
    procs = [cli(tmp_path, "table", JOB.format(name=name, seeds=seeds), popen=True, env=env, name=name,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, seeds in (("first", [0, 1]), ("second", [2, 3]))]
    done = _both(procs)
    for r in done:
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        assert "cells: 2 (0 cached, 2 run, 0 failed)" in r.stdout
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert sorted(p.info.run_name for p in parents) == ["table/first", "table/second"]
    for p in parents:
        seeds = (0, 1) if p.info.run_name == "table/first" else (2, 3)
        assert p.info.status == "FINISHED"
        assert children_of(children, p) == [f"iforest/arrhythmia/all/intrinsic/s{s}" for s in seeds]
    assert len(children) == 4


WRITER = textwrap.dedent("""
    import sys, time
    from tasks.cells import CellRecord, make_cell
    from tasks.track import Tracker
    start, uri, i = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    time.sleep(max(0.0, start - time.time()))  # all at once
    t = Tracker(uri, "table", artifact_root=sys.argv[4])
    parent, _ = t.open_parent(f"key{i}", f"writer{i}", {"n": 1}, {})
    for s in range(5):
        cell = make_cell("arrhythmia", None, None, "iforest", {}, s)
        t.log_cell(parent, CellRecord(f"k{i}-{s}", cell, "ok", metrics={"auroc": 0.5}), cached=False)
    t.finish_parent(parent, tables={}, files={}, summary={"cells": 5})
""")


@pytest.mark.slow
def test_processes_creating_one_fresh_tracking_db_together(tmp_path):
    """Four processes open one fresh SQLite store at the same instant and log a parent with five
    children each: none fails ("table ... already exists", "database is locked"), none is lost."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    start = time.time() + 6  # after the imports of every process
    env = telemetry_off({k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")})
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(start), uri, str(i), str(tmp_path / "art")],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(parents) == 4 and all(p.info.status == "FINISHED" for p in parents)
    assert all(len(children_of(children, p)) == 5 for p in parents)


def test_a_resumed_parent_carries_the_latest_runs_provenance(tmp_path):
    """A rerun that resumes a parent (after a crash, on another machine) updates its version and
    machine tags: they describe the run that finished the job, not the first one."""
    from tasks.track import Tracker

    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "table", artifact_root=tmp_path / "art")
    first, resumed = t.open_parent("job", "table/x", {"n": 1}, {"version.torch": "1.0", "machine.cores": "2"})
    assert not resumed
    again, resumed = t.open_parent("job", "table/x", {"n": 1}, {"version.torch": "2.0", "machine.cores": "16"})
    assert resumed and again == first
    tags = t.client.get_run(first).data.tags
    assert (tags["version.torch"], tags["machine.cores"]) == ("2.0", "16")
