"""Reports from a small real run in a temporary MLflow: rebuilt without refitting, their numbers
recomputed here independently from the stored scores, a failed cell shown as failed, a cell
whose scores are gone shown as missing, the order audit, the files logged to the parent run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from baselines import detector_info

from support.flows_cli import ROOT, cli, env_for, mlflow_runs

pytestmark = pytest.mark.slow

DATASETS = ["arrhythmia", "odds_wbc", "odds_glass", "odds_lympho", "odds_vertebral"]
TABLE = """
kind: table
name: report
seeds: [0, 1]
datasets: {arrhythmia: {}, odds_wbc: {}, odds_glass: {}, odds_lympho: {}, odds_vertebral: {}}
methods:
  sla2p: {params: {n_projections: 16, proj_dim: 16, epsilon: 1.0}}
  sla2p_official: {detector: sla2p, params: {n_projections: 16, proj_dim: 16, epsilon: 1.0, compat: official},
                   row_order: inliers_first}
  iforest: {params: {n_estimators: 50}}
  knn: {per_dataset: {odds_glass: {n_neighbors: 5000}}}   # more neighbours than rows: fails there
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    out = cli(tmp, "table", TABLE, check=False)
    assert out.returncode == 1, out.stdout + out.stderr  # the knn cells on glass failed; the rest went on
    assert "(0 cached, 38 run, 2 failed)" in out.stdout, out.stdout
    return tmp


def report(tmp: Path, *args, results=None, check=True):
    cmd = [sys.executable, "-m", "flows.cli", "report", *args, "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}",
           "--results-dir", str(results or tmp / "results")]
    out = subprocess.run(cmd, cwd=ROOT, env=env_for(tmp), capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def stored(tmp: Path) -> pd.DataFrame:
    """Every finished cell, its metrics recomputed here from its .npz (not from the suite's code)."""
    rows = []
    for f in (tmp / "results" / "cells").rglob("*.json"):
        if f.name.endswith(".failed.json"):
            continue
        rec = json.loads(f.read_text())
        with np.load(tmp / "results" / rec["scores_file"]) as z:
            y, s = z["labels"], z["scores"]
        prec, rec_, _ = precision_recall_curve(y, s)
        c = rec["cell"]
        rows.append({"dataset": c["dataset"], "method": c["method"], "seed": c["seed"], "key": rec["key"],
                     "auroc": roc_auc_score(y, s), "aupr": auc(rec_, prec), "labels": y})
    return pd.DataFrame(rows)


def test_report_table_matches_stored_scores(run, tmp_path):
    mtimes = {f: f.stat().st_mtime for f in (run / "results" / "cells").rglob("*")}
    out = report(run, "--out", str(tmp_path))
    assert {f: f.stat().st_mtime for f in (run / "results" / "cells").rglob("*")} == mtimes  # nothing refitted
    _, children = mlflow_runs(run, "sla2p-bench/table")
    assert len(children) == 40
    truth = stored(run)
    for metric in ("auroc", "aupr"):
        t = pd.read_csv(tmp_path / f"table_{metric}.csv", index_col=0)
        assert list(t.index) == DATASETS
        assert list(t.columns) == ["sla2p", "iforest", "knn", "best"]  # the audit variant is not compared
        for ds in DATASETS:
            for method in ("sla2p", "iforest", "knn"):
                if ds == "odds_glass" and method == "knn":
                    assert t.loc[ds, method] == "failed (2/2)"
                    continue
                per_seed = truth[(truth.dataset == ds) & (truth.method == method)].groupby("seed")[metric].mean()
                if detector_info(method).seed_invariant:  # one fit per split: seed 1 reuses seed 0's scores
                    assert list(per_seed.index) == [0]
                    per_seed = pd.concat([per_seed, per_seed])
                assert len(per_seed) == 2
                assert t.loc[ds, method] == f"{per_seed.mean():.3f} ± {np.std(per_seed.to_numpy()):.3f}"
    assert "AUROC" in out.stdout and "failed (2/2)" in out.stdout
    md = (tmp_path / "report.md").read_text()
    assert "## Failed and missing cells" in md and "knn/odds_glass/all/intrinsic/s0 | failed |" in md
    assert "n_neighbors" in md  # the error says why


def test_the_runs_report_is_the_one_rebuilt_later(run, tmp_path):
    """The flow builds its report once, from the records it holds (RunData.from_records);
    `sla2p-bench report` rebuilds it from MLflow and the stored scores: the same tables, CSVs and
    page, byte for byte (the plots are not compared)."""
    cmd = [sys.executable, "-m", "flows.cli", "report", "--out", str(tmp_path), "--no-log",
           "--tracking-uri", f"sqlite:///{run / 'mlflow.db'}"]  # the results folder: the one the run wrote
    out = subprocess.run(cmd, cwd=ROOT, env=env_for(run), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    made = next((run / "results" / "tables").glob("table-report-*")) / "report"
    names = sorted(p.relative_to(made).as_posix() for p in made.rglob("*") if p.suffix in (".csv", ".md", ".tex"))
    assert {"table_auroc.csv", "table_auroc.tex", "audit.csv", "report.md"} <= set(names)
    rebuilt = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                     if p.suffix in (".csv", ".md", ".tex"))
    assert names == rebuilt
    for name in names:
        assert (made / name).read_text() == (tmp_path / name).read_text(), name


def test_report_significance_matches_scipy(run, tmp_path):
    report(run, "--out", str(tmp_path), "--metric", "auroc", "--no-log")
    truth = stored(run)
    means = truth.groupby(["dataset", "method"]).auroc.mean().unstack()  # one seed-average per dataset
    w = pd.read_csv(tmp_path / "wilcoxon_auroc.csv").set_index("baseline")
    for base in ("iforest", "knn"):
        pair = means[["sla2p", base]].dropna()
        ref = stats.wilcoxon(pair.sla2p, pair[base])
        assert w.loc[base, "n_rows"] == len(pair) == (5 if base == "iforest" else 4)
        assert w.loc[base, "statistic"] == pytest.approx(ref.statistic)
        assert w.loc[base, "p_value"] == pytest.approx(ref.pvalue)
        assert "too few rows" in w.loc[base, "verdict"]  # 5 datasets cannot give p < 0.05
    ranks = pd.read_csv(tmp_path / "ranks_auroc.csv", index_col=0).average_rank
    complete = means.drop(columns="sla2p_official").dropna()
    expected = complete.rank(axis=1, ascending=False).mean()
    assert ranks.to_dict() == pytest.approx(expected.to_dict())
    assert not (tmp_path / "table_aupr.csv").exists()  # --metric auroc only
    for png in ("roc_pr.png", "cd_auroc.png"):
        data = (tmp_path / "plots" / png).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 5000


def test_latex_and_markdown_files(run, tmp_path):
    report(run, "--out", str(tmp_path), "--metric", "aupr,ap", "--no-log")
    tex = (tmp_path / "table_aupr.tex").read_text()
    assert tex.count(r"\begin{tabular}{lccc}") == 1 and tex.count(r"\end{tabular}") == 1
    rows = [ln for ln in tex.splitlines() if ln.endswith(r"\\")]
    assert len(rows) == 1 + len(DATASETS) and all(ln.count("&") == 3 for ln in rows)
    assert r"odds\_glass" in tex and r"\textit{failed (2/2)}" in tex and "trapezoidal" in tex
    assert "average precision" in (tmp_path / "table_ap.md").read_text()


def test_order_audit_pairs_the_same_splits(run, tmp_path):
    report(run, "--out", str(tmp_path), "--no-log")
    audit = pd.read_csv(tmp_path / "audit.csv").set_index("dataset")
    assert set(audit.index) == set(DATASETS)
    truth = stored(run)
    a = truth[(truth.dataset == "arrhythmia")].pivot(index="seed", columns="method", values="auroc")
    assert audit.loc["arrhythmia", "default_auroc_mean"] == pytest.approx(a.sla2p.mean())
    assert audit.loc["arrhythmia", "official_auroc_mean"] == pytest.approx(a.sla2p_official.mean())
    assert audit.loc["arrhythmia", "diff_auroc_mean"] == pytest.approx((a.sla2p_official - a.sla2p).mean())
    # 452 rows in batches of 128: the last holds 68, all outliers (66 outliers in all, inliers first)
    expl = audit.loc["arrhythmia", "explanation"]
    assert "the last batch holds 68 rows, 66 of them outliers (of 66 in all)" in expl and "1.88x" in expl and "raises the score" in expl
    # the official cells really hold the rows inliers first, on the same rows as the default cell
    off = truth[(truth.dataset == "arrhythmia") & (truth.method == "sla2p_official") & (truth.seed == 0)].iloc[0]
    assert (np.diff(off.labels) >= 0).all()
    dflt = truth[(truth.dataset == "arrhythmia") & (truth.method == "sla2p") & (truth.seed == 0)].iloc[0]
    assert off.labels.sum() == dflt.labels.sum() and not (np.diff(dflt.labels) >= 0).all()


def test_report_is_logged_to_the_parent_and_missing_scores_show(run, tmp_path):
    from mlflow.tracking import MlflowClient

    report(run)  # default: the latest table run, logged to it
    parents, _ = mlflow_runs(run, "sla2p-bench/table")
    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(parents[0].info.run_id, "report")}
    assert {"report/report.md", "report/report.html", "report/table_auroc.tex", "report/table_auroc.csv",
            "report/audit.csv", "report/plots"} <= logged
    # each plot also as an image of its own, and inlined in the HTML page MLflow's viewer renders
    plots = {a.path for a in client.list_artifacts(parents[0].info.run_id, "plots")}
    assert "plots/roc_pr.png" in plots and "plots/cd_auroc.png" in plots
    page = Path(client.download_artifacts(parents[0].info.run_id, "report/report.html", str(tmp_path))).read_text()
    assert page.count('src="data:image/png;base64,') == len(plots)
    # a copy of the results without one cell's files: that cell is missing, never a number
    copy = tmp_path / "results"
    shutil.copytree(run / "results", copy)
    truth = stored(run)
    gone = truth[(truth.dataset == "odds_wbc") & (truth.method == "iforest") & (truth.seed == 1)].key.iloc[0]
    for f in copy.glob(f"cells/{gone[:2]}/{gone}*"):
        f.unlink()
    out_dir = tmp_path / "rep"
    report(run, parents[0].info.run_id, "--out", str(out_dir), "--no-log", results=copy)
    t = pd.read_csv(out_dir / "table_auroc.csv", index_col=0)
    assert t.loc["odds_wbc", "iforest"] == "missing (1/2)"
    assert re.fullmatch(r"0\.\d{3} ± 0\.\d{3}", t.loc["odds_wbc", "sla2p"])


def test_report_errors_name_the_problem(run):
    out = report(run, "0123456789abcdef", check=False)
    assert out.returncode == 2 and "no run '0123456789abcdef'" in out.stdout
    out = report(run, "--metric", "f1", "--no-log", check=False)
    assert out.returncode == 2 and "unknown metric 'f1'" in out.stdout
    out = report(run, "--cell", "sla2p/nope/all/intrinsic/s0", "--no-log", check=False)
    assert out.returncode == 2 and "is not a finished cell of this run" in out.stdout
    _, children = mlflow_runs(run, "sla2p-bench/table")
    out = report(run, children[0].info.run_id, check=False)
    assert out.returncode == 2 and "is a cell; report on its parent run" in out.stdout
    empty = run / "empty"
    empty.mkdir()
    out = report(empty, check=False)
    assert out.returncode == 2 and "no table run in" in out.stdout


def test_the_table_run_logged_its_own_report(run):
    (d,) = list((run / "results" / "tables").glob("table-report-*"))
    assert (d / "report" / "report.md").is_file() and (d / "report" / "table_auroc.tex").is_file()


def test_a_rerun_refits_exactly_the_cells_whose_files_are_missing_or_damaged(run, tmp_path):
    """A deleted scores file and a corrupted one: the same command refits those two cells (and
    retries the two failed ones), nothing else, and the resumed parent holds each cell once."""
    shutil.copytree(run / "results", tmp_path / "results")
    shutil.copy(run / "mlflow.db", tmp_path / "mlflow.db")
    truth = stored(run)
    lost, bad = truth[truth.method == "iforest"].key.iloc[:2]
    (tmp_path / "results" / "cells" / lost[:2] / f"{lost}.npz").unlink()
    damaged = tmp_path / "results" / "cells" / bad[:2] / f"{bad}.npz"
    damaged.write_bytes(damaged.read_bytes()[:-64] + b"\0" * 64)
    out = cli(tmp_path, "table", TABLE, check=False)
    assert out.returncode == 1 and "(36 cached, 2 run, 2 failed)" in out.stdout, out.stdout + out.stderr
    again = stored(tmp_path).set_index("key")
    for key in (lost, bad):
        assert again.loc[key, "auroc"] == truth.set_index("key").loc[key, "auroc"]  # same seed, same scores
    _, children = mlflow_runs(tmp_path, "sla2p-bench/table")
    keys = [c.data.tags["sla2p.cell_key"] for c in children]
    assert len(keys) == 40 and len(set(keys)) == 40
