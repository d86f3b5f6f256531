"""The Prefect API server of one CLI run, when the user has none (no ``PREFECT_API_URL``).

Why not Prefect's own temporary server: Prefect starts it with ``subprocess.Popen`` in the CLI's
process group, so a terminal's Ctrl-C (sent to the whole foreground group) kills the server
first, and the flow then retries the dead API for minutes. This server is the same application
(``prefect.server.api.server:create_app`` under uvicorn, with the settings Prefect gives its
temporary server: no UI, no background services), started

* in a session of its own, so a terminal's Ctrl-C never reaches it: the CLI decides when it stops;
* with a watchdog on its parent: if the CLI dies without stopping it (SIGKILL), it exits too;
* under a lock in ``PREFECT_HOME``, so two runs starting at once do not migrate one fresh
  database together;

and its address is exported as ``PREFECT_API_URL`` before Prefect is imported, so the flow and
every Dask worker of a local cluster (they inherit the environment) share it.

    server = PrefectServer()
    url = server.spawn()      # returns at once: export it, import Prefect meanwhile
    url = server.wait()       # /api/health answers (another URL if the port was taken)
    ...
    server.stop()             # also registered with atexit by the CLI

``python -m flows.prefect_server --parent PID --port N`` is the server process itself.

The process helpers at the top (:func:`free_port`, :func:`port_in_use`, :func:`bind_error`,
:func:`answers`, :func:`http_status`, :func:`healthy`, :func:`stop_group`) serve every server the
suite starts (:mod:`flows.team_server`, :mod:`flows.ui_server`) and the checks of :mod:`flows.run`
and :mod:`flows.dask_worker`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tasks.env import telemetry_off
from tasks.files import file_lock

# What Prefect's temporary server runs with (prefect.server.api.server.SubprocessASGIServer).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
STARTUP_FAILURE = 3  # uvicorn's exit code when it cannot bind the port


class ServerError(RuntimeError):
    """The server did not come up; the message says why (with its stderr)."""


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def bind_error(port: int, host: str = "127.0.0.1") -> OSError | None:
    """Why ``host:port`` cannot be bound, or None. SO_REUSEADDR as servers (uvicorn) bind: a port
    left in TIME_WAIT by a stopped server counts as free, as it does for them."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc
    return None


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    return bind_error(port, host) is not None


def answers(url: str, timeout: float = 2.0) -> bool:
    """``GET url`` answers 200."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def http_status(url: str, auth: tuple[str, str] | None = None, timeout: float = 10.0) -> int | None:
    """The HTTP status ``GET url`` gets (with basic ``auth`` if given); None: no answer."""
    import base64
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url)
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def healthy(url: str, timeout: float = 2.0) -> bool:
    """``GET <url>/health`` answers 200."""
    return answers(f"{url.rstrip('/')}/health", timeout)


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the group of ``proc`` (started with ``start_new_session``), SIGKILL after
    ``grace`` seconds, then SIGKILL to anything it left in its group."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class PrefectServer:
    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._log = None
        self._start_lock = contextlib.ExitStack()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _spawn(self) -> None:
        self.port = free_port()
        env = {**telemetry_off(dict(os.environ)), **SERVER_ENV}
        env.pop("PREFECT_API_URL", None)
        # A team server's auth string in this shell is not for this run's private server (on
        # 127.0.0.1, gone with the run): the CLI's client would need PREFECT_API_AUTH_STRING too.
        env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
        if self._log is not None:  # a respawn: the last attempt's output is not needed
            self._log.close()
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flows.prefect_server", "--parent", str(os.getpid()), "--port", str(self.port)],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)  # a terminal's Ctrl-C goes to the CLI's group only

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def spawn(self) -> str:
        """Start the server process and return its API URL at once (it answers a few seconds
        later: :meth:`wait`). Holds the start lock of ``PREFECT_HOME`` until :meth:`wait`
        returns, so that two runs never migrate one fresh database together."""
        home = prefect_home()
        home.mkdir(parents=True, exist_ok=True)
        self._start_lock = contextlib.ExitStack()
        self._start_lock.enter_context(file_lock(home / ".sla2p-server-start.lock"))
        self._spawn()
        return self.api_url

    def wait(self, timeout: float | None = None, cancelled: threading.Event | None = None) -> str:
        """Wait until the server answers; returns its API URL (another one than :meth:`spawn`'s
        if the port was taken meanwhile). A set ``cancelled`` event abandons the wait (the
        server is stopped) and returns ''."""
        timeout = timeout or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", 120))
        try:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if cancelled is not None and cancelled.is_set():
                    self.stop()
                    return ""
                code = self.proc.poll()
                if code == STARTUP_FAILURE:  # the port was taken meanwhile: another one
                    self._spawn()
                    continue
                if code is not None:
                    out = self._output()
                    self.proc = None
                    raise ServerError(f"the Prefect server exited with code {code} while starting: {out}")
                if healthy(self.api_url):
                    return self.api_url
                time.sleep(0.1)
            out = self._output()
            self.stop()
            raise ServerError(f"the Prefect server did not answer within {timeout:g} s "
                              f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS): {out}")
        finally:
            self._start_lock.close()

    def start(self, timeout: float | None = None, cancelled: threading.Event | None = None) -> str:
        """:meth:`spawn` and :meth:`wait`."""
        self.spawn()
        return self.wait(timeout, cancelled)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the server's group, SIGKILL after ``grace`` seconds. Idempotent."""
        self._start_lock.close()
        proc, self.proc = self.proc, None
        if proc is None:
            return
        stop_group(proc, grace)
        if self._log is not None:
            self._log.close()
            self._log = None


# -- the server process ------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    """Exit when the process that started us is gone (it was killed without stopping us)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down gracefully
    time.sleep(10)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="the Prefect API server of one sla2p-bench run")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only the CLI stops us
    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()
    import uvicorn

    uvicorn.run("prefect.server.api.server:create_app", factory=True, host="127.0.0.1", port=args.port,
                log_level="error", lifespan="on")


if __name__ == "__main__":
    main()
