"""What a table or ablation flow does, composed from the tasks; the flows only name it.

1. expand and validate the job (no work before it is known to be valid);
2. prepare each dataset once (DVC fetch, verification, cached embedding);
3. skip cells whose result files exist (unless ``refresh``): a warm rerun refits nothing;
4. run the other cells in parallel on the task runner, each cached by its cell key;
5. log every cell to MLflow under one parent run (resumed when the same job is rerun), from this
   process only, as cells finish; a failed cell is logged as failed with its error;
6. aggregate the table, log it to the parent run and write it under ``results/tables/``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prefect import get_run_logger
from prefect.futures import as_completed

from tasks.metrics import METRICS, ablation_curves, cells_frame, summary_frame, table_frame
from tasks.cells import canonical, code_version
from tasks.prefect_tasks import fit_and_score_task, prepare_dataset_task
from tasks.detect import failure_record
from tasks.store import default_results_dir, load_failure, load_record
from tasks.track import Tracker, git_commit

from .config import load_job


def run_key(kind: str, keys: list[str]) -> str:
    import hashlib

    return hashlib.sha256(canonical({"kind": kind, "cells": sorted(keys)}).encode()).hexdigest()[:24]


def execute(config: str, filters: dict | None = None, *, refresh: bool = False, tracking_uri: str | None = None,
            results_dir: str | None = None, device: str | None = None, progress: bool = False) -> dict:
    log = get_run_logger()
    t_start = time.perf_counter()
    job = load_job(config, device=device, **(filters or {}))
    results = Path(results_dir or default_results_dir())

    # 2. data, once per (dataset, extractor)
    data = {}
    for ds, ex in dict.fromkeys((c.dataset, c.extractor) for c in job.cells):
        data[(ds, ex)] = prepare_dataset_task(ds, ex)
        log.info("data %s: %s rows x %s features, key %s", ds, data[(ds, ex)]["n_rows"],
                 data[(ds, ex)]["n_features"], data[(ds, ex)]["data_key"][:12])
    payloads = [c.to_payload(data[(c.dataset, c.extractor)]["data_key"]) for c in job.cells]
    point_keys = [p["key"] for p in payloads]  # ablation: one per grid point, the base point repeats
    if len(set(point_keys)) != len(point_keys) and job.kind == "table":
        raise ValueError("the job lists the same cell twice (same dataset, class, ratio, method, params, seed)")
    # In a 'separate' ablation the base value of each parameter is the same cell: run it once.
    payloads = list({p["key"]: p for p in payloads}.values())
    keys = [p["key"] for p in payloads]

    # 3. finished cells are not refitted
    records: dict[str, dict] = {}
    if not refresh:
        for p in payloads:
            rec = load_record(results, p["key"])
            if rec is not None:
                records[p["key"]] = {**rec, "cached": True}
    pending = [p for p in payloads if p["key"] not in records]
    log.info("%d cells: %d cached, %d to run", len(payloads), len(records), len(pending))

    # 5. tracking: parent (resumed if this job ran before), children already there
    tracker = Tracker(tracking_uri, job.kind, results / "mlartifacts" if tracking_uri is None else None)
    rkey = run_key(job.kind, keys)
    tags = {"git_commit": git_commit(), "code_version": code_version(), "config": job.path,
            "sla2p.results_dir": str(results.resolve()), "sla2p.kind": job.kind,
            **{f"data.{ds}": d["data_key"] for (ds, _), d in data.items()},
            **{f"source.{ds}": d["source_hash"] for (ds, _), d in data.items()}}
    params = {"config_name": job.name, "kind": job.kind, "n_cells": len(payloads),
              "filters": canonical(filters or {}),
              "config_yaml": json.dumps(job.raw, separators=(",", ":"), default=str)}  # config order kept
    parent, resumed = tracker.open_parent(rkey, f"{job.kind}/{job.name}", params, tags, resume=not refresh)
    logged = tracker.reconcile(parent)
    log.info("MLflow parent run %s (%s), %d cells already logged", parent, "resumed" if resumed else "new", len(logged))

    for key, rec in records.items():
        if logged.get(key, ("", ""))[0] != "FINISHED":
            tracker.log_cell(parent, rec, cached=True, replace_run=logged.get(key, (None, None))[1])

    # 4. run what is left
    bar = _Progress(len(pending), progress)
    failed: dict[str, dict] = {}
    if pending:
        task = fit_and_score_task.with_options(refresh_cache=refresh)
        futures = {task.submit(p, str(results)): p for p in pending}
        for fut in as_completed(list(futures)):
            p = futures[fut]
            try:
                rec = {**fut.result(), "cached": False}
                records[p["key"]] = rec
            except Exception as exc:  # CellFailed or anything the runner raised
                rec = load_failure(results, p["key"]) or failure_record(p, f"{type(exc).__name__}: {exc}")
                rec = {**rec, "cached": False}
                failed[p["key"]] = rec
                log.warning("cell %s failed: %s", p["name"], rec.get("error"))
            tracker.log_cell(parent, rec, cached=False, replace_run=logged.get(p["key"], (None, None))[1])
            bar.advance(p["name"], rec["status"])
    bar.close()

    # 6. tables
    all_records = [records.get(k) or failed[k] for k in keys]
    cells_df = cells_frame(all_records)
    out_dir = results / "tables" / f"{job.kind}-{job.name}-{rkey}"
    out_dir.mkdir(parents=True, exist_ok=True)
    cells_df.to_csv(out_dir / "cells.csv", index=False)
    tables = {}
    for metric in METRICS:
        tables[f"table_{metric}"] = table_frame(cells_df, metric)
        tables[f"table_{metric}"].to_csv(out_dir / f"table_{metric}.csv")
        summary_frame(cells_df, metric).to_csv(out_dir / f"summary_{metric}.csv", index=False)
    if job.kind == "ablation":
        by_key = {r["key"]: r for r in all_records}
        curves = ablation_curves(cells_frame([by_key[k] for k in point_keys]), job.points)
        curves.to_csv(out_dir / "curves.csv", index=False)
        tables["curves"] = curves.set_index(["parameter", "value", "dataset", "metric"])
    summary = {"cells": len(keys), "cached": sum(1 for r in all_records if r.get("cached")),
               "run": sum(1 for r in all_records if not r.get("cached") and r["status"] == "ok"),
               "failed": len(failed), "seconds": round(time.perf_counter() - t_start, 1),
               "parent_run_id": parent, "tables_dir": str(out_dir), "tracking_uri": tracker.uri}
    tracker.finish_parent(parent, tables=tables, files={"cells": str(out_dir / "cells.csv"), "config": job.path},
                          summary={k: summary[k] for k in ("cells", "cached", "run", "failed")},
                          status="FINISHED" if not failed else "FAILED")
    summary["report"] = _report(parent, tracker.uri, results, out_dir / "report", log)
    return {**summary, "table_auroc": tables["table_auroc"].T.to_string()}


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


class _Progress:
    """A rich progress bar on a terminal; log lines otherwise."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.description}"))
            self.bar.start()
            self.task = self.bar.add_task("", total=total)

    def advance(self, name: str, status: str) -> None:
        if self.bar:
            self.bar.update(self.task, advance=1, description=f"{name} {status}")

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


def configure_threads(workers: int) -> int:
    """Torch threads per cell so that ``workers`` cells in parallel do not oversubscribe the cores."""
    import torch

    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, workers))
    os.environ["SLA2P_TORCH_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return threads
