"""Running the CLI in a subprocess on a temporary home: its environment, the run, and what it left
(MLflow runs, the table, the finished cells). Shared by the integration and team tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tasks.env import telemetry_off

from . import ROOT


CLI = [sys.executable, "-m", "flows.cli"]

# The smallest ablation: two cells of a tiny SLA2P on Arrhythmia (the CLI tests load or refuse it).
TINY_ABLATION = """
kind: ablation
name: tiny
datasets: {arrhythmia: {}}
method: sla2p
base: {params: {n_projections: 8, proj_dim: 8}}
grid: {epsilon: [0.0, 1.0]}
"""


_PREFECT_DB: list[Path] = []


def _migrated_prefect_db() -> Path:
    """A Prefect database with every migration applied, made once per test session in a temporary
    folder: each test's own PREFECT_HOME starts from a copy (a fresh one costs ~10 s of migrations
    on 2 cores at the first server start of every test)."""
    if not _PREFECT_DB:
        import atexit
        import shutil
        import tempfile

        from flows.prefect_server import PrefectServer

        home = Path(tempfile.mkdtemp(prefix="sla2p-prefect-"))
        atexit.register(shutil.rmtree, home, True)
        old = os.environ.get("PREFECT_HOME")
        os.environ["PREFECT_HOME"] = str(home)
        try:
            server = PrefectServer()
            server.start()
            server.stop()
            import sqlite3

            db = sqlite3.connect(home / "prefect.db")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the one file that is copied
            db.close()
        finally:
            if old is None:
                del os.environ["PREFECT_HOME"]
            else:
                os.environ["PREFECT_HOME"] = old
        _PREFECT_DB.append(home / "prefect.db")
    return _PREFECT_DB[0]


def env_for(tmp: Path, fresh_prefect: bool = False) -> dict:
    """The environment of a CLI run in ``tmp``: its own PREFECT_HOME (a copy of a migrated
    database unless ``fresh_prefect``), no MLflow/Prefect settings of the caller, telemetry off."""
    home = tmp / "prefect"
    if not fresh_prefect and not (home / "prefect.db").exists():
        import shutil

        home.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_migrated_prefect_db(), home / "prefect.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120", COLUMNS="200")
    return telemetry_off(env)


def cli(tmp: Path, kind: str, config: str, *extra, env=None, check=True, popen=False, results: Path | None = None,
        name: str | None = None, **popen_kw):
    cfg = tmp / f"{name or kind}.yaml"
    cfg.write_text(config)
    args = CLI + [kind, "--config", str(cfg), "--results-dir", str(results or tmp / "results"),
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


def table_csv(tmp: Path, metric="auroc", results: Path | None = None) -> pd.DataFrame:
    """The run's comparison table (its report's), without the ``best`` column."""
    (d,) = list((results or tmp / "results").joinpath("tables").glob("table-*"))
    return pd.read_csv(d / "report" / f"table_{metric}.csv", index_col=0).drop(columns="best")


def finished_cells(results: Path) -> dict[str, float]:
    """key -> mtime of the record of every cell whose checksummed files check out."""
    from tasks.store import load_record

    out = {}
    for f in (results / "cells").rglob("*.json"):
        if not f.name.endswith(".failed.json"):
            assert load_record(results, f.stem) is not None, f"{f} is not a whole result"
            out[f.stem] = f.stat().st_mtime
    return out


def children_of(children, parent) -> list[str]:
    return sorted(r.info.run_name for r in children if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id)
