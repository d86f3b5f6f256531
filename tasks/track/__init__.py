"""Track: MLflow runs (one parent per job, one child per cell), written from the flow's process."""

from .mlflow_runs import EXPERIMENTS, Tracker, default_tracking_uri, git_commit

__all__ = ["Tracker", "EXPERIMENTS", "default_tracking_uri", "git_commit"]
