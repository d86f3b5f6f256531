"""End to end: the CLI runs real flows (its own Prefect server) on real data into a temporary
MLflow, resumes after SIGKILL without refitting or duplicating, fills a new results folder
without help from any Prefect cache, and a Dask cluster of two processes gives the same numbers
as the default runner.

Each run is a subprocess with its own PREFECT_HOME, results folder and SQLite tracking DB.
The helpers are in ``support/flows_cli.py``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pandas as pd
import psutil
import pytest

from support.flows_cli import cli, env_for, finished_cells, mlflow_runs, table_csv


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


@pytest.mark.slow
def test_table_runs_tracks_and_reruns_warm(tmp_path):
    out = cli(tmp_path, "table", TABLE, env={**env_for(tmp_path), "COLUMNS": "60"})
    assert "cells: 12 (0 cached, 12 run, 0 failed)" in out.stdout, out.stdout
    # long lines are not wrapped, whatever the width: ids and paths stay whole in logs
    # the hint opens this run's store (not the default one)
    assert re.search(r"^MLflow: (sqlite:///\S+) parent run [0-9a-f]{32} \(browse: sla2p-bench ui --tracking-uri \1\)$",
                     out.stdout, re.M), out.stdout
    assert re.search(r"^report: \S+/report\.md \(also logged to the parent run under report/\)$", out.stdout, re.M)
    # off a terminal: a line per dataset made ready, and one per finished cell (12 <= 100) with the time left
    lines = out.stdout.splitlines()
    assert any(re.fullmatch(r"data arrhythmia: 452 rows x 274 features \(identity\), ready in [\d.]+ s", x)
               for x in lines), out.stdout
    progress = [x for x in lines if re.match(r"cells: \d+/12 \(", x)]
    assert len(progress) == 12 and "left)" in progress[0] and progress[-1].startswith("cells: 12/12"), progress
    parents, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(parents) == 1 and len(children) == 12
    assert {r.info.status for r in children} == {"FINISHED"}
    c = next(r for r in children if r.info.run_name == "sla2p/arrhythmia/all/intrinsic/s0")
    assert {"auroc", "aupr", "ap", "fit_seconds"} <= set(c.data.metrics)
    assert c.data.params["param.n_projections"] == "16" and c.data.tags["cached"] == "false"
    assert 0.5 < c.data.metrics["auroc"] <= 1.0
    p = parents[0]
    assert p.data.tags["git_commit"] and p.data.tags["data.arrhythmia"] and p.info.status == "FINISHED"
    # provenance: package versions and the machine
    from importlib.metadata import version

    for pkg in ("torch", "numpy", "scikit-learn", "pyod", "prefect", "mlflow", "dvc"):
        assert p.data.tags[f"version.{pkg}"] == version(pkg)
    assert p.data.tags["machine.cores"] == str(os.cpu_count()) and p.data.tags["machine.cpu"]
    assert p.data.tags["machine.torch_threads"].isdigit()
    assert p.data.tags["machine.device"] == "cpu" or p.data.tags["machine.device"].startswith("cuda")
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
    out = cli(tmp_path, "ablate", ABLATION)
    # its table: one column per grid point (never configurations averaged together), one seed: no spread
    (d,) = list((tmp_path / "results" / "tables").glob("ablation-*"))
    t = pd.read_csv(d / "report" / "table_auroc.csv", index_col=0, dtype=str).drop(columns="best")
    assert sorted(t.columns) == ["sla2p epsilon=0 n_projections=16", "sla2p epsilon=1 n_projections=16",
                                 "sla2p epsilon=1 n_projections=8"]
    assert all(re.fullmatch(r"0\.\d{3}", v) for v in t.loc["arrhythmia"]), t
    assert "sla2p epsilon=1 n_projections=8" in out.stdout and "±" not in out.stdout
    aparents, achildren = mlflow_runs(tmp_path, "sla2p-bench/ablation")
    assert len(aparents) == 1 and len(achildren) == 3  # the base point, shared by two curves, runs once
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
    # each one-parameter change against the base (epsilon=1, n_projections=16), per dataset
    eff = pd.read_csv(d / "report" / "effects.csv")
    assert sorted(zip(eff.parameter, eff.value.astype(float))) == [("epsilon", 0.0)] * 2 + [("n_projections", 8.0)] * 2
    e0 = eff[(eff.parameter == "epsilon") & (eff.metric == "auroc")].iloc[0]
    assert e0.delta == pytest.approx(e0["mean"] - e0.base_mean)
    assert "## Each change against the base" in (d / "report" / "report.md").read_text()


@pytest.mark.slow
def test_bad_config_fails_before_any_work(tmp_path):
    out = cli(tmp_path, "table", TABLE.replace("knn: {}", "knnn: {}"), check=False, env=env_for(tmp_path, True))
    assert out.returncode == 2 and "unknown method 'knnn'" in out.stderr and len(out.stderr.splitlines()) == 1
    assert not (tmp_path / "results").exists() and not (tmp_path / "mlflow.db").exists()


# The same cells as the first run of a job, into a new results folder.
SMALL = """
kind: table
name: small
seeds: [0, 1]
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 16, proj_dim: 16, epsilon: 1.0}}
  iforest: {params: {n_estimators: 50}}
"""


@pytest.mark.slow
def test_a_new_results_dir_gets_every_cell(tmp_path):
    """A cell is done exactly when its files are in the results folder the user named: a job
    already computed into folder A (same PREFECT_HOME, same tracking DB) is computed again into
    a new folder B, not answered from a cache elsewhere, and B's tables and report show every cell."""
    a, b = tmp_path / "A", tmp_path / "B"
    cli(tmp_path, "table", SMALL, results=a)
    out = cli(tmp_path, "table", SMALL, results=b)
    assert "cells: 4 (0 cached, 4 run, 0 failed)" in out.stdout, out.stdout
    assert len(finished_cells(b)) == 4 and set(finished_cells(b)) == set(finished_cells(a))
    for table in (table_csv(tmp_path, results=b), table_csv(tmp_path, "aupr", results=b)):
        text = table.to_string()
        assert "missing" not in text and "failed" not in text and table.notna().all().all(), text
    (report,) = (b / "tables").glob("table-*/report/report.md")
    md = report.read_text()
    assert "Cells: 4 ok." in md and not re.search(r"\d+ missing|missing \(\d+/\d+\)", md), md
    stored = tmp_path / "prefect" / "storage"  # Prefect keeps no results of its own
    assert not stored.exists() or not any(stored.iterdir())


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    killed.mkdir(), clean.mkdir()
    proc = cli(killed, "table", KILLABLE, popen=True, start_new_session=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = killed / "results" / "cells"
    deadline = time.time() + 600
    server = set()
    while time.time() < deadline and len(list(cells.rglob("*.json"))) < 2:
        server |= _prefect_servers(proc.pid)
        time.sleep(0.5)
    done_before = {f.name: f.stat().st_mtime for f in cells.rglob("*.json")}
    # a crash of the whole run: the run (in a session of its own under the CLI's supervisor, see
    # flows/supervise.py) and the supervisor, both at once
    for run in psutil.Process(proc.pid).children():
        os.killpg(run.pid, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(done_before) < 6, "the run must be killed in the middle"
    # the CLI's Prefect server (in a session of its own) notices and exits: no orphan
    assert server, "the CLI started no Prefect server of its own"
    end = time.time() + 20
    while time.time() < end and any(psutil.pid_exists(p) for p in server):
        time.sleep(0.5)
    assert not any(psutil.pid_exists(p) for p in server), "the Prefect server outlived the killed CLI"

    out = cli(killed, "table", KILLABLE)
    assert f"({len(done_before)} cached, {6 - len(done_before)} run, 0 failed)" in out.stdout, out.stdout
    for f in cells.rglob("*.json"):  # finished cells were not refitted
        if f.name in done_before:
            assert f.stat().st_mtime == done_before[f.name]
    parents, children = mlflow_runs(killed, "sla2p-bench/table")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    names = sorted(r.info.run_name for r in children)
    assert names == sorted(f"sla2p/arrhythmia/all/intrinsic/s{s}" for s in range(6))  # none missing, none twice

    cli(clean, "table", KILLABLE)
    pd.testing.assert_frame_equal(table_csv(killed), table_csv(clean))


def _prefect_servers(pid: int) -> set[int]:
    out = set()
    try:
        for c in psutil.Process(pid).children(recursive=True):
            try:
                if "flows.prefect_server" in " ".join(c.cmdline()):
                    out.add(c.pid)
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return out


# PCA and OCSVM sum in NumPy's BLAS: their last bits once differed between the runners (Dask gave
# its workers one BLAS thread).
RUNNERS_TABLE = TABLE + "  pca: {}\n  ocsvm: {}\n"


def _scores_sha256(results) -> dict[str, str]:
    import json

    return {(r := json.loads(f.read_text()))["name"]: r["scores_sha256"]
            for f in (results / "cells").rglob("*.json") if not f.name.endswith(".failed.json")}


@pytest.mark.slow
def test_local_dask_cluster_gives_the_same_numbers(tmp_path):
    """Two Dask worker processes share the CLI's own Prefect server (they inherit PREFECT_API_URL);
    every cell's scores are the same bytes as on threads."""
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    threads.mkdir(), dask.mkdir()
    cli(threads, "table", RUNNERS_TABLE)
    out = cli(dask, "table", RUNNERS_TABLE, "--runner", "dask")
    assert "running on dask, a local cluster of worker processes (2 workers" in out.stdout
    # nothing on stderr from the workers or the scheduler: once an import deadlock of Prefect's in
    # the workers, and a CRITICAL traceback from the scheduler as the client closed
    for noise in ("Traceback", "CRITICAL", "Failed to initialize plugins", "deadlock"):
        assert noise not in out.stdout + out.stderr, out.stderr[-3000:]
    on_threads = _scores_sha256(threads / "results")
    assert {n.split("/")[0] for n in on_threads} == {"sla2p", "iforest", "knn", "pca", "ocsvm"}
    assert _scores_sha256(dask / "results") == on_threads
    pd.testing.assert_frame_equal(table_csv(dask), table_csv(threads))
    for metric in ("aupr", "ap"):
        pd.testing.assert_frame_equal(table_csv(dask, metric), table_csv(threads, metric))
