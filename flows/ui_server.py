"""``sla2p-bench ui``: MLflow's UI for the suite's tracking store, on 127.0.0.1.

What plain ``mlflow ui`` does on a 2-core machine, and what this module does instead:

* a busy port: MLflow migrates the store and imports its app (~40 s) before uvicorn fails to
  bind, logs the error and exits 0. Here the port is tried first: one line, exit 2, in about a
  second; a port taken while the server starts is still reported as such, with exit 1;
* SIGTERM to the command left MLflow's server and job runner holding the port. Here the server
  runs in a session of its own (a terminal's Ctrl-C reaches the command only, which decides),
  is stopped as a whole process group on Ctrl-C, SIGTERM or SIGHUP, and a watchdog in it stops
  the group if the command dies without stopping it (SIGKILL);
* the URL was printed before the server answered (~30 s early): here it is printed once
  ``/health`` answers;
* MLflow 3 starts a job runner with seven huey consumers beside the web server (GenAI judges
  and evaluations, prompt optimisation, periodic tasks): browsing runs needs none, so ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``
  (unless the user set it) and one uvicorn worker. Left: this module's server process (MLflow's
  CLI, which also migrates the store) and uvicorn.

    code = serve("sqlite:///.../mlflow.db", 5000)   # blocks until Ctrl-C / SIGTERM; exit code

``python -m flows.ui_server --parent PID --uri URI --port N`` is the server process itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from tasks.env import telemetry_off
from tasks.track.ui import is_tracking_server

from .prefect_server import free_port, healthy, port_in_use, stop_group

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 300.0  # s; MLflow answers after 15-75 s on a busy 2-core machine
# Browsing needs the web server only; the user's own setting wins.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class UIError(RuntimeError):
    """The UI could not start or stopped by itself; the message is one line naming why."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code  # 2: refused before anything was started


def check_uri(uri: str) -> None:
    """Refuse, with one line, what the UI cannot serve: a tracking server (it has its own UI) or
    an SQLite file that is not there (a typo would show an empty UI and leave a new database)."""
    if is_tracking_server(uri):
        raise UIError(f"{uri} is a tracking server: open it in a browser (`ui` serves a database: "
                      "sqlite:///... or postgresql://...)", code=2)
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_file():
            raise UIError(f"no MLflow database at {path} (run `sla2p-bench table` first, or pass "
                          "--tracking-uri sqlite:///PATH)", code=2)


def mlflow_server_args(uri: str, port: int) -> list[str]:
    """``mlflow server`` arguments: one worker, no access log (the UI polls: the log would only
    grow), new experiments' artifacts beside an SQLite database as the suite keeps them."""
    args = ["server", "--backend-store-uri", uri, "--host", HOST, "--port", str(port), "--workers", "1",
            "--uvicorn-opts", "--no-access-log"]
    if uri.startswith("sqlite:///"):
        from tasks.track.mlflow_runs import default_artifact_root

        args += ["--default-artifact-root", str(default_artifact_root(uri))]
    return args


def _busy(port: int) -> str:
    return f"port {port} on {HOST} is in use (another server?): pick another with --port"


def _why(log: str, port: int) -> str:
    """The one line that says why the server process ended: the port, or its last error."""
    if "address already in use" in log.lower():
        return _busy(port)
    lines = [x.strip() for x in log.splitlines() if x.strip()]
    errors = [x for x in lines if "error" in x.lower() or "exception" in x.lower()]
    last = (errors or lines or ["(no output)"])[-1]
    return " ".join(last.split())[:400]


class MlflowUI:
    """One MLflow UI server process group: :meth:`start`, then :meth:`stop` (idempotent)."""

    def __init__(self, uri: str, port: int):
        self.uri, self.port = uri, port
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def spawn(self) -> None:
        env = {**telemetry_off(dict(os.environ))}
        for k, v in SERVER_ENV.items():
            env.setdefault(k, v)
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flows.ui_server", "--parent", str(os.getpid()), "--uri", self.uri,
             "--port", str(self.port)],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)  # a terminal's Ctrl-C goes to the command only; stop() takes the group

    def output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-20000:].decode(errors="replace")

    def wait(self, timeout: float = STARTUP_TIMEOUT, cancelled: threading.Event | None = None) -> bool:
        """Until ``/health`` answers (True); False if ``cancelled`` was set meanwhile. Raises
        :class:`UIError` if the server exits or does not answer within ``timeout``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cancelled is not None and cancelled.is_set():
                return False
            if self.proc.poll() is not None:
                raise UIError(f"the MLflow UI exited while starting: {_why(self.output(), self.port)}")
            if healthy(self.url):
                return True
            time.sleep(0.2)
        raise UIError(f"the MLflow UI did not answer on {self.url} within {timeout:g} s: "
                      f"{_why(self.output(), self.port)}")

    def start(self, timeout: float = STARTUP_TIMEOUT, cancelled: threading.Event | None = None) -> bool:
        if port_in_use(self.port):
            raise UIError(_busy(self.port), code=2)
        self.spawn()
        return self.wait(timeout, cancelled)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``grace`` s, then SIGKILL to
        whatever is left in the group."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_group(proc, grace)
        if self._log is not None:
            self._log.close()
            self._log = None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def serve(uri: str, port: int, say: Callable[[str], None] = print,
          warn: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> int:
    """Run the UI until Ctrl-C, SIGTERM or SIGHUP (exit 128 + the signal) or until the server
    stops by itself (1). Prints the URL once the server answers. Call from the main thread.
    Raises :class:`UIError` if it cannot start."""
    check_uri(uri)
    if port == 0:
        port = free_port()
    elif port_in_use(port):  # before a word is printed: the refusal is the one line
        raise UIError(_busy(port), code=2)
    stop = threading.Event()
    got: list[int] = []

    def handle(signum, _frame):
        got.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    server = MlflowUI(uri, port)
    try:
        t0 = time.monotonic()
        say(f"starting the MLflow UI for {uri} on port {port} ...")
        if server.start(cancelled=stop):
            say(f"MLflow UI: {server.url} (ready in {time.monotonic() - t0:.0f} s; Ctrl-C stops it)")
            while not stop.wait(0.5):
                if server.proc.poll() is not None:
                    raise UIError(f"the MLflow UI stopped by itself: {_why(server.output(), port)}")
    finally:
        server.stop()
        for s, h in previous.items():
            signal.signal(s, h)
    warn("MLflow UI stopped")
    return 128 + got[0]


# -- the server process ------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    """Stop this process group when the command that started it is gone without stopping it."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGTERM)  # MLflow forwards it to uvicorn, which shuts down
    time.sleep(10)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="the MLflow UI server of `sla2p-bench ui`")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--uri", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    from mlflow.cli import cli

    cli.main(args=mlflow_server_args(args.uri, args.port), prog_name="mlflow")


if __name__ == "__main__":
    main()
