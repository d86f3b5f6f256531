"""Detect stage: fit and score ONE cell, keep its scores as a file, return a small record.

A cell that raises keeps a failed record with its error next to the results and raises
:class:`CellFailed`, so Prefect never caches it and the flow shows it as failed and goes on.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

from baselines import make_detector

from ..cells import CellRecord, KeyedCell
from ..datasets import authors_order, make_split, take_rows
from ..embed import features_for
from ..metrics import evaluate
from ..store import save_failure, save_result


class CellFailed(RuntimeError):
    """A cell's fit or scoring raised; its record is in the results folder."""


# A GPU is used by one cell at a time (per process).
_GPU_LOCK = threading.Lock()


def _device_of(det) -> str:
    dev = getattr(det, "device_", None) or getattr(det, "device", None)
    return str(dev) if dev not in (None, "auto") else "cpu"


def fit_and_score(work: KeyedCell, results_dir: str) -> CellRecord:
    """Run one cell, store its scores, and return its record."""
    _apply_thread_setting()
    cell = work.cell
    try:
        feats = features_for(cell.dataset, cell.extractor)
        if feats.key != work.data_key:
            raise RuntimeError(f"data of {cell.dataset} changed since the run started "
                               f"({feats.key} != {work.data_key})")
        split = make_split(cell.dataset, cell.normal_class, cell.ratio, cell.seed, features=feats)
        if cell.row_order == "inliers_first":
            split = authors_order(split)
        X = take_rows(feats.X, split.indices)
        det = make_detector(cell.detector_name, random_state=cell.seed,
                            device=None if cell.device == "auto" else cell.device, **cell.param_dict)
        uses_gpu = getattr(det, "device", None) in ("cuda", "auto") and _cuda_available()
        with _GPU_LOCK if uses_gpu else nullcontext():
            t0 = time.perf_counter()
            det.fit(X)
            fit_s = time.perf_counter() - t0
            scores = det.decision_scores_  # transductive: the fitted set is the scored set
        record = CellRecord(work.key, cell, "ok", metrics=evaluate(split.labels, scores), fit_seconds=fit_s,
                            n_rows=int(len(split.indices)), n_outliers=int(split.n_outlier),
                            n_features=int(X.shape[1]), device=_device_of(det), history=_small_history(det))
        return save_result(Path(results_dir), record, scores, split.labels, split.indices)
    except Exception as exc:
        # Kept beside the results so the table shows the cell as failed with its error; raised
        # so the flow marks the task Failed (a rerun tries it again).
        record = CellRecord.failure(work, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
        save_failure(Path(results_dir), record)
        raise CellFailed(record.error) from exc


def _apply_thread_setting() -> None:
    """Dask/Ray workers inherit SLA2P_TORCH_THREADS from the flow: cells must not oversubscribe."""
    n = os.environ.get("SLA2P_TORCH_THREADS")
    if n:
        import torch

        if torch.get_num_threads() != int(n):
            torch.set_num_threads(int(n))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _small_history(det) -> dict | None:
    h = getattr(det, "history_", None)
    if not isinstance(h, dict):
        return None
    return {k: h[k] for k in ("steps", "epochs", "stop_reason", "train_seconds") if k in h}

