"""Detect stage: fit and score ONE cell, keep its scores as a file, return a small record.

What the registry declares of a detector (:func:`baselines.detector_info`) is applied here
(:func:`fit_detector`): sparse features (TF-IDF) reach a detector that ``accepts_sparse`` as
sparse rows; a detector with ``max_fit_rows`` is fitted on its seeded subsample of a larger set
and scores every row (a fitted row keeps its fitted score, as PyOD's ``decision_scores_`` gives
it, e.g. kNN's distance without the row itself). The record's ``history`` keeps ``fit_rows``.

Shared fits (``tasks.cells.shared_fit_plan``): ``fit_and_score(work, results_dir, shared)`` also
gives each cell of ``shared`` (SLA's and sla2p_bigstep's, when ``work`` is SLA2P's at equal
parameters) its record and scores from the fitted detector (the registry's ``SharedFit``: its
``attribute``, or its ``setup`` before the fit and ``scores`` after), with no fit of its own:
its own files and metrics, ``fit_seconds`` None (the time counts once, on the fit), the fit's
history, ``shares_fit_of`` = the fitted cell's key. When the fit fails, each gets a failed
record saying so; a cell that cannot share (the pairing rule says no, or its set-up raises) gets
its own failed record and the fit goes on.

Threads: ``fit_and_score(..., threads=n)`` runs the cell with ``n`` torch threads (the flow passes
its share of the cores, so that cells running at once do not oversubscribe them); None leaves
torch's setting as it is.

A cell that raises keeps a failed record with its error next to the results and raises
:class:`CellFailed`, so Prefect never caches it and the flow shows it as failed and goes on.
"""

from __future__ import annotations

import numbers
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from baselines import detector_info

from ..cells import CellRecord, KeyedCell, build_detector, shares_fit
from ..datasets import authors_order, make_split, take_rows
from ..embed import features_for
from ..metrics import evaluate
from ..store import save_failure, save_result
from .training_progress import ProgressFile, takes_progress


class CellFailed(RuntimeError):
    """A cell's fit or scoring raised; its record is in the results folder."""


# A GPU is used by one cell at a time (per process).
_GPU_LOCK = threading.Lock()


def _device_of(det) -> str:
    dev = getattr(det, "device_", None) or getattr(det, "device", None)
    return str(dev) if dev not in (None, "auto") else "cpu"


def fit_and_score(work: KeyedCell, results_dir: str, shared: tuple[KeyedCell, ...] = (),
                  threads: int | None = None) -> CellRecord:
    """Run one cell, store its scores, and return its record; store the records and scores of
    the cells that ``shared`` its fit too (read them with ``tasks.store.load_record``; a failed
    one has its failure file). ``threads``: torch's thread count for the cell (None: as it is)."""
    _set_torch_threads(threads)
    cell = work.cell
    riders = None  # the cells of ``shared`` that ride on this fit, once asked
    try:
        feats = features_for(cell.dataset, cell.extractor)
        if feats.key != work.data_key:
            raise RuntimeError(f"data of {cell.dataset} changed since the run started "
                               f"({feats.key} != {work.data_key})")
        split = make_split(cell.dataset, cell.normal_class, cell.ratio, cell.seed, features=feats)
        if cell.row_order == "inliers_first":
            split = authors_order(split)
        X = cell_rows(cell.detector_name, feats.X, split.indices)
        det = build_detector(cell)
        riders = _ask_shared(shared, work, det, Path(results_dir))
        uses_gpu = getattr(det, "device", None) in ("cuda", "auto") and _cuda_available()
        with _GPU_LOCK if uses_gpu else nullcontext():
            started, t0 = time.time(), time.perf_counter()  # wall clock for MLflow's start/end times
            progress = ProgressFile(results_dir, work.key, getattr(det, "acc_threshold", None)) \
                if takes_progress(det) else None
            try:
                scores, fit_rows = fit_detector(det, cell.detector_name, X, cell.seed, on_step=progress)
            finally:
                if progress is not None:
                    progress.close()
            fit_s = time.perf_counter() - t0
        history = {**(_small_history(det) or {}), "fit_rows": int(fit_rows)}
        record = CellRecord(work.key, cell, "ok", metrics=evaluate(split.labels, scores), fit_seconds=fit_s,
                            n_rows=int(len(split.indices)), n_outliers=int(split.n_outlier),
                            n_features=int(X.shape[1]), device=_device_of(det), history=history,
                            started_at=started, finished_at=started + fit_s)
        record = save_result(Path(results_dir), record, scores, split.labels, split.indices)
    except Exception as exc:
        # Kept beside the results so the table shows the cell as failed with its error; raised
        # so the flow marks the task Failed (a rerun tries it again, and the cells sharing it).
        record = CellRecord.failure(work, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
        save_failure(Path(results_dir), record)
        # Those refused before the fit already have their own failed record.
        for s in shared if riders is None else [s for s, _ in riders]:
            save_failure(Path(results_dir), CellRecord.shared_failure(s, work, record.error))
        raise CellFailed(record.error) from exc
    for s, own in riders:  # after the fit's own record is safe: a sharing cell's error is its own
        _save_shared(s, own, work, det, split, record, Path(results_dir))
    return record


def _ask_shared(shared: tuple[KeyedCell, ...], work: KeyedCell, det, results_dir: Path) -> list:
    """The (cell, its own unfitted detector) pairs of ``shared`` that ride on ``det``'s fit, each
    source asked for its scores (the registry's ``SharedFit.setup``). A cell the pairing rule refuses
    (the flow's plan says it cannot happen: a caller's mistake, named) or whose set-up raises gets
    its failed record now; the fit goes on without it."""
    riders = []
    for s in shared:
        try:
            if not shares_fit(s.cell, work.cell):
                raise ValueError(f"{s.name} cannot share the fit of {work.name} (tasks.cells.shares_fit)")
            own = build_detector(s.cell)
            setup = detector_info(s.cell.detector_name).shared.setup
            if setup is not None:
                setup(det, own)
            riders.append((s, own))
        except Exception as exc:  # noqa: BLE001 - recorded as this cell's failure; the fit stands
            _save_shared_failure(s, work, exc, results_dir)
    return riders


def _save_shared(s: KeyedCell, own, work: KeyedCell, det, split, fitted: CellRecord, results_dir: Path) -> None:
    """Evaluate and store the cell ``s`` (``own``: its detector, unfitted) from the fitted detector
    of ``work``; a failure is saved as ``s``'s failed record (the flow reads either)."""
    try:
        scores = detector_info(s.cell.detector_name).shared.scores_of(det, own)
        if scores.shape != (len(split.indices),):
            raise ValueError(f"{s.name}'s scores from the fit of {work.name} have shape {scores.shape}, "
                             f"expected ({len(split.indices)},)")
        record = CellRecord(s.key, s.cell, "ok", metrics=evaluate(split.labels, scores), fit_seconds=None,
                            n_rows=fitted.n_rows, n_outliers=fitted.n_outliers, n_features=fitted.n_features,
                            device=fitted.device, history=dict(fitted.history or {}), shares_fit_of=work.key)
        save_result(results_dir, record, scores, split.labels, split.indices)
    except Exception as exc:  # noqa: BLE001 - recorded as this cell's failure; the fit stands
        _save_shared_failure(s, work, exc, results_dir)


def _save_shared_failure(s: KeyedCell, work: KeyedCell, exc: Exception, results_dir: Path) -> None:
    save_failure(results_dir, CellRecord.failure(s, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
                 .replace(shares_fit_of=work.key))


def cell_rows(detector: str, X, indices):
    """The rows of a cell as the detector takes them: CSR float32 rows of sparse features for a
    detector that ``accepts_sparse``, dense C-contiguous float32 rows otherwise."""
    if sp.issparse(X) and detector_info(detector).accepts_sparse:
        return sp.csr_matrix(X, dtype=np.float32)[np.asarray(indices, dtype=np.int64)]
    return take_rows(X, indices)


def fit_detector(det, detector: str, X, seed: int, timings: dict | None = None,
                 on_step=None) -> tuple[np.ndarray, int]:
    """Fit ``det`` (an unfitted ``detector``) on ``X`` under the registry's subsample rule and
    return (the scores of ALL rows of X, the number of rows fitted).

    Without a rule, or with no more rows than ``max_fit_rows``: fit on X, the transductive scores
    (``decision_scores_``). Otherwise: fit on the rows of ``detector_info(detector).fit_indices(n,
    seed)``, score every row with ``decision_function`` and give each fitted row its fitted score.
    ``timings``, if given, receives ``fit`` and ``score`` wall seconds (``score``: the extra scoring
    pass) and their CPU seconds (``fit_cpu``, ``score_cpu``). ``on_step``: passed to a ``fit`` that
    reports its training steps (:mod:`tasks.detect.training_progress`).
    """
    idx = detector_info(detector).fit_indices(X.shape[0], seed)
    kw = {"on_step": on_step} if on_step is not None else {}
    t0, c0 = time.perf_counter(), time.process_time()
    if idx is None:
        det.fit(X, **kw)
        scores, fit_rows = np.asarray(det.decision_scores_), int(X.shape[0])
        t1, c1 = time.perf_counter(), time.process_time()
    else:
        det.fit(X[idx], **kw)
        t1, c1 = time.perf_counter(), time.process_time()
        scores = np.array(det.decision_function(X), dtype=np.float64)
        scores[idx] = det.decision_scores_
        fit_rows = int(idx.size)
    if timings is not None:  # wall and CPU seconds (CPU: every thread of the process)
        timings.update(fit=t1 - t0, score=time.perf_counter() - t1, fit_cpu=c1 - c0,
                       score_cpu=time.process_time() - c1)
    return scores, fit_rows


def _set_torch_threads(threads: int | None) -> None:
    """``threads`` torch threads from now on (None: torch's setting as it is); set only when it
    differs, since setting it is not free."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads must be None or an int >= 1, got {threads!r}")
    import torch

    if torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _small_history(det) -> dict | None:
    h = getattr(det, "history_", None)
    if not isinstance(h, dict):
        return None
    return {k: h[k] for k in ("steps", "epochs", "stop_reason", "train_seconds") if k in h}

