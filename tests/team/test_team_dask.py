"""A real Dask cluster: a scheduler and two workers started as separate processes with the
``dask`` command, the way a cluster is started on several machines, one Prefect server for all
of them, and ``sla2p-bench table --runner dask --address tcp://...`` as a subprocess.

One worker is killed with SIGKILL (its nanny and its worker process: the machine is gone) once a
cell has finished and others run. The table must still finish with every cell exactly once in
MLflow, the same stored scores as the thread runner, and every Prefect task run completed.

Data path here: the workers run from this checkout (cwd and PYTHONPATH), so they read the same
``data/`` and embedding cache, and the results folder is one local folder at the same path for
the CLI and the workers (on a real cluster: a shared mount).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pandas as pd
import psutil
import pytest
from support.flows_cli import ROOT, cli, env_for, table_csv

from flows.prefect_server import PrefectServer, free_port
from flows.runners import ClusterError, _problems, check_cluster

DASK = Path(sys.executable).parent / "dask"

# Six cells of a few seconds each (acc_threshold 1.0: every epoch runs), so that cells are
# running on both workers when one dies.
CONFIG = """
kind: table
name: lostworker
seeds: [0, 1, 2, 3, 4, 5]
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 48, proj_dim: 48, epsilon: 1.0, acc_threshold: 1.0, max_epochs: 8}}
"""


def _die_with_parent() -> None:  # in the child, before exec: SIGKILL if pytest dies (Linux)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes, each in a process group of its own."""

    def __init__(self, tmp: Path, env: dict):
        self.tmp, self.env = tmp, env
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen([str(DASK), *args], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]

    def start_scheduler(self) -> None:
        proc = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                         "--no-dashboard", "--no-show"])
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert proc.poll() is None, f"the scheduler exited:\n{self.log('scheduler')}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        raise AssertionError(f"the scheduler did not listen within 60 s:\n{self.log('scheduler')}")

    def start_workers(self, n: int) -> None:
        for i in range(n):
            # --death-timeout: a worker whose scheduler is gone exits on its own
            self._start(f"w{i}", ["worker", self.address, "--nworkers", "1", "--nthreads", "1", "--name", f"w{i}",
                                  "--no-dashboard", "--local-directory", str(self.tmp / f"w{i}"),
                                  "--preload", "flows.dask_worker", "--death-timeout", "60"])

    def kill(self, name: str, sig=signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.procs[name].pid, sig)

    def stop(self) -> list[str]:
        """Workers, then the scheduler: SIGTERM to each group, SIGKILL to what is left. Returns
        what still runs afterwards (nothing, or a bug here)."""
        watch = []
        for p in self.procs.values():
            with contextlib.suppress(psutil.Error):
                top = psutil.Process(p.pid)
                watch += [top, *top.children(recursive=True)]  # a nanny and its worker process
        for name in sorted(self.procs, key=lambda n: n == "scheduler"):
            self.kill(name, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.procs[name].wait(10)
            self.kill(name, signal.SIGKILL)
            self.procs[name].wait(10)
        _, alive = psutil.wait_procs(watch, timeout=10)
        return [f"pid {p.pid}" for p in alive if _running(p)]


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE  # an orphan's zombie waits for init: it runs nothing
    except psutil.Error:
        return False


@pytest.fixture
def team(tmp_path, monkeypatch):
    """One Prefect server (the README's "export PREFECT_API_URL") and a Dask scheduler with no
    worker yet; everything stopped at the end, also when the test fails."""
    base = env_for(tmp_path)  # its own PREFECT_HOME, a copy of a migrated database
    monkeypatch.setenv("PREFECT_HOME", base["PREFECT_HOME"])
    server = PrefectServer()
    cluster, left = None, []
    try:
        api = server.start()
        env = {**base, "PREFECT_API_URL": api, "PYTHONPATH": str(ROOT)}
        cluster = Cluster(tmp_path, env)
        cluster.start_scheduler()
        yield cluster
    finally:
        if cluster is not None:
            left = cluster.stop()
        server.stop()
    assert not left, f"still running after the cluster was stopped: {left}"


def _finished(results: Path) -> int:
    return sum(1 for f in (results / "cells").rglob("*.json") if not f.name.endswith(".failed.json"))


def _children(tmp: Path) -> tuple:
    """(the parent run, its child runs, deleted ones included)."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name("sla2p-bench/table")
    (parent,) = client.search_runs([exp.experiment_id], "tags.`sla2p.role` = 'parent'")
    assert parent.info.status == "FINISHED"
    return parent, client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                                      run_view_type=ViewType.ALL, max_results=1000)


def _task_runs(api: str) -> list[dict]:
    req = urllib.request.Request(f"{api}/task_runs/filter", data=json.dumps({"limit": 200}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return [t for t in json.load(r) if t["task_key"].startswith("fit_and_score-")]  # the cells


@pytest.mark.slow
def test_a_table_survives_a_killed_worker(team, tmp_path):
    import distributed

    from tasks.store import load_record

    api = team.env["PREFECT_API_URL"]
    with pytest.raises(ClusterError, match="has no worker after 1 s; start one with `dask worker"):
        check_cluster(team.address, worker_wait=1)
    team.start_workers(2)
    client = distributed.Client(team.address, timeout=30, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=120)
        # the preflight the CLI runs: same code and data pin, the results folder and the API seen
        found = check_cluster(team.address, results_dir=tmp_path / "dask" / "results", api_url=api)
        assert len(found) == 2 and all(i["sees_results"] and i["reaches_api"] and i["nthreads"] == 1
                                       for i in found.values()), found
        assert not list((tmp_path / "dask" / "results").iterdir())  # its probe file is gone

        # the cluster run, one worker killed once a cell has finished and others run
        (tmp_path / "dask").mkdir(exist_ok=True)
        results = tmp_path / "dask" / "results"
        out_file = tmp_path / "dask" / "cli.out"
        t0 = time.perf_counter()
        with open(out_file, "w") as fh:
            proc = cli(tmp_path / "dask", "table", CONFIG, "--runner", "dask", "--address", team.address,
                       env=team.env, popen=True, stdout=fh, stderr=subprocess.STDOUT,
                       start_new_session=True)
        try:
            victim = victim_keys = None
            end = time.monotonic() + 600
            while victim is None and time.monotonic() < end and proc.poll() is None:
                if _finished(results) >= 1:
                    workers = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
                    busy = {a: keys for a, keys in client.processing().items() if keys}
                    if busy:
                        addr = sorted(busy)[0]
                        victim, victim_keys = workers[addr], busy[addr]
                        team.kill(victim)
                        done_at_kill = _finished(results)
                time.sleep(0.2)
            assert victim is not None, f"no worker was killed mid-run:\n{out_file.read_text()[-3000:]}"
            code = proc.wait(600)
        finally:
            if proc.poll() is None:  # the run is in a session of its own under the CLI's supervisor
                for run in psutil.Process(proc.pid).children():
                    os.killpg(run.pid, signal.SIGKILL)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        dask_s = time.perf_counter() - t0
        out = out_file.read_text()
        assert code == 0, f"exit {code}\n{out[-4000:]}"
        assert "cells: 6 (0 cached, 6 run, 0 failed)" in out, out
        assert 1 <= done_at_kill < 6, done_at_kill

        # what the scheduler says it lost with the worker: the cells computed again elsewhere
        lost = [m for _, m in client.get_events("all")
                if isinstance(m, dict) and m.get("action") == "remove-worker" and workers.get(m["worker"]) == victim]
        assert len(lost) == 1 and not lost[0]["expected"], lost
        retried = set(lost[0]["processing-tasks"]) | set(lost[0]["lost-computed-tasks"])
        assert retried and set(victim_keys) <= retried, (victim_keys, lost)
        # ... and the line the runner prints about it
        assert f"dask: worker {lost[0]['worker']} was lost with {len(retried)} unfinished cell(s)" in out, out
    finally:
        client.close()

    from flows.config import load_job

    names = sorted(c.name for c in load_job(str(tmp_path / "dask" / "table.yaml")).cells)
    assert len(names) == 6
    # MLflow: every cell exactly once (deleted runs included), all finished
    parent, children = _children(tmp_path / "dask")
    assert Counter(r.info.run_name for r in children) == Counter(names), sorted(r.info.run_name for r in children)
    assert {(r.info.status, r.info.lifecycle_stage) for r in children} == {("FINISHED", "active")}
    # Prefect: one task run per cell, each completed (the rerun reuses the lost attempt's id)
    end = time.monotonic() + 30
    while (runs := _task_runs(api)) and {t["state_type"] for t in runs} != {"COMPLETED"} and time.monotonic() < end:
        time.sleep(1)  # task run states reach the server as events, a moment later
    assert sorted(t["name"] for t in runs) == names and {t["state_type"] for t in runs} == {"COMPLETED"}, \
        [(t["name"], t["state_type"]) for t in runs]

    # the thread runner on the same config: the same stored scores and metrics, cell by cell
    (tmp_path / "threads").mkdir()
    t0 = time.perf_counter()
    cli(tmp_path / "threads", "table", CONFIG, "--runner", "threads", env=team.env)
    threads_s = time.perf_counter() - t0
    t_parent, t_children = _children(tmp_path / "threads")
    assert t_parent.data.tags["code_version"] == parent.data.tags["code_version"], \
        "the detector code changed between the two runs (an edit of the tree meanwhile): rerun the test"
    by_name = {r.info.run_name: r for r in t_children}
    for r in children:
        t = by_name[r.info.run_name]
        a = load_record(results, r.data.tags["sla2p.cell_key"])
        b = load_record(tmp_path / "threads" / "results", t.data.tags["sla2p.cell_key"])
        assert a is not None and b is not None, r.info.run_name
        assert (a.scores_sha256, a.metrics) == (b.scores_sha256, b.metrics), r.info.run_name
        assert {k: r.data.metrics[k] for k in ("auroc", "aupr", "ap")} == \
            {k: t.data.metrics[k] for k in ("auroc", "aupr", "ap")}, r.info.run_name
    for metric in ("auroc", "aupr", "ap"):
        pd.testing.assert_frame_equal(table_csv(tmp_path / "dask", metric), table_csv(tmp_path / "threads", metric))
    print(f"\nworker {victim} killed after {done_at_kill}/6 cells; cells retried after the kill: {len(retried)}; "
          f"scores identical to the thread runner: yes; wall time: dask cluster {dask_s:.1f} s, "
          f"threads {threads_s:.1f} s")


def test_no_scheduler_is_one_line():
    port = free_port()  # nothing listens there
    with pytest.raises(ClusterError) as err:
        check_cluster(f"tcp://127.0.0.1:{port}", connect_timeout=2)
    msg = str(err.value)
    assert msg.startswith(f"--address: no Dask scheduler answers at tcp://127.0.0.1:{port}") and "\n" not in msg


def test_worker_problems_name_the_workers_and_the_fix(tmp_path):
    here = {"code_version": "c1", "data_dvc": "d1", "root": "/repo", "sees_results": False, "reaches_api": False}
    good = {**here, "sees_results": True, "reaches_api": True}
    probe = tmp_path / "results" / ".cluster-check-x"
    assert _problems({"tcp://a:1": good, "tcp://b:1": good}, here, probe, "http://h:4200/api") == []
    found = {"tcp://a:1": good, "tcp://b:1": {**good, "code_version": "c2", "sees_results": False},
             "tcp://c:1": {**good, "data_dvc": "d2", "reaches_api": False}}
    problems = _problems(found, here, probe, "http://h:4200/api")
    assert len(problems) == 4, problems
    assert problems[0].startswith("worker(s) tcp://b:1 run other detector code")
    assert problems[1].startswith("worker(s) tcp://c:1 pin other data")
    assert problems[2].startswith(f"worker(s) tcp://b:1 do not see the results folder {probe.parent}")
    assert problems[3].startswith("worker(s) tcp://c:1 cannot reach the Prefect API at http://h:4200/api")
    broken = _problems({"tcp://a:1": good, "tcp://b:1": ModuleNotFoundError("No module named 'flows'")},
                       here, None, None)
    assert broken == ["worker(s) tcp://b:1 cannot run this project's code (ModuleNotFoundError: No module named "
                      "'flows'); install it there (pip install -c constraints.txt -e .) or start `dask worker` "
                      "from the project's checkout"]
