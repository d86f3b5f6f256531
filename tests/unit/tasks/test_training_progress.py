"""A training fit's progress reaches the flow's watch through the cell's progress file, and a
training far past its expected steps is named once, with where it is."""

from __future__ import annotations

import numpy as np

from flows.progress import FitWatch
from sla2p import SLA2P
from tasks.detect.training_progress import ProgressFile, progress_path, progress_text, read_progress, takes_progress


def test_sla2p_reports_every_training_step():
    X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    seen = []
    det = SLA2P(n_projections=8, proj_dim=8, acc_threshold=1.0, max_epochs=1, random_state=0)
    det.fit(X, on_step=lambda s, a: seen.append((s, a)))
    assert [s for s, _ in seen] == list(range(1, det.history_["steps"] + 1))
    assert [a for _, a in seen] == det.history_["running_accuracy"]
    plain = SLA2P(n_projections=8, proj_dim=8, acc_threshold=1.0, max_epochs=1, random_state=0).fit(X)
    assert np.array_equal(plain.decision_scores_, det.decision_scores_)  # watching changes nothing
    assert takes_progress(det) and not takes_progress(object())


def test_progress_file_is_throttled_read_and_removed(tmp_path):
    t = [0.0]
    pf = ProgressFile(tmp_path, "abc", 0.75, every=2.0, clock=lambda: t[0])
    pf(1, 0.1)
    pf(2, 0.2)  # within 2 s: not written
    assert read_progress(tmp_path, "abc")["steps"] == 1
    t[0] = 3.0
    pf(3, 0.3)
    got = read_progress(tmp_path, "abc")
    assert (got["steps"], got["running_accuracy"], got["threshold"]) == (3, 0.3, 0.75)
    pf(4, 0.8)  # within 2 s, but past the threshold: the last step is kept (scoring comes next)
    assert read_progress(tmp_path, "abc")["steps"] == 4
    assert progress_text(read_progress(tmp_path, "abc")).startswith("trained: 4 steps")
    pf.close()
    assert read_progress(tmp_path, "abc") is None and not progress_path(tmp_path, "abc").exists()


def test_watch_names_a_training_past_its_expected_steps_once(tmp_path):
    said = []
    p = {"steps": 50, "running_accuracy": 0.3, "threshold": 0.75}
    w = FitWatch(said.append, factor=10.0)
    w.started("sla2p/20news/x", 0.0, progress=lambda: p, expected_steps=100.0)
    assert w.check() == []
    p["steps"] = 1_500
    (msg,) = w.check()
    assert "1,500 steps" in msg and "running accuracy 0.300" in msg and "0.75" in msg and "sla2p/20news/x" in msg
    assert w.check() == [] and said == [msg]  # once
