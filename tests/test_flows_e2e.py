"""End to end: the CLI runs real flows (Prefect temporary server) on real data into a temporary
MLflow, resumes after SIGKILL without refitting or duplicating, and a Dask cluster of two
processes gives the same numbers as the default runner.

Each run is a subprocess with its own PREFECT_HOME, results folder and SQLite tracking DB.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "flows.cli"]

TABLE = """
kind: table
name: tiny
seeds: [0, 1]
datasets:
  arrhythmia: {}
  odds_wbc: {}
methods:
  sla2p: {params: {n_projections: 16, proj_dim: 16, epsilon: 1.0}}
  iforest: {params: {n_estimators: 50}}
  knn: {}
"""

ABLATION = """
kind: ablation
name: tiny
seeds: [0]
datasets: {arrhythmia: {}}
method: sla2p
base: {params: {n_projections: 16, proj_dim: 16, epsilon: 1.0}}
grid: {epsilon: [0.0, 1.0], n_projections: [8, 16]}   # epsilon 1.0 and n_projections 16 are the same cell
"""

# Slow enough per cell to be killed in the middle.
KILLABLE = """
kind: table
name: killable
seeds: [0, 1, 2, 3, 4, 5]
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 64, proj_dim: 64, epsilon: 1.0}}
"""


def env_for(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(PREFECT_HOME=str(tmp / "prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true",
               DVC_NO_ANALYTICS="1", COLUMNS="200", PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(tmp / "results" / "prefect"))
    return env


def cli(tmp: Path, kind: str, config: str, *extra, env=None, check=True, popen=False, **popen_kw):
    cfg = tmp / f"{kind}.yaml"
    cfg.write_text(config)
    args = CLI + [kind, "--config", str(cfg), "--results-dir", str(tmp / "results"),
                  "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--workers", "2", *extra]
    if popen:
        return subprocess.Popen(args, cwd=ROOT, env=env or env_for(tmp), **popen_kw)
    out = subprocess.run(args, cwd=ROOT, env=env or env_for(tmp), capture_output=True, text=True, timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def mlflow_runs(tmp: Path, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    parents = [r for r in runs if r.data.tags.get("sla2p.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("sla2p.role") == "cell"]
    return parents, children


def table_csv(tmp: Path, metric="auroc") -> pd.DataFrame:
    (d,) = list((tmp / "results" / "tables").glob("table-*"))
    return pd.read_csv(d / f"table_{metric}.csv", index_col=0)


@pytest.mark.slow
def test_table_runs_tracks_and_reruns_warm(tmp_path):
    out = cli(tmp_path, "table", TABLE)
    assert "cells: 12 (0 cached, 12 run, 0 failed)" in out.stdout, out.stdout
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(parents) == 1 and len(children) == 12
    assert {r.info.status for r in children} == {"FINISHED"}
    c = next(r for r in children if r.info.run_name == "sla2p/arrhythmia/all/p-/s0")
    assert {"auroc", "aupr", "ap", "fit_seconds"} <= set(c.data.metrics)
    assert c.data.params["param.n_projections"] == "16" and c.data.tags["cached"] == "false"
    assert 0.5 < c.data.metrics["auroc"] <= 1.0
    p = parents[0]
    assert p.data.tags["git_commit"] and p.data.tags["data.arrhythmia"] and p.info.status == "FINISHED"
    first = table_csv(tmp_path)
    assert list(first.index) == ["arrhythmia", "odds_wbc"] and set(first.columns) == {"iforest", "knn", "sla2p"}

    # the stored scores give the logged AUROC again
    import json

    import numpy as np
    from sklearn.metrics import roc_auc_score

    rec_files = list((tmp_path / "results" / "cells").rglob("*.json"))
    rec = json.loads(next(f for f in rec_files if json.loads(f.read_text())["name"] == c.info.run_name).read_text())
    with np.load(tmp_path / "results" / rec["scores_file"]) as z:
        assert roc_auc_score(z["labels"], z["scores"]) == pytest.approx(c.data.metrics["auroc"])

    # warm rerun: nothing refitted, same parent, no new child runs, same table
    t = time.perf_counter()
    out = cli(tmp_path, "table", TABLE)
    warm = time.perf_counter() - t
    assert "(12 cached, 0 run, 0 failed)" in out.stdout, out.stdout
    parents2, children2 = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert [r.info.run_id for r in parents2] == [p.info.run_id] and len(children2) == 12
    pd.testing.assert_frame_equal(table_csv(tmp_path), first)
    print(f"warm rerun {warm:.1f} s")

    # ablation into the same tracking DB: its own experiment, curves against each parameter
    cli(tmp_path, "ablate", ABLATION)
    aparents, achildren = mlflow_runs(tmp_path, "sla2p-bench/ablation")
    assert len(aparents) == 1 and len(achildren) == 3  # the base point, shared by two curves, runs once
    (d,) = list((tmp_path / "results" / "tables").glob("ablation-*"))
    curves = pd.read_csv(d / "curves.csv")
    assert set(curves.parameter) == {"epsilon", "n_projections"} and set(curves.metric) == {"auroc", "aupr"}
    assert len(curves) == 4 * 2
    au = curves[curves.metric == "auroc"]
    assert (au[(au.parameter == "epsilon") & (au.value.astype(float) == 1.0)]["mean"].item()
            == au[(au.parameter == "n_projections") & (au.value.astype(float) == 16)]["mean"].item())
    # its report: the curves again, rebuilt from MLflow, and the plot, logged to the parent
    keys = ["parameter", "value", "dataset", "metric"]
    report = pd.read_csv(d / "report" / "curves.csv")[curves.columns].sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(report, curves.sort_values(keys, ignore_index=True))
    assert (d / "report" / "plots" / "ablation.png").stat().st_size > 5000


@pytest.mark.slow
def test_bad_config_fails_before_any_work(tmp_path):
    out = cli(tmp_path, "table", TABLE.replace("knn: {}", "knnn: {}"), check=False)
    assert out.returncode == 2 and "unknown method 'knnn'" in out.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    killed.mkdir(), clean.mkdir()
    proc = cli(killed, "table", KILLABLE, popen=True, start_new_session=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = killed / "results" / "cells"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(cells.rglob("*.json"))) < 2:
        time.sleep(0.5)
    done_before = {f.name: f.stat().st_mtime for f in cells.rglob("*.json")}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(done_before) < 6, "the run must be killed in the middle"

    out = cli(killed, "table", KILLABLE)
    assert f"({len(done_before)} cached, {6 - len(done_before)} run, 0 failed)" in out.stdout, out.stdout
    for f in cells.rglob("*.json"):  # finished cells were not refitted
        if f.name in done_before:
            assert f.stat().st_mtime == done_before[f.name]
    parents, children = mlflow_runs(killed, "sla2p-bench/table")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    names = sorted(r.info.run_name for r in children)
    assert names == sorted(f"sla2p/arrhythmia/all/p-/s{s}" for s in range(6))  # none missing, none twice

    cli(clean, "table", KILLABLE)
    pd.testing.assert_frame_equal(table_csv(killed), table_csv(clean))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_local_dask_cluster_gives_the_same_numbers(tmp_path):
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    threads.mkdir(), dask.mkdir()
    cli(threads, "table", TABLE)
    # One Prefect server for the flow and every Dask worker (each worker inherits PREFECT_API_URL).
    env = env_for(dask)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        _wait_http(f"http://127.0.0.1:{port}/api/health", 180)
        out = cli(dask, "table", TABLE, "--runner", "dask", env=env)
        assert "running on dask (2 workers" in out.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    pd.testing.assert_frame_equal(table_csv(dask), table_csv(threads))
    for metric in ("aupr", "ap"):
        pd.testing.assert_frame_equal(table_csv(dask, metric), table_csv(threads, metric))


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")
