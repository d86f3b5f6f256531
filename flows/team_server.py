"""``sla2p-bench server``: the long-running servers a team shares, started and stopped together.

* an **MLflow tracking server** whose backend store is a database (PostgreSQL for a team; any
  URI ``mlflow server`` takes), serving the artifacts itself (``--serve-artifacts``) from a
  folder or an S3-style path, so that clients on other machines need no access to that folder;
* a **persistent Prefect server** (``prefect server start``: API, UI and its services), whose
  database is its own (``<state dir>/prefect``), apart from the temporary servers of runs
  that have no ``PREFECT_API_URL``.

Both bind to 127.0.0.1 unless ``host`` says otherwise. Beyond the loopback interface they start
only with credentials, each tool's own (:func:`check_credentials`): MLflow's basic-auth app
(``mlflow server --app-name basic-auth``; its admin from ``MLFLOW_AUTH_ADMIN_PASSWORD``, its users
in ``<state dir>/mlflow-auth``) and Prefect's API auth string (``PREFECT_SERVER_API_AUTH_STRING``).
Given on loopback too, they are used there as well. Once the servers answer, a request without
credentials is checked to get 401 before the addresses are printed.

Each runs in a session of its own (a terminal's Ctrl-C reaches this process only) and
:func:`serve` stops both, group and all, on Ctrl-C, SIGTERM or SIGHUP, and when either of them
dies. A PostgreSQL backend is checked with psycopg before MLflow starts: an unreachable server or
a missing database is one line, not a minute of MLflow retrying. Not covered: a SIGKILL of this process leaves the two servers running.

    serve(ServerOptions(backend_store_uri="postgresql+psycopg://sla2p@127.0.0.1:5432/mlflow"))
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tasks.env import project_root, telemetry_off

from .prefect_server import bind_error, free_port, healthy, http_status, stop_group
from .ui_server import SERVER_ENV as MLFLOW_SERVER_ENV

WHICH = ("both", "mlflow", "prefect")
BACKEND_ENV = "MLFLOW_BACKEND_STORE_URI"  # the variable ``mlflow server`` itself reads
STARTUP_TIMEOUT_S = 300.0  # MLflow's first start on an empty PostgreSQL database runs its migrations
# Each tool's own names: MLflow's basic-auth app and Prefect's server read these themselves.
MLFLOW_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"  # creates MLflow's admin on an empty user store
MLFLOW_USER_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"      # that admin's name (default: admin)
MLFLOW_CONFIG_ENV = "MLFLOW_AUTH_CONFIG_PATH"       # a basic-auth config of one's own instead of ours
MLFLOW_SECRET_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # the auth app's CSRF key (kept in the state dir)
PREFECT_AUTH_ENV = "PREFECT_SERVER_API_AUTH_STRING"  # "user:password" every API request must carry
MIN_PASSWORD = 12  # MLflow's own rule for its users' passwords; Prefect's gets the same
LEGACY_PASSWORD = "password1234"  # the admin password old MLflow versions shipped: public


class ServerError(RuntimeError):
    """Refused before starting anything (a bad option, a busy port, PostgreSQL not answering);
    the message is one line that says why."""


class ServerDied(ServerError):
    """A server exited, or did not answer, while starting; the message ends with its log's tail."""


@dataclass(frozen=True)
class ServerOptions:
    backend_store_uri: str | None = None  # default: $MLFLOW_BACKEND_STORE_URI
    artifacts_destination: str | None = None  # default: <state dir>/mlartifacts
    host: str = "127.0.0.1"
    mlflow_port: int = 5000
    prefect_port: int = 4200
    which: str = "both"
    state_dir: str | None = None  # default: <project>/.team-server

    def wants(self, name: str) -> bool:
        return self.which in ("both", name)

    def state(self) -> Path:
        return Path(self.state_dir or project_root() / ".team-server").expanduser().resolve()


# -- checks ------------------------------------------------------------------------------------
def hide_password(uri: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", uri)


def normalise_backend(uri: str) -> str:
    """``postgresql://`` and ``postgres://`` mean SQLAlchemy's psycopg2 driver, which is not
    installed: name psycopg (3), which is."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", uri)


def is_postgres(uri: str) -> bool:
    return re.match(r"^postgres(ql)?(\+\w+)?://", uri) is not None


def check_postgres(uri: str, timeout: int = 5) -> None:
    """Connect once with psycopg; :class:`ServerError` with one line when that fails."""
    import psycopg

    conninfo = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", uri)
    try:
        with psycopg.connect(conninfo, connect_timeout=timeout):
            pass
    except psycopg.Error as exc:
        why = " ".join(str(exc).split())
        m = re.search(r'database "([^"]+)" does not exist', why)
        if m:
            raise ServerError(f"PostgreSQL answers at {hide_password(uri)} but database {m.group(1)!r} does not "
                              f"exist: create it (createdb {m.group(1)}, as a user allowed to)") from None
        raise ServerError(f"PostgreSQL is not reachable at {hide_password(uri)}: {why}") from None


def check_port(host: str, port: int, option: str) -> None:
    exc = bind_error(port, host)
    if exc is not None:
        raise ServerError(f"cannot listen on {host}:{port} ({option}): {exc.strerror or exc}")


def _local(host: str) -> str:
    """The address to reach a server bound to ``host`` from this machine."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def is_loopback(host: str) -> bool:
    """``host`` is reachable from this machine only (127.x, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to any interface
        return False


def check_credentials(opts: ServerOptions, env: dict | None = None) -> tuple[bool, bool]:
    """Whether MLflow and Prefect start with authentication: each one whose credentials the
    environment gives. Beyond loopback both must be given (one :class:`ServerError` line naming
    what is missing); a password shorter than MLflow's minimum or MLflow's old public default is
    refused wherever it is used."""
    env = os.environ if env is None else env
    ml = opts.wants("mlflow") and bool(env.get(MLFLOW_PASSWORD_ENV) or env.get(MLFLOW_CONFIG_ENV))
    pf = opts.wants("prefect") and bool(env.get(PREFECT_AUTH_ENV))
    missing = ([MLFLOW_PASSWORD_ENV] if opts.wants("mlflow") and not ml else []) + \
              ([PREFECT_AUTH_ENV] if opts.wants("prefect") and not pf else [])
    if missing and not is_loopback(opts.host):
        raise ServerError(f"--host {opts.host} serves beyond this machine, so the servers start with credentials "
                          f"only: set {' and '.join(missing)} ({_HOW[missing[0]]}"
                          + (f"; {_HOW[missing[1]]}" if len(missing) > 1 else "")
                          + "), or bind 127.0.0.1 (docs/how-to/team-servers.md)")
    if ml and env.get(MLFLOW_PASSWORD_ENV):
        _check_password(env[MLFLOW_PASSWORD_ENV], MLFLOW_PASSWORD_ENV)
    if pf:
        user, colon, password = env[PREFECT_AUTH_ENV].partition(":")
        if not (user and colon):
            raise ServerError(f"{PREFECT_AUTH_ENV} must be USER:PASSWORD (HTTP basic auth)")
        _check_password(password, PREFECT_AUTH_ENV)
    return ml, pf


_HOW = {MLFLOW_PASSWORD_ENV: f"the MLflow admin's password, {MIN_PASSWORD}+ characters",
        PREFECT_AUTH_ENV: "USER:PASSWORD for Prefect's API"}


def _check_password(password: str, name: str) -> None:
    if password == LEGACY_PASSWORD:
        raise ServerError(f"{name}: {LEGACY_PASSWORD!r} is the admin password old MLflow versions shipped "
                          "(public): choose another")
    if len(password) < MIN_PASSWORD:
        raise ServerError(f"{name}: the password must have at least {MIN_PASSWORD} characters "
                          f"(it has {len(password)})")


# -- one server process ------------------------------------------------------------------------
@dataclass
class Service:
    """One server process in a session of its own, its output in ``log``.

    ``url`` is what a client uses; ``health`` answers 200 once the server serves."""

    name: str
    cmd: list[str]
    env: dict
    url: str
    health: str
    log: Path
    probe: str = ""  # with authentication: a URL that answers 401 without credentials
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def auth(self) -> bool:
        return bool(self.probe)

    def start(self) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def output(self, n: int = 8) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(x.strip() for x in lines[-n:] if x.strip())

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def ready(self) -> bool:
        return self.exited() is None and healthy(self.health)

    def wait(self, timeout: float = STARTUP_TIMEOUT_S, cancelled: threading.Event | None = None) -> bool:
        """True once the server answers; False if ``cancelled`` was set; :class:`ServerError` if it
        exited or did not answer within ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cancelled is not None and cancelled.is_set():
                return False
            code = self.exited()
            if code is not None:
                raise ServerDied(f"the {self.name} server exited with code {code} while starting "
                                  f"(log {self.log}): {self.output()}")
            if healthy(self.health):
                return True
            time.sleep(0.25)
        raise ServerDied(f"the {self.name} server did not answer within {timeout:g} s (log {self.log}): "
                          f"{self.output()}")

    def stop(self, grace: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_group(proc, grace)


def mlflow_service(backend_store_uri: str, artifacts: str, host: str, port: int, log: Path,
                   auth_dir: Path | None = None) -> Service:
    """``auth_dir``: MLflow's basic-auth app, its config (unless ``MLFLOW_AUTH_CONFIG_PATH`` names
    one), user store and CSRF key kept there; None: no authentication."""
    env = telemetry_off(dict(os.environ))
    env.pop(PREFECT_AUTH_ENV, None)  # each server gets its own secret only
    for k, v in MLFLOW_SERVER_ENV.items():  # MLflow's job runner serves GenAI features, not tracking
        env.setdefault(k, v)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri,
           "--serve-artifacts", "--artifacts-destination", artifacts,
           "--host", host, "--port", str(port), "--workers", "1"]
    url = f"http://{_local(host)}:{port}"
    probe = ""
    if auth_dir is not None:
        env.update(mlflow_auth_env(auth_dir, env))
        cmd += ["--app-name", "basic-auth"]
        probe = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
    return Service("MLflow", cmd, env, url, url, log, probe)


def mlflow_auth_env(auth_dir: Path, env: dict) -> dict:
    """The variables MLflow's basic-auth app needs that ``env`` lacks: a config whose user store
    is a SQLite file in ``auth_dir`` (new users may log to every experiment: a team shares
    them; admins manage users), and a CSRF key that stays the same across restarts."""
    out = {}
    auth_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not env.get(MLFLOW_CONFIG_ENV):
        ini = auth_dir / "basic_auth.ini"
        ini.write_text("[mlflow]\ndefault_permission = EDIT\n"
                       f"database_uri = sqlite:///{auth_dir / 'users.db'}\nadmin_username = admin\n"
                       "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
        out[MLFLOW_CONFIG_ENV] = str(ini)
    if not env.get(MLFLOW_SECRET_ENV):
        key = auth_dir / "secret-key"
        if not key.is_file():
            key.touch(mode=0o600)
            key.write_text(secrets.token_hex(32))
        out[MLFLOW_SECRET_ENV] = key.read_text().strip()
    return out


def mlflow_admin(env: dict) -> str:
    """The admin's name as MLflow's basic-auth app reads it: its variable, else its config's."""
    if env.get(MLFLOW_USER_ENV):
        return env[MLFLOW_USER_ENV]
    cfg = configparser.ConfigParser()
    cfg.read(env.get(MLFLOW_CONFIG_ENV) or [])
    return cfg.get("mlflow", "admin_username", fallback="admin")


def prefect_service(home: Path, host: str, port: int, log: Path, auth: bool = False) -> Service:
    """``auth``: the server reads ``PREFECT_SERVER_API_AUTH_STRING`` from the environment it
    inherits; without it, that variable is removed (no authentication half-configured)."""
    env = telemetry_off(dict(os.environ))
    env.pop("PREFECT_API_URL", None)  # the server is the API; it needs none
    env.pop(MLFLOW_PASSWORD_ENV, None)  # each server gets its own secret only
    if not auth:
        env.pop(PREFECT_AUTH_ENV, None)
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    api = f"http://{_local(host)}:{port}/api"
    return Service("Prefect", cmd, env, api, api, log, f"{api}/admin/version" if auth else "")


# -- both --------------------------------------------------------------------------------------
def plan(opts: ServerOptions) -> list[Service]:
    """The services ``opts`` asks for, checked (ports free, PostgreSQL answering), not started."""
    if opts.which not in WHICH:
        raise ServerError(f"--only must be one of mlflow, prefect; got {opts.which!r}")
    ml_auth, pf_auth = check_credentials(opts)  # first: refused beyond loopback before anything else
    state = opts.state()
    services = []
    if opts.which in ("both", "mlflow"):
        uri = opts.backend_store_uri or os.environ.get(BACKEND_ENV)
        if not uri:
            raise ServerError("no backend store for MLflow: pass --backend-store-uri "
                              f"postgresql+psycopg://USER@HOST:5432/DATABASE or set {BACKEND_ENV}")
        uri = normalise_backend(uri)
        port = _port(opts.host, opts.mlflow_port, "--mlflow-port")
        if is_postgres(uri):
            check_postgres(uri)
        art = opts.artifacts_destination or str(state / "mlartifacts")
        if "://" not in art:  # a folder; S3-style paths go to MLflow as they are
            art = str(Path(art).expanduser().resolve())
            Path(art).mkdir(parents=True, exist_ok=True)
        services.append(mlflow_service(uri, art, opts.host, port, state / "logs" / "mlflow.log",
                                       state / "mlflow-auth" if ml_auth else None))
    if opts.which in ("both", "prefect"):
        port = _port(opts.host, opts.prefect_port, "--prefect-port")
        services.append(prefect_service(state / "prefect", opts.host, port, state / "logs" / "prefect.log",
                                        pf_auth))
    return services


def _port(host: str, port: int, option: str) -> int:
    """``port``, checked free; 0 is a free port chosen now, so that the URL printed and the health
    check name the port the server listens on."""
    if port == 0:
        return free_port(host)
    check_port(host, port, option)
    return port


def exports(services: list[Service]) -> list[str]:
    """The lines a user pastes into the shells that run the suite (and start Dask workers). The
    credentials are named, never printed: in the server's shell the lines work as they are."""
    out = []
    for s in services:
        if s.name == "MLflow":
            out.append(f"export MLFLOW_TRACKING_URI={s.url}")
            if s.auth:
                out.append(f"export MLFLOW_TRACKING_USERNAME={mlflow_admin(s.env)}")
                out.append(f'export MLFLOW_TRACKING_PASSWORD="${MLFLOW_PASSWORD_ENV}"')
        else:
            out.append(f"export PREFECT_API_URL={s.url}")
            if s.auth:
                out.append(f'export PREFECT_API_AUTH_STRING="${PREFECT_AUTH_ENV}"')
    return out


def banner(services: list[Service]) -> str:
    lines = []
    for s in services:
        if s.name == "MLflow":
            backend = hide_password(s.cmd[s.cmd.index("--backend-store-uri") + 1])
            art = s.cmd[s.cmd.index("--artifacts-destination") + 1]
            lines.append(f"MLflow tracking server and UI: {s.url} (backend {backend}; artifacts {art})")
        else:
            lines.append(f"Prefect server and UI: {s.url.removesuffix('/api')} (API {s.url})")
    lines.append("In each shell that runs sla2p-bench (and where Dask workers start):")
    lines += [f"  {x}" for x in exports(services)]
    if any(s.auth for s in services):
        lines.append("(the credentials' values, not these names, in other shells; a user of your own: "
                     "docs/how-to/team-servers.md)")
    lines.append(f"Logs: {services[0].log.parent}. Ctrl-C (or SIGTERM) stops "
                 + ("both servers." if len(services) > 1 else "the server."))
    return "\n".join(lines)


def _say(text: str, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def serve(opts: ServerOptions, say: Callable[..., None] = _say, stop: threading.Event | None = None) -> int:
    """Start the servers, print how to use them once all answer, run until ``stop`` is set (the
    signal handlers set it) or a server dies, then stop them all. ``say(text, err=False)`` prints.
    Returns the exit code: 0 after
    a stop that was asked for, 1 when a server died. Raises :class:`ServerError` (refused) or
    :class:`ServerDied` (failed to start) with nothing left running."""
    stop = stop or threading.Event()
    services = plan(opts)
    say("starting " + " and ".join(f"the {s.name} server" for s in services)
        + " (the first start on an empty database takes a minute or two)")
    try:
        for s in services:
            s.start()
        for s in services:  # they start side by side; the slower one (MLflow) sets the pace
            if not s.wait(cancelled=stop):
                return 0
        for s in services:
            check_auth(s, say)
        say(banner(services))
        while not stop.wait(0.5):
            for s in services:
                code = s.exited()
                if code is not None:
                    say(f"error: the {s.name} server exited with code {code} (log {s.log}): {s.output(4)}",
                        err=True)
                    return 1
        return 0
    finally:
        for s in reversed(services):
            s.stop()


def check_auth(s: Service, say: Callable[..., None] = _say) -> None:
    """A server started with credentials must refuse a request without them (:class:`ServerDied`
    otherwise: nothing is served open). MLflow's admin password is read only to create the admin
    on an empty user store: a warning if the one given no longer logs in (changed through MLflow's
    API since; the server runs, with the password changed there)."""
    if not s.auth:
        return
    code = http_status(s.probe)
    if code != 401:
        raise ServerDied(f"the {s.name} server answered {code} to a request without credentials (401 expected): "
                         f"stopped rather than serve without authentication (log {s.log})")
    password = s.env.get(MLFLOW_PASSWORD_ENV)
    if s.name == "MLflow" and password and http_status(s.probe, (mlflow_admin(s.env), password)) == 401:
        say(f"warning: {MLFLOW_PASSWORD_ENV} does not log in as MLflow's admin {mlflow_admin(s.env)!r} (its "
            "password was changed through MLflow's API): set it to the current one", err=True)


def check_client_credentials(tracking_uri: str | None, api_url: str | None, env: dict | None = None) -> None:
    """For a run's CLI, before any work: a team server that refuses this shell's credentials
    (MLflow's ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, Prefect's
    ``PREFECT_API_AUTH_STRING``, which the clients read themselves) is one :class:`ServerError`
    line, not a client's traceback. A server that does not answer is left to the clients."""
    env = os.environ if env is None else env
    checks = []
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        checks.append(("MLflow", tracking_uri, f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/experiments/search"
                       "?max_results=1", (user, password) if user and password else None,
                       "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"))
    if api_url:
        user, colon, password = (env.get("PREFECT_API_AUTH_STRING") or "").partition(":")
        checks.append(("Prefect", api_url, f"{api_url.rstrip('/')}/admin/version",
                       (user, password) if colon else None, "PREFECT_API_AUTH_STRING (USER:PASSWORD)"))
    for name, url, probe, auth, names in checks:
        if http_status(probe, auth) == 401:
            given = "the credentials given" if auth else "a request without credentials"
            raise ServerError(f"the {name} server at {url} refuses {given} (401 Unauthorized): export {names} "
                              "as its admin gave them (docs/how-to/team-servers.md)")


def install_signals(stop: threading.Event) -> None:
    """Ctrl-C, SIGTERM and SIGHUP ask :func:`serve` to stop (main thread only)."""
    def handle(signum, frame):
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handle)
