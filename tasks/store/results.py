"""Per-cell result files: the scores of every finished cell, so tables and reports can be
recomputed without refitting.

Layout under the results folder (default ``<project>/results``)::

    cells/<key[:2]>/<key>.npz    scores, labels, indices of the split
    cells/<key[:2]>/<key>.json   the cell, its metrics, timings, device (written LAST: a cell is
                                 done exactly when its .json exists and its .npz checks out;
                                 :func:`load_record` checks both)
    cells/<key[:2]>/<key>.failed.json   the error of the last failed attempt (not "done")

Writes go to a temporary file in the same folder and are renamed into place, so a crash never
leaves a half-written result that would count as done.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..cells import CellRecord
from ..env import project_root
from ..files import atomic_write, atomic_write_text


def default_results_dir() -> Path:
    return Path(os.environ.get("SLA2P_RESULTS_DIR") or project_root() / "results")


def _cell_dir(results_dir: Path, key: str) -> Path:
    return Path(results_dir) / "cells" / key[:2]


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


def save_result(results_dir: Path, record: CellRecord, scores, labels, indices) -> CellRecord:
    """Store a finished cell: the arrays first, then its record (the record makes it done)."""
    arrays = {"scores": np.asarray(scores, dtype=np.float64), "labels": np.asarray(labels, dtype=np.int8),
              "indices": np.asarray(indices, dtype=np.int64)}
    key = record.key
    d = _cell_dir(results_dir, key)
    atomic_write(d / f"{key}.npz", lambda fh: np.savez(fh, **arrays))
    record = record.replace(scores_sha256=_digest(arrays), scores_file=f"cells/{key[:2]}/{key}.npz")
    atomic_write_text(d / f"{key}.json", json.dumps(record.to_dict(), indent=1, default=str))
    (d / f"{key}.failed.json").unlink(missing_ok=True)
    return record


def save_failure(results_dir: Path, record: CellRecord) -> None:
    d = _cell_dir(results_dir, record.key)
    atomic_write_text(d / f"{record.key}.failed.json", json.dumps(record.to_dict(), indent=1, default=str))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _read_arrays(results_dir: Path, key: str) -> dict[str, np.ndarray]:
    with np.load(_cell_dir(results_dir, key) / f"{key}.npz") as z:
        return {k: z[k] for k in z.files}


def load_record(results_dir: Path, key: str, *, verify: bool = True) -> CellRecord | None:
    """The finished cell's record, or None when the cell has not finished: a cell is done exactly
    when its record exists AND its scores file exists and matches the record's checksum (with
    ``verify``), so a rerun refits exactly the cells whose files are missing or damaged."""
    d = _read_json(_cell_dir(results_dir, key) / f"{key}.json")
    if d is None:
        return None
    record = CellRecord.from_dict(d)
    if verify:
        try:
            if _digest(_read_arrays(results_dir, key)) != record.scores_sha256:
                return None
        except Exception:  # noqa: BLE001 - missing, truncated or unreadable: not done
            return None
    return record


def load_scores(results_dir: Path, key: str, *, verify: bool = True) -> dict[str, np.ndarray]:
    """Scores, labels and split indices of a finished cell (checked against its record)."""
    d = _read_json(_cell_dir(results_dir, key) / f"{key}.json")
    if d is None:
        raise FileNotFoundError(f"cell {key} has no result in {results_dir}")
    try:
        arrays = _read_arrays(results_dir, key)
    except Exception as exc:  # noqa: BLE001
        raise FileNotFoundError(f"scores file of cell {key} is missing or unreadable ({type(exc).__name__}): "
                                "rerun the same command to refit it") from exc
    if verify and _digest(arrays) != d.get("scores_sha256"):
        raise ValueError(f"scores file of cell {key} does not match its record: rerun the same command to refit it")
    return arrays


def load_failure(results_dir: Path, key: str) -> CellRecord | None:
    d = _read_json(_cell_dir(results_dir, key) / f"{key}.failed.json")
    return None if d is None else CellRecord.from_dict(d)
