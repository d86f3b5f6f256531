"""Ctrl-C and SIGTERM stop a run cleanly, and the next run resumes it.

Each run is a real CLI subprocess in a session of its own, signalled the way a terminal does it:
``os.killpg`` on its process group (the CLI's Prefect server lives in a session of its own, so the
signal reaches the CLI only, and the CLI stops the server).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from test_flows_e2e import cli, finished_cells, mlflow_runs

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

    def __init__(self, tmp: Path, config: str):
        self.tmp = tmp
        self.out, self.err = open(tmp / "stdout.txt", "w+"), open(tmp / "stderr.txt", "w+")
        self.proc = cli(tmp, "table", config, popen=True, start_new_session=True, stdout=self.out, stderr=self.err)
        self.seen: dict[int, list[str]] = {}  # pid -> command line of every descendant seen

    def watch(self) -> None:
        try:
            for c in psutil.Process(self.proc.pid).children(recursive=True):
                try:
                    self.seen.setdefault(c.pid, c.cmdline())
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
        group = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == self.proc.pid]
        assert not group, f"processes left in the run's group: {group}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


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


def _stopped_after_the_first_cell(tmp_path, sig: int, code: int, name: str) -> tuple[int, dict]:
    """A steady run signalled (as a terminal would: the whole group) once its first cell is saved."""
    run = Run(tmp_path, STEADY)
    run.wait_for(_first_cell_saved(tmp_path / "results"))
    run.signal(sig)
    run.wait()
    n, done = _check_interrupted(run, code)
    assert f"{name}: stopping once the running cells finish" in run.stderr()
    return n, done


@pytest.mark.slow
def test_ctrl_c_stops_scheduling_saves_and_the_rerun_resumes(tmp_path):
    n, done = _stopped_after_the_first_cell(tmp_path, signal.SIGINT, 130, "Ctrl-C")

    out = cli(tmp_path, "table", STEADY)  # the same command again resumes
    assert f"cells: {N_STEADY} ({n} cached, {N_STEADY - n} run, 0 failed)" in out.stdout, out.stdout
    again = finished_cells(tmp_path / "results")
    assert len(again) == N_STEADY and all(again[k] == t for k, t in done.items())  # not refitted
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    names = sorted(r.info.run_name for r in children)
    assert names == sorted(f"sla2p/arrhythmia/all/p-/s{s}" for s in range(N_STEADY))  # each exactly once


@pytest.mark.slow
def test_sigterm_is_a_first_ctrl_c(tmp_path):
    _stopped_after_the_first_cell(tmp_path, signal.SIGTERM, 143, "SIGTERM")


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once(tmp_path):
    run = Run(tmp_path, LONG)
    run.wait_for(lambda: "running on threads" in run.stdout())
    time.sleep(3)  # cells of many seconds are running now
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
