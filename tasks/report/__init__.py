"""Reports rebuilt from a finished (or interrupted) run without refitting: the comparison table
(CSV/Markdown/LaTeX), significance across datasets, plots and the order audit.

``load_run`` (MLflow + per-cell result files) -> ``build_report`` (a folder) -> ``log_report``
(the folder as artifacts of the parent run, under ``report/``; ``report/report.html`` is the page
MLflow's artifact viewer renders with its plots, and each plot is also under ``plots/``).
"""

from pathlib import Path

from .build import build_report
from .source import ReportError, RunData, find_parent, load_run, tracking_client


def log_report(run: RunData, out_dir) -> None:
    """Log the report folder to the parent run under ``report/`` and each plot under ``plots/``,
    where the artifact viewer shows it as an image (files of the same name are replaced)."""
    client, _ = tracking_client(run.tracking_uri)
    client.log_artifacts(run.parent_id, str(out_dir), artifact_path="report")
    for png in sorted(Path(out_dir, "plots").glob("*.png")):
        client.log_artifact(run.parent_id, str(png), artifact_path="plots")
    for png in sorted(Path(out_dir).glob("*/plots/*.png")):  # the halves' own (build._halves)
        client.log_artifact(run.parent_id, str(png), artifact_path=f"plots/{png.parent.parent.name}")


__all__ = ["ReportError", "RunData", "build_report", "find_parent", "load_run", "log_report"]
