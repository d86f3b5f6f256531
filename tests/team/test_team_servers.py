"""A team's setup with the real components: a throwaway PostgreSQL cluster, ``sla2p-bench
server`` (the MLflow tracking server on it, with served artifacts, and a persistent Prefect
server), and a small table run against both through ``--tracking-uri http://...`` and
``PREFECT_API_URL``. Checked through the MLflow client, directly in PostgreSQL and through
Prefect's client; then SIGTERM stops everything the server command started. The refusals (no
PostgreSQL, no database, a busy port) are one line each and start nothing.

Skipped, with the reason, only where PostgreSQL's initdb/pg_ctl are absent (CI installs them).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from support.servers import ROOT, clean_env, free_port, port_free, postgres, require_postgres, team_server

# Four cells, one of which fails (more neighbours than rows): a Failed task run, a FAILED child.
TABLE = """
kind: table
name: team
seeds: [0]
datasets: {odds_glass: {}, odds_wbc: {}}
methods:
  iforest: {params: {n_estimators: 50}}
  knn: {per_dataset: {odds_glass: {n_neighbors: 5000}}}
"""
CELLS = {"iforest/odds_glass", "iforest/odds_wbc", "knn/odds_glass", "knn/odds_wbc"}
FAILING = "knn/odds_glass"


def _server(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "server", *args], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def _cell(name: str) -> str:
    """method/dataset of a run or task name (the rest names class, ratio and seed)."""
    return "/".join(name.split("/")[:2])


# -- refusals: one line, exit 2, nothing started -----------------------------------------------
def test_unreachable_postgresql_is_one_line(tmp_path):
    port = free_port()  # nothing listens there
    out = _server("--backend-store-uri", f"postgresql+psycopg://sla2p@127.0.0.1:{port}/mlflow",
                  "--state-dir", str(tmp_path / "state"), "--mlflow-port", str(free_port()))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith(f"error: PostgreSQL is not reachable at postgresql+psycopg://sla2p@127.0.0.1:{port}/mlflow")
    assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stdout + out.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made or started


def test_a_password_is_never_printed(tmp_path):
    out = _server("--backend-store-uri", f"postgresql://sla2p:s3cret@127.0.0.1:{free_port()}/mlflow",
                  "--state-dir", str(tmp_path / "state"), "--mlflow-port", str(free_port()))
    assert out.returncode == 2 and "sla2p:***@" in out.stderr and "s3cret" not in out.stderr, out.stderr


def test_no_backend_store_and_a_busy_port_are_one_line(tmp_path):
    out = _server("--state-dir", str(tmp_path / "state"))
    assert out.returncode == 2 and "no backend store for MLflow" in out.stderr and len(out.stderr.splitlines()) == 1
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _server("--only", "prefect", "--prefect-port", str(port), "--state-dir", str(tmp_path / "state"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port} (--prefect-port)") and len(out.stderr.splitlines()) == 1


@pytest.mark.slow
def test_port_0_is_a_free_port_whose_url_is_printed(tmp_path):
    """`server --prefect-port 0` listens on a free port and prints that port's URL once it answers."""
    import urllib.request

    from support.servers import TeamServer

    ts = TeamServer(["--only", "prefect", "--prefect-port", "0", "--state-dir", str(tmp_path / "state")], clean_env())
    try:
        ts.wait_ready(300)
        port = int(ts.prefect_api_url.split(":")[-1].split("/")[0])
        assert port > 0, ts.lines
        with urllib.request.urlopen(f"{ts.prefect_api_url}/health", timeout=10) as r:
            assert r.status == 200
    finally:
        ts.stop()
        ts.kill_leftovers()


def test_a_tracking_server_keeps_the_artifacts(monkeypatch):
    """A new experiment on a tracking server (named by --tracking-uri or MLFLOW_TRACKING_URI) gets
    the server's artifact store, never a folder of the client's machine."""
    from flows.options import RunOptions

    def root(uri):
        return RunOptions(tracking_uri=uri, results_dir="/r").resolved().artifact_root

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert root(None) is None and root("http://h:5000") is None
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert root(None) == "/r/mlartifacts"  # the zero-setup default: beside the results
    assert root("sqlite:////x/mlflow.db") is None  # a named store: its own default


# -- the real thing ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg():
    require_postgres()
    with postgres() as cluster:
        yield cluster


def test_a_missing_database_is_one_line(pg, tmp_path):
    out = _server("--backend-store-uri", pg.uri("nosuchdb"), "--state-dir", str(tmp_path / "state"),
                  "--mlflow-port", str(free_port()))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stdout + out.stderr
    assert "database 'nosuchdb' does not exist" in out.stderr


@pytest.fixture(scope="module")
def team(pg, tmp_path_factory):
    state = tmp_path_factory.mktemp("team-state")
    uri = pg.create_database("mlflow")
    with team_server(uri, state) as ts:
        yield SimpleNamespace(server=ts, state=state, pg=pg)


@pytest.fixture(scope="module")
def table_run(team, tmp_path_factory):
    """The small table, run as a user of the team's servers runs it."""
    tmp = tmp_path_factory.mktemp("team-run")
    (tmp / "team.yaml").write_text(TABLE)
    env = clean_env(PREFECT_HOME=str(tmp / "prefect"), PREFECT_API_URL=team.server.prefect_api_url, COLUMNS="200")
    out = subprocess.run([sys.executable, "-m", "flows.cli", "table", "--config", str(tmp / "team.yaml"),
                          "--results-dir", str(tmp / "results"), "--tracking-uri", team.server.mlflow_url,
                          "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr  # one cell failed; the others went on
    assert "cells: 4 (0 cached, 3 run, 1 failed)" in out.stdout, out.stdout
    m = re.search(rf"^MLflow: {re.escape(team.server.mlflow_url)} parent run ([0-9a-f]{{32}})", out.stdout, re.M)
    assert m, out.stdout
    assert "View run" not in out.stdout  # MLflow's per-run links are not printed: one line per parent
    # no temporary Prefect server: the exported one was used, so no database in this PREFECT_HOME
    assert not (tmp / "prefect" / "prefect.db").exists()
    return SimpleNamespace(parent=m.group(1), tmp=tmp, stdout=out.stdout)


@pytest.mark.slow
def test_the_table_is_on_the_mlflow_server(team, table_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=team.server.mlflow_url)
    exp = client.get_experiment_by_name("sla2p-bench/table")
    assert exp.artifact_location.startswith("mlflow-artifacts:")  # served by the server, not a client's folder
    runs = client.search_runs([exp.experiment_id], max_results=100)
    (parent,) = [r for r in runs if r.data.tags.get("sla2p.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.run_id == table_run.parent and parent.info.status == "FAILED"  # a cell failed
    assert {_cell(r.info.run_name) for r in children} == CELLS and len(children) == 4
    status = {_cell(r.info.run_name): r.info.status for r in children}
    assert status.pop(FAILING) == "FAILED" and set(status.values()) == {"FINISHED"}
    assert all(0.5 < r.data.metrics["auroc"] <= 1 for r in children if r.info.status == "FINISHED")

    top = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"table_auroc.json", "table_auroc.csv", "cells.csv", "report"} <= top, top
    report = {f.path for f in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.md" in report, report
    local = client.download_artifacts(parent.info.run_id, "report/report.md", str(table_run.tmp))
    assert "Cells: 1 failed, 3 ok." in Path(local).read_text()
    # the server keeps them in its artifacts folder
    stored = team.state / "mlartifacts" / exp.experiment_id / parent.info.run_id / "artifacts"
    assert (stored / "report" / "report.md").is_file() and (stored / "table_auroc.csv").is_file()


@pytest.mark.slow
def test_the_runs_are_rows_in_postgresql(team, table_run):
    parent = table_run.parent
    with team.pg.connect("mlflow") as db:
        runs = dict(db.execute("SELECT run_uuid, status FROM runs").fetchall())
        children = [r for (r,) in db.execute("SELECT run_uuid FROM tags WHERE key = 'mlflow.parentRunId' "
                                             "AND value = %s", (parent,)).fetchall()]
        tags = dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = %s", (parent,)).fetchall())
        aurocs = db.execute("SELECT count(*) FROM metrics WHERE key = 'auroc' AND run_uuid = ANY(%s)",
                            (children,)).fetchone()[0]
    assert runs[parent] == "FAILED" and len(children) == 4 and all(runs[c] in ("FINISHED", "FAILED") for c in children)
    assert aurocs == 3  # the failed cell has no metrics
    assert tags["sla2p.role"] == "parent" and re.fullmatch(r"[0-9a-f-]{36}", tags["prefect.flow_run_id"])


@pytest.mark.slow
def test_the_prefect_server_shows_the_flow_and_its_cells(team, table_run):
    from uuid import UUID

    from mlflow.tracking import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tags = MlflowClient(tracking_uri=team.server.mlflow_url).get_run(table_run.parent).data.tags
    flow_run_id = UUID(tags["prefect.flow_run_id"])
    with temporary_settings(updates={PREFECT_API_URL: team.server.prefect_api_url}):
        with get_client(sync_client=True) as client:
            fr = client.read_flow_run(flow_run_id)
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    # the two systems point at each other
    assert fr.name == f"table-team-{table_run.parent[:8]}"
    assert tags["prefect.flow_run_url"] == f"{team.server.prefect_api_url.removesuffix('/api')}/flow-runs/flow-run/{flow_run_id}"
    assert fr.state.is_completed()  # failed cells do not fail the flow
    by_name = {t.name: t for t in tasks}
    cells = {n: t for n, t in by_name.items() if not n.startswith("data/")}
    assert set(by_name) - set(cells) == {"data/odds_glass", "data/odds_wbc"}
    assert {_cell(n) for n in cells} == CELLS and len(cells) == 4
    # the task runs carry the MLflow children's names, and the failed cell is a Failed task run
    children = MlflowClient(tracking_uri=team.server.mlflow_url).search_runs(
        [fr_exp_id(team)], f"tags.`mlflow.parentRunId` = '{table_run.parent}'")
    assert set(cells) == {r.info.run_name for r in children}
    states = {_cell(n): t.state.type.value for n, t in cells.items()}
    assert states.pop(FAILING) == "FAILED" and set(states.values()) == {"COMPLETED"}
    assert any(f"cell {FAILING}" in log.message and "failed" in log.message for log in logs), [x.message for x in logs]


def fr_exp_id(team) -> str:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=team.server.mlflow_url).get_experiment_by_name("sla2p-bench/table").experiment_id


def _task_runs(api_url: str, flow_run_id: str) -> dict:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return {t.name: t.state.type.value for t in runs}


@pytest.mark.slow
def test_local_dask_workers_report_to_the_same_servers(team, tmp_path):
    """The local Dask cluster's worker processes inherit PREFECT_API_URL: their task runs are on
    the team's Prefect server and none of them starts a temporary one."""
    from mlflow.tracking import MlflowClient

    (tmp_path / "team.yaml").write_text(TABLE.replace("seeds: [0]", "seeds: [1]"))  # other cells: a new parent
    # the two variables as the README exports them (no --tracking-uri)
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=team.server.prefect_api_url,
                    MLFLOW_TRACKING_URI=team.server.mlflow_url)
    out = subprocess.run([sys.executable, "-m", "flows.cli", "table", "--config", str(tmp_path / "team.yaml"),
                          "--results-dir", str(tmp_path / "results"), "--workers", "2", "--runner", "dask"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1 and "cells: 4 (0 cached, 3 run, 1 failed)" in out.stdout, out.stdout + out.stderr
    parent = re.search(rf"^MLflow: {re.escape(team.server.mlflow_url)} parent run ([0-9a-f]{{32}})", out.stdout,
                       re.M).group(1)
    tags = MlflowClient(tracking_uri=team.server.mlflow_url).get_run(parent).data.tags
    states = _task_runs(team.server.prefect_api_url, tags["prefect.flow_run_id"])
    cells = {_cell(n): s for n, s in states.items() if not n.startswith("data/")}
    assert set(cells) == CELLS and cells.pop(FAILING) == "FAILED" and set(cells.values()) == {"COMPLETED"}
    assert not (tmp_path / "prefect" / "prefect.db").exists()  # no worker started a server of its own


@pytest.mark.slow
def test_the_one_server_helpers(pg, tmp_path):
    """tests/servers.py's mlflow_server and prefect_server (for other tests): each serves, and
    is gone with its port when its block ends."""
    import urllib.request

    from mlflow.tracking import MlflowClient

    from support.servers import mlflow_server, prefect_server

    with prefect_server(tmp_path / "prefect") as pf, mlflow_server(pg.create_database("solo"), tmp_path / "art") as ml:
        with urllib.request.urlopen(pf.url.removesuffix("/api") + "/", timeout=10) as r:
            assert r.status == 200  # the UI, not only the API
        client = MlflowClient(tracking_uri=ml.url)
        run = client.create_run(client.create_experiment("solo"))
        (tmp_path / "note.txt").write_text("served")
        client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))
        assert list((tmp_path / "art").rglob("note.txt")), "the artifact went through the server to its folder"
        ports = [int(s.url.split(":")[2].split("/")[0]) for s in (pf, ml)]
    assert all(port_free(p) for p in ports)


@pytest.mark.slow
def test_a_server_that_dies_stops_the_command(tmp_path):
    """The Prefect server killed under `sla2p-bench server --only prefect`: one line, exit 1."""
    import os
    import signal

    with team_server("unused", tmp_path / "state", "--only", "prefect") as ts:
        assert ts.prefect_api_url and not ts.mlflow_url
        (child,) = ts.group_leaders()  # the Prefect server's process group
        os.killpg(child, signal.SIGKILL)
        assert ts.wait_exit(30) == 1
        assert any(x.startswith("error: the Prefect server exited with code -9") for x in ts.lines), ts.lines
        assert not ts.alive()


@pytest.mark.slow
def test_sigterm_stops_everything_the_server_started(team):
    ts = team.server
    started = ts.descendants()
    assert len(started) >= 2, "the MLflow and Prefect servers run below `sla2p-bench server`"
    ports = [int(u.rsplit(":", 1)[1].split("/")[0]) for u in (ts.mlflow_url, ts.prefect_api_url)]
    assert ts.stop() == 0, "\n".join(ts.lines)
    assert not ts.alive(), f"left running: {ts.alive()}"
    assert all(port_free(p) for p in ports)
