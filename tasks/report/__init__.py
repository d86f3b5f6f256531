"""Reports rebuilt from a finished (or interrupted) run without refitting: the comparison table
(CSV/Markdown/LaTeX), significance across datasets, plots and the order audit.

``load_run`` (MLflow + per-cell result files) -> ``build_report`` (a folder) -> ``log_report``
(the folder as artifacts of the parent run, under ``report/``).
"""

from .build import build_report
from .source import ReportError, RunData, find_parent, load_run


def log_report(run: RunData, out_dir) -> None:
    """Log the report folder to the parent run under ``report/`` (replacing files of the same name)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=run.tracking_uri).log_artifacts(run.parent_id, str(out_dir), artifact_path="report")


__all__ = ["ReportError", "RunData", "build_report", "find_parent", "load_run", "log_report"]
