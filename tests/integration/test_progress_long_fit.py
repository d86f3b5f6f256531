"""A fit that runs far past its estimate is named once in a warning while it runs (the flow's
watch on the fits in flight), and the run goes on to its table."""

from __future__ import annotations

import functools
import logging
import threading
import time

import pytest

import flows.run as run_mod
from flows.options import RunOptions
from flows.progress import FitWatch
from support.inline_flow import inline_flow, run_inline
from tasks.detect import fit_and_score
from tasks.jobs import expand_job

pytestmark = pytest.mark.slow


class Running:
    """A future whose cell runs on a thread of its own: in flight until it finishes."""

    def __init__(self, fn, *args):
        self.value = self.exc = None
        self.thread = threading.Thread(target=self._run, args=(fn, *args))
        self.thread.start()

    def _run(self, fn, *args):
        try:
            self.value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - re-raised by result()
            self.exc = exc

    def result(self):
        self.thread.join()
        if self.exc is not None:
            raise self.exc
        return self.value


def as_completed(futures):
    """Prefect's order: the first to finish first."""
    pending = list(futures)
    while pending:
        done = next((f for f in pending if not f.thread.is_alive()), None)
        if done is None:
            time.sleep(0.01)
            continue
        pending.remove(done)
        yield done


class SlowSubmit:
    """The hbos cell takes a second more than its estimate (a fit that will not stop)."""

    def submit(self, work, results_dir, shared=(), threads=None):
        def fit(work, results_dir):
            if work.cell.method == "hbos":
                time.sleep(1.0)
            return fit_and_score(work, results_dir)

        return Running(fit, work, results_dir)


def test_a_fit_far_past_its_estimate_is_named_once_while_it_runs(monkeypatch, tmp_path, caplog):
    inline_flow(monkeypatch, "test_long_fit")
    monkeypatch.setattr(run_mod, "fit_and_score_task", SlowSubmit())
    monkeypatch.setattr(run_mod, "FitWatch", functools.partial(FitWatch, factor=3, least=0.3))
    monkeypatch.setattr(run_mod, "WATCH_EVERY_S", 0.05)
    monkeypatch.setattr(run_mod, "as_completed", as_completed)
    job = expand_job({"kind": "table", "name": "long", "datasets": {"arrhythmia": {}},
                      "methods": {"hbos": {}, "iforest": {"params": {"n_estimators": 20}}}}, "long.yaml")
    opts = RunOptions(results_dir=str(tmp_path / "results"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                      workers=2)
    with caplog.at_level(logging.WARNING, logger="test_long_fit"):
        out = run_inline(job, opts)
    assert out["failed"] == 0 and out["run"] == 2
    said = [r.getMessage() for r in caplog.records if "has been fitting for" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("cell hbos/arrhythmia/all/intrinsic/s0 has been fitting for"), said
    assert "over 3x its estimated" in said[0]
