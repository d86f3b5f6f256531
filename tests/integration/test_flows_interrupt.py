"""Ctrl-C and SIGTERM stop a run cleanly, and the next run resumes it.

Each run is a real CLI subprocess in a session of its own, signalled the way a terminal does it:
``os.killpg`` on its process group. That group holds the CLI's supervisor only: the run itself,
and what it starts, live in a session of their own (flows/supervise.py), and so does the CLI's
Prefect server.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from support.servers import process_group
from support.flows_cli import cli, env_for, finished_cells, mlflow_runs

# Cells of about a second or two each (2 workers): a run is still going when the first one is saved.
STEADY = """
kind: table
name: steady
seeds: [0, 1, 2, 3, 4, 5, 6, 7]
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 64, proj_dim: 64, epsilon: 1.0}}
"""
N_STEADY = 8

# Cells of many seconds each: waiting for them would be slow.
LONG = """
kind: table
name: long
seeds: [0, 1, 2, 3]
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 256, proj_dim: 256, epsilon: 1.0}}
"""

LINE = re.compile(r"interrupted: (\d+) cells finished in (.+) \((\d+) of them in this run\); "
                  r"rerun the same command to resume")


class Run:
    """A CLI run in its own session, its output in files, its processes watched."""

    def __init__(self, tmp: Path, config: str, *extra, env: dict | None = None):
        self.tmp = tmp
        self.out, self.err = open(tmp / "stdout.txt", "w+"), open(tmp / "stderr.txt", "w+")
        self.proc = cli(tmp, "table", config, *extra, popen=True, env=env, start_new_session=True, stdout=self.out,
                        stderr=self.err)
        self.seen: dict[int, list[str]] = {}  # pid -> command line of every descendant seen

    def watch(self) -> None:
        try:
            for c in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    self.seen[c.pid] = c.cmdline()  # the latest: a fresh fork shows its parent's until exec
                except psutil.Error:
                    pass
        except psutil.Error:
            pass

    def wait_for(self, cond, timeout: float = 600) -> None:
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            self.watch()
            if cond():
                return
            time.sleep(0.1)
        raise AssertionError(f"condition not met (exit {self.proc.poll()}):\n{self.stdout()}\n{self.stderr()}")

    def signal(self, sig: int) -> float:
        os.killpg(self.proc.pid, sig)  # what a terminal does on Ctrl-C
        return time.time()

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.out.flush(), self.err.flush()

    def stdout(self) -> str:
        return (self.tmp / "stdout.txt").read_text()

    def stderr(self) -> str:
        return (self.tmp / "stderr.txt").read_text()

    def server_pids(self) -> list[int]:
        return [pid for pid, cmd in self.seen.items() if "flows.prefect_server" in " ".join(cmd)]

    def assert_nothing_left(self) -> None:
        time.sleep(0.5)
        alive = [(pid, cmd) for pid, cmd in self.seen.items() if _alive(pid)]
        assert not alive, f"processes left behind: {alive}"
        group = [p.pid for p in psutil.process_iter() if process_group(p.pid) == self.proc.pid]
        assert not group, f"processes left in the run's group: {group}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cells_started(tmp: Path):
    """True once the flow has opened its MLflow parent run: cells run from then on."""
    import sqlite3

    def cond() -> bool:
        db = tmp / "mlflow.db"
        if not db.exists():
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as con:
                return bool(con.execute("select count(*) from tags where key = 'sla2p.role' "
                                        "and value = 'parent'").fetchone()[0])
        except sqlite3.Error:  # the schema is still being created
            return False
    return cond


def _first_cell_saved(results: Path):
    return lambda: any(not f.name.endswith(".failed.json") for f in (results / "cells").rglob("*.json"))


def _check_interrupted(run: Run, code: int) -> tuple[int, dict]:
    """Exit code, the one line, no traceback, whole files, the parent KILLED with exactly the
    finished cells. Returns (cells finished, their record mtimes)."""
    results = run.tmp / "results"
    assert code == run.proc.returncode, run.stdout() + run.stderr()
    out, err = run.stdout(), run.stderr()
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    m = LINE.search(out)
    assert m and out.strip().splitlines()[-1] == m.group(0), out  # the run ends with the one line
    n, where, n_run = m.groups()
    done = finished_cells(results)
    assert int(n) == int(n_run) == len(done) and 1 <= len(done) < N_STEADY, out
    assert Path(where) == results
    parents, children = mlflow_runs(run.tmp, "sla2p-bench/table")
    assert [p.info.status for p in parents] == ["KILLED"]
    assert sorted(r.data.tags["sla2p.cell_key"] for r in children) == sorted(done)  # each finished cell once
    assert run.server_pids(), "the CLI started no Prefect server of its own"
    run.assert_nothing_left()
    return len(done), done


def _stopped_after_the_first_cell(tmp_path, sig: int, code: int, name: str, *extra) -> tuple[int, dict]:
    """A steady run signalled (as a terminal would: the whole group) once its first cell is saved."""
    run = Run(tmp_path, STEADY, *extra)
    run.wait_for(_first_cell_saved(tmp_path / "results"))
    run.signal(sig)
    run.wait()
    n, done = _check_interrupted(run, code)
    assert f"{name}: stopping once the running cells finish" in run.stderr()
    return n, done


@pytest.mark.slow
def test_ctrl_c_stops_scheduling_saves_and_the_rerun_resumes(tmp_path):
    n, done = _stopped_after_the_first_cell(tmp_path, signal.SIGINT, 130, "Ctrl-C", "--runner", "threads")

    out = cli(tmp_path, "table", STEADY)  # the same command again resumes
    assert f"cells: {N_STEADY} ({n} cached, {N_STEADY - n} run, 0 failed)" in out.stdout, out.stdout
    again = finished_cells(tmp_path / "results")
    assert len(again) == N_STEADY and all(again[k] == t for k, t in done.items())  # not refitted
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    names = sorted(r.info.run_name for r in children)
    assert names == sorted(f"sla2p/arrhythmia/all/intrinsic/s{s}" for s in range(N_STEADY))  # each exactly once


@pytest.mark.slow
def test_sigterm_is_a_first_ctrl_c_also_on_worker_processes(tmp_path):
    """SIGTERM on the local Dask cluster (the Ctrl-C test above runs on threads; the signal's
    handling does not depend on the runner, the wait for the running cells does)."""
    _stopped_after_the_first_cell(tmp_path, signal.SIGTERM, 143, "SIGTERM", "--runner", "dask")


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once(tmp_path):
    # On threads only. On the local Dask cluster a second Ctrl-C also exits at once and leaves nothing
    # running, but a worker can print a heartbeat or resource-tracker traceback before the supervisor
    # kills it (1 of 3 runs; killing the workers first made the tracker's traceback certain): not clean yet.
    run = Run(tmp_path, LONG, "--runner", "threads")
    run.wait_for(_cells_started(tmp_path))
    # a fit is training (it reports its steps in a progress file): cells of many seconds are running now
    run.wait_for(lambda: any((tmp_path / "results" / "progress").glob("*.json")))
    run.watch()
    run.signal(signal.SIGINT)
    time.sleep(0.5)
    sent = run.signal(signal.SIGINT)
    code = run.wait(60)
    took = time.time() - sent
    assert code == 130 and took < 5, (code, took, run.stderr()[-2000:])
    assert "Traceback" not in run.stderr()
    assert re.search(r"stopped at once: .*rerun the same command to resume", run.stderr()), run.stderr()
    assert run.server_pids()
    run.assert_nothing_left()
    finished_cells(tmp_path / "results")  # whatever was saved is whole


# Preparing 20 Newsgroups' TF-IDF (reading the archive, fitting the vectoriser) takes a while:
# a Ctrl-C comes while it runs.
PREPARING = """
kind: table
name: preparing
seeds: [0]
ratios: [0.1]
datasets: {20news: {classes: [alt.atheism]}}
methods: {iforest: {}}
"""


@pytest.mark.slow
def test_ctrl_c_while_preparing_the_data_exits_at_once(tmp_path):
    """Nothing is worth waiting for before cells run: the first Ctrl-C exits at once with the one
    line. The run's own processes are outside the group a terminal signals (the supervisor's), so
    the signal cannot kill a compiler or a worker half-way (the embedding's torch.compile g++
    once did, and the data task was retried with a traceback)."""
    env = {**env_for(tmp_path), "SLA2P_CACHE_DIR": str(tmp_path / "cache")}
    run = Run(tmp_path, PREPARING, env=env)
    run.wait_for(lambda: "running on threads" in run.stdout())
    time.sleep(1)
    run.watch()
    assert run.seen and all(process_group(pid) != run.proc.pid for pid in run.seen), \
        {pid: (process_group(pid), cmd) for pid, cmd in run.seen.items()}  # only the supervisor is signalled
    sent = run.signal(signal.SIGINT)
    code = run.wait(60)
    took = time.time() - sent
    out, err = run.stdout(), run.stderr()
    assert code == 130 and took < 10, (code, took, err[-3000:])
    assert "Traceback" not in out + err, err[-3000:]
    assert re.search(r"interrupted: no cell ran in this run \(results: .+\); rerun the same command to resume", err), err
    assert not finished_cells(tmp_path / "results")
    run.assert_nothing_left()


@pytest.mark.slow
def test_a_killed_supervisor_still_stops_the_run_cleanly(tmp_path):
    """SIGKILL to the CLI's supervisor (a crashed terminal, an OOM killer): the run itself gets
    a SIGTERM from the kernel and stops as after a first Ctrl-C, its parent run closed."""
    run = Run(tmp_path, STEADY)
    run.wait_for(_first_cell_saved(tmp_path / "results"))
    (child,) = psutil.Process(run.proc.pid).children()
    run.proc.kill()
    run.wait()
    child.wait(120)
    parents, _ = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert [p.info.status for p in parents] == ["KILLED"]
    assert 1 <= len(finished_cells(tmp_path / "results")) < N_STEADY
    run.assert_nothing_left()
