"""The table and ablation flows: one body, in named stages; the two flows only name it.

The CLI hands over a :class:`tasks.jobs.Job` (expanded once, validated, its lock held) and
resolved :class:`flows.options.RunOptions`. The stages:

1. :func:`prepare_data`: each dataset once (DVC fetch, verification, cached embedding);
2. :func:`plan_run`: the job's :class:`tasks.plan.Plan`, the one the dry run costs, with what is
   cached: a cell is done exactly when its checksummed files are in the results folder (no Prefect
   result cache answers for it), and a warm rerun refits nothing. One fit per split: the other
   seeds of a seed-invariant detector's split reuse its lowest seed's fit (logged as their own
   child runs, tagged ``sla2p.reuses_cell`` and ``sla2p.reuses_cell_key``). Shared fits: a cell
   whose scores come with another cell's fit (SLA's with SLA2P's) rides on it when both are to
   fit (tagged ``sla2p.shares_fit_of`` and ``sla2p.shares_fit_of_key``), and is fitted on its own
   when its source is cached. The results folder and the tracking store must have room for what
   the plan writes (:func:`flows.preflight.check_output_room`: a resume, for the cells left);
   otherwise the flow returns ``refused`` before any MLflow run or fit;
3. :func:`open_tracking`: one MLflow parent per job (resumed when the same job is rerun), every
   cell logged from this process only, as it finishes; a failed cell is logged failed with its error;
4. :func:`run_cells`: the plan's fits on the task runner, at most ``workers`` in flight, each with
   its torch threads as an argument, so that a Ctrl-C (:mod:`flows.interrupt`) stops the
   scheduling at once: running cells finish, no new one starts. A fit that runs far past its
   estimate is named once in a warning (:class:`flows.progress.FitWatch`);
5. :func:`finish`: the run's records go to the report (``RunData.from_records``), built once:
   ``cells.csv`` and ``report/`` (its tables, logged to the parent too) under ``results/tables/``;
   an interrupted run reports what finished (the rest shows as missing) and closes its parent
   as KILLED.

Prefect and MLflow point at each other: the flow run is named ``<kind>-<config name>`` when it
starts and ``<kind>-<job name>-<MLflow parent id, 8 characters>`` once the parent is open; the
parent carries the tags ``prefect.flow_run_id`` (and ``prefect.flow_run_url`` when the Prefect
server serves its UI). Each cell is a task run named as its MLflow child
(``method/dataset/class/ratio/seed``); a cell that raises is a Failed task run, logged as a
warning in the flow run, and the flow goes on (the flow run ends Completed; the CLI exits 1).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect import Flow, get_run_logger
from prefect.futures import as_completed

from tasks.cells import NOT_RUN, CellRecord, KeyedCell, canonical
from tasks.versions import code_version, detector_version
from tasks.env import cpu_model
from tasks.estimate import embed_threads
from tasks.files import atomic_write_text
from tasks.jobs import Job
from tasks.plan import Plan, plan_job
from tasks.prefect_tasks import fit_and_score_task, prepare_dataset_task
from tasks.store import load_failure, load_record
from tasks.track import Tracker, git_commit

from .interrupt import INTERRUPT
from .options import RunOptions
from .prefect_server import answers
from .progress import FitWatch, Progress, say

# Package versions logged on every parent run (tags ``version.<name>``).
VERSIONED = ("torch", "numpy", "scikit-learn", "pyod", "prefect", "mlflow", "dvc", "sla2p-bench")


def run_key(kind: str, keys) -> str:
    return hashlib.sha256(canonical({"kind": kind, "cells": sorted(keys)}).encode()).hexdigest()[:24]


def execute(job: Job, options: RunOptions = RunOptions()) -> dict:
    with INTERRUPT.armed():  # Prefect's engine replaced the CLI's SIGTERM handler for the flow run
        return _execute(job, options.resolved())


def _execute(job: Job, options: RunOptions) -> dict:
    """The stages, in order: data -> plan -> tracking -> cells -> tables and report."""
    t_start = time.perf_counter()
    results = Path(options.results_dir)
    INTERRUPT.status = {"results": str(results)}
    # no cell runs while images are embedded: the embedding gets every core the workers will share
    data = prepare_data(job, options.progress, embed_threads(options.workers or 1, options.threads or 1))
    if INTERRUPT.requested:
        get_run_logger().info("interrupted while preparing the data: no cell started")
        return {"interrupted": True, "stage": "data", "cells": len(job.distinct_cells()), "finished": None,
                "cached": 0, "run": 0, "failed": 0, "results_dir": str(results),
                "seconds": round(time.perf_counter() - t_start, 1)}
    plan, records = plan_run(job, data, results, options.refresh)
    refused = _check_room(plan, options)  # knowing what is cached: a resume needs room for the rest only
    if refused:
        return {"refused": refused, "cells": len(plan.cells), "results_dir": str(results)}
    # From here on a Ctrl-C waits for what runs, so that the parent is closed and the tables written.
    INTERRUPT.cells_started()
    log = open_tracking(job, plan, data, options)
    log.cached(records)
    outcome = run_cells(plan, records, log, options)
    return finish(job, plan, outcome, log, options, t_start)


# -- 1. data ----------------------------------------------------------------------------------

def prepare_data(job: Job, progress: bool, threads: int | None = None) -> dict[tuple, dict]:
    """Each (dataset, extractor) once: DVC fetch, verification, cached embedding (on ``threads``
    torch threads). A Ctrl-C here stops before any cell starts."""
    data = {}
    for ds, ex in dict.fromkeys((c.dataset, c.extractor) for c in job.cells):
        if INTERRUPT.requested:
            break
        t0 = time.perf_counter()
        bar = Progress(0, f"data {ds}: embedding", "images", progress)
        try:
            data[(ds, ex)] = d = prepare_dataset_task(ds, ex, progress=bar.update_to, threads=threads)
        finally:
            bar.close()
        say(f"data {ds}: {d['n_rows']:,} rows x {d['n_features']:,} features ({d['extractor']}), "
            f"ready in {time.perf_counter() - t0:.1f} s")
    return data


# -- 2. plan ----------------------------------------------------------------------------------

def plan_run(job: Job, data: dict, results: Path, refresh: bool) -> tuple[Plan, dict[str, CellRecord]]:
    """The job's :class:`~tasks.plan.Plan` (the dry run's, with what is cached) and the records
    of the cached cells, including the cells derived from a cached fit. A cell is done exactly
    when its checksummed files are in the results folder (a derived cell has none)."""
    data_keys = {k: d["data_key"] for k, d in data.items()}
    stored: dict[str, CellRecord] = {}
    if not refresh:
        for c in job.distinct_cells():
            key = c.key(data_keys[(c.dataset, c.extractor)])
            rec = load_record(results, key)
            if rec is not None:
                stored[key] = rec.replace(cached=True, cell=rec.cell.at_point(c.point))  # this job's name
    plan = plan_job(job, data_keys, stored)
    records = {plan.keys[i]: stored[plan.keys[i]] for i in plan.cached}
    for i in plan.cached:
        for d in plan.reusers_of(i):
            records[plan.keys[d]] = records[plan.keys[i]].reusing(plan.keyed(d))
    n = plan.counts
    get_run_logger().info("%d cells: %d cached, %d to run: %d to fit, %d share the fit of another cell, %d reuse "
                          "the fit of another seed of their split (one fit per split)", n["cells"], n["cached"],
                          n["fits"] + n["riders"] + n["reuses"], n["fits"], n["riders"], n["reuses"])
    if plan.reuses:
        say(f"one fit per split: {n['cells'] - len(plan.reuses)} of {n['cells']} cells are fitted, "
            f"{len(plan.reuses)} reuse the fit of their split's lowest seed (seed-invariant methods on "
            f"intrinsic sets of all rows)")
    if plan.rides:
        say(f"shared fits: {n['riders']} cells share the fit of another cell ({', '.join(plan.shared_pairs())}), "
            f"no fit of their own")
    return plan, records


def _check_room(plan: Plan, options: RunOptions) -> str | None:
    """Why the results folder or the tracking store has no room for what the plan writes (one
    line), or None. Before any MLflow run or cell exists."""
    from .preflight import PreflightError, check_output_room

    try:
        check_output_room(options.results_dir, options.tracking_uri, plan)
    except PreflightError as exc:
        return str(exc)
    return None


# -- 3. tracking ------------------------------------------------------------------------------

@dataclass
class CellLog:
    """The MLflow parent of this run and how each cell is logged under it, from this process only."""

    tracker: Tracker
    parent: str
    plan: Plan
    results: Path
    key: str                                     # the run key (cells with their data and code)
    logged: dict = field(default_factory=dict)   # key -> (status, run id) of the children already there
    seconds: tuple = ()                          # each plan cell's estimated seconds, for the time left
    costs: dict | None = None                    # the measured costs, read once for the fit watch

    def cell(self, rec: CellRecord, cached: bool) -> None:
        plan = self.plan
        source = plan.reuses.get(plan.position[rec.key]) if rec.reused_from else None
        shared = None
        if rec.shares_fit_of is not None:  # a cached record may name a fit outside this job: its record says
            shared = self._name_of(rec.shares_fit_of)
        self.tracker.log_cell(self.parent, rec, cached=cached, replace_run=self.logged.get(rec.key, (None, None))[1],
                              reuses=None if source is None else plan.cells[source].name, shares=shared)

    def cached(self, records: dict[str, CellRecord]) -> None:
        for key, rec in records.items():
            if self.logged.get(key, ("", ""))[0] != "FINISHED":
                self.cell(rec, cached=True)

    def _name_of(self, key: str) -> str:
        if key in self.plan.position:
            return self.plan.cells[self.plan.position[key]].name
        return getattr(load_record(self.results, key, verify=False), "name", key)


def open_tracking(job: Job, plan: Plan, data: dict, options: RunOptions) -> CellLog:
    """The parent run (resumed when this job ran before, unless ``refresh``) and its children."""
    log = get_run_logger()
    # MLflow's client prints "View run ... at: <url>" for each run it ends on a tracking server:
    # two lines a cell, where the CLI prints the parent's link once
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    root = Path(options.artifact_root) if options.artifact_root else None
    tracker = Tracker(options.tracking_uri, job.kind, root)
    rkey = run_key(job.kind, plan.keys)
    tags = {"git_commit": git_commit(), "code_version": code_version(), "config": job.path,
            # each detector's version: the cells' keys hold them (a report finds its cells by them)
            **{f"code_version.{d}": detector_version(d) for d in sorted({c.detector_name for c in plan.cells})},
            "sla2p.results_dir": options.results_dir, "sla2p.kind": job.kind,
            **{f"data.{ds}": d["data_key"] for (ds, _), d in data.items()},
            **{f"source.{ds}": d["source_hash"] for (ds, _), d in data.items()},
            **provenance({c.device for c in job.cells}, options.threads), **prefect_links()}
    params = {"config_name": job.name, "kind": job.kind, "n_cells": len(plan.cells),
              "filters": canonical(dict(job.filters)),
              "config_yaml": json.dumps(dict(job.raw), separators=(",", ":"), default=str)}  # config order kept
    parent, resumed = tracker.open_parent(rkey, f"{job.kind}/{job.name}", params, tags, resume=not options.refresh)
    logged = tracker.reconcile(parent)
    log.info("MLflow parent run %s (%s), %d cells already logged", parent, "resumed" if resumed else "new", len(logged))
    name_flow_run(f"{job.kind}-{job.name}-{parent[:8]}", log)
    return CellLog(tracker, parent, plan, Path(options.results_dir), rkey, logged,
                   _cell_seconds(plan, options.threads, options.workers))


def _cell_seconds(plan: Plan, threads: int | None = None, workers: int | None = None) -> tuple:
    """Each cell's estimated seconds (the dry run's per-cell costs, with the calibration of this
    machine for ``workers`` cells at once when it has one), 0 for a cached one; () when the costs
    cannot be read (the time left then goes by the count)."""
    from tasks.estimate import CostsFileError, estimate

    try:
        per_cell = estimate(plan, workers=workers or 1, threads=threads).per_cell
    except (CostsFileError, OSError, ValueError) as exc:
        get_run_logger().warning("time left by the count of cells: no per-cell costs (%s)", exc)
        return ()
    return tuple(0.0 if i in plan.cached else s for i, s in enumerate(per_cell))


# -- 4. cells ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What became of the cells: the records that finished (cached ones included), the failed
    ones, and this run's counts."""

    records: dict[str, CellRecord]
    failed: dict[str, CellRecord] = field(default_factory=dict)
    run: int = 0       # cells finished by this run
    fitted: int = 0    # fits made by this run
    shared: int = 0    # cells that took their scores from another cell's fit this run
    reused: int = 0    # cells that copied another seed's fit this run
    fault: str | None = None  # a fault of the machine (disk full, read-only, tracking store) that stopped the run


# Faults of the machine, not of a cell: every cell after one would fail the same way, so the run stops.
ENVIRONMENT_FAULTS = ("[Errno 28]", "[Errno 30]", "No space left on device", "Read-only file system",
                      "database or disk is full", "disk I/O error", "database is locked")


def environment_fault(error: str) -> bool:
    return any(f in (error or "") for f in ENVIRONMENT_FAULTS)


WATCH_EVERY_S = 15.0  # how often the fits in flight are compared with their estimates


def run_cells(plan: Plan, records: dict[str, CellRecord], log: CellLog, options: RunOptions) -> Outcome:
    """Submit the plan's fits, at most ``workers`` in flight (a Ctrl-C stops the submitting), and
    settle each fit, the cells riding on it and the cells reusing either, as fits finish."""
    n = plan.counts
    out = Outcome(records)
    bar = Progress(n["fits"] + n["riders"] + n["reuses"], "cells", "cells", options.progress,
                   work=sum(log.seconds), workers=options.workers)
    queue, in_flight = iter(plan.fits), {}
    logger = get_run_logger()
    watch = FitWatch(logger.warning)  # a fit far past its estimate is named, once

    def submit_more() -> None:
        while len(in_flight) < options.workers and not INTERRUPT.requested and out.fault is None:
            i = next(queue, None)
            if i is None:
                return
            rs = tuple(plan.keyed(r) for r in plan.riders_of(i))
            # ``shared`` only when there are riders: the task's call is unchanged for every other cell
            fut = fit_and_score_task.submit(plan.keyed(i), options.results_dir, **({"shared": rs} if rs else {}),
                                            threads=options.threads)
            in_flight[fut] = i
            _watch_fit(watch, plan, i, log, options)

    submit_more()
    with watch.watch(WATCH_EVERY_S):
        while in_flight:
            done = as_completed(list(in_flight))
            fut = next(done)
            done.close()
            i = in_flight.pop(fut)
            watch.finished(plan.cells[i].name)
            rec = _fit_record(plan.keyed(i), fut, Path(options.results_dir))
            if rec.status != "ok" and out.fault is None and environment_fault(rec.error):
                _stop(out, f"{plan.cells[i].name}: {rec.error}")  # before another cell starts
            submit_more()  # the next cell starts before this one is logged
            _settle_fit(plan, i, rec, out, log, bar, Path(options.results_dir))
    bar.close()
    if out.reused or out.shared:
        get_run_logger().info("%d cells fitted, %d share a fit, %d reuse a fit", out.fitted, out.shared, out.reused)
    return out


def _watch_fit(watch: FitWatch, plan: Plan, i: int, log: CellLog, options: RunOptions) -> None:
    """Tell the watch a fit began: its expected seconds, why it may run long and, for a detector
    that reports its training (SLA2P, SLA), how to read its progress and the steps expected."""
    from tasks.detect.training_progress import read_progress
    from tasks.estimate import expected_train_steps, load_costs

    cell, key = plan.cells[i], plan.keyed(i).key
    try:
        costs = log.costs if log.costs is not None else load_costs()
        log.costs = costs  # read once a run
        steps = expected_train_steps(cell, costs)
    except Exception:  # noqa: BLE001 - a hint only (e.g. no costs file)
        steps = None
    reader = (lambda: read_progress(options.results_dir, key)) if steps is not None else None
    watch.started(cell.name, _expected_seconds(plan, i, log), why_long(cell), reader, steps)


def _expected_seconds(plan: Plan, i: int, log: CellLog) -> float:
    """The wall seconds the fit of cell ``i`` is expected to take here: the estimate's, on the
    run's threads a cell (its own and what its riders add). 0: unknown."""
    if not log.seconds:
        return 0.0
    return log.seconds[i] + sum(log.seconds[r] for r in plan.riders_of(i))


def why_long(cell) -> str:
    """Why a fit of ``cell`` may run far past its estimate, from its detector's parameters: a
    training that stops at an accuracy threshold goes on to its epoch bound when it never reaches it."""
    from tasks.cells import build_detector

    try:
        p = build_detector(cell).get_params()
    except Exception:  # noqa: BLE001 - a hint only
        return ""
    if "acc_threshold" in p and "max_epochs" in p:
        return (f"its training stops once the running accuracy exceeds acc_threshold {p['acc_threshold']:g}, "
                f"else after max_epochs {p['max_epochs']}; one that never reaches it trains to the end")
    return ""


def _fit_record(w: KeyedCell, fut, results: Path) -> CellRecord:
    """The record of a finished fit: its result, or its failure (as the worker saved it, when it could)."""
    try:
        return fut.result().replace(cached=False)
    except Exception as exc:  # CellFailed or anything the runner raised
        rec = load_failure(results, w.key) or CellRecord.failure(w, f"{type(exc).__name__}: {exc}")
        get_run_logger().warning("cell %s failed: %s", w.name, rec.error)
        return rec.replace(cached=False)


def _settle_fit(plan: Plan, i: int, rec: CellRecord, out: Outcome, log: CellLog, bar: Progress,
                results: Path) -> None:
    """Record a finished fit, then each cell riding on it, then each cell that reuses one of them;
    the count advances once per cell."""
    w = plan.keyed(i)
    out.fitted += 1
    _settle(w, rec, out, log, bar)
    for r in plan.riders_of(i):  # the cells sharing its fit: their records were written with it
        rrec = _rider_record(plan.keyed(r), w, rec, results)
        out.shared += 1
        _settle(plan.keyed(r), rrec, out, log, bar, f" (shares the fit of {w.name})")
    for x in (i, *plan.riders_of(i)):  # the other seeds of their splits: no fit of their own
        base = out.records.get(plan.keys[x]) or out.failed[plan.keys[x]]
        for d in plan.reusers_of(x):
            out.reused += 1
            _settle(plan.keyed(d), base.reusing(plan.keyed(d)), out, log, bar, f" (reuses {plan.cells[x].name})")


def _rider_record(r: KeyedCell, w: KeyedCell, rec: CellRecord, results: Path) -> CellRecord:
    """The record of ``r``, which rode on the fit of ``w`` (whose record is ``rec``)."""
    if rec.status == "ok":
        rrec = load_record(results, r.key) or load_failure(results, r.key) or CellRecord.failure(
            r, f"no record in {results} after the fit of {w.name} it shares")
    else:  # from the fit's error here: the runner may have died before writing anything
        rrec = CellRecord.shared_failure(r, w, rec.error)
    rrec = rrec.replace(cached=False, cell=rrec.cell.at_point(r.cell.point), shares_fit_of=w.key)
    if rrec.status != "ok":
        get_run_logger().warning("cell %s failed: %s", r.name, rrec.error)
    return rrec


def _settle(w: KeyedCell, rec: CellRecord, out: Outcome, log: CellLog, bar: Progress, how: str = "") -> None:
    if rec.status == "ok":
        out.records[w.key] = rec
        out.run += 1
    else:
        out.failed[w.key] = rec
    INTERRUPT.status.update(finished=len(out.records), run=out.run)
    try:
        log.cell(rec, cached=False)
    except Exception as exc:  # noqa: BLE001 - the tracking store failed: stop; the records are saved
        if out.fault is None:
            _stop(out, f"MLflow ({log.tracker.uri}): {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
    bar.advance(1, f"{w.name} {rec.status}{how}", work=log.seconds[log.plan.position[w.key]] if log.seconds else 0.0)


def _stop(out: Outcome, cause: str) -> None:
    """Stop scheduling after a fault of the machine: the cells in flight finish or fail, no new one
    starts; said once."""
    out.fault = cause
    get_run_logger().warning("stopping the run: %s. The cells in flight finish; what finished is saved; rerun "
                             "after fixing it to resume", cause)


# -- 5. tables and report ---------------------------------------------------------------------

def finish(job: Job, plan: Plan, out: Outcome, log: CellLog, options: RunOptions, t_start: float) -> dict:
    """The run's records (what did not run shows as missing) to the report, built once from them;
    its tables logged to the parent, which is closed (KILLED when interrupted, FAILED after a fault
    or a failed cell). After a fault, writing the tables or closing the parent may fail too: a
    warning, the cells' records are saved and a rerun resumes."""
    from tasks.report import log_report

    not_run = [k for k in plan.keys if k not in out.records and k not in out.failed]
    if not_run:
        get_run_logger().info("%s: %d cells not run", "stopped" if out.fault else "interrupted", len(not_run))
    run = _run_data(job, plan, out, not_run, log, options)
    out_dir = Path(options.results_dir) / "tables" / f"{job.kind}-{job.name}-{log.key}"
    summary = _summary(plan, out, not_run, options, out_dir, log, t_start)
    status = "FAILED" if out.fault or (out.failed and not not_run) else "KILLED" if not_run else "FINISHED"
    tables, report = {}, ""
    try:
        tables, report = _tables(run, out_dir, log)
        log.tracker.finish_parent(log.parent, tables=tables, files={"cells": str(out_dir / "cells.csv"),
                                                                     "config": _config_file(job, out_dir)},
                                  summary={k: summary[k] for k in SUMMARY_METRICS}, status=status)
        if report:
            log_report(run, out_dir / "report")
    except Exception as exc:  # noqa: BLE001 - after a fault, or one now: the cells are saved, a rerun resumes
        if out.fault is None and not environment_fault(str(exc)):
            raise
        if out.fault is None:  # the disk filled (or the store failed) as the tables were written
            summary["fault"] = f"writing the tables: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            _close_failed(log)
        get_run_logger().warning("tables and parent not written (%s: %s)", type(exc).__name__, exc)
    return {**summary, "report": report, "table_auroc": _terminal_table(tables)}


def _close_failed(log: CellLog) -> None:
    """Close the parent as FAILED when its tables could not be logged (the store may refuse that too)."""
    try:
        log.tracker.client.set_terminated(log.parent, "FAILED")
    except Exception as exc:  # noqa: BLE001 - a rerun reopens the parent either way
        get_run_logger().warning("parent run %s not closed (%s: %s)", log.parent, type(exc).__name__, exc)


def _run_data(job: Job, plan: Plan, out: Outcome, not_run: list, log: CellLog, options: RunOptions):
    """The run's records, in the job's order, as the report takes them."""
    from tasks.report import RunData, results_notes

    why = NOT_RUN if out.fault is None else f"not run: the run stopped ({out.fault}); rerun after fixing it"
    by_key = {**out.records, **out.failed,
              **{k: CellRecord(k, plan.cells[plan.position[k]], "missing", error=why) for k in not_run}}
    points: dict[str, list] = {}
    for c, pt in zip(job.cells, job.points):
        points.setdefault(plan.key_of(c), []).append(pt)
    return RunData.from_records([by_key[k] for k in plan.keys], parent_id=log.parent, run_name=f"{job.kind}/{job.name}",
                                kind=job.kind, tracking_uri=log.tracker.uri, results_dir=Path(options.results_dir),
                                points=points, notes=results_notes(Path(options.results_dir), options.results_dir),
                                experiment_id=log.tracker.experiment_id, config=dict(job.raw))


def _config_file(job: Job, out_dir: Path) -> str:
    """The config file the job came from (comments and all), or, for a job given as a mapping,
    that mapping written out."""
    if Path(job.path).is_file():
        return job.path
    import yaml

    path = out_dir / "config.yaml"
    path.write_text(yaml.safe_dump(dict(job.raw), sort_keys=False))
    return str(path)


SUMMARY_METRICS = ("cells", "cached", "run", "failed", "not_run", "fitted", "reused", "shared")


def _summary(plan: Plan, out: Outcome, not_run: list, options: RunOptions, out_dir: Path, log: CellLog,
             t_start: float) -> dict:
    return {"cells": len(plan.keys), "cached": plan.counts["cached"], "run": out.run, "failed": len(out.failed),
            "finished": len(out.records), "not_run": len(not_run),
            "fitted": out.fitted, "reused": out.reused,  # this run's fits, and cells that copied one
            "shared": out.shared,  # cells that took their scores from another method's fit this run
            "interrupted": bool(not_run) and out.fault is None, "fault": out.fault, "results_dir": options.results_dir,
            "seconds": round(time.perf_counter() - t_start, 1), "parent_run_id": log.parent,
            "tables_dir": str(out_dir), "tracking_uri": log.tracker.uri, "mlflow_links": log.tracker.links(log.parent)}


def _tables(run, out_dir: Path, log: CellLog) -> tuple[dict, str]:
    """cells.csv (and an ablation's curves.csv) and the report, built from the run's records;
    returns (the tables to log to the parent, the report's path or "" when it could not be built:
    a warning, the cells are saved and `sla2p-bench report` can retry)."""
    from tasks.report import build_report, parent_tables

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "cells.csv", run.cells.to_csv(index=False))  # never a partial file
    tables = {}
    try:
        files = build_report(run, out_dir / "report")
        tables = parent_tables(files)
    except Exception as exc:  # noqa: BLE001 - reported, and `sla2p-bench report` can retry
        get_run_logger().warning("report not built (%s: %s); retry with `sla2p-bench report %s`",
                                 type(exc).__name__, exc, log.parent)
        return tables, ""
    if "curves.csv" in files:
        shutil.copyfile(files["curves.csv"], out_dir / "curves.csv")
    return tables, str(files["report"]) if "report" in files else ""


def _terminal_table(tables: dict) -> str:
    """The AUROC table with methods (or grid points) as rows: fits a terminal."""
    t = tables.get("table_auroc")
    return "" if t is None else t.drop(columns="best", errors="ignore").T.to_string()


def provenance(devices: set[str], threads: int | None = None) -> dict[str, str]:
    """What a careful reader needs to reproduce the numbers: package versions and the machine."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    tags = {"version.python": platform.python_version()}
    for name in VERSIONED:
        try:
            tags[f"version.{name}"] = version(name)
        except PackageNotFoundError:
            tags[f"version.{name}"] = "not installed"
    asked = sorted(devices)
    if any(d == "auto" or d.startswith("cuda") for d in asked) and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        device = f"cuda ({gpu}, {torch.cuda.device_count()} device(s))"
    else:
        device = "cpu"
    tags.update({"machine.cpu": cpu_model(), "machine.cores": str(os.cpu_count() or 1),
                 "machine.torch_threads": str(threads or torch.get_num_threads()),
                 "machine.device": device, "machine.device_asked": ",".join(asked),
                 "machine.platform": platform.platform()})
    return tags


def prefect_links() -> dict[str, str]:
    """Tags for the MLflow parent that lead to this flow run: its id, and its page in Prefect's UI
    when the server serves one (the CLI's temporary server does not: no dead link)."""
    from prefect.runtime import flow_run

    if not flow_run.id:
        return {}
    tags = {"prefect.flow_run_id": str(flow_run.id)}
    url = flow_run.ui_url
    if url and answers(url.split("/flow-runs/")[0] + "/"):
        tags["prefect.flow_run_url"] = url
    return tags


def name_flow_run(name: str, log) -> None:
    """Rename this flow run (the name carries the MLflow parent id, known only now); a failure is
    a warning: the run goes on under its first name."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(str(flow_run.id)), name=name)
    except Exception as exc:  # noqa: BLE001 - a name is not worth failing the run for
        log.warning("flow run not renamed to %s (%s: %s)", name, type(exc).__name__, exc)


def _first_name(kind: str):
    """The flow run's name until the MLflow parent is open: ``<kind>-<job name>``."""
    def name() -> str:
        from prefect.runtime import flow_run

        job = (flow_run.parameters or {}).get("job") or {}
        return f"{kind}-{job.get('name', kind) if isinstance(job, dict) else job.name}"

    return name


class BenchmarkFlow(Flow):
    """A flow whose ``job`` parameter reaches Prefect's database and UI as its summary
    (:meth:`tasks.jobs.Job.summary`): the full table's 25,948 cells are 5.8 MB of JSON, and the
    MLflow parent keeps the config they come from."""

    def serialize_parameters(self, parameters: dict) -> dict:
        return super().serialize_parameters({k: v.summary() if isinstance(v, Job) else v for k, v in parameters.items()})


DOCS = {"table": "The comparison table (configs/table.yaml; configs/smoke.yaml for a first look).",
        "ablation": "Ablation grids over SLA2P's parameters (configs/ablation.yaml)."}


def benchmark_flow(kind: str, task_runner=None) -> BenchmarkFlow:
    """The ``kind`` flow (table or ablation), on ``task_runner`` (default: Prefect's threads)."""
    def run(job: Job, options: RunOptions = RunOptions()) -> dict:
        return execute(job, options)

    run.__doc__ = DOCS[kind]
    return BenchmarkFlow(run, name=f"sla2p-{kind}", flow_run_name=_first_name(kind), log_prints=True,
                         task_runner=task_runner)


table_flow = benchmark_flow("table")
ablation_flow = benchmark_flow("ablation")
