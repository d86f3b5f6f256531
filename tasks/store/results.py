"""Per-cell result files: the scores of every finished cell, so tables and reports can be
recomputed without refitting.

Layout under the results folder (default ``<project>/results``)::

    cells/<key[:2]>/<key>.npz    scores, labels, indices of the split
    cells/<key[:2]>/<key>.json   the cell, its metrics, timings, device (written LAST: a cell is
                                 done exactly when its .json exists and its .npz checks out)
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


def save_result(results_dir: Path, key: str, record: dict, scores, labels, indices) -> dict:
    arrays = {"scores": np.asarray(scores, dtype=np.float64), "labels": np.asarray(labels, dtype=np.int8),
              "indices": np.asarray(indices, dtype=np.int64)}
    d = _cell_dir(results_dir, key)
    atomic_write(d / f"{key}.npz", lambda fh: np.savez(fh, **arrays))
    record = {**record, "key": key, "scores_sha256": _digest(arrays), "scores_file": f"cells/{key[:2]}/{key}.npz"}
    atomic_write_text(d / f"{key}.json", json.dumps(record, indent=1, default=str))
    (d / f"{key}.failed.json").unlink(missing_ok=True)
    return record


def save_failure(results_dir: Path, key: str, record: dict) -> None:
    d = _cell_dir(results_dir, key)
    atomic_write_text(d / f"{key}.failed.json", json.dumps(record, indent=1, default=str))


def load_record(results_dir: Path, key: str) -> dict | None:
    """The finished cell's record, or None when the cell has not finished."""
    path = _cell_dir(results_dir, key) / f"{key}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_scores(results_dir: Path, key: str, *, verify: bool = True) -> dict[str, np.ndarray]:
    """Scores, labels and split indices of a finished cell (checked against its record)."""
    record = load_record(results_dir, key)
    if record is None:
        raise FileNotFoundError(f"cell {key} has no result in {results_dir}")
    with np.load(_cell_dir(results_dir, key) / f"{key}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    if verify and _digest(arrays) != record["scores_sha256"]:
        raise ValueError(f"scores file of cell {key} does not match its record: delete it and rerun the cell")
    return arrays


def load_failure(results_dir: Path, key: str) -> dict | None:
    try:
        return json.loads((_cell_dir(results_dir, key) / f"{key}.failed.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
