"""Store: the checksummed per-cell result files (a cell is done exactly when they check out)."""

from .results import default_results_dir, load_failure, load_record, load_scores, save_failure, save_result

__all__ = ["default_results_dir", "save_result", "save_failure", "load_record", "load_scores", "load_failure"]
