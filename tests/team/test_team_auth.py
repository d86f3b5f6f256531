"""Team servers with credentials: ``sla2p-bench server`` beyond loopback refuses to start without
them (one line, exit 2, nothing started); with them, MLflow runs its basic-auth app and Prefect
its API auth string, a request without credentials gets 401 from both, and a table run whose
shell exports the clients' variables (its local Dask workers inherit them) succeeds end to end.

The servers bind 127.0.0.1 on free ports (credentials given on loopback turn authentication on
too), with a SQLite backend: authentication does not depend on the database, and these tests
then need no PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from support.servers import ROOT, TeamServer, clean_env, free_port

MLFLOW_PASSWORD = "mlflow-admin-pass-0"  # 12+ characters: MLflow's rule
PREFECT_AUTH = "team:prefect-pass-0123"
CREDENTIALS = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": MLFLOW_PASSWORD,
               "PREFECT_API_AUTH_STRING": PREFECT_AUTH}
# Two cells, one per method: enough for the flow, its MLflow parent and children, and the Dask
# workers' task runs to go through both servers' authentication.
TABLE = """
kind: table
name: auth
seeds: [0]
datasets: {odds_glass: {}}
methods:
  iforest: {params: {n_estimators: 50}}
  knn: {}
"""


def _server(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "server", *args], cwd=ROOT, env=clean_env(**env),
                          capture_output=True, text=True, timeout=60)


# -- refusals: one line, exit 2, nothing started -----------------------------------------------
def test_auth_beyond_loopback_without_credentials_is_refused(tmp_path):
    state = tmp_path / "state"
    out = _server("--host", "0.0.0.0", "--state-dir", str(state))  # no backend store either: this comes first
    assert out.returncode == 2, out.stdout + out.stderr
    assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stdout + out.stderr, out.stderr
    assert out.stderr.startswith("error: --host 0.0.0.0 serves beyond this machine")
    assert "MLFLOW_AUTH_ADMIN_PASSWORD and PREFECT_SERVER_API_AUTH_STRING" in out.stderr
    # only what is missing is named
    out = _server("--host", "0.0.0.0", "--only", "prefect", "--state-dir", str(state),
                  MLFLOW_AUTH_ADMIN_PASSWORD=MLFLOW_PASSWORD)
    assert out.returncode == 2 and "set PREFECT_SERVER_API_AUTH_STRING (" in out.stderr, out.stderr
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in out.stderr
    assert not state.exists()  # refused before anything was made or started


def test_auth_weak_credentials_are_refused(tmp_path):
    """Also on loopback: MLflow's old public default, a short password, an auth string that is
    not USER:PASSWORD."""
    state = str(tmp_path / "state")
    for env, why in (({"MLFLOW_AUTH_ADMIN_PASSWORD": "password1234"}, "old MLflow versions shipped"),
                     ({"MLFLOW_AUTH_ADMIN_PASSWORD": "short"}, "at least 12 characters (it has 5)"),
                     ({"PREFECT_SERVER_API_AUTH_STRING": "nocolon-long-enough"}, "must be USER:PASSWORD")):
        out = _server("--backend-store-uri", f"sqlite:///{tmp_path}/m.db", "--state-dir", state,
                      "--mlflow-port", str(free_port()), "--prefect-port", str(free_port()), **env)
        assert out.returncode == 2 and why in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert not (tmp_path / "state").exists()


def test_auth_a_worker_without_the_auth_string_is_named():
    """An existing cluster's worker that the Prefect API refuses is one phrase of the check."""
    from flows.runners import _problems

    here = {"code_version": "c", "data_dvc": "d", "root": "/r"}
    ok = {**here, "sees_results": True, "reaches_api": True, "api_refused": False}
    found = {"tcp://a:1": ok, "tcp://b:1": {**ok, "api_refused": True}}
    (problem,) = _problems(found, here, None, "http://h:4200/api")
    assert problem.startswith("worker(s) tcp://b:1 are refused by the Prefect API") and "PREFECT_API_AUTH_STRING" in problem


# -- the real thing ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auth_team(tmp_path_factory):
    """`sla2p-bench server` with both servers' credentials, on loopback."""
    tmp = tmp_path_factory.mktemp("auth-team")
    ml = free_port()
    pf = next(p for p in iter(free_port, None) if p != ml)
    env = clean_env(MLFLOW_AUTH_ADMIN_PASSWORD=MLFLOW_PASSWORD, PREFECT_SERVER_API_AUTH_STRING=PREFECT_AUTH)
    ts = TeamServer(["--backend-store-uri", f"sqlite:///{tmp}/mlflow.db", "--state-dir", str(tmp / "state"),
                     "--mlflow-port", str(ml), "--prefect-port", str(pf)], env)
    try:
        yield SimpleNamespace(server=ts.wait_ready(300), tmp=tmp)
    finally:
        ts.stop()
        ts.kill_leftovers()


@pytest.mark.slow
def test_auth_requests_without_credentials_get_401(auth_team):
    from flows.prefect_server import http_status

    ts = auth_team.server
    mlflow = f"{ts.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1"
    prefect = f"{ts.prefect_api_url}/admin/version"
    assert http_status(mlflow) == 401 and http_status(prefect) == 401
    assert http_status(mlflow, ("admin", "wrong-password-000")) == 401
    assert http_status(prefect, ("team", "wrong-password-000")) == 401
    assert http_status(mlflow, ("admin", MLFLOW_PASSWORD)) == 200
    assert http_status(prefect, tuple(PREFECT_AUTH.split(":", 1))) == 200
    # what to export is printed, the secrets are not
    assert "  export MLFLOW_TRACKING_USERNAME=admin" in ts.lines
    assert '  export PREFECT_API_AUTH_STRING="$PREFECT_SERVER_API_AUTH_STRING"' in ts.lines
    assert not any(MLFLOW_PASSWORD in x or PREFECT_AUTH in x for x in ts.lines), ts.lines


@pytest.mark.slow
def test_auth_clients_are_checked_before_a_run(auth_team, monkeypatch):
    """What the CLI can ask before any work, and what an existing cluster's worker checks."""
    from flows.dask_worker import api_refuses
    from flows.team_server import ServerError, check_client_credentials

    ts = auth_team.server
    with pytest.raises(ServerError, match=r"MLflow server .* refuses a request without credentials .*"
                                          r"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"):
        check_client_credentials(ts.mlflow_url, ts.prefect_api_url, {})
    with pytest.raises(ServerError, match=r"Prefect server .* refuses the credentials given"):
        check_client_credentials(ts.mlflow_url, ts.prefect_api_url, {**CREDENTIALS, "PREFECT_API_AUTH_STRING": "a:b"})
    check_client_credentials(ts.mlflow_url, ts.prefect_api_url, CREDENTIALS)
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    assert api_refuses(ts.prefect_api_url)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", PREFECT_AUTH)
    assert not api_refuses(ts.prefect_api_url)


@pytest.mark.slow
def test_auth_a_table_run_with_credentials_succeeds(auth_team, monkeypatch):
    """The table run's MLflow client, its Prefect client and its local Dask workers (which report
    the task runs) all read the credentials from the environment."""
    from mlflow.tracking import MlflowClient

    ts, tmp = auth_team.server, auth_team.tmp
    (tmp / "auth.yaml").write_text(TABLE)
    env = clean_env(PREFECT_HOME=str(tmp / "prefect"), PREFECT_API_URL=ts.prefect_api_url,
                    MLFLOW_TRACKING_URI=ts.mlflow_url, COLUMNS="200", **CREDENTIALS)
    out = subprocess.run([sys.executable, "-m", "flows.cli", "table", "--config", str(tmp / "auth.yaml"),
                          "--results-dir", str(tmp / "results"), "--workers", "2", "--runner", "dask"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "cells: 2 (0 cached, 2 run, 0 failed)" in out.stdout, out.stdout
    parent = re.search(rf"^MLflow: {re.escape(ts.mlflow_url)} parent run ([0-9a-f]{{32}})", out.stdout, re.M).group(1)
    for k, v in CREDENTIALS.items():  # this process's clients, as the run's
        monkeypatch.setenv(k, v)
    run = MlflowClient(tracking_uri=ts.mlflow_url).get_run(parent)
    assert run.info.status == "FINISHED"
    states = _task_runs(ts.prefect_api_url, run.data.tags["prefect.flow_run_id"])
    cells = {n: s for n, s in states.items() if not n.startswith("data/")}
    assert len(cells) == 2 and set(cells.values()) == {"COMPLETED"}, states
    assert not (tmp / "prefect" / "prefect.db").exists()  # no temporary server: the team's was used


def _task_runs(api_url: str, flow_run_id: str) -> dict:
    """{task run name: state} of a flow run, read with the auth string."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: PREFECT_AUTH}):
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {t.name: t.state.type.value for t in runs}
