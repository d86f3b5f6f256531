"""The table and ablation flows: one body, composed from the tasks; the two flows only name it.

1. expand and validate the job (no work before it is known to be valid);
2. prepare each dataset once (DVC fetch, verification, cached embedding);
3. skip cells whose result files exist (unless ``refresh``): a warm rerun refits nothing. A cell
   is done exactly when its checksummed files are in the results folder; nothing else (no
   Prefect result cache) answers for it. One fit per split (tables): the seeds of a split whose
   rows do not depend on the seed, for a ``seed_invariant`` detector, are fitted once, at the
   lowest seed; the other seeds' records are derived from it (:func:`tasks.cells.reuse_plan`)
   on every run, cached when it is, failed when it failed, and logged as their own child runs
   tagged ``sla2p.reuses_cell`` (its name) and ``sla2p.reuses_cell_key``. Shared fits (tables and
   ablations): a cell whose detector shares the fit of another cell of its split
   (:func:`tasks.cells.shared_fit_plan`: SLA's from SLA2P's at equal parameters) has files of its
   own and is cached as any cell; when it is pending and so is its source, it rides on the
   source's fit (not submitted itself) and its record is read once that fit is done, failed with
   the fit's error when the fit failed (a rerun retries both); when its source is cached, it is
   fitted on its own. Its child run is tagged ``sla2p.shares_fit_of`` (the fitted cell's name) and
   ``sla2p.shares_fit_of_key``;
4. run the other cells on the task runner, at most ``workers`` in flight, so that a Ctrl-C
   (:mod:`flows.interrupt`) stops scheduling at once: running cells finish, no new one starts;
5. log every cell to MLflow under one parent run (resumed when the same job is rerun), from this
   process only, as cells finish; a failed cell is logged as failed with its error;
6. aggregate the table, log it to the parent run and write it under ``results/tables/``; an
   interrupted run writes the tables of what finished and closes its parent as KILLED.

Prefect and MLflow point at each other: the flow run is named ``<kind>-<config name>`` when it
starts and ``<kind>-<job name>-<MLflow parent id, 8 characters>`` once the parent is open; the
parent carries the tags ``prefect.flow_run_id`` (and ``prefect.flow_run_url`` when the Prefect
server serves its UI). Each cell is a task run named as its MLflow child
(``method/dataset/class/ratio/seed``); a cell that raises is a Failed task run, logged as a
warning in the flow run, and the flow goes on (the flow run ends Completed; the CLI exits 1).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.futures import as_completed

from tasks.cells import (CellRecord, KeyedCell, canonical, code_version, reuse_plan, shared_fit_plan,
                         shared_pairs_text)
from tasks.env import cpu_model
from tasks.metrics import METRICS, ablation_curves, cells_frame, summary_frame, table_frame, variants
from tasks.prefect_tasks import fit_and_score_task, prepare_dataset_task
from tasks.store import default_results_dir, load_failure, load_record
from tasks.track import Tracker, default_tracking_uri, git_commit, is_tracking_server

from . import locks
from .config import load_job
from .interrupt import INTERRUPT
from .options import RunOptions
from .prefect_server import answers
from .progress import Progress, say
from .runners import default_workers

# Package versions logged on every parent run (tags ``version.<name>``).
VERSIONED = ("torch", "numpy", "scikit-learn", "pyod", "prefect", "mlflow", "dvc", "sla2p-bench")


def run_key(kind: str, keys: list[str]) -> str:
    import hashlib

    return hashlib.sha256(canonical({"kind": kind, "cells": sorted(keys)}).encode()).hexdigest()[:24]


def execute(config: str, filters: dict | None = None, options: RunOptions = RunOptions()) -> dict:
    with INTERRUPT.armed():  # Prefect's engine replaced the CLI's SIGTERM handler for the flow run
        return _execute(config, filters, options)


def _execute(config: str, filters: dict | None, options: RunOptions) -> dict:
    log = get_run_logger()
    stop = INTERRUPT
    t_start = time.perf_counter()
    refresh, tracking_uri = options.refresh, options.tracking_uri
    job = load_job(config, device=options.device, **(filters or {}))
    results = Path(options.results_dir or default_results_dir())
    locks.acquire(results, job.kind, job.cells)  # held by the CLI already; a second run of this job refuses
    stop.status = {"results": str(results)}

    # 2. data, once per (dataset, extractor); a Ctrl-C here stops before any cell starts
    data = {}
    for ds, ex in dict.fromkeys((c.dataset, c.extractor) for c in job.cells):
        if stop.requested:
            break
        t0 = time.perf_counter()
        bar = Progress(0, f"data {ds}: embedding", "images", options.progress)
        try:
            data[(ds, ex)] = d = prepare_dataset_task(ds, ex, progress=bar.update_to)
        finally:
            bar.close()
        say(f"data {ds}: {d['n_rows']:,} rows x {d['n_features']:,} features ({d['extractor']}), "
            f"ready in {time.perf_counter() - t0:.1f} s")
    if stop.requested:
        log.info("interrupted while preparing the data: no cell started")
        return {"interrupted": True, "stage": "data", "cells": len(job.distinct_cells()), "finished": None,
                "cached": 0, "run": 0, "failed": 0, "results_dir": str(results),
                "seconds": round(time.perf_counter() - t_start, 1)}
    work = [KeyedCell.of(c, data[(c.dataset, c.extractor)]["data_key"]) for c in job.cells]
    point_keys = [w.key for w in work]  # ablation: one per grid point, the base point repeats
    if len(set(point_keys)) != len(point_keys) and job.kind == "table":
        raise ValueError("the job lists the same cell twice (same dataset, class, ratio, method, params, seed)")
    # In a 'separate' ablation the base value of each parameter is the same cell: run it once.
    work = list({w.key: w for w in work}.values())
    keys = [w.key for w in work]
    # One fit per split: derived cell's key -> the cell whose fit it reuses (tables only: an
    # ablation varies parameters, not seeds)
    plan = reuse_plan([w.cell for w in work], lambda c: data[(c.dataset, c.extractor)]["n_rows"]) \
        if job.kind == "table" else {}
    source = {work[i].key: work[j] for i, j in plan.items()}
    reusers: dict[str, list[KeyedCell]] = {}
    for w in work:
        if w.key in source:
            reusers.setdefault(source[w.key].key, []).append(w)

    names = {w.key: w.name for w in work}

    # 3. finished cells are not refitted (a derived cell is never looked up: it has no files)
    records: dict[str, CellRecord] = {}
    if not refresh:
        for w in work:
            rec = None if w.key in source else load_record(results, w.key)
            if rec is not None:
                records[w.key] = rec.replace(cached=True, cell=rec.cell.at_point(w.cell.point))  # this job's name
                for d in reusers.get(w.key, ()):
                    records[d.key] = records[w.key].reusing(d)
    # Shared fits, among the cells still to fit (never a derived one): a pending sharing cell rides
    # on a pending fit; one whose only source is cached is fitted on its own (refitting the source
    # would cost more than it saves). Cells of one detector that share fits among themselves (SLA2P
    # at several steps) ride on the first of them still pending.
    open_cells = [w for w in work if w.key not in records and w.key not in source]
    riders: dict[str, list[KeyedCell]] = {}
    for i, j in shared_fit_plan([w.cell for w in open_cells]).items():
        riders.setdefault(open_cells[j].key, []).append(open_cells[i])
    riding = {r.key for rs in riders.values() for r in rs}
    pending = [w for w in work if w.key not in records and w.key not in source and w.key not in riding]
    n_ride = len(riding)
    n_derive = sum(len(reusers.get(k, ())) for k in [*(w.key for w in pending), *riding])
    log.info("%d cells: %d cached, %d to run: %d to fit, %d share the fit of another cell, %d reuse the fit of "
             "another seed of their split (one fit per split)", len(work), len(records),
             len(pending) + n_ride + n_derive, len(pending), n_ride, n_derive)
    if source:
        say(f"one fit per split: {len(work) - len(source)} of {len(work)} cells are fitted, {len(source)} reuse "
            f"the fit of their split's lowest seed (seed-invariant methods on intrinsic sets of all rows)")
    if n_ride:
        cell_of = {w.key: w.cell for w in open_cells}
        pairs = shared_pairs_text((r.cell, cell_of[k]) for k, rs in riders.items() for r in rs)
        say(f"shared fits: {n_ride} cells share the fit of another cell ({', '.join(pairs)}), no fit of their own")
    n_run = n_fitted = n_reused = n_shared = 0
    stop.status.update(finished=len(records), run=0)

    # 5. tracking: parent (resumed if this job ran before), children already there. From here on
    # a Ctrl-C waits for what runs, so that the parent is closed and the tables are written.
    stop.cells_started()
    # MLflow's client prints "View run ... at: <url>" for each run it ends on a tracking server:
    # two lines a cell, where the CLI prints the parent's link once
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    tracker = Tracker(tracking_uri, job.kind, artifact_root(tracking_uri, results))
    rkey = run_key(job.kind, keys)
    tags = {"git_commit": git_commit(), "code_version": code_version(), "config": job.path,
            "sla2p.results_dir": str(results.resolve()), "sla2p.kind": job.kind,
            **{f"data.{ds}": d["data_key"] for (ds, _), d in data.items()},
            **{f"source.{ds}": d["source_hash"] for (ds, _), d in data.items()},
            **provenance({c.device for c in job.cells}), **prefect_links()}
    params = {"config_name": job.name, "kind": job.kind, "n_cells": len(work),
              "filters": canonical(filters or {}),
              "config_yaml": json.dumps(job.raw, separators=(",", ":"), default=str)}  # config order kept
    parent, resumed = tracker.open_parent(rkey, f"{job.kind}/{job.name}", params, tags, resume=not refresh)
    logged = tracker.reconcile(parent)
    log.info("MLflow parent run %s (%s), %d cells already logged", parent, "resumed" if resumed else "new", len(logged))
    name_flow_run(f"{job.kind}-{job.name}-{parent[:8]}", log)

    def log_cell(rec: CellRecord, cached: bool) -> None:
        reuses = source[rec.key].name if rec.key in source else None
        shared = None
        if rec.shares_fit_of is not None:  # a cached record may name a fit outside this job: its record says
            shared = names.get(rec.shares_fit_of) or getattr(
                load_record(results, rec.shares_fit_of, verify=False), "name", rec.shares_fit_of)
        tracker.log_cell(parent, rec, cached=cached, replace_run=logged.get(rec.key, (None, None))[1], reuses=reuses,
                         shares=shared)

    for key, rec in records.items():
        if logged.get(key, ("", ""))[0] != "FINISHED":
            log_cell(rec, cached=True)

    # 4. run what is left, at most `workers` cells in flight; a Ctrl-C stops the submitting. The
    # count advances once per cell: a fit, each cell that shares it, then each cell that reuses one.
    bar = Progress(len(pending) + n_ride + n_derive, "cells", "cells", options.progress)
    failed: dict[str, CellRecord] = {}
    queue = iter(pending)
    in_flight: dict = {}
    limit = options.workers or default_workers()

    def submit_more() -> None:
        while len(in_flight) < limit and not stop.requested:
            w = next(queue, None)
            if w is None:
                return
            rs = tuple(riders.get(w.key, ()))
            # ``shared`` only when there are riders: the task's call is unchanged for every other cell
            in_flight[fit_and_score_task.submit(w, str(results), **({"shared": rs} if rs else {}))] = w

    def settle(w: KeyedCell, rec: CellRecord, how: str = "") -> None:
        nonlocal n_run
        if rec.status == "ok":
            records[w.key] = rec
            n_run += 1
        else:
            failed[w.key] = rec
        stop.status.update(finished=len(records), run=n_run)
        log_cell(rec, cached=False)
        bar.advance(1, f"{w.name} {rec.status}{how}")

    submit_more()
    while in_flight:
        done = as_completed(list(in_flight))
        fut = next(done)
        done.close()
        w = in_flight.pop(fut)
        submit_more()  # the next cell starts before this one is logged
        try:
            rec = fut.result().replace(cached=False)
        except Exception as exc:  # CellFailed or anything the runner raised
            rec = load_failure(results, w.key) or CellRecord.failure(w, f"{type(exc).__name__}: {exc}")
            rec = rec.replace(cached=False)
            log.warning("cell %s failed: %s", w.name, rec.error)
        n_fitted += 1
        settle(w, rec)
        for r in riders.get(w.key, ()):  # the cells sharing its fit: their records were written with it
            if rec.status == "ok":
                rrec = load_record(results, r.key) or load_failure(results, r.key) or CellRecord.failure(
                    r, f"no record in {results} after the fit of {w.name} it shares")
            else:  # from the fit's error here: the runner may have died before writing anything
                rrec = CellRecord.shared_failure(r, w, rec.error)
            rrec = rrec.replace(cached=False, cell=rrec.cell.at_point(r.cell.point), shares_fit_of=w.key)
            if rrec.status != "ok":
                log.warning("cell %s failed: %s", r.name, rrec.error)
            n_shared += 1
            settle(r, rrec, f" (shares the fit of {w.name})")
        for x in (w, *riders.get(w.key, ())):  # the other seeds of their splits: no fit of their own
            base = records.get(x.key) or failed[x.key]
            for d in reusers.get(x.key, ()):
                n_reused += 1
                settle(d, base.reusing(d), f" (reuses {x.name})")
    bar.close()
    if n_reused or n_shared:
        log.info("%d cells fitted, %d share a fit, %d reuse a fit", n_fitted, n_shared, n_reused)
    not_run = [w for w in work if w.key not in records and w.key not in failed]
    interrupted = bool(not_run)
    if interrupted:
        log.info("interrupted: %d cells not run", len(not_run))

    # 6. tables (of what finished, when interrupted: the rest shows as missing)
    placeholders = {w.key: CellRecord(w.key, w.cell, "missing", error="not run: the run was interrupted")
                    for w in not_run}
    all_records = [records.get(k) or failed.get(k) or placeholders[k] for k in keys]
    cells_df = cells_frame(all_records)
    out_dir = results / "tables" / f"{job.kind}-{job.name}-{rkey}"
    out_dir.mkdir(parents=True, exist_ok=True)
    cells_df.to_csv(out_dir / "cells.csv", index=False)
    tables = {}
    for metric in METRICS:
        tables[f"table_{metric}"] = table_frame(cells_df, metric)
        tables[f"table_{metric}"].to_csv(out_dir / f"table_{metric}.csv")
        summary_frame(variants(cells_df), metric).to_csv(out_dir / f"summary_{metric}.csv", index=False)
    if job.kind == "ablation":
        by_key = {r.key: r for r in all_records}
        curves = ablation_curves(cells_frame([by_key[k] for k in point_keys]), job.points)
        curves.to_csv(out_dir / "curves.csv", index=False)
        if not curves.empty:
            tables["curves"] = curves.set_index(["parameter", "value", "dataset", "metric"])
    summary = {"cells": len(keys), "cached": sum(1 for r in all_records if r.cached),
               "run": n_run, "failed": len(failed), "finished": len(records), "not_run": len(not_run),
               "fitted": n_fitted, "reused": n_reused,  # this run's fits, and cells that copied one
               "shared": n_shared,  # cells that took their scores from another method's fit this run
               "interrupted": interrupted, "results_dir": str(results),
               "seconds": round(time.perf_counter() - t_start, 1),
               "parent_run_id": parent, "tables_dir": str(out_dir), "tracking_uri": tracker.uri,
               "mlflow_links": tracker.links(parent)}
    status = "KILLED" if interrupted else "FINISHED" if not failed else "FAILED"
    tracker.finish_parent(parent, tables=tables, files={"cells": str(out_dir / "cells.csv"), "config": job.path},
                          summary={k: summary[k] for k in ("cells", "cached", "run", "failed", "not_run", "fitted",
                                                          "reused", "shared")},
                          status=status)
    if interrupted or stop.requested:
        summary["report"] = ""
        if not interrupted:
            log.warning("report skipped (interrupted); build it with `sla2p-bench report %s`", parent)
    else:
        summary["report"] = _report(parent, tracker.uri, results, out_dir / "report", log)
    return {**summary, "table_auroc": tables["table_auroc"].T.to_string()}


def provenance(devices: set[str]) -> dict[str, str]:
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
                 "machine.torch_threads": os.environ.get("SLA2P_TORCH_THREADS") or str(torch.get_num_threads()),
                 "machine.device": device, "machine.device_asked": ",".join(asked),
                 "machine.platform": platform.platform()})
    return tags


def artifact_root(tracking_uri: str | None, results: Path) -> Path | None:
    """A new experiment's artifact folder: beside the results for the default local store; for a
    tracking server (also one named by ``MLFLOW_TRACKING_URI``), the server's own store (None), so
    that the artifacts go through the server and never to a folder of this machine only."""
    if tracking_uri is not None or is_tracking_server(default_tracking_uri()):
        return None
    return results / "mlartifacts"


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
    """The flow run's name until the MLflow parent is open: ``<kind>-<config file's stem>``."""
    def name() -> str:
        from prefect.runtime import flow_run

        config = str((flow_run.parameters or {}).get("config") or kind)
        return f"{kind}-{Path(config).stem}"

    return name


def _report(parent: str, uri: str, results: Path, out: Path, log) -> str:
    """The run's report (tables, significance, plots, audit), logged to the parent; a report
    that cannot be built is a warning: the cells and tables above are already saved."""
    try:
        from tasks.report import build_report, load_run, log_report

        run = load_run(parent, tracking_uri=uri, results_dir=results)
        build_report(run, out)
        log_report(run, out)
        return str(out / "report.md")
    except Exception as exc:  # noqa: BLE001 - reported, and `sla2p-bench report` can retry
        log.warning("report not built (%s: %s); retry with `sla2p-bench report %s`", type(exc).__name__, exc, parent)
        return ""


def configure_threads(workers: int) -> int:
    """Torch threads per cell so that ``workers`` cells in parallel do not oversubscribe the cores."""
    import torch

    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, workers))
    os.environ["SLA2P_TORCH_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return threads


def _benchmark_flow(kind: str, doc: str):
    def run(config: str = kind, filters: dict | None = None, options: RunOptions = RunOptions()) -> dict:
        return execute(config, filters, options)

    run.__doc__ = doc
    return flow(name=f"sla2p-{kind}", flow_run_name=_first_name(kind), log_prints=True)(run)


table_flow = _benchmark_flow("table", "The comparison table (configs/table.yaml; configs/smoke.yaml for a first look).")
ablation_flow = _benchmark_flow("ablation", "Ablation grids over SLA2P's parameters (configs/ablation.yaml).")
FLOWS = {"table": table_flow, "ablation": ablation_flow}
