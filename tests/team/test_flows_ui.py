"""``sla2p-bench ui`` with real processes: a busy port is refused at once with one line; the URL
is printed only once the server answers; only the web server is started (no MLflow job runner);
SIGTERM, and a SIGKILL of the command, leave no process behind and the port free.

The helpers (``ui_process``, ``wait_for_url``, ``stop_all``) are in ``support/ui.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from flows.ui_server import MlflowUI, UIError, free_port, port_in_use
from support import ROOT
from support.ui import CLI, MAX_DESCENDANTS, START_TIMEOUT, stop_all, ui_env, ui_process, wait_for_url


def _ui_server_processes(port: int) -> list[psutil.Process]:
    """Any process of a UI server on ``port`` (found by its command line, not by parentage)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if f"--port {port}" in cmd and ("flows.ui_server" in cmd or "uvicorn" in cmd):
            out.append(p)
    return out


@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables (migrated once: a fresh one costs the server ~10 s)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("ui") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def db_uri(mlflow_db, tmp_path) -> str:
    shutil.copy2(mlflow_db, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_busy_port_is_refused_at_once_with_one_line(db_uri):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        t0 = time.monotonic()
        out = subprocess.run(CLI + ["ui", "--port", str(port), "--tracking-uri", db_uri], cwd=ROOT, env=ui_env(),
                             capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    assert out.stderr.strip() == f"error: port {port} on 127.0.0.1 is in use (another server?): pick another with --port"
    assert took < 15, took  # ~0.3 s here (no MLflow import); MLflow's own check took ~40 s and exited 0
    assert not _ui_server_processes(port)


@pytest.mark.parametrize("uri, why", [("sqlite:///{tmp}/nothing.db", "no MLflow database at"),
                                      ("http://127.0.0.1:5000", "is a tracking server")])
def test_what_it_cannot_serve_is_refused_with_one_line(tmp_path, uri, why):
    out = subprocess.run(CLI + ["ui", "--port", str(free_port()), "--tracking-uri", uri.format(tmp=tmp_path)],
                         cwd=ROOT, env=ui_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and why in out.stderr, out.stderr
    assert not (tmp_path / "nothing.db").exists()  # no new empty database left behind


# SIGTERM to the command; a terminal's Ctrl-C, which goes to the command's whole process group
SIGNALS = {"sigterm": (signal.SIGTERM, lambda p: p.send_signal(signal.SIGTERM)),
           "ctrl-c": (signal.SIGINT, lambda p: os.killpg(p.pid, signal.SIGINT))}


@pytest.mark.slow  # a real MLflow server: 8 s each
@pytest.mark.parametrize("how", list(SIGNALS))
def test_url_once_ready_only_the_web_server_and_a_signal_stops_everything(db_uri, how):
    sig, send = SIGNALS[how]
    port = free_port()
    proc = ui_process(db_uri, port)
    started: list[psutil.Process] = []
    try:
        lines, ready = wait_for_url(proc, port)
        assert ready, f"the URL was printed before /health answered: {lines}"
        assert lines[-1].startswith(f"MLflow UI: http://127.0.0.1:{port} (ready in "), lines
        assert not any("http://" in x for x in lines[:-1]), lines
        time.sleep(3)  # MLflow starts its job runner right after uvicorn: give it the chance
        started = psutil.Process(proc.pid).children(recursive=True)
        names = [" ".join(p.cmdline()) for p in started]
        assert len(started) <= MAX_DESCENDANTS, names
        assert not any("huey" in n or "_job_runner" in n for n in names), names
        assert all(p.pid != proc.pid and os.getsid(p.pid) != proc.pid for p in started)  # a session of its own

        send(proc)
        assert proc.wait(30) == 128 + sig
        assert "MLflow UI stopped" in proc.stderr.read()
        gone, alive = psutil.wait_procs(started, timeout=5)
        assert not alive, alive
        assert not port_in_use(port) and not _ui_server_processes(port)
    finally:
        stop_all(proc, started)


@pytest.mark.slow
def test_a_killed_command_takes_its_server_with_it(db_uri):
    """SIGKILL cannot be handled: the server's watchdog sees its parent gone and stops its group."""
    port = free_port()
    proc = ui_process(db_uri, port)
    started: list[psutil.Process] = []
    try:
        wait_for_url(proc, port)
        started = psutil.Process(proc.pid).children(recursive=True)
        assert started
        proc.kill()
        proc.wait(10)
        gone, alive = psutil.wait_procs(started, timeout=20)
        assert not alive, alive
        assert not port_in_use(port)
    finally:
        stop_all(proc, started)


@pytest.mark.slow
def test_a_port_taken_while_starting_is_named(db_uri):
    """The port check comes first; if another process binds the port meanwhile, uvicorn fails
    late and MLflow exits 0: the error still names the port (exit 1), and nothing is left."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = MlflowUI(db_uri, port)
        server.spawn()  # past the check, as if the port was taken after it
        try:
            with pytest.raises(UIError) as err:
                server.wait(timeout=START_TIMEOUT)
            assert err.value.code == 1
            assert str(err.value) == (f"the MLflow UI exited while starting: port {port} on 127.0.0.1 is in use "
                                      "(another server?): pick another with --port")
        finally:
            server.stop()
        assert not _ui_server_processes(port)
