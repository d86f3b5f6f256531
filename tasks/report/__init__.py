"""Reports rebuilt from a finished (or interrupted) run without refitting: the comparison table
(CSV/Markdown/LaTeX), significance across datasets, plots and the order audit.

``load_run`` (MLflow + per-cell result files) -> ``build_report`` (a folder) -> ``log_report``
(the folder as artifacts of the parent run, under ``report/``; ``report/report.html`` is the page
MLflow's artifact viewer renders with its plots, and each plot is also under ``plots/``).
"""

import re
from pathlib import Path

import pandas as pd

from .build import build_report
from .source import ReportError, RunData, find_parent, load_run, results_notes, tracking_client


def log_report(run: RunData, out_dir) -> None:
    """Log the report folder to the parent run under ``report/`` and each plot under ``plots/``,
    where the artifact viewer shows it as an image (files of the same name are replaced)."""
    client, _ = tracking_client(run.tracking_uri)
    client.log_artifacts(run.parent_id, str(out_dir), artifact_path="report")
    for png in sorted(Path(out_dir, "plots").glob("*.png")):
        client.log_artifact(run.parent_id, str(png), artifact_path="plots")
    for png in sorted(Path(out_dir).glob("*/plots/*.png")):  # the halves' own (build._halves)
        client.log_artifact(run.parent_id, str(png), artifact_path=f"plots/{png.parent.parent.name}")


def parent_tables(files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """The tables of a built report (:func:`build_report`'s ``files``) as the parent run logs them
    (MLflow tables and CSV): each metric's comparison, rows by methods (an ablation's grid points
    as rows), and an ablation's curves. Read from the report's own files: one rendering."""
    tables = {name[:-4]: pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False)
              for name, path in files.items() if re.fullmatch(r"table_[a-z]+\.csv", name)}
    if "curves.csv" in files:
        curves = pd.read_csv(files["curves.csv"])
        if not curves.empty:
            tables["curves"] = curves.set_index(["parameter", "value", "dataset", "metric"])
    return tables


__all__ = ["ReportError", "RunData", "build_report", "find_parent", "load_run", "log_report", "parent_tables", "results_notes"]
