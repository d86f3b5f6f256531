"""Real servers for tests, each started on a free 127.0.0.1 port and gone when its block ends
(also when the test fails): a throwaway PostgreSQL cluster, an MLflow tracking server, a Prefect
server, and ``sla2p-bench server`` itself (both of those at once).

    from support.servers import postgres, mlflow_server, prefect_server, team_server, require_postgres

    require_postgres()                                  # pytest.skip with the reason if initdb/pg_ctl are absent
    with postgres() as pg:                              # initdb + pg_ctl in a temporary folder
        uri = pg.create_database("mlflow")              # postgresql+psycopg://sla2p@127.0.0.1:PORT/mlflow
        with mlflow_server(uri, tmp / "artifacts") as ml:
            ml.url                                      # http://127.0.0.1:PORT (MLFLOW_TRACKING_URI)
        with prefect_server(tmp / "prefect") as pf:     # its own PREFECT_HOME
            pf.url                                      # http://127.0.0.1:PORT/api (PREFECT_API_URL)
        with team_server(uri, tmp / "state") as ts:     # `sla2p-bench server` in a session of its own
            ts.mlflow_url, ts.prefect_api_url, ts.lines

The servers are the suite's own commands (:mod:`flows.team_server`), so a test of a helper tests
what a user starts. PostgreSQL refuses to run as root: as root, the cluster belongs to the
``postgres`` user (Debian's package creates it). Fast settings for a throwaway cluster: no fsync.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from flows.prefect_server import free_port, port_in_use  # noqa: F401 (free_port: for the tests)

from . import ROOT


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on ``port`` (connections in TIME_WAIT do not count, as for a server)."""
    return not port_in_use(port, host)


def clean_env(**extra) -> dict:
    """The environment for what a test starts: the caller's, without Prefect or MLflow settings,
    telemetry off."""
    from tasks.env import telemetry_off

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(extra)
    return telemetry_off(env)


# -- PostgreSQL --------------------------------------------------------------------------------
def pg_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: from PATH, else Debian's
    /usr/lib/postgresql/<version>/bin (the newest)."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(on_path):
        return Path(os.path.realpath(on_path[0])).parent
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def _version(name: str) -> tuple:
    return tuple(int(x) for x in name.split(".") if x.isdigit())


def postgres_missing() -> str | None:
    """Why no throwaway cluster can be made here (None: it can)."""
    if pg_bin() is None:
        return "PostgreSQL's initdb/pg_ctl not found (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to own the cluster"
    return None


def require_postgres() -> None:
    """Skip the calling test, with the reason, when no cluster can be made."""
    import pytest

    why = postgres_missing()
    if why:
        pytest.skip(why)


class Postgres:
    """A PostgreSQL cluster in a temporary folder, on a free port, trusting local connections."""

    def __init__(self, port: int | None = None, user: str = "sla2p"):
        self.port = port or free_port()
        self.user = user
        self.bin = pg_bin()
        self.dir: Path | None = None
        self._owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kw = {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []} if self._owner else {}
        out = subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True, text=True, timeout=120,
                             cwd=self.dir, env={**os.environ, "LC_ALL": "C"}, **kw)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}): {out.stdout[-1500:]} {out.stderr[-1500:]}")
        return out

    def start(self) -> Postgres:
        # /tmp itself, not pytest's tmp_path: the postgres user must be able to reach the folder
        self.dir = Path(tempfile.mkdtemp(prefix="sla2p-pg-"))
        if self._owner:
            os.chown(self.dir, self._owner.pw_uid, self._owner.pw_gid)
        data = self.dir / "data"
        self._run("initdb", "-D", str(data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(data), "-l", str(self.dir / "server.log"), "-o", opts, "-w", "-t", "60", "start")
        return self

    def uri(self, database: str = "postgres", driver: str = "psycopg") -> str:
        """A SQLAlchemy URI (``driver=""`` gives a plain libpq one)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self.user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.uri(database, driver=""), autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        with self.connect() as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def stop(self) -> None:
        if self.dir is None:
            return
        data = self.dir / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(Exception):  # the postmaster's pid is the file's first line
                    os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


@contextlib.contextmanager
def postgres(port: int | None = None):
    """A running :class:`Postgres`, removed afterwards."""
    pg = Postgres(port)
    try:
        yield pg.start()
    finally:
        pg.stop()


# -- MLflow and Prefect servers, one at a time -------------------------------------------------
@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path | str, port: int | None = None, timeout: float = 300):
    """``mlflow server`` as ``sla2p-bench server`` starts it (served artifacts in ``artifacts``);
    yields the :class:`flows.team_server.Service` (``.url``, ``.log``)."""
    from flows.team_server import mlflow_service

    Path(artifacts).mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="sla2p-mlflow-log-")) / "mlflow.log"
    s = mlflow_service(backend_store_uri, str(artifacts), "127.0.0.1", port or free_port(), log)
    s.env = clean_env(**{k: v for k, v in s.env.items() if k.startswith("MLFLOW_SERVER_")})
    try:
        s.start().wait(timeout)
        yield s
    finally:
        s.stop()
        shutil.rmtree(log.parent, ignore_errors=True)


@contextlib.contextmanager
def prefect_server(home: Path | str, port: int | None = None, timeout: float = 180):
    """``prefect server start`` (API and UI) with its own PREFECT_HOME; yields the
    :class:`flows.team_server.Service` (``.url`` is the API URL)."""
    from flows.team_server import prefect_service

    home = Path(home)
    s = prefect_service(home, "127.0.0.1", port or free_port(), home / "server.log")
    s.env = clean_env(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    try:
        s.start().wait(timeout)
        yield s
    finally:
        s.stop()


def process_group(pid: int) -> int | None:
    """``os.getpgid(pid)``, or None once the process is gone (it may exit between a listing of
    processes and this call)."""
    try:
        return os.getpgid(pid)
    except OSError:
        return None


# -- sla2p-bench server ------------------------------------------------------------------------
class TeamServer:
    """``sla2p-bench server`` running in a session of its own; :meth:`stop` sends SIGTERM and
    returns its exit code once it and everything it started have gone."""

    def __init__(self, args: list[str], env: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "server", *args], cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.mlflow_url = self.prefect_api_url = ""
        self.started: set[int] = set()  # every process seen below it

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 300) -> TeamServer:
        """Until it prints its export lines; RuntimeError (with its output) if it exits first."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.descendants()
            for line in list(self.lines):
                if line.strip().startswith("export MLFLOW_TRACKING_URI="):
                    self.mlflow_url = line.split("=", 1)[1].strip()
                if line.strip().startswith("export PREFECT_API_URL="):
                    self.prefect_api_url = line.split("=", 1)[1].strip()
            if any(x.startswith("Logs: ") for x in self.lines):
                return self
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"sla2p-bench server exited {self.proc.returncode}:\n" + "\n".join(self.lines))
            time.sleep(0.2)
        raise RuntimeError(f"sla2p-bench server not ready in {timeout:g} s:\n" + "\n".join(self.lines))

    def wait_exit(self, timeout: float = 60) -> int:
        """Its exit code once it has exited on its own (all its output is in :attr:`lines`)."""
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def descendants(self) -> set[int]:
        """The pids of every process below it now (also remembered in :attr:`started`)."""
        import psutil

        try:
            now = {p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.Error:
            now = set()
        self.started |= now
        return now

    def group_leaders(self) -> set[int]:
        """The processes below it now that lead their own process group (a server started in a
        session of its own). A pid that exits between the listing and the check is skipped: under
        load a short-lived child did, and failed the test that looked for the server."""
        return {pid for pid in self.descendants() if process_group(pid) == pid}

    def alive(self) -> set[int]:
        """Which of the processes it ever started still run (zombies count as gone)."""
        import psutil

        out = set()
        for pid in self.started:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    out.add(pid)
            except psutil.Error:
                pass
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        """Signal it, wait for it; whatever is left then is killed. Returns its exit code."""
        if self.proc.poll() is None:
            self.descendants()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        end = time.monotonic() + 15
        while self.alive() and time.monotonic() < end:
            time.sleep(0.2)
        return self.proc.returncode

    def kill_leftovers(self) -> None:
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def team_server(backend_store_uri: str, state_dir: Path | str, *extra: str, timeout: float = 300):
    """``sla2p-bench server`` on free ports with its state in ``state_dir``, ready (both servers
    answer) when the block starts; stopped, and anything left killed, when it ends."""
    ml = free_port()
    pf = next(p for p in iter(free_port, None) if p != ml)
    args = ["--backend-store-uri", backend_store_uri, "--state-dir", str(state_dir),
            "--mlflow-port", str(ml), "--prefect-port", str(pf), *extra]
    ts = TeamServer(args, clean_env())
    try:
        yield ts.wait_ready(timeout)
    finally:
        ts.stop()
        ts.kill_leftovers()
