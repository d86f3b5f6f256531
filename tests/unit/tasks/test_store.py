"""The result store: a cell is done exactly when its record exists and its scores file checks out."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.cells import CellRecord, KeyedCell, make_cell
from tasks.store import load_record, load_scores, save_result


@pytest.fixture
def stored(tmp_path):
    work = KeyedCell.of(make_cell("arrhythmia", None, None, "iforest", {}, 0), "data-key")
    rec = CellRecord(work.key, work.cell, metrics={"auroc": 0.8})
    save_result(tmp_path, rec, np.arange(5.0), np.array([0, 0, 1, 0, 1]), np.arange(5))
    return tmp_path, work.key


def test_an_intact_cell_is_done_and_its_record_round_trips(stored):
    results, key = stored
    rec = load_record(results, key)
    assert rec is not None and rec.metrics == {"auroc": 0.8} and rec.scores_sha256
    assert CellRecord.from_dict(rec.to_dict()) == rec
    assert load_scores(results, key)["labels"].tolist() == [0, 0, 1, 0, 1]


def test_a_missing_scores_file_means_not_done(stored):
    results, key = stored
    (results / "cells" / key[:2] / f"{key}.npz").unlink()
    assert load_record(results, key) is None
    with pytest.raises(FileNotFoundError, match="rerun the same command"):
        load_scores(results, key)


def test_a_damaged_scores_file_means_not_done(stored):
    results, key = stored
    npz = results / "cells" / key[:2] / f"{key}.npz"
    np.savez(npz, scores=np.zeros(5), labels=np.array([0, 0, 1, 0, 1], np.int8), indices=np.arange(5))
    assert load_record(results, key) is None
    assert load_record(results, key, verify=False) is not None  # the record itself is readable
    with pytest.raises(ValueError, match="does not match its record"):
        load_scores(results, key)
    npz.write_bytes(b"not a zip")
    assert load_record(results, key) is None
