"""Track: MLflow runs (one parent per job, one child per cell), written from the flow's process."""

from .mlflow_runs import EXPERIMENTS, Tracker, default_tracking_uri, fit_times, git_commit
from .ui import is_tracking_server, run_url, runs_url, ui_base

__all__ = ["Tracker", "EXPERIMENTS", "default_tracking_uri", "fit_times", "git_commit", "is_tracking_server", "run_url", "runs_url", "ui_base"]
