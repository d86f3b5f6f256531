"""The table flow's body (:func:`flows.run._execute`) in this process, without Prefect: cell
submission replaced by a direct call of the plain cell function. Shared by the flow tests that
count fits (``test_seed_reuse.py``, ``test_shared_fit.py``)::

    from support.inline_flow import Submit, cell_runs, inline_flow
"""

from __future__ import annotations

import logging

import flows.run as run_mod
from tasks.detect import fit_and_score
from tasks.embed import prepare_dataset


class Done:
    """A finished 'future': the cell ran when it was submitted."""

    def __init__(self, fn, *args):
        try:
            self.value, self.exc = fn(*args), None
        except Exception as exc:  # noqa: BLE001 - re-raised by result(), as Prefect's futures do
            self.value, self.exc = None, exc

    def result(self):
        if self.exc is not None:
            raise self.exc
        return self.value


class Submit:
    """``fit_and_score_task`` without Prefect: runs ``fn`` (default the plain cell function) and
    records the cells it fitted and those that shared their fits."""

    def __init__(self, fn=fit_and_score):
        self.fn, self.fitted, self.shared = fn, [], []

    def submit(self, work, results_dir, shared=(), threads=None):
        self.fitted.append(work.cell)
        self.shared += [s.cell for s in shared]
        # ``shared`` only when given, as the flow calls it: a plain ``fn(work, results_dir)`` works
        return Done(self.fn, work, results_dir, *((shared,) if shared else ()))


def cell_runs(uri: str, parent: str | None = None) -> dict:
    """The table experiment's cell runs by name: all of them, or those of the ``parent`` run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("sla2p-bench/table")
    query = f"tags.`mlflow.parentRunId` = '{parent}'" if parent else "tags.`sla2p.role` = 'cell'"
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id], query, max_results=1000)}


def inline_flow(monkeypatch, logger: str, report: bool = False) -> None:
    """Patch :mod:`flows.run` so that its body runs here: data prepared in this process, futures
    taken in submission order, no report unless ``report`` (its own tests build it; the run's
    cells.csv is written either way). Install a :class:`Submit` with
    ``monkeypatch.setattr(flows.run, "fit_and_score_task", Submit())``."""
    import tasks.report

    monkeypatch.setattr(run_mod, "get_run_logger", lambda: logging.getLogger(logger))
    monkeypatch.setattr(run_mod, "prepare_dataset_task", lambda ds, ex, progress=None, threads=None: prepare_dataset(ds, ex))
    monkeypatch.setattr(run_mod, "as_completed", lambda futures: (f for f in futures))
    if not report:
        monkeypatch.setattr(tasks.report, "build_report", lambda *a, **k: {})


def run_inline(job, options):
    """The flow's body on ``job`` (a :class:`tasks.jobs.Job`) with ``options`` resolved, as the CLI
    passes them."""
    return run_mod._execute(job, options.resolved())
