"""``sla2p-bench ui`` as a real process: start it, wait for its URL, stop it and all it started.
Shared by test_flows_ui.py and test_browser.py."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

from tasks.env import telemetry_off

from . import ROOT


CLI = [sys.executable, "-m", "flows.cli"]

# Measured: the command's descendants are flows.ui_server (MLflow's CLI) and uvicorn: 2. With
# MLflow's defaults the command started 10 (MLflow's CLI, uvicorn, a job runner, seven huey consumers).
MAX_DESCENDANTS = 2


START_TIMEOUT = 240  # s: MLflow answers in 5-15 s here, up to ~75 s on a loaded 2-core machine


def ui_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return telemetry_off(env)


def ui_process(uri: str, port: int) -> subprocess.Popen:
    """``sla2p-bench ui`` as a process of its own session (a signal to it reaches it only)."""
    return subprocess.Popen(CLI + ["ui", "--port", str(port), "--tracking-uri", uri], cwd=ROOT, env=ui_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _lines(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def wait_for_url(proc: subprocess.Popen, port: int, timeout: float = START_TIMEOUT) -> tuple[list[str], bool]:
    """Read the command's stdout until the line with the URL; returns the lines so far and whether
    ``/health`` answered at the moment that line was read."""
    q = _lines(proc.stdout)
    lines, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = q.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"`ui` exited {proc.wait()} before printing its URL: {lines} {proc.stderr.read()}")
        lines.append(line)
        if f"http://127.0.0.1:{port}" in line:
            return lines, healthy(port)
    raise AssertionError(f"no URL within {timeout} s: {lines}")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def stop_all(proc: subprocess.Popen, others: list[psutil.Process]) -> None:
    """Whatever a test left running: the command, then the processes it started (their own group)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    for p in others:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.kill()
        except psutil.Error:
            pass
